/* server.c — the Jupyter kernel (see server.h and spec/protocol.md).
 *
 * Threads:
 *   main     shell ROUTER (+ stdin ROUTER for input requests): runs cells and every request
 *            that touches the interpreter or the history; sleeps in zmq_poll on the shell
 *            socket and a wake pipe (written by the control thread and by SIGTERM).
 *   control  control ROUTER: kernel_info, interrupt, shutdown, comm_info, connect — served
 *            while a cell runs.
 *   hb       heartbeat REP: echoes every message.
 * Both helper threads sleep in zmq_poll on their socket and a quit pipe; SIGINT and SIGTERM
 * are blocked in them so that signals land on the main thread. iopub sends from any thread
 * go through lb_jupyter_publish (one mutex). No request waits on a timer. */
#include "jupyter/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "jupyter/connection.h"
#include "jupyter/history.h"
#include "lang/interp.h"
#include "jupyter/jupyter_output.h"
#include "base/utf8.h"
#include "jupyter/wire.h"

#define BANNER                                                                              \
    "labbook " LB_VERSION " — a notebook language for deep-learning lab work\n"          \
    "Type `help` for the commands, and Tab to complete."

typedef struct server {
    lb_connection conn;
    lb_session *session;
    void *zctx, *shell, *control, *iopub, *stdin_sock, *hb;
    lb_jupyter_io io;
    bool io_ready;
    lb_interp *interp;
    lb_interp_factory new_interp; /* the entry point's (cli/labbook.c): the language and its modules */
    lb_history *history;
    int execution_count;
    volatile int stopping;
    int wake[2];   /* -> main thread: stop requested */
    int quit[2];   /* -> helper threads: exit (level-triggered: never read) */
    pthread_t hb_thread, control_thread;
    bool hb_started, control_started;
} server;

typedef enum { CH_SHELL, CH_CONTROL } channel;

/* A FIFO of messages taken off the shell socket while aborting after a failed cell. */
typedef struct msgq {
    lb_msg **m;
    size_t n, cap;
} msgq;

static volatile int *g_stopping;
static volatile sig_atomic_t g_wake_fd = -1;

/* ---- small helpers ----------------------------------------------------------------------- */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("labbook: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void send_reply(server *s, void *sock, const lb_msg *req, const char *type, json_t *content)
{
    lb_wire_send(s->session, sock, req->ids, req->n_ids, type, content, req->header, NULL, NULL, 0);
}

/* "x_request" -> "x_reply" into buf; false when the type is not a request. */
static bool reply_type(const char *req_type, char *buf, size_t n)
{
    size_t l = strlen(req_type);
    static const char suf[] = "_request";
    if (l <= sizeof suf - 1 || strcmp(req_type + l - (sizeof suf - 1), suf) != 0) return false;
    int k = snprintf(buf, n, "%.*s_reply", (int)(l - (sizeof suf - 1)), req_type);
    return k > 0 && (size_t)k < n;
}

static json_t *error_content(const char *ename, const char *evalue)
{
    return json_pack("{s:s, s:s, s:o, s:[]}", "status", "error", "ename", ename, "evalue",
                     lb_json_text(evalue, strlen(evalue)), "traceback");
}

/* Typed access to request fields. The first problem is written into bad (bad[0] == 0
 * means all fields so far were fine); the default is returned for absent or null fields. */
static const char *field_str(json_t *c, const char *k, const char *def, char *bad, size_t n)
{
    json_t *v = json_object_get(c, k);
    if (!v || json_is_null(v)) return def;
    if (json_is_string(v)) return json_string_value(v);
    if (!bad[0]) snprintf(bad, n, "field \"%s\" must be a string", k);
    return def;
}

static bool field_bool(json_t *c, const char *k, bool def, char *bad, size_t n)
{
    json_t *v = json_object_get(c, k);
    if (!v || json_is_null(v)) return def;
    if (json_is_boolean(v)) return json_is_true(v);
    if (json_is_integer(v)) return json_integer_value(v) != 0;   /* lenient: 0/1 */
    if (!bad[0]) snprintf(bad, n, "field \"%s\" must be a boolean", k);
    return def;
}

static long long field_int(json_t *c, const char *k, long long def, char *bad, size_t n)
{
    json_t *v = json_object_get(c, k);
    if (!v || json_is_null(v)) return def;
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) return (long long)json_real_value(v);
    if (!bad[0]) snprintf(bad, n, "field \"%s\" must be an integer", k);
    return def;
}

static json_t *traceback_of(const lb_error *err, const char *code)
{
    json_t *tb = lb_error_traceback_json(err, code);
    if (json_is_array(tb)) return tb;
    json_decref(tb);
    char line[512];
    snprintf(line, sizeof line, "%s: %s", err->ename, err->evalue ? err->evalue : "");
    return json_pack("[o]", lb_json_text(line, strlen(line)));
}

/* ---- request handlers ------------------------------------------------------------------- */

#ifndef LB_PREFIX
#define LB_PREFIX "/usr/local"
#endif
#ifndef LB_SOURCE_DIR
#define LB_SOURCE_DIR ""
#endif

/* help_links point at the documentation on this machine: the copy `make install` puts in
 * PREFIX/share/doc/labbook, else the spec/ folder of the source tree the binary was built in
 * (there is no web site to link to, and a front end opens file:// links fine). */
static json_t *help_links(void)
{
    static const char *const docs[][2] = {
        {"labbook language", "language.md"},
        {"labbook plugin ABI", "plugin-abi.md"},
        {"labbook Jupyter protocol notes", "protocol.md"},
    };
    const char *dirs[] = {LB_PREFIX "/share/doc/labbook", LB_SOURCE_DIR "/spec"};
    json_t *links = json_array();
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs && json_array_size(links) == 0; d++) {
        if (dirs[d][0] != '/')
            continue;
        for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[d], docs[i][1]);
            if (access(path, R_OK) != 0)
                continue;
            char url[4200];
            snprintf(url, sizeof url, "file://%s", path);
            json_array_append_new(links, json_pack("{s:s, s:s}", "text", docs[i][0], "url", url));
        }
    }
    return links;
}

static void do_kernel_info(server *s, void *sock, const lb_msg *m)
{
    json_t *c = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:o, s:b}",
        "status", "ok", "protocol_version", LB_PROTOCOL_VERSION, "implementation", "labbook",
        "implementation_version", LB_VERSION, "banner", BANNER, "language_info", "name",
        "labbook", "version", LB_LANGUAGE_VERSION, "mimetype", "text/x-labbook",
        "file_extension", ".lab", "pygments_lexer", "python", "codemirror_mode", "python",
        "nbconvert_exporter", "script", "help_links", help_links(), "debugger", 0);
    send_reply(s, sock, m, "kernel_info_reply", c);
}

static void request_stop(server *s)
{
    s->stopping = 1;
    lb_interrupt_request();   /* a running cell unwinds at its next safe point */
    ssize_t w = write(s->wake[1], "s", 1);
    (void)w;
}

static void do_shutdown(server *s, void *sock, const lb_msg *m)
{
    char bad[128] = "";
    bool restart = field_bool(m->content, "restart", false, bad, sizeof bad);
    send_reply(s, sock, m, "shutdown_reply", json_pack("{s:s, s:b}", "status", "ok", "restart", restart));
    request_stop(s);
}

static void do_interrupt(server *s, void *sock, const lb_msg *m)
{
    lb_interrupt_request();
    send_reply(s, sock, m, "interrupt_reply", json_pack("{s:s}", "status", "ok"));
}

static void do_connect(server *s, void *sock, const lb_msg *m)
{
    send_reply(s, sock, m, "connect_reply",
               json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "status", "ok", "shell_port",
                         s->conn.shell_port, "iopub_port", s->conn.iopub_port, "stdin_port",
                         s->conn.stdin_port, "hb_port", s->conn.hb_port, "control_port",
                         s->conn.control_port));
}

static void do_comm_info(server *s, void *sock, const lb_msg *m)
{
    send_reply(s, sock, m, "comm_info_reply", json_pack("{s:s, s:{}}", "status", "ok", "comms"));
}

static void do_comm_open(server *s, const lb_msg *m)
{
    /* labbook registers no comm targets: close every comm a front end opens. */
    json_t *id = json_object_get(m->content, "comm_id");
    const char *target = json_string_value(json_object_get(m->content, "target_name"));
    logmsg("no comm target \"%s\"; closing the comm", target ? target : "");
    if (json_is_string(id))
        lb_jupyter_publish(&s->io, m->header, "comm_close",
                           json_pack("{s:O, s:{}}", "comm_id", id, "data"));
}

static void do_is_complete(server *s, void *sock, const lb_msg *m)
{
    char bad[128] = "";
    const char *code = field_str(m->content, "code", "", bad, sizeof bad);
    if (bad[0]) {
        send_reply(s, sock, m, "is_complete_reply", error_content("BadRequest", bad));
        return;
    }
    lb_code_status st = lb_interp_is_complete(s->interp, code);
    json_t *c = st == LB_CODE_INCOMPLETE ? json_pack("{s:s, s:s}", "status", "incomplete", "indent", "")
                : json_pack("{s:s}", "status", st == LB_CODE_COMPLETE ? "complete" : "invalid");
    send_reply(s, sock, m, "is_complete_reply", c);
}

/* The byte offset of a code-point cursor_pos (absent or null: the end of the code). */
static size_t cursor_byte(const char *code, long long cp)
{
    size_t len = strlen(code);
    if (cp < 0) return len;
    return lb_utf8_cp_to_byte(code, len, (size_t)cp);
}

static void do_complete(server *s, void *sock, const lb_msg *m)
{
    char bad[128] = "";
    const char *code = field_str(m->content, "code", "", bad, sizeof bad);
    long long cp = field_int(m->content, "cursor_pos", -1, bad, sizeof bad);
    if (bad[0]) {
        send_reply(s, sock, m, "complete_reply", error_content("BadRequest", bad));
        return;
    }
    size_t len = strlen(code), at = cursor_byte(code, cp), start = at, end = at;
    json_t *matches = lb_interp_complete(s->interp, code, at, &start, &end);
    if (!json_is_array(matches)) {
        json_decref(matches);
        matches = json_array();
        start = end = at;
    }
    if (start > end || end > len) start = end = at;
    send_reply(s, sock, m, "complete_reply",
               json_pack("{s:s, s:o, s:I, s:I, s:{}}", "status", "ok", "matches", matches,
                         "cursor_start", (json_int_t)lb_utf8_byte_to_cp(code, len, start),
                         "cursor_end", (json_int_t)lb_utf8_byte_to_cp(code, len, end), "metadata"));
}

static void do_inspect(server *s, void *sock, const lb_msg *m)
{
    char bad[128] = "";
    const char *code = field_str(m->content, "code", "", bad, sizeof bad);
    long long cp = field_int(m->content, "cursor_pos", -1, bad, sizeof bad);
    int detail = (int)field_int(m->content, "detail_level", 0, bad, sizeof bad);
    if (bad[0]) {
        send_reply(s, sock, m, "inspect_reply", error_content("BadRequest", bad));
        return;
    }
    json_t *data = lb_interp_inspect(s->interp, code, cursor_byte(code, cp), detail);
    bool found = json_is_object(data) && json_object_size(data) > 0;
    if (!found) {
        json_decref(data);
        data = json_object();
    }
    send_reply(s, sock, m, "inspect_reply",
               json_pack("{s:s, s:b, s:o, s:{}}", "status", "ok", "found", found, "data", data,
                         "metadata"));
}

static void do_history(server *s, void *sock, const lb_msg *m)
{
    char bad[128] = "";
    json_t *c = m->content;
    const char *type = field_str(c, "hist_access_type", "tail", bad, sizeof bad);
    bool output = field_bool(c, "output", false, bad, sizeof bad);
    (void)field_bool(c, "raw", true, bad, sizeof bad);   /* labbook keeps raw input only */
    long long n = field_int(c, "n", 0, bad, sizeof bad);
    json_t *hist = NULL;
    if (strcmp(type, "tail") == 0) {
        if (!json_object_get(c, "n") || json_is_null(json_object_get(c, "n"))) n = 10;
        if (!bad[0]) hist = lb_history_tail(s->history, (int)n, output);
    } else if (strcmp(type, "range") == 0) {
        long long session = field_int(c, "session", 0, bad, sizeof bad);
        long long start = field_int(c, "start", 1, bad, sizeof bad);
        long long stop = field_int(c, "stop", 0, bad, sizeof bad);
        if (!bad[0]) hist = lb_history_range(s->history, (int)session, (int)start, (int)stop, output);
    } else if (strcmp(type, "search") == 0) {
        const char *pattern = field_str(c, "pattern", "*", bad, sizeof bad);
        bool unique = field_bool(c, "unique", false, bad, sizeof bad);
        if (!bad[0]) hist = lb_history_search(s->history, pattern, (int)n, unique, output);
    } else if (!bad[0])
        snprintf(bad, sizeof bad, "unknown hist_access_type \"%s\" (tail, range or search)", type);
    if (bad[0] || !hist) {
        json_decref(hist);
        send_reply(s, sock, m, "history_reply", error_content("BadRequest", bad[0] ? bad : "out of memory"));
        return;
    }
    send_reply(s, sock, m, "history_reply", json_pack("{s:s, s:o}", "status", "ok", "history", hist));
}

static json_t *eval_user_expressions(server *s, json_t *exprs)
{
    json_t *out = json_object();
    const char *key;
    json_t *val;
    json_object_foreach(exprs, key, val) {
        json_t *r;
        if (!json_is_string(val)) {
            r = error_content("TypeError", "a user expression must be a string");
        } else {
            lb_error e = {0};
            json_t *bundle = lb_interp_eval_bundle(s->interp, json_string_value(val), &e);
            if (bundle)
                r = json_pack("{s:s, s:o, s:{}}", "status", "ok", "data", bundle, "metadata");
            else {
                if (!lb_error_is_set(&e)) lb_error_set(&e, "Error", 0, 0, "evaluation failed");
                r = json_pack("{s:s, s:o, s:o, s:o}", "status", "error", "ename",
                              lb_json_text(e.ename, strlen(e.ename)), "evalue",
                              lb_json_text(e.evalue, strlen(e.evalue)), "traceback",
                              traceback_of(&e, json_string_value(val)));
            }
            lb_error_clear(&e);
        }
        json_object_set_new(out, key, r);
    }
    return out;
}

static void queue_push(msgq *q, lb_msg *m)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        lb_msg **nm = realloc(q->m, cap * sizeof *nm);
        if (!nm) {
            logmsg("out of memory: dropped a queued %s", m->msg_type);
            lb_msg_free(m);
            return;
        }
        q->m = nm;
        q->cap = cap;
    }
    q->m[q->n++] = m;
}

/* Takes every message already waiting on the shell socket. */
static void drain_shell(server *s, msgq *q)
{
    for (;;) {
        lb_msg *m;
        int r = lb_wire_recv(s->session, s->shell, ZMQ_DONTWAIT, &m);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (r == 1) queue_push(q, m);
    }
}

/* Runs one execute_request. Returns true when it failed with stop_on_error set: then the
 * shell messages already queued were moved into *aborted. */
static bool do_execute(server *s, const lb_msg *m, msgq *aborted)
{
    char bad[160] = "";
    json_t *c = m->content;
    const char *code = field_str(c, "code", NULL, bad, sizeof bad);
    if (!code && !bad[0]) snprintf(bad, sizeof bad, "field \"code\" is missing");
    bool silent = field_bool(c, "silent", false, bad, sizeof bad);
    bool store_history = field_bool(c, "store_history", !silent, bad, sizeof bad);
    bool allow_stdin = field_bool(c, "allow_stdin", false, bad, sizeof bad);
    bool stop_on_error = field_bool(c, "stop_on_error", true, bad, sizeof bad);
    json_t *uexprs = json_object_get(c, "user_expressions");
    if (uexprs && !json_is_null(uexprs) && !json_is_object(uexprs) && !bad[0])
        snprintf(bad, sizeof bad, "field \"user_expressions\" must be an object");
    if (bad[0]) {
        json_t *r = error_content("BadRequest", bad);
        json_object_set_new(r, "execution_count", json_integer(s->execution_count));
        send_reply(s, s->shell, m, "execute_reply", r);
        return false;
    }
    if (silent) store_history = false;
    if (store_history) s->execution_count++;
    int count = s->execution_count;
    /* Cleared before execute_input goes out: a client that interrupts once it has seen
     * execute_input (the cell has started) must never have its interrupt wiped here. */
    lb_interrupt_clear();
    if (!silent)
        lb_jupyter_publish(&s->io, m->header, "execute_input",
                           json_pack("{s:s, s:i}", "code", code, "execution_count", count));
    if (store_history) lb_history_add_input(s->history, count, code);

    lb_jupyter_begin(&s->io, m, count, silent, allow_stdin);
    lb_error err = {0};
    int rc = lb_interp_execute(s->interp, code, !silent, &err);
    json_t *ue = rc == 0 && json_is_object(uexprs) ? eval_user_expressions(s, uexprs) : json_object();
    lb_jupyter_end(&s->io);
    json_t *payload = lb_jupyter_take_payload(&s->io);
    char *result = lb_jupyter_take_result_text(&s->io);
    if (store_history && result) lb_history_add_output(s->history, count, result);
    free(result);

    json_t *reply;
    bool abort_queue = false;
    if (rc == 0) {
        reply = json_pack("{s:s, s:i, s:o, s:o}", "status", "ok", "execution_count", count,
                          "payload", payload, "user_expressions", ue);
    } else {
        if (!lb_error_is_set(&err)) lb_error_set(&err, "Error", 0, 0, "the cell failed");
        json_t *ename = lb_json_text(err.ename, strlen(err.ename));
        json_t *evalue = lb_json_text(err.evalue, strlen(err.evalue));
        json_t *tb = traceback_of(&err, code);
        if (!silent)   /* silent: the error is in the reply only */
            lb_jupyter_publish(&s->io, m->header, "error",
                               json_pack("{s:O, s:O, s:O}", "ename", ename, "evalue", evalue, "traceback", tb));
        reply = json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "status", "error",
                          "execution_count", count, "ename", ename, "evalue", evalue,
                          "traceback", tb, "payload", payload, "user_expressions", ue);
        if (stop_on_error) {
            /* Taken before the reply goes out: whatever is queued now was sent before the
             * client could know that this cell failed. */
            drain_shell(s, aborted);
            abort_queue = true;
        }
    }
    lb_error_clear(&err);
    send_reply(s, s->shell, m, "execute_reply", reply);
    return abort_queue;
}

static void abort_execute(server *s, const lb_msg *m)
{
    json_t *r = error_content("Aborted", "not run: an earlier cell failed and stop_on_error was set");
    json_object_set_new(r, "execution_count", json_integer(s->execution_count));
    json_object_set_new(r, "user_expressions", json_object());
    json_object_set_new(r, "payload", json_array());
    send_reply(s, s->shell, m, "execute_reply", r);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void dispatch(server *s, channel ch, const lb_msg *m, msgq *aborted, bool aborting)
{
    void *sock = ch == CH_SHELL ? s->shell : s->control;
    const char *t = m->msg_type;
    char rtype[96];
    bool is_request = reply_type(t, rtype, sizeof rtype);

    lb_jupyter_status(&s->io, m->header, "busy");
    if (m->bad) {
        logmsg("malformed %s: %s", *t ? t : "message", m->bad);
        if (is_request) send_reply(s, sock, m, rtype, error_content("BadRequest", m->bad));
    } else if (!strcmp(t, "kernel_info_request"))
        do_kernel_info(s, sock, m);
    else if (!strcmp(t, "shutdown_request"))
        do_shutdown(s, sock, m);
    else if (!strcmp(t, "interrupt_request"))
        do_interrupt(s, sock, m);
    else if (!strcmp(t, "comm_info_request"))
        do_comm_info(s, sock, m);
    else if (!strcmp(t, "connect_request"))
        do_connect(s, sock, m);
    else if (ch == CH_SHELL && !strcmp(t, "execute_request")) {
        if (aborting)
            abort_execute(s, m);
        else if (do_execute(s, m, aborted)) {
            /* idle for this request first, then the aborted ones in order */
            lb_jupyter_status(&s->io, m->header, "idle");
            for (size_t i = 0; i < aborted->n; i++) {
                dispatch(s, CH_SHELL, aborted->m[i], NULL, true);
                lb_msg_free(aborted->m[i]);
            }
            aborted->n = 0;
            return;
        }
    } else if (ch == CH_SHELL && !strcmp(t, "complete_request"))
        do_complete(s, sock, m);
    else if (ch == CH_SHELL && !strcmp(t, "inspect_request"))
        do_inspect(s, sock, m);
    else if (ch == CH_SHELL && !strcmp(t, "is_complete_request"))
        do_is_complete(s, sock, m);
    else if (ch == CH_SHELL && !strcmp(t, "history_request"))
        do_history(s, sock, m);
    else if (ch == CH_SHELL && !strcmp(t, "comm_open"))
        do_comm_open(s, m);
    else if (ch == CH_SHELL && (!strcmp(t, "comm_msg") || !strcmp(t, "comm_close"))) {
        /* no comms are ever open: nothing to do */
    } else if (ch == CH_CONTROL && is_request &&
               (!strcmp(t, "execute_request") || !strcmp(t, "complete_request") ||
                !strcmp(t, "inspect_request") || !strcmp(t, "is_complete_request") ||
                !strcmp(t, "history_request"))) {
        logmsg("%s is served on the shell channel only", t);
        char why[160];
        snprintf(why, sizeof why, "%s is served on the shell channel only", t);
        send_reply(s, sock, m, rtype, error_content("BadRequest", why));
    } else
        logmsg("ignored unknown message type \"%s\" on the %s channel", t,
               ch == CH_SHELL ? "shell" : "control");
    lb_jupyter_status(&s->io, m->header, "idle");
}

/* ---- threads ------------------------------------------------------------------------------ */

/* The parent poller (as ipykernel's): jupyter_client sets JPY_PARENT_PID for the kernels it
 * launches. If that launcher dies without a shutdown_request, nobody can reach the kernel any
 * more, so it would run forever; once its parent process changes (it was re-parented), the
 * kernel shuts down. 0 = not watching. */
static pid_t watched_parent;

static bool parent_gone(void)
{
    return watched_parent > 0 && getppid() != watched_parent;
}

/* Waits until sock is readable (1) or the quit pipe is (0); -1 on a ZeroMQ error. The
 * heartbeat thread (check_parent) also looks after the parent once a second. */
static int wait_readable(server *s, void *sock, bool check_parent)
{
    long timeout = check_parent && watched_parent > 0 ? 1000 : -1;
    for (;;) {
        zmq_pollitem_t it[2] = {{sock, 0, ZMQ_POLLIN, 0}, {NULL, s->quit[0], ZMQ_POLLIN, 0}};
        int r = zmq_poll(it, 2, timeout);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            if (parent_gone()) {
                logmsg("the process that started this kernel exited: shutting down");
                request_stop(s);
                return 0;
            }
            continue;
        }
        if (it[1].revents) return 0;
        if (it[0].revents & ZMQ_POLLIN) return 1;
    }
}

static void *hb_main(void *arg)
{
    server *s = arg;
    enum { MAX_PARTS = 16 };
    while (wait_readable(s, s->hb, true) == 1) {
        /* REP: take the whole request, then echo it (extra parts beyond MAX_PARTS are
         * dropped; pings are one frame). */
        zmq_msg_t parts[MAX_PARTS];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, s->hb, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            more = zmq_msg_more(&part);
            if (n < MAX_PARTS)
                parts[n++] = part;
            else
                zmq_msg_close(&part);
        }
        int i = 0;
        while (i < n && zmq_msg_send(&parts[i], s->hb, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0) i++;
        for (; i < n; i++) zmq_msg_close(&parts[i]);   /* not sent: still ours */
    }
    return NULL;
}

static void *control_main(void *arg)
{
    server *s = arg;
    while (wait_readable(s, s->control, false) == 1) {
        lb_msg *m;
        int r;
        while ((r = lb_wire_recv(s->session, s->control, ZMQ_DONTWAIT, &m)) >= 0) {
            if (r == 1) {
                dispatch(s, CH_CONTROL, m, NULL, false);
                lb_msg_free(m);
            }
        }
    }
    return NULL;
}

/* ---- signals ------------------------------------------------------------------------------ */

static void on_sigint(int sig)
{
    (void)sig;
    lb_interrupt_request();   /* never exits: the running cell stops, the state stays */
}

static void on_sigterm(int sig)
{
    (void)sig;
    int saved = errno;
    if (g_stopping) *g_stopping = 1;
    lb_interrupt_request();
    if (g_wake_fd >= 0) {
        ssize_t w = write(g_wake_fd, "t", 1);
        (void)w;
    }
    errno = saved;
}

static void install_signals(bool on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on ? on_sigterm : SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on ? SIG_IGN : SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
}

/* ---- set-up and tear-down ----------------------------------------------------------------- */

static void *open_socket(server *s, int type, int port, const char *name, char *err, size_t n)
{
    void *sock = zmq_socket(s->zctx, type);
    if (!sock) {
        snprintf(err, n, "cannot create the %s socket: %s", name, zmq_strerror(errno));
        return NULL;
    }
    int linger = 1000, one = 1;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER) zmq_setsockopt(sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (strchr(s->conn.ip, ':')) zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
    char ep[300];
    if (lb_connection_endpoint(&s->conn, port, ep, sizeof ep) || zmq_bind(sock, ep)) {
        snprintf(err, n, "cannot bind the %s socket to %s: %s", name, ep, zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

static int make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) {
        p[0] = p[1] = -1;
        return -1;
    }
    return 0;
}

static void teardown(server *s)
{
    if (s->quit[1] >= 0) {
        ssize_t w = write(s->quit[1], "q", 1);
        (void)w;
    }
    if (s->control_started) pthread_join(s->control_thread, NULL);
    if (s->hb_started) pthread_join(s->hb_thread, NULL);
    install_signals(false);
    g_wake_fd = -1;
    g_stopping = NULL;
    void *socks[] = {s->shell, s->control, s->iopub, s->stdin_sock, s->hb};
    for (size_t i = 0; i < sizeof socks / sizeof *socks; i++)
        if (socks[i]) zmq_close(socks[i]);
    if (s->zctx) zmq_ctx_term(s->zctx);   /* flushes the last replies (linger 1 s) */
    lb_interp_free(s->interp);
    lb_history_free(s->history);
    if (s->io_ready) lb_jupyter_io_destroy(&s->io);
    lb_session_free(s->session);
    lb_connection_free(&s->conn);
    for (int i = 0; i < 2; i++) {
        if (s->wake[i] >= 0) close(s->wake[i]);
        if (s->quit[i] >= 0) close(s->quit[i]);
    }
}

static int start(server *s, const char *connection_file, const char *history_path, char *err,
                 size_t n)
{
    if (lb_connection_load(connection_file, &s->conn, err, n)) return -1;
    if (make_pipe(s->wake) || make_pipe(s->quit)) {
        snprintf(err, n, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    const char *user = getenv("USER");
    if (!(s->session = lb_session_new(s->conn.key, s->conn.key_len, user))) {
        snprintf(err, n, "cannot set up HMAC-SHA256 signing");
        return -1;
    }
    if (!(s->zctx = zmq_ctx_new())) {
        snprintf(err, n, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        return -1;
    }
    if (!(s->shell = open_socket(s, ZMQ_ROUTER, s->conn.shell_port, "shell", err, n)) ||
        !(s->control = open_socket(s, ZMQ_ROUTER, s->conn.control_port, "control", err, n)) ||
        !(s->stdin_sock = open_socket(s, ZMQ_ROUTER, s->conn.stdin_port, "stdin", err, n)) ||
        !(s->iopub = open_socket(s, ZMQ_PUB, s->conn.iopub_port, "iopub", err, n)) ||
        !(s->hb = open_socket(s, ZMQ_REP, s->conn.hb_port, "heartbeat", err, n)))
        return -1;
    if (lb_jupyter_io_init(&s->io, s->session, s->iopub, s->stdin_sock, &s->stopping)) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    s->io_ready = true;
    if (!history_path) history_path = getenv("LABBOOK_HISTORY");
    if (history_path && !*history_path) history_path = NULL;
    char herr[512];
    if (!(s->history = lb_history_open(history_path, herr, sizeof herr))) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    if (herr[0]) logmsg("%s", herr);
    lb_output out = lb_jupyter_output(&s->io);
    if (!(s->interp = s->new_interp(&out))) {
        snprintf(err, n, "cannot create the interpreter (out of memory)");
        return -1;
    }

    g_stopping = &s->stopping;
    g_wake_fd = s->wake[1];
    install_signals(true);
    /* Helper threads inherit a mask without SIGINT/SIGTERM: signals go to this thread. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    /* The parent to watch is the one we have now (a wrapper script may stand between the
     * launcher and us). Already re-parented to init means the launcher died before we got
     * here: watch pid 1's child status anyway, so the first check stops the kernel. */
    const char *jpy_parent = getenv("JPY_PARENT_PID");
    if (jpy_parent && atol(jpy_parent) > 1)
        watched_parent = getppid() == 1 ? (pid_t)atol(jpy_parent) : getppid();
    int e1 = pthread_create(&s->hb_thread, NULL, hb_main, s);
    s->hb_started = e1 == 0;
    int e2 = pthread_create(&s->control_thread, NULL, control_main, s);
    s->control_started = e2 == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e1 || e2) {
        snprintf(err, n, "cannot start the kernel threads: %s", strerror(e1 ? e1 : e2));
        return -1;
    }
    return 0;
}

int lb_server_run(const char *connection_file, const char *history_path, lb_interp_factory new_interp)
{
    server srv;
    memset(&srv, 0, sizeof srv);
    srv.new_interp = new_interp ? new_interp : lb_interp_new;
    srv.wake[0] = srv.wake[1] = srv.quit[0] = srv.quit[1] = -1;
    server *s = &srv;
    char err[512] = "";
    if (start(s, connection_file, history_path, err, sizeof err)) {
        logmsg("%s", err);
        teardown(s);
        return 1;
    }
    lb_jupyter_status(&s->io, NULL, "starting");

    msgq aborted = {0};
    while (!s->stopping) {
        zmq_pollitem_t it[2] = {{s->shell, 0, ZMQ_POLLIN, 0}, {NULL, s->wake[0], ZMQ_POLLIN, 0}};
        int r = zmq_poll(it, 2, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            logmsg("shell poll failed: %s", zmq_strerror(errno));
            break;
        }
        if (it[1].revents) {
            char buf[64];
            while (read(s->wake[0], buf, sizeof buf) > 0) {}
        }
        if (!(it[0].revents & ZMQ_POLLIN)) continue;
        lb_msg *m;
        while (!s->stopping && (r = lb_wire_recv(s->session, s->shell, ZMQ_DONTWAIT, &m)) >= 0) {
            if (r == 1) {
                dispatch(s, CH_SHELL, m, &aborted, false);
                lb_msg_free(m);
            }
        }
    }
    for (size_t i = 0; i < aborted.n; i++) lb_msg_free(aborted.m[i]);
    free(aborted.m);
    teardown(s);
    return 0;
}
