/* format.c — numbers, counts and shapes as the text users see in tables, errors and values. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/format.h"

void lb_format_number(double x, char *buf, size_t size)
{
    if (isnan(x)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x < 0 ? "-inf" : "inf");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e16) {
        /* integers by hand: reprs of long lists are mostly these, and snprintf is slow */
        char digits[24];
        int n = 0;
        uint64_t u = (uint64_t)fabs(x);
        do {
            digits[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (x < 0)
            digits[n++] = '-'; /* -0.0 gives "0": no sign */
        size_t i = 0;
        for (; n > 0 && i + 1 < size; i++)
            buf[i] = digits[--n];
        if (size)
            buf[i] = '\0';
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

void lb_format_count(int64_t x, char *buf, size_t n)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%" PRId64, x);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0 && raw[0] != '-')
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

void lb_format_shape(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}
