/* strbuf.h — a growable text buffer for building messages, tables and documentation. An
 * allocation failure sets `oom` and turns later appends into no-ops, so builders append
 * freely and check once at the end (lb_sb_take returns NULL then). */
#ifndef LB_STRBUF_H
#define LB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lb_strbuf {
    char *buf;   /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    bool oom;
} lb_strbuf;

void lb_sb_addn(lb_strbuf *b, const char *s, size_t n);
void lb_sb_add(lb_strbuf *b, const char *s);
void lb_sb_printf(lb_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_sb_pad(lb_strbuf *b, size_t n); /* n spaces */
/* The text (malloc'd; "" when empty), or NULL when an allocation failed. Resets b. */
char *lb_sb_take(lb_strbuf *b);
void lb_sb_free(lb_strbuf *b);

#endif
