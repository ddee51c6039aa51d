/* strbuf.c — the growable text buffer of strbuf.h. */
#include "base/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lb_sb_addn(lb_strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void lb_sb_add(lb_strbuf *b, const char *s)
{
    lb_sb_addn(b, s, strlen(s));
}

void lb_sb_printf(lb_strbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        lb_sb_addn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    lb_sb_addn(b, big, (size_t)n);
    free(big);
}

void lb_sb_pad(lb_strbuf *b, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        lb_sb_addn(b, spaces, k);
        n -= k;
    }
}

char *lb_sb_take(lb_strbuf *b)
{
    char *s = b->oom ? NULL : b->buf ? b->buf : strdup("");
    if (b->oom)
        free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = false;
    return s;
}

void lb_sb_free(lb_strbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
