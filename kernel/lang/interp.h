/* interp.h — the interpreter interface: all that a front end (the Jupyter server in
 * server.c, the `labbook run` script runner, the tests) needs from the labbook language.
 * It knows nothing of ZeroMQ or of the Jupyter wire format; it speaks through lb_output. */
#ifndef LB_INTERP_H
#define LB_INTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "base/error.h"
#include "base/interrupt.h"
#include "base/version.h"
#include "lang/output.h"

#define LB_LANGUAGE_VERSION "0"

typedef struct lb_interp lb_interp;

/* A new interpreter with the built-in commands registered, emitting through `out`
 * (copied; may be NULL for a silent interpreter). Returns NULL only when out of memory. */
lb_interp *lb_interp_new(const lb_output *out);
void lb_interp_free(lb_interp *in);
void lb_interp_set_output(lb_interp *in, const lb_output *out);

/* Runs one cell. Statements run in order; a failing statement stops the cell but the effects
 * of the statements before it stay. When want_result is true and the last statement is a bare
 * expression, its value is emitted through out->result (execute_result).
 * Returns 0, or -1 with *err set (err->line/col point into `code`). */
int lb_interp_execute(lb_interp *in, const char *code, bool want_result, lb_error *err);

/* Evaluates one expression (Jupyter user_expressions) into a mime bundle {mime: value}
 * holding at least text/plain; NULL with *err set on failure. */
json_t *lb_interp_eval_bundle(lb_interp *in, const char *expr, lb_error *err);


/* ---- Interrupts and safe points --------------------------------------------------------
 * lb_interrupt_request() is async-signal-safe: the SIGINT handler and the control thread's
 * interrupt_request both call it. Long-running work calls lb_safe_point() between batches,
 * between statements and inside sleep; once an interrupt is pending it returns -1 with an
 * `Interrupted` error, and the caller unwinds without touching any variable it has not yet
 * finished assigning. The server clears the flag before each execute_request. */
int lb_safe_point(lb_interp *in, lb_error *err);
/* The flag itself and the cheap check for loops over user data (no output flush):
 * base/interrupt.h (lb_interrupt_request, lb_interrupt_check, LB_POLL_EVERY). */

/* ---- Front-end tools (byte offsets into code; the server converts code points) --------- */
typedef enum { LB_CODE_COMPLETE, LB_CODE_INCOMPLETE, LB_CODE_INVALID } lb_code_status;
lb_code_status lb_interp_is_complete(lb_interp *in, const char *code);

/* Completion at byte offset `cursor`: a JSON array of match strings (sorted, unique), and the
 * byte range [*start, *end) of code that a match replaces. */
json_t *lb_interp_complete(lb_interp *in, const char *code, size_t cursor, size_t *start, size_t *end);

/* Inspection of the name under or just before byte offset `cursor`: a mime bundle (text/plain
 * at least; the same documentation text `help NAME` pages), or NULL when nothing is known. */
json_t *lb_interp_inspect(lb_interp *in, const char *code, size_t cursor, int detail_level);

#endif
