/* jupyter_output.c — the Jupyter implementation of lb_output (see jupyter_output.h). Stream
 * text is coalesced: it is published at the latest LB_STREAM_FLUSH_MS after it was written
 * (checked on each write and at every safe point), when LB_STREAM_FLUSH_BYTES pile up, before
 * any other output, and at the end of the cell. A trailing incomplete UTF-8 sequence is held
 * back until the next chunk so that multi-byte characters split across writes arrive intact. */
#include "jupyter/jupyter_output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "lang/interp.h"
#include "base/utf8.h"

int lb_jupyter_io_init(lb_jupyter_io *io, lb_session *s, void *iopub, void *stdin_sock,
                       volatile int *stopping)
{
    memset(io, 0, sizeof *io);
    io->session = s;
    io->iopub = iopub;
    io->stdin_sock = stdin_sock;
    io->stopping = stopping;
    return pthread_mutex_init(&io->iopub_lock, NULL) ? -1 : 0;
}

void lb_jupyter_io_destroy(lb_jupyter_io *io)
{
    json_decref(io->payload);
    free(io->result_text);
    for (int i = 0; i < 2; i++) {
        free(io->sbuf[i]);
        io->sbuf[i] = NULL;
        io->slen[i] = io->scap[i] = 0;
    }
    io->payload = NULL;
    io->result_text = NULL;
    pthread_mutex_destroy(&io->iopub_lock);
}

int lb_jupyter_publish(lb_jupyter_io *io, const json_t *parent, const char *msg_type,
                       json_t *content)
{
    if (!io->iopub) {
        json_decref(content);
        return -1;
    }
    /* Topic frame as ipykernel sends it; clients subscribe to everything. */
    char topic[96];
    int tl = snprintf(topic, sizeof topic, "kernel.%s.%s", lb_session_id(io->session), msg_type);
    lb_frame f = {topic, tl > 0 && (size_t)tl < sizeof topic ? (size_t)tl : strlen(topic)};
    pthread_mutex_lock(&io->iopub_lock);
    int rc = lb_wire_send(io->session, io->iopub, &f, 1, msg_type, content, parent, NULL, NULL, 0);
    pthread_mutex_unlock(&io->iopub_lock);
    return rc;
}

int lb_jupyter_status(lb_jupyter_io *io, const json_t *parent, const char *state)
{
    return lb_jupyter_publish(io, parent, "status", json_pack("{s:s}", "execution_state", state));
}

static const json_t *parent_of(lb_jupyter_io *io)
{
    return io->request ? io->request->header : NULL;
}

/* ---- lb_output callbacks ---------------------------------------------------------------
 * A silent execute_request broadcasts nothing (messaging spec): streams, displays and
 * clears are dropped; pager payloads still go into the reply. */

static void send_stream(lb_jupyter_io *io, int idx, const char *text, size_t len)
{
    if (!len || io->silent) return;
    json_t *t = lb_json_text(text, len);
    if (!t) return;
    lb_jupyter_publish(io, parent_of(io), "stream",
                       json_pack("{s:s, s:o}", "name", idx ? "stderr" : "stdout", "text", t));
}

enum { LB_STREAM_FLUSH_MS = 50, LB_STREAM_FLUSH_BYTES = 64 * 1024 };

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Publishes stream idx's buffered text; unless `all`, an incomplete UTF-8 sequence at the
 * end stays for the next write. */
static void publish_stream(lb_jupyter_io *io, int idx, bool all)
{
    size_t n = io->slen[idx];
    if (!n) return;
    size_t tail = all ? 0 : lb_utf8_incomplete_tail(io->sbuf[idx], n);
    send_stream(io, idx, io->sbuf[idx], n - tail);
    memmove(io->sbuf[idx], io->sbuf[idx] + n - tail, tail);
    io->slen[idx] = tail;
    io->since_ns[idx] = now_ns();
}

static void j_stream(void *ctx, lb_stream which, const char *text, size_t len)
{
    lb_jupyter_io *io = ctx;
    int idx = which == LB_STDERR;
    if (!text || !len) return;
    if (io->slen[!idx]) publish_stream(io, !idx, false);   /* keep stdout/stderr order */
    if (io->slen[idx] + len > io->scap[idx]) {
        size_t cap = io->scap[idx] ? io->scap[idx] : 1024;
        while (cap < io->slen[idx] + len) cap *= 2;
        char *b = realloc(io->sbuf[idx], cap);
        if (!b) {                                          /* out of memory: send directly */
            publish_stream(io, idx, true);
            send_stream(io, idx, text, len);
            return;
        }
        io->sbuf[idx] = b;
        io->scap[idx] = cap;
    }
    if (!io->slen[idx]) io->since_ns[idx] = now_ns();
    memcpy(io->sbuf[idx] + io->slen[idx], text, len);
    io->slen[idx] += len;
    if (io->slen[idx] >= LB_STREAM_FLUSH_BYTES ||
        now_ns() - io->since_ns[idx] >= LB_STREAM_FLUSH_MS * 1000000LL)
        publish_stream(io, idx, false);
}

static void j_flush(void *ctx)
{
    lb_jupyter_io *io = ctx;
    if (!io->slen[0] && !io->slen[1]) return;
    long long now = now_ns();
    for (int i = 0; i < 2; i++)
        if (io->slen[i] && now - io->since_ns[i] >= LB_STREAM_FLUSH_MS * 1000000LL)
            publish_stream(io, i, false);
}

/* Everything buffered goes out now (before another kind of output, at the end of a cell). */
static void flush_pending(lb_jupyter_io *io)
{
    for (int i = 0; i < 2; i++)
        publish_stream(io, i, true);
}

static void j_display(void *ctx, json_t *data, json_t *metadata, const char *display_id,
                      bool update)
{
    lb_jupyter_io *io = ctx;
    if (io->silent || !json_is_object(data)) return;
    flush_pending(io);
    json_t *content = json_pack("{s:O, s:o}", "data", data, "metadata",
                                json_is_object(metadata) ? json_copy(metadata) : json_object());
    if (!content) return;
    if (display_id)
        json_object_set_new(content, "transient",
                            json_pack("{s:o}", "display_id", lb_json_text(display_id, strlen(display_id))));
    else
        update = false;   /* an update needs an id; without one it is a new display */
    lb_jupyter_publish(io, parent_of(io), update ? "update_display_data" : "display_data", content);
}

static void j_result(void *ctx, json_t *data, json_t *metadata)
{
    lb_jupyter_io *io = ctx;
    if (io->silent || !json_is_object(data)) return;
    flush_pending(io);
    const char *text = json_string_value(json_object_get(data, "text/plain"));
    if (text) {
        free(io->result_text);
        io->result_text = strdup(text);
    }
    lb_jupyter_publish(io, parent_of(io), "execute_result",
                       json_pack("{s:i, s:O, s:o}", "execution_count", io->execution_count,
                                 "data", data, "metadata",
                                 json_is_object(metadata) ? json_copy(metadata) : json_object()));
}

static void j_clear(void *ctx, bool wait)
{
    lb_jupyter_io *io = ctx;
    if (io->silent) return;
    flush_pending(io);
    lb_jupyter_publish(io, parent_of(io), "clear_output", json_pack("{s:b}", "wait", wait));
}

static void j_page(void *ctx, json_t *data)
{
    lb_jupyter_io *io = ctx;
    if (!json_is_object(data)) return;
    if (!io->payload && !(io->payload = json_array())) return;
    json_array_append_new(io->payload, json_pack("{s:s, s:O, s:i}", "source", "page", "data",
                                                 data, "start", 0));
}

static char *j_ask(void *ctx, const char *prompt, bool password, lb_error *err)
{
    lb_jupyter_io *io = ctx;
    if (!io->request || !io->allow_stdin || !io->stdin_sock) {
        lb_error_set(err, "StdinNotImplementedError", 0, 0,
                     "input was requested, but this front end does not support it");
        return NULL;
    }
    flush_pending(io);
    /* Forget replies to earlier, abandoned input requests. */
    lb_msg *stale;
    while (lb_wire_recv(io->session, io->stdin_sock, ZMQ_DONTWAIT, &stale) >= 0) lb_msg_free(stale);

    json_t *content = json_pack("{s:o, s:b}", "prompt", lb_json_text(prompt, prompt ? strlen(prompt) : 0),
                                "password", password);
    if (lb_wire_send(io->session, io->stdin_sock, io->request->ids, io->request->n_ids,
                     "input_request", content, io->request->header, NULL, NULL, 0)) {
        lb_error_set(err, "IOError", 0, 0, "cannot send the input request");
        return NULL;
    }
    for (;;) {
        if (lb_interrupt_pending()) {
            lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
            return NULL;
        }
        if (io->stopping && *io->stopping) {
            lb_error_set(err, "Interrupted", 0, 0, "the kernel is shutting down");
            return NULL;
        }
        /* A short timeout: interrupt_request from the control thread does not wake us. */
        zmq_pollitem_t it = {io->stdin_sock, 0, ZMQ_POLLIN, 0};
        int r = zmq_poll(&it, 1, 50);
        if (r < 0) {
            if (errno == EINTR) continue;
            lb_error_set(err, "IOError", 0, 0, "stdin channel closed");
            return NULL;
        }
        if (r == 0) continue;
        lb_msg *m;
        r = lb_wire_recv(io->session, io->stdin_sock, ZMQ_DONTWAIT, &m);
        if (r <= 0) continue;
        if (strcmp(m->msg_type, "input_reply") != 0) {
            fprintf(stderr, "labbook: ignored %s on the stdin channel\n", m->msg_type);
            lb_msg_free(m);
            continue;
        }
        json_t *v = json_object_get(m->content, "value");
        char *answer = strdup(json_is_string(v) ? json_string_value(v) : "");
        lb_msg_free(m);
        if (!answer) lb_oom(err);
        return answer;
    }
}

lb_output lb_jupyter_output(lb_jupyter_io *io)
{
    lb_output o = {
        .ctx = io,
        .stream = j_stream,
        .flush = j_flush,
        .display = j_display,
        .result = j_result,
        .clear = j_clear,
        .page = j_page,
        .ask = j_ask,
    };
    return o;
}

void lb_jupyter_begin(lb_jupyter_io *io, const lb_msg *req, int execution_count, bool silent,
                      bool allow_stdin)
{
    io->request = req;
    io->execution_count = execution_count;
    io->silent = silent;
    io->allow_stdin = allow_stdin;
    json_decref(io->payload);
    io->payload = NULL;
    free(io->result_text);
    io->result_text = NULL;
    io->slen[0] = io->slen[1] = 0;
}

void lb_jupyter_end(lb_jupyter_io *io)
{
    flush_pending(io);
    io->request = NULL;
}

json_t *lb_jupyter_take_payload(lb_jupyter_io *io)
{
    json_t *p = io->payload ? io->payload : json_array();
    io->payload = NULL;
    return p;
}

char *lb_jupyter_take_result_text(lb_jupyter_io *io)
{
    char *t = io->result_text;
    io->result_text = NULL;
    return t;
}
