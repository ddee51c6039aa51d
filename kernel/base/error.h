/* error.h — the one error type of labbook: a name (SyntaxError, NameError, ...), a message,
 * and where in the cell it happened. Every failing function fills one of these and returns
 * -1 (or NULL); nothing in labbook calls exit() or abort() on user error. */
#ifndef LB_ERROR_H
#define LB_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <jansson.h>

typedef struct lb_error {
    char ename[48];  /* "SyntaxError", "NameError", "TypeError", "ValueError", "Interrupted", ... */
    char *evalue;    /* malloc'd message; NULL when no error is set */
    int line, col;   /* 1-based position in the cell (col counts code points); 0 = unknown */
    int span;        /* width of the caret under the column, >= 1 */
} lb_error;

/* Sets the error (replacing any earlier one). line/col may be 0. Always returns -1 so that
 * callers can write `return lb_error_set(err, ...)`. err may be NULL (error is dropped). */
int lb_error_set(lb_error *err, const char *ename, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int lb_error_vset(lb_error *err, const char *ename, int line, int col, const char *fmt, va_list ap);
/* Sets the position only if the error has none yet (inner positions win). */
void lb_error_locate(lb_error *err, int line, int col, int span);
bool lb_error_is_set(const lb_error *err);
void lb_error_clear(lb_error *err);   /* frees evalue, zeroes the struct */

/* The traceback shown to the user, as one malloc'd string of lines: "ename: evalue", then
 * the place (source_name, line, column), the offending line of `code` and a caret under the
 * column. interp.h has the Jupyter form (a JSON array of the same lines). */
char *lb_error_format(const lb_error *err, const char *code, const char *source_name);
/* The one out-of-memory error: sets a MemoryError "out of memory" and returns -1 (or NULL). */
int lb_oom(lb_error *err);
void *lb_oom_null(lb_error *err);
/* The same lines as a JSON array of strings, one item a line (Jupyter's `traceback`). */
json_t *lb_error_traceback_json(const lb_error *err, const char *code);

#endif
