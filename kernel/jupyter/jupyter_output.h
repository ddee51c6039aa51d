/* jupyter_output.h — the lb_output of the Jupyter kernel: turns what a cell shows into
 * iopub messages (stream, display_data, update_display_data, execute_result, clear_output),
 * collects pager payloads, and asks for input over the stdin channel. Also the one place
 * that publishes on iopub (status messages from both kernel threads go through here). */
#ifndef LB_JUPYTER_OUTPUT_H
#define LB_JUPYTER_OUTPUT_H

#include <pthread.h>
#include <stdbool.h>

#include "lang/output.h"
#include "jupyter/wire.h"

typedef struct lb_jupyter_io {
    lb_session *session;
    void *iopub;                 /* PUB; every send holds iopub_lock */
    pthread_mutex_t iopub_lock;
    void *stdin_sock;            /* ROUTER; used by the shell thread only */
    volatile int *stopping;      /* set when the kernel shuts down (aborts an input wait) */

    /* The execute_request being run (shell thread only). */
    const lb_msg *request;
    int execution_count;
    bool silent, allow_stdin;
    json_t *payload;             /* [{source:"page", data, start:0}] */
    char *result_text;           /* text/plain of the execute_result, for the history */
    /* Stream text not yet published, per stream (0 stdout, 1 stderr): writes are coalesced
     * into one message per LB_STREAM_FLUSH_MS or LB_STREAM_FLUSH_BYTES, so a loop of prints
     * cannot flood iopub (front ends drop messages past ~1000/s). */
    char *sbuf[2];
    size_t slen[2], scap[2];
    long long since_ns[2];       /* when the oldest unpublished byte was written */
} lb_jupyter_io;

/* Returns 0, or -1 when out of memory. */
int lb_jupyter_io_init(lb_jupyter_io *io, lb_session *s, void *iopub, void *stdin_sock,
                       volatile int *stopping);
void lb_jupyter_io_destroy(lb_jupyter_io *io);
/* The lb_output whose ctx is io. */
lb_output lb_jupyter_output(lb_jupyter_io *io);

/* Publishes msg_type with content (stolen) and the given parent header (NULL = {}). */
int lb_jupyter_publish(lb_jupyter_io *io, const json_t *parent, const char *msg_type,
                       json_t *content);
/* status {execution_state: state} */
int lb_jupyter_status(lb_jupyter_io *io, const json_t *parent, const char *state);

/* Brackets one execute_request: outputs get req's header as parent. end() flushes held
 * stream bytes; afterwards take the payload (never NULL unless out of memory) and the
 * result text (may be NULL). */
void lb_jupyter_begin(lb_jupyter_io *io, const lb_msg *req, int execution_count, bool silent,
                      bool allow_stdin);
void lb_jupyter_end(lb_jupyter_io *io);
json_t *lb_jupyter_take_payload(lb_jupyter_io *io);
char *lb_jupyter_take_result_text(lb_jupyter_io *io);

#endif
