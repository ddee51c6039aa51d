/* error.c — the lb_error type (error.h): setting, locating and clearing errors, and formatting
 * them as the traceback the user sees (a text block, or a JSON array of lines for Jupyter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"
#include "base/utf8.h"

int lb_error_vset(lb_error *err, const char *ename, int line, int col, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    char *msg = NULL;
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n >= 0) {
        msg = malloc((size_t)n + 1);
        if (msg)
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
    }
    free(err->evalue);
    err->evalue = msg ? msg : NULL;
    if (!err->evalue) {
        /* Out of memory while reporting: keep a static-free message we can still free. */
        err->evalue = calloc(1, 1);
    }
    snprintf(err->ename, sizeof err->ename, "%s", ename ? ename : "Error");
    err->line = line > 0 ? line : 0;
    err->col = col > 0 ? col : 0;
    err->span = 1;
    return -1;
}

int lb_error_set(lb_error *err, const char *ename, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = lb_error_vset(err, ename, line, col, fmt, ap);
    va_end(ap);
    return r;
}

void lb_error_locate(lb_error *err, int line, int col, int span)
{
    if (!err || err->line > 0 || line <= 0)
        return;
    err->line = line;
    err->col = col > 0 ? col : 0;
    err->span = span > 0 ? span : 1;
}

bool lb_error_is_set(const lb_error *err)
{
    return err && err->evalue != NULL;
}

void lb_error_clear(lb_error *err)
{
    if (!err)
        return;
    free(err->evalue);
    memset(err, 0, sizeof *err);
}

/* ---- formatting ---------------------------------------------------------------------- */

/* Finds line `line` (1-based) of code; returns its start and sets *len (without newline). */
static const char *find_line(const char *code, int line, size_t *len)
{
    if (!code || line <= 0)
        return NULL;
    const char *p = code;
    for (int l = 1; l < line; l++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    const char *e = strchr(p, '\n');
    *len = e ? (size_t)(e - p) : strlen(p);
    if (*len && p[*len - 1] == '\r')
        (*len)--;
    return p;
}

/* Appends the traceback lines, each terminated by '\n'. */
static void build(lb_strbuf *b, const lb_error *err, const char *code, const char *source_name)
{
    lb_sb_add(b, err->ename[0] ? err->ename : "Error");
    if (err->evalue && err->evalue[0]) {
        lb_sb_add(b, ": ");
        lb_sb_add(b, err->evalue);
    }
    lb_sb_add(b, "\n");
    if (err->line <= 0)
        return;
    char place[160];
    if (err->col > 0)
        snprintf(place, sizeof place, "  at line %d, column %d", err->line, err->col);
    else
        snprintf(place, sizeof place, "  at line %d", err->line);
    lb_sb_add(b, place);
    if (source_name && source_name[0]) {
        lb_sb_add(b, " of ");
        lb_sb_add(b, source_name);
    }
    lb_sb_add(b, ":\n");
    size_t len = 0;
    const char *src = find_line(code, err->line, &len);
    if (!src)
        return;
    /* Very long lines (generated code, pasted data) are shown as a window of at most
     * WINDOW code points around the column, marked with "..." where cut. */
    enum { WINDOW = 120 };
    size_t cps = 0; /* code points on the line */
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)src[i] & 0xC0) != 0x80)
            cps++;
    size_t col0 = err->col > 0 ? (size_t)err->col - 1 : 0; /* 0-based caret column */
    size_t first = 0, last = cps;                          /* shown code points [first, last) */
    if (cps > WINDOW) {
        first = col0 > WINDOW / 2 ? col0 - WINDOW / 2 : 0;
        if (first + WINDOW > cps)
            first = cps - WINDOW;
        last = first + WINDOW;
    }
    lb_sb_add(b, first > 0 ? "    ..." : "    ");
    size_t cp = 0;
    for (size_t i = 0; i < len; i++) {
        bool lead = ((unsigned char)src[i] & 0xC0) != 0x80;
        if (lead && i > 0)
            cp++;
        if (cp < first || cp >= last)
            continue;
        char c = src[i] == '\t' ? ' ' : src[i];
        lb_sb_addn(b, &c, 1);
    }
    if (last < cps)
        lb_sb_add(b, "...");
    lb_sb_add(b, "\n");
    if (err->col <= 0)
        return;
    lb_sb_add(b, first > 0 ? "       " : "    ");
    for (size_t i = first; i < col0; i++)
        lb_sb_add(b, " ");
    int span = err->span > 0 ? err->span : 1;
    long room = (long)last - (long)col0;
    if (room >= 1 && span > room)
        span = (int)room;
    for (int i = 0; i < span; i++)
        lb_sb_add(b, "^");
    lb_sb_add(b, "\n");
}

char *lb_error_format(const lb_error *err, const char *code, const char *source_name)
{
    lb_strbuf b = {0};
    if (!err)
        return strdup("");
    build(&b, err, code, source_name);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : strdup("");
}

json_t *lb_error_traceback_json(const lb_error *err, const char *code)
{
    json_t *arr = json_array();
    if (!arr || !err)
        return arr;
    char *text = lb_error_format(err, code, NULL);
    if (!text)
        return arr;
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_array_append_new(arr, lb_json_text(p, n)); /* a message may quote any bytes */
        p += n + (nl ? 1 : 0);
    }
    free(text);
    return arr;
}

int lb_oom(lb_error *err) { return lb_error_set(err, "MemoryError", 0, 0, "out of memory"); }

void *lb_oom_null(lb_error *err)
{
    lb_oom(err);
    return NULL;
}
