/* wire.c — Jupyter wire messages (see wire.h): HMAC-SHA256 signing with OpenSSL's EVP_MAC,
 * constant-time verification, a FIFO history of the last 2^16 digests against replays,
 * framing, headers, and multipart receive/send over ZeroMQ. */
#include "jupyter/wire.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>
#include <zmq.h>

#define DIGEST_LEN 32

/* Replay history: a ring of the last LB_DIGEST_HISTORY digests (oldest evicted first, an
 * exact FIFO rather than jupyter_client's random 10% cull) indexed by an open-addressing
 * hash table with linear probing and backward-shift deletion. Allocated on first use. */
typedef struct digest_history {
    unsigned char (*ring)[DIGEST_LEN];
    uint32_t *slots;        /* ring index + 1; 0 = empty */
    size_t mask;            /* slot count - 1 */
    size_t head, count;
} digest_history;

struct lb_session {
    char id[40];
    char username[64];
    unsigned char *key;
    size_t key_len;
    EVP_MAC *mac;
    EVP_MAC_CTX *tmpl;      /* initialized with the key; duplicated for every digest */
    pthread_mutex_t lock;   /* guards tmpl use and the digest history */
    digest_history hist;
};

/* ---- digest history -------------------------------------------------------------------- */

static size_t dh_home(const digest_history *h, const unsigned char *d)
{
    uint64_t v;
    memcpy(&v, d, sizeof v);   /* HMAC output is uniformly distributed already */
    return (size_t)v & h->mask;
}

static long dh_find(const digest_history *h, const unsigned char *d)
{
    if (!h->slots) return -1;
    size_t i = dh_home(h, d);
    while (h->slots[i]) {
        if (memcmp(h->ring[h->slots[i] - 1], d, DIGEST_LEN) == 0) return (long)i;
        i = (i + 1) & h->mask;
    }
    return -1;
}

static void dh_delete_slot(digest_history *h, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & h->mask;
        if (!h->slots[j]) break;
        size_t k = dh_home(h, h->ring[h->slots[j] - 1]);
        /* Move slots[j] into the hole at i unless its home lies cyclically in (i, j]. */
        bool in_range = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!in_range) {
            h->slots[i] = h->slots[j];
            i = j;
        }
    }
    h->slots[i] = 0;
}

static int dh_add(digest_history *h, const unsigned char *d)
{
    if (!h->ring) {
        h->ring = malloc((size_t)LB_DIGEST_HISTORY * DIGEST_LEN);
        h->slots = calloc((size_t)LB_DIGEST_HISTORY * 2, sizeof *h->slots);
        if (!h->ring || !h->slots) {
            free(h->ring);
            free(h->slots);
            h->ring = NULL;
            h->slots = NULL;
            return -1;
        }
        h->mask = (size_t)LB_DIGEST_HISTORY * 2 - 1;
    }
    if (h->count == LB_DIGEST_HISTORY) {   /* evict the oldest, which sits at head */
        long at = dh_find(h, h->ring[h->head]);
        if (at >= 0) dh_delete_slot(h, (size_t)at);
    } else
        h->count++;
    memcpy(h->ring[h->head], d, DIGEST_LEN);
    size_t i = dh_home(h, d);
    while (h->slots[i]) i = (i + 1) & h->mask;
    h->slots[i] = (uint32_t)h->head + 1;
    h->head = (h->head + 1) % LB_DIGEST_HISTORY;
    return 0;
}

/* ---- session --------------------------------------------------------------------------- */

lb_session *lb_session_new(const char *key, size_t key_len, const char *username)
{
    lb_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, s->id);
    snprintf(s->username, sizeof s->username, "%s", username && *username ? username : "labbook");
    pthread_mutex_init(&s->lock, NULL);
    if (key_len) {
        s->key = malloc(key_len);
        if (!s->key) goto fail;
        memcpy(s->key, key, key_len);
        s->key_len = key_len;
        s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!s->mac) goto fail;
        s->tmpl = EVP_MAC_CTX_new(s->mac);
        if (!s->tmpl) goto fail;
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        if (!EVP_MAC_init(s->tmpl, s->key, s->key_len, params)) goto fail;
    }
    return s;
fail:
    lb_session_free(s);
    return NULL;
}

void lb_session_free(lb_session *s)
{
    if (!s) return;
    EVP_MAC_CTX_free(s->tmpl);
    EVP_MAC_free(s->mac);
    if (s->key) OPENSSL_cleanse(s->key, s->key_len);
    free(s->key);
    free(s->hist.ring);
    free(s->hist.slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *lb_session_id(const lb_session *s)
{
    return s->id;
}

static int raw_digest(lb_session *s, const lb_frame parts[4], unsigned char md[DIGEST_LEN])
{
    pthread_mutex_lock(&s->lock);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(s->tmpl);
    pthread_mutex_unlock(&s->lock);
    if (!ctx) return -1;
    int ok = 1;
    for (int i = 0; i < 4 && ok; i++)
        if (parts[i].len) ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
    size_t mdlen = 0;
    if (ok) ok = EVP_MAC_final(ctx, md, &mdlen, DIGEST_LEN);
    EVP_MAC_CTX_free(ctx);
    return ok && mdlen == DIGEST_LEN ? 0 : -1;
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

int lb_session_sign(lb_session *s, const lb_frame parts[4], char hex[65])
{
    hex[0] = '\0';
    if (!s->key_len) return 0;
    unsigned char md[DIGEST_LEN];
    if (raw_digest(s, parts, md)) return -1;
    to_hex(md, DIGEST_LEN, hex);
    return 0;
}

/* ---- parsing --------------------------------------------------------------------------- */

static int perr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
    return -1;
}

static bool is_delim(const lb_frame *f)
{
    return f->len == sizeof LB_WIRE_DELIM - 1 && memcmp(f->data, LB_WIRE_DELIM, f->len) == 0;
}

static int copy_frames(const lb_frame *src, size_t n, lb_frame **dst)
{
    *dst = NULL;
    if (!n) return 0;
    lb_frame *d = calloc(n, sizeof *d);
    if (!d) return -1;
    for (size_t i = 0; i < n; i++) {
        d[i].len = src[i].len;
        if (src[i].len) {
            d[i].data = malloc(src[i].len);
            if (!d[i].data) {
                lb_frames_free(d, i);
                return -1;
            }
            memcpy(d[i].data, src[i].data, src[i].len);
        }
    }
    *dst = d;
    return 0;
}

/* Loads a frame that must hold a JSON object; on failure records why in *bad (first one
 * wins) and returns an empty object. */
static json_t *load_object(const lb_frame *f, const char *what, char **bad)
{
    json_error_t jerr;
    json_t *v = f->len ? json_loadb(f->data, f->len, 0, &jerr) : NULL;
    if (v && json_is_object(v)) return v;
    if (!*bad) {
        char buf[256];
        if (v || !f->len)
            snprintf(buf, sizeof buf, "%s is not a JSON object", what);
        else
            snprintf(buf, sizeof buf, "%s is not valid JSON: %s", what, jerr.text);
        *bad = strdup(buf);
    }
    json_decref(v);
    return json_object();
}

int lb_wire_parse(lb_session *s, const lb_frame *frames, size_t n, lb_msg **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    size_t d = 0;
    while (d < n && !is_delim(&frames[d])) d++;
    if (d == n) return perr(err, errlen, "no <IDS|MSG> delimiter");
    if (n - d - 1 < 5) return perr(err, errlen, "too few frames after <IDS|MSG>");
    const lb_frame *sig = &frames[d + 1];
    const lb_frame *parts = &frames[d + 2];
    if (s->key_len) {
        if (sig->len == 0) return perr(err, errlen, "unsigned message (empty signature)");
        unsigned char md[DIGEST_LEN];
        char hex[2 * DIGEST_LEN + 1];
        if (raw_digest(s, parts, md)) return perr(err, errlen, "cannot compute HMAC");
        to_hex(md, DIGEST_LEN, hex);
        if (sig->len != 2 * DIGEST_LEN || CRYPTO_memcmp(sig->data, hex, 2 * DIGEST_LEN) != 0)
            return perr(err, errlen, "invalid signature");
        pthread_mutex_lock(&s->lock);
        bool seen = dh_find(&s->hist, md) >= 0;
        int added = seen ? 0 : dh_add(&s->hist, md);
        pthread_mutex_unlock(&s->lock);
        if (seen) return perr(err, errlen, "repeated signature (replayed message)");
        if (added) return perr(err, errlen, "out of memory");
    }
    json_error_t jerr;
    json_t *header = parts[0].len ? json_loadb(parts[0].data, parts[0].len, 0, &jerr) : NULL;
    if (!header || !json_is_object(header)) {
        json_decref(header);
        return perr(err, errlen, "header is not a JSON object");
    }
    lb_msg *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(header);
        return perr(err, errlen, "out of memory");
    }
    m->header = header;
    m->parent_header = load_object(&parts[1], "parent_header", &m->bad);
    m->metadata = load_object(&parts[2], "metadata", &m->bad);
    m->content = load_object(&parts[3], "content", &m->bad);
    const char *t = json_string_value(json_object_get(header, "msg_type"));
    const char *id = json_string_value(json_object_get(header, "msg_id"));
    m->msg_type = t ? t : "";
    m->msg_id = id ? id : "";
    if (copy_frames(frames, d, &m->ids) || copy_frames(frames + d + 6, n - d - 6, &m->buffers)) {
        lb_msg_free(m);
        return perr(err, errlen, "out of memory");
    }
    m->n_ids = d;
    m->n_buffers = n - d - 6;
    if (!m->parent_header || !m->metadata || !m->content) {
        lb_msg_free(m);
        return perr(err, errlen, "out of memory");
    }
    *out = m;
    return 0;
}

void lb_frames_free(lb_frame *frames, size_t n)
{
    if (!frames) return;
    for (size_t i = 0; i < n; i++) free(frames[i].data);
    free(frames);
}

void lb_msg_free(lb_msg *m)
{
    if (!m) return;
    lb_frames_free(m->ids, m->n_ids);
    lb_frames_free(m->buffers, m->n_buffers);
    json_decref(m->header);
    json_decref(m->parent_header);
    json_decref(m->metadata);
    json_decref(m->content);
    free(m->bad);
    free(m);
}

/* ---- headers and serializing ----------------------------------------------------------- */

void lb_wire_now(char buf[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned us = (unsigned)(ts.tv_nsec / 1000) % 1000000u;
    snprintf(buf + k, 32 - k, ".%06uZ", us);
}

json_t *lb_wire_header(lb_session *s, const char *msg_type)
{
    uuid_t u;
    char id[40], date[32];
    uuid_generate_random(u);
    uuid_unparse_lower(u, id);
    lb_wire_now(date);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "session", s->id,
                     "username", s->username, "date", date, "msg_type", msg_type, "version",
                     LB_PROTOCOL_VERSION);
}

static char *dump(const json_t *v, size_t *len)
{
    char *text;
    if (v)
        text = json_dumps(v, JSON_COMPACT);
    else
        text = strdup("{}");
    *len = text ? strlen(text) : 0;
    return text;
}

int lb_wire_serialize(lb_session *s, const lb_frame *ids, size_t n_ids, json_t *header,
                      const json_t *parent, const json_t *metadata, const json_t *content,
                      const lb_frame *buffers, size_t n_buffers, lb_frame **frames, size_t *n)
{
    *frames = NULL;
    *n = 0;
    size_t total = n_ids + 6 + n_buffers;
    lb_frame *f = calloc(total, sizeof *f);
    if (!f) return -1;
    lb_frame *tmp;
    if (copy_frames(ids, n_ids, &tmp)) goto fail;
    if (n_ids) memcpy(f, tmp, n_ids * sizeof *f);
    free(tmp);
    size_t d = n_ids;
    f[d].data = strdup(LB_WIRE_DELIM);
    f[d].len = sizeof LB_WIRE_DELIM - 1;
    lb_frame *parts = &f[d + 2];
    parts[0].data = dump(header, &parts[0].len);
    parts[1].data = dump(parent, &parts[1].len);
    parts[2].data = dump(metadata, &parts[2].len);
    parts[3].data = dump(content, &parts[3].len);
    if (!f[d].data || !parts[0].data || !parts[1].data || !parts[2].data || !parts[3].data)
        goto fail;
    char hex[65];
    if (lb_session_sign(s, parts, hex)) goto fail;
    f[d + 1].len = strlen(hex);
    f[d + 1].data = strdup(hex);
    if (!f[d + 1].data) goto fail;
    if (copy_frames(buffers, n_buffers, &tmp)) goto fail;
    if (n_buffers) memcpy(f + d + 6, tmp, n_buffers * sizeof *f);
    free(tmp);
    *frames = f;
    *n = total;
    return 0;
fail:
    lb_frames_free(f, total);
    return -1;
}

/* ---- ZeroMQ ---------------------------------------------------------------------------- */

int lb_wire_recv(lb_session *s, void *sock, int flags, lb_msg **out)
{
    *out = NULL;
    lb_frame *frames = NULL;
    size_t n = 0, cap = 0;
    int more = 1, rc = -1;
    bool oom = false;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        int r;
        do r = zmq_msg_recv(&part, sock, n == 0 ? flags : 0);
        while (r < 0 && errno == EINTR && n > 0);   /* never split a multipart message */
        if (r < 0) {
            int e = errno;
            zmq_msg_close(&part);
            lb_frames_free(frames, n);
            errno = e;
            return -1;
        }
        more = zmq_msg_more(&part);
        if (n == cap && !oom) {
            lb_frame *nf = realloc(frames, (cap ? cap * 2 : 8) * sizeof *nf);
            if (nf) {
                frames = nf;
                cap = cap ? cap * 2 : 8;
            } else
                oom = true;
        }
        size_t len = zmq_msg_size(&part);
        void *data = NULL;
        if (!oom && len && !(data = malloc(len))) oom = true;
        if (oom) {   /* keep reading (and discarding) so the socket stays in step */
            free(data);
            zmq_msg_close(&part);
            continue;
        }
        if (len) memcpy(data, zmq_msg_data(&part), len);
        frames[n].data = data;
        frames[n].len = len;
        n++;
        zmq_msg_close(&part);
    }
    char err[128];
    if (oom) {
        fprintf(stderr, "labbook: dropped a message: out of memory\n");
        rc = 0;
    } else if (lb_wire_parse(s, frames, n, out, err, sizeof err) == 0)
        rc = 1;
    else {
        fprintf(stderr, "labbook: dropped a message: %s\n", err);
        rc = 0;
    }
    lb_frames_free(frames, n);
    return rc;
}

int lb_wire_send(lb_session *s, void *sock, const lb_frame *ids, size_t n_ids,
                 const char *msg_type, json_t *content, const json_t *parent, json_t *metadata,
                 char *sent_id, size_t sent_id_len)
{
    int rc = -1;
    json_t *header = lb_wire_header(s, msg_type);
    lb_frame *f = NULL;
    size_t n = 0;
    if (header && lb_wire_serialize(s, ids, n_ids, header, parent, metadata, content, NULL, 0,
                                    &f, &n) == 0) {
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            int r;
            do r = zmq_send(sock, f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0);
            while (r < 0 && errno == EINTR);
            if (r < 0) {
                fprintf(stderr, "labbook: cannot send %s: %s\n", msg_type, zmq_strerror(errno));
                rc = -1;
                break;
            }
        }
        if (rc == 0 && sent_id && sent_id_len)
            snprintf(sent_id, sent_id_len, "%s",
                     json_string_value(json_object_get(header, "msg_id")));
    } else
        fprintf(stderr, "labbook: cannot serialize a %s message\n", msg_type);
    lb_frames_free(f, n);
    json_decref(header);
    json_decref(content);
    json_decref(metadata);
    return rc;
}
