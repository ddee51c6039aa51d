/* output.h — the one interface through which the language emits everything a cell shows.
 * The Jupyter server implements it with iopub messages; `labbook run` implements it with
 * stdout/stderr and files; the unit tests implement it by recording calls. The evaluator
 * never knows which (xeus keeps its interpreter apart from the transport the same way). */
#ifndef LB_OUTPUT_H
#define LB_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "base/error.h"

typedef enum { LB_STDOUT = 1, LB_STDERR = 2 } lb_stream;

typedef struct lb_output {
    void *ctx;
    /* Text to stdout or stderr. `text` need not be NUL-terminated. An implementation may
     * buffer it (the Jupyter one coalesces writes into few messages), but must deliver it
     * before any other kind of output and at the latest when `flush` finds it old enough. */
    void (*stream)(void *ctx, lb_stream which, const char *text, size_t len);
    /* Called at every safe point (lb_safe_point) and so often during long work: delivers
     * buffered stream text that has waited long enough. Must be cheap. May be NULL. */
    void (*flush)(void *ctx);
    /* A rich display. `data` is a mime bundle {mime: value} that always holds "text/plain";
     * `metadata` is {mime: {...}} (width/height for images) or NULL. Both are borrowed.
     * display_id may be NULL. update=true replaces every earlier display with that id
     * (update_display_data); it is how progress bars and live plots redraw in place. */
    void (*display)(void *ctx, json_t *data, json_t *metadata, const char *display_id, bool update);
    /* The value of a cell's last bare expression (execute_result). Borrowed like display. */
    void (*result)(void *ctx, json_t *data, json_t *metadata);
    /* Clears the cell's output; wait=true defers the clear until the next output arrives. */
    void (*clear)(void *ctx, bool wait);
    /* Pager text (help): Jupyter puts it in the execute_reply payload. Borrowed bundle. */
    void (*page)(void *ctx, json_t *data);
    /* Asks the user for a line of input. Returns a malloc'd answer, or NULL with *err set
     * (front end has no stdin, interrupted, ...). May be NULL: then input is unsupported. */
    char *(*ask)(void *ctx, const char *prompt, bool password, lb_error *err);
} lb_output;

#endif
