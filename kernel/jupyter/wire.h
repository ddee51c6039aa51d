/* wire.h — the Jupyter wire format: multipart messages
 *   [identities..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers...]
 * signed with HMAC-SHA256 over the four JSON frames, plus message headers. A session holds
 * the key, the session id and the history of digests seen (replay protection); it is shared
 * by the threads of the kernel and locks internally. */
#ifndef LB_WIRE_H
#define LB_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define LB_PROTOCOL_VERSION "5.3"
#define LB_WIRE_DELIM "<IDS|MSG>"
#define LB_DIGEST_HISTORY 65536   /* like jupyter_client's digest_history_size */

typedef struct lb_frame {
    void *data;   /* malloc'd (may be NULL when len == 0) */
    size_t len;
} lb_frame;

typedef struct lb_msg {
    lb_frame *ids;            /* routing identities (ROUTER) or topic (PUB) */
    size_t n_ids;
    json_t *header, *parent_header, *metadata, *content;   /* owned; never NULL once parsed */
    lb_frame *buffers;
    size_t n_buffers;
    const char *msg_type;     /* from header; "" if absent */
    const char *msg_id;       /* from header; "" if absent */
    char *bad;                /* malloc'd reason when parent/metadata/content was malformed
                                 (then the malformed part is an empty object), else NULL */
} lb_msg;

typedef struct lb_session lb_session;

/* A session signing with key[0..key_len) (key_len 0: no signing, signatures are ""),
 * a fresh uuid as session id. NULL when out of memory or when OpenSSL lacks HMAC. */
lb_session *lb_session_new(const char *key, size_t key_len, const char *username);
void lb_session_free(lb_session *s);
const char *lb_session_id(const lb_session *s);

/* Hex HMAC-SHA256 of the four frames into hex[65] ("" when the session has no key).
 * Returns 0, -1 on an OpenSSL failure. */
int lb_session_sign(lb_session *s, const lb_frame parts[4], char hex[65]);

/* Parses received frames. Returns 0 with *out (free with lb_msg_free), or -1 with a reason
 * in err: no delimiter, too few frames, bad/empty/repeated signature, header not a JSON
 * object. Such messages must be dropped, never acted on. A valid signature is remembered
 * so that a replay of the same message is rejected. */
int lb_wire_parse(lb_session *s, const lb_frame *frames, size_t n, lb_msg **out,
                  char *err, size_t errlen);
void lb_msg_free(lb_msg *m);

/* A new header object {msg_id, session, username, date, msg_type, version}. */
json_t *lb_wire_header(lb_session *s, const char *msg_type);
/* "2026-01-02T03:04:05.123456Z" into buf[32]. */
void lb_wire_now(char buf[32]);

/* Serializes a message into frames (ids copied, then delimiter, signature, the four JSON
 * frames, buffers copied). parent/metadata NULL mean {}. Returns 0 with *frames (free
 * each data and the array with lb_frames_free), or -1 (out of memory, unserializable). */
int lb_wire_serialize(lb_session *s, const lb_frame *ids, size_t n_ids, json_t *header,
                      const json_t *parent, const json_t *metadata, const json_t *content,
                      const lb_frame *buffers, size_t n_buffers, lb_frame **frames, size_t *n);
void lb_frames_free(lb_frame *frames, size_t n);

/* ---- ZeroMQ ------------------------------------------------------------------------- */
/* Receives one multipart message (flags: 0 or ZMQ_DONTWAIT) and parses it. Returns 1 with
 * *out, 0 when the message was dropped (reason logged to stderr), -1 on a ZeroMQ error
 * (errno: EAGAIN, EINTR, ETERM, ...). */
int lb_wire_recv(lb_session *s, void *sock, int flags, lb_msg **out);
/* Builds and sends a message of type msg_type with `content` (stolen, NULL = {}), parent
 * header `parent` (borrowed, NULL = {}), `metadata` (stolen, NULL = {}), routed to the
 * identities ids[0..n_ids). The caller serializes sends on one socket. If sent_id is not
 * NULL it receives the new msg_id (37+ bytes). Returns 0, or -1 (logged). */
int lb_wire_send(lb_session *s, void *sock, const lb_frame *ids, size_t n_ids,
                 const char *msg_type, json_t *content, const json_t *parent, json_t *metadata,
                 char *sent_id, size_t sent_id_len);

#endif
