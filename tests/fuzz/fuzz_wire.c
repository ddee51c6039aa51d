/* fuzz_wire.c — libFuzzer harness of the Jupyter wire decoder (kernel/jupyter/wire.c) and of the
 * connection file (kernel/jupyter/connection.c); tests/fuzz/README.md.
 *
 * Input: a mode byte, then frames separated by 0xFF (0xFE makes the next byte literal: JSON never
 * holds either, identities and buffers may). Mode bits:
 *   1  a session with the key KEY (else a session without one, which checks no signature)
 *   2  with the key: the harness signs the four JSON frames itself, so that mutated JSON gets
 *      past the HMAC check (without it the input's own signature is checked)
 *   4  the frames go through ZeroMQ (an inproc PAIR socket) into lb_wire_recv, as the kernel
 *      receives them; else straight to lb_wire_parse
 *   8  the rest of the input is a connection file's JSON text instead (lb_connection_parse)
 * Checked beyond "no crash, no leak, no undefined behaviour": a parsed message has its four JSON
 * objects and every frame accounted for; with a key, the same frames again are refused as a
 * replay; a parsed message serialized again (lb_wire_serialize, a new session of the same key)
 * parses back to the same JSON, identities and buffers. A parsed connection gives endpoints. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "fuzz_common.h"

#include "jupyter/connection.h"
#include "jupyter/wire.h"

#define KEY "labbook-fuzz-key" /* tests/fuzz/make_seeds.py signs the seeds with it */
#define MAX_FRAMES 64

static void *zctx, *zsend, *zrecv;

/* The frames of the input after the mode byte (each malloc'd; *n of them, at least one). */
static lb_frame *decode(const uint8_t *d, size_t size, size_t *n)
{
    lb_frame *f = calloc(MAX_FRAMES, sizeof *f);
    unsigned char *buf = malloc(size + 1);
    FUZZ_ASSERT(f && buf, "out of memory");
    size_t k = 0, len = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || (d[i] == 0xFF && k + 1 < MAX_FRAMES)) {
            f[k].data = len ? malloc(len) : NULL;
            if (len)
                memcpy(f[k].data, buf, len);
            f[k++].len = len;
            len = 0;
            continue;
        }
        if (d[i] == 0xFE && i + 1 < size)
            i++;
        buf[len++] = d[i];
    }
    free(buf);
    *n = k;
    return f;
}

static void frames_free(lb_frame *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].data);
    free(f);
}

static size_t delimiter(const lb_frame *f, size_t n)
{
    size_t d = 0;
    while (d < n && !(f[d].len == 9 && memcmp(f[d].data, LB_WIRE_DELIM, 9) == 0))
        d++;
    return d;
}

/* Sends the frames through ZeroMQ and receives them with lb_wire_recv: 1 (parsed), 0 (dropped;
 * its reason, printed on stderr by the kernel, is silenced here) or -1. */
static int through_zmq(lb_session *s, const lb_frame *f, size_t n, lb_msg **m)
{
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(zmq_send(zsend, f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0,
                    "zmq_send: %s", zmq_strerror(errno));
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    if (null >= 0)
        dup2(null, 2);
    int rc = lb_wire_recv(s, zrecv, 0, m);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    if (null >= 0)
        close(null);
    return rc;
}

static bool same_frames(const lb_frame *a, const lb_frame *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].len != b[i].len || (a[i].len && memcmp(a[i].data, b[i].data, a[i].len) != 0))
            return false;
    return true;
}

/* Serialized by a new session of the same key and parsed by another: the same message. */
static void round_trip(const lb_msg *m, bool keyed)
{
    lb_session *s1 = lb_session_new(keyed ? KEY : NULL, keyed ? strlen(KEY) : 0, "fuzz");
    lb_session *s2 = lb_session_new(keyed ? KEY : NULL, keyed ? strlen(KEY) : 0, "fuzz");
    FUZZ_ASSERT(s1 && s2, "no session");
    lb_frame *f = NULL;
    size_t n = 0;
    FUZZ_ASSERT(lb_wire_serialize(s1, m->ids, m->n_ids, m->header, m->parent_header, m->metadata,
                                  m->content, m->buffers, m->n_buffers, &f, &n) == 0,
                "a parsed message does not serialize");
    lb_msg *back = NULL;
    char why[128] = "";
    FUZZ_ASSERT(lb_wire_parse(s2, f, n, &back, why, sizeof why) == 0,
                "a serialized message does not parse: %s", why);
    FUZZ_ASSERT(json_equal(back->header, m->header) && json_equal(back->parent_header, m->parent_header) &&
                    json_equal(back->metadata, m->metadata) && json_equal(back->content, m->content),
                "the JSON changed in a round trip");
    FUZZ_ASSERT(back->n_ids == m->n_ids && back->n_buffers == m->n_buffers &&
                    same_frames(back->ids, m->ids, m->n_ids) &&
                    same_frames(back->buffers, m->buffers, m->n_buffers) && !back->bad,
                "identities or buffers changed in a round trip");
    lb_msg_free(back);
    lb_frames_free(f, n);
    lb_session_free(s1);
    lb_session_free(s2);
}

static void connection(const uint8_t *d, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text, "out of memory");
    memcpy(text, d, size);
    text[size] = '\0';
    lb_connection c;
    char why[256] = "";
    if (lb_connection_parse(text, &c, why, sizeof why) == 0) {
        FUZZ_ASSERT(strcmp(c.transport, "tcp") == 0 || strcmp(c.transport, "ipc") == 0,
                    "transport %s", c.transport);
        FUZZ_ASSERT(c.key && strlen(c.key) <= c.key_len, "a key of %zu bytes", c.key_len);
        char ep[512];
        int ports[] = {c.shell_port, c.iopub_port, c.stdin_port, c.control_port, c.hb_port};
        for (int i = 0; i < 5; i++)
            lb_connection_endpoint(&c, ports[i], ep, sizeof ep);
        lb_connection_free(&c);
    } else {
        FUZZ_ASSERT(why[0], "a refused connection file without a reason");
    }
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    zctx = zmq_ctx_new();
    zsend = zctx ? zmq_socket(zctx, ZMQ_PAIR) : NULL;
    zrecv = zctx ? zmq_socket(zctx, ZMQ_PAIR) : NULL;
    if (!zsend || !zrecv || zmq_bind(zrecv, "inproc://fuzz-wire") != 0 ||
        zmq_connect(zsend, "inproc://fuzz-wire") != 0) {
        fprintf(stderr, "fuzz_wire: ZeroMQ: %s\n", zmq_strerror(errno));
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    if (mode & 8) {
        connection(data + 1, size - 1);
        return 0;
    }
    bool keyed = mode & 1;
    size_t n = 0;
    lb_frame *f = decode(data + 1, size - 1, &n);
    lb_session *s = lb_session_new(keyed ? KEY : NULL, keyed ? strlen(KEY) : 0, "fuzz");
    FUZZ_ASSERT(s, "no session");
    size_t d = delimiter(f, n);
    if (keyed && (mode & 2) && d < n && n - d - 1 >= 5) {
        char hex[65];
        FUZZ_ASSERT(lb_session_sign(s, &f[d + 2], hex) == 0, "cannot sign");
        free(f[d + 1].data);
        f[d + 1].data = strdup(hex);
        f[d + 1].len = strlen(hex);
    }
    lb_msg *m = NULL;
    char why[128] = "";
    int rc = mode & 4 ? through_zmq(s, f, n, &m) : lb_wire_parse(s, f, n, &m, why, sizeof why) == 0;
    FUZZ_ASSERT(rc == 1 ? m != NULL : m == NULL, "lb_wire %s gave %d and %p", mode & 4 ? "recv" : "parse",
                rc, (void *)m);
    FUZZ_ASSERT(rc == 1 || (mode & 4) || why[0], "a message refused without a reason");
    if (m) {
        FUZZ_ASSERT(json_is_object(m->header) && json_is_object(m->parent_header) &&
                        json_is_object(m->metadata) && json_is_object(m->content),
                    "a parsed message without its four objects");
        FUZZ_ASSERT(m->msg_type && m->msg_id, "no msg_type or msg_id");
        FUZZ_ASSERT(m->n_ids == d && m->n_ids + 6 + m->n_buffers == n, "%zu ids + %zu buffers of %zu frames",
                    m->n_ids, m->n_buffers, n);
        if (keyed) { /* the same frames again: a replay */
            lb_msg *again = NULL;
            FUZZ_ASSERT(lb_wire_parse(s, f, n, &again, why, sizeof why) < 0 && !again &&
                            strstr(why, "repeated signature"),
                        "a replayed message was not refused (%s)", why);
        }
        round_trip(m, keyed);
        lb_msg_free(m);
    }
    lb_session_free(s);
    frames_free(f, n);
    return 0;
}
