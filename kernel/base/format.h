/* format.h — numbers, counts and shapes as text. */
#ifndef LB_FORMAT_H
#define LB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* The shortest text that round-trips a double; integers without a decimal point. buf >= 32. */
void lb_format_number(double x, char *buf, size_t size);
/* A count with thousands separators: "1,234,567". */
void lb_format_count(int64_t x, char *buf, size_t n);
/* A tensor shape as text, "[2, 3]", cut to fit buf. */
void lb_format_shape(int ndim, const int64_t *shape, char *buf, size_t n);

#endif
