/* test_wire.c — unit tests of the wire format (kernel/jupyter/wire.c), the connection file
 * (kernel/jupyter/connection.c) and the UTF-8 helpers (kernel/utf8.c): signing against digests
 * computed independently with Python's hmac, verification (good, bad, empty, replayed),
 * framing with and without identities and buffers, and header fields. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jupyter/connection.h"
#include "base/utf8.h"
#include "jupyter/wire.h"

#define KEY "5ca1ab1e-0000-4000-8000-c0ffee000001"

static lb_frame F(const char *s)
{
    lb_frame f = {(void *)s, strlen(s)};
    return f;
}

/* Builds [ids..., delim, sig, h, p, m, c, bufs...] from strings (borrowed). */
static size_t build(lb_frame *out, const char **ids, size_t n_ids, const char *sig,
                    const char *parts[4], const char **bufs, size_t n_bufs)
{
    size_t n = 0;
    for (size_t i = 0; i < n_ids; i++) out[n++] = F(ids[i]);
    out[n++] = F(LB_WIRE_DELIM);
    out[n++] = F(sig);
    for (int i = 0; i < 4; i++) out[n++] = F(parts[i]);
    for (size_t i = 0; i < n_bufs; i++) out[n++] = F(bufs[i]);
    return n;
}

static const char *P1[4] = {"{\"msg_id\":\"a\",\"msg_type\":\"kernel_info_request\"}", "{}", "{}",
                            "{\"code\":\"x = 1\"}"};
/* hmac.new(KEY, P1 joined, sha256).hexdigest() computed with /usr/bin/python3 */
static const char *P1_SIG = "8eab9f0823bfd5313d097363c2c090ec6434eecfb3e2e70a09f20b1258d65602";
static const char *EMPTY_SIG = "eb88a3f15f877ced7f2ee10dfb416fb9c7ddcd0b94aed1751f0ec5796131af0f";

static void test_sign_known_vector(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), "tester");
    CHECK(s != NULL);
    lb_frame parts[4] = {F(P1[0]), F(P1[1]), F(P1[2]), F(P1[3])};
    char hex[65];
    CHECK_INT(lb_session_sign(s, parts, hex), 0);
    CHECK_STR(hex, P1_SIG);
    lb_frame e[4] = {F("{}"), F("{}"), F("{}"), F("{}")};
    CHECK_INT(lb_session_sign(s, e, hex), 0);
    CHECK_STR(hex, EMPTY_SIG);
    lb_session_free(s);
}

static void test_verify_good_and_replay(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), NULL);
    const char *ids[] = {"client-1"};
    lb_frame fr[16];
    size_t n = build(fr, ids, 1, P1_SIG, P1, NULL, 0);
    lb_msg *m = NULL;
    char err[128];
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    CHECK(m != NULL);
    if (m) {
        CHECK_STR(m->msg_type, "kernel_info_request");
        CHECK_STR(m->msg_id, "a");
        CHECK_INT(m->n_ids, 1);
        CHECK_INT(m->ids[0].len, 8);
        CHECK(memcmp(m->ids[0].data, "client-1", 8) == 0);
        CHECK_STR(json_string_value(json_object_get(m->content, "code")), "x = 1");
        CHECK(m->bad == NULL);
        CHECK_INT(m->n_buffers, 0);
    }
    lb_msg_free(m);
    /* The very same frames again: a replay. */
    m = NULL;
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    CHECK(m == NULL);
    CHECK(strstr(err, "repeated") != NULL);
    lb_session_free(s);
}

static void test_verify_rejects_bad(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), NULL);
    lb_frame fr[16];
    lb_msg *m = NULL;
    char err[128];
    /* wrong digest */
    char bad[65];
    memcpy(bad, P1_SIG, 65);
    bad[10] = bad[10] == '0' ? '1' : '0';
    size_t n = build(fr, NULL, 0, bad, P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    CHECK(strstr(err, "invalid signature") != NULL);
    /* empty signature with a key set */
    n = build(fr, NULL, 0, "", P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    CHECK(strstr(err, "empty") != NULL);
    /* truncated / uppercase digest */
    char upper[65];
    for (int i = 0; i < 65; i++) upper[i] = (char)(P1_SIG[i] >= 'a' ? P1_SIG[i] - 32 : P1_SIG[i]);
    n = build(fr, NULL, 0, upper, P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    char shortsig[40];
    memcpy(shortsig, P1_SIG, 39);
    shortsig[39] = 0;
    n = build(fr, NULL, 0, shortsig, P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    /* tampered content under a valid signature */
    const char *tampered[4] = {P1[0], P1[1], P1[2], "{\"code\":\"x = 2\"}"};
    n = build(fr, NULL, 0, P1_SIG, tampered, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    /* A message signed with another key. */
    lb_session *other = lb_session_new("another key", 11, NULL);
    lb_frame parts[4] = {F(P1[0]), F(P1[1]), F(P1[2]), F(P1[3])};
    char hex[65];
    lb_session_sign(other, parts, hex);
    n = build(fr, NULL, 0, hex, P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    lb_session_free(other);
    /* No delimiter; too few frames. */
    lb_frame nodelim[3] = {F("id"), F(P1_SIG), F(P1[0])};
    CHECK_INT(lb_wire_parse(s, nodelim, 3, &m, err, sizeof err), -1);
    CHECK(strstr(err, "delimiter") != NULL);
    lb_frame few[4] = {F(LB_WIRE_DELIM), F(P1_SIG), F(P1[0]), F("{}")};
    CHECK_INT(lb_wire_parse(s, few, 4, &m, err, sizeof err), -1);
    CHECK(m == NULL);
    /* The rejected messages did not poison the history: the good one is still accepted. */
    n = build(fr, NULL, 0, P1_SIG, P1, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    lb_msg_free(m);
    lb_session_free(s);
}

static void test_no_key_accepts_unsigned(void)
{
    lb_session *s = lb_session_new("", 0, NULL);
    lb_frame fr[16];
    size_t n = build(fr, NULL, 0, "", P1, NULL, 0);
    lb_msg *m = NULL;
    char err[128];
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    lb_msg_free(m);
    /* Without a key there is no replay history either (as jupyter_client). */
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    lb_msg_free(m);
    lb_frame parts[4] = {F("{}"), F("{}"), F("{}"), F("{}")};
    char hex[65] = "x";
    CHECK_INT(lb_session_sign(s, parts, hex), 0);
    CHECK_STR(hex, "");
    lb_session_free(s);
}

static void test_malformed_parts(void)
{
    lb_session *s = lb_session_new("", 0, NULL);
    lb_frame fr[16];
    lb_msg *m = NULL;
    char err[128];
    const char *badhdr[4] = {"[1,2]", "{}", "{}", "{}"};
    size_t n = build(fr, NULL, 0, "", badhdr, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), -1);
    const char *badcontent[4] = {"{\"msg_type\":\"execute_request\"}", "{}", "{}", "{\"code\": "};
    n = build(fr, NULL, 0, "", badcontent, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    CHECK(m && m->bad && strstr(m->bad, "content") != NULL);
    CHECK(m && json_is_object(m->content));
    CHECK_STR(m ? m->msg_id : NULL, "");
    lb_msg_free(m);
    const char *notype[4] = {"{\"msg_id\":\"q\"}", "\"str\"", "{}", "{}"};
    n = build(fr, NULL, 0, "", notype, NULL, 0);
    CHECK_INT(lb_wire_parse(s, fr, n, &m, err, sizeof err), 0);
    CHECK_STR(m ? m->msg_type : NULL, "");
    CHECK(m && m->bad && strstr(m->bad, "parent_header") != NULL);
    lb_msg_free(m);
    lb_session_free(s);
}

static void test_framing_roundtrip(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), "alice");
    lb_frame ids[2] = {{"\x00\x01id", 4}, F("second")};
    lb_frame bufs[2] = {{"\x00\xff", 2}, F("")};
    json_t *h = lb_wire_header(s, "execute_reply");
    json_t *parent = json_pack("{s:s}", "msg_id", "req-1");
    json_t *content = json_pack("{s:s, s:i}", "status", "ok", "execution_count", 3);
    lb_frame *f = NULL;
    size_t n = 0;
    CHECK_INT(lb_wire_serialize(s, ids, 2, h, parent, NULL, content, bufs, 2, &f, &n), 0);
    CHECK_INT(n, 2 + 6 + 2);
    CHECK_INT(f[2].len, 9);
    CHECK(memcmp(f[2].data, "<IDS|MSG>", 9) == 0);
    CHECK_INT(f[3].len, 64);
    CHECK(f[0].len == 4 && memcmp(f[0].data, "\x00\x01id", 4) == 0);
    CHECK_INT(f[6].len, 2);   /* metadata "{}" */
    CHECK(f[8].len == 2 && memcmp(f[8].data, "\x00\xff", 2) == 0);
    CHECK_INT(f[9].len, 0);
    /* An independent session with the same key verifies and parses it. */
    lb_session *r = lb_session_new(KEY, strlen(KEY), NULL);
    lb_msg *m = NULL;
    char err[128] = "";
    CHECK_INT(lb_wire_parse(r, f, n, &m, err, sizeof err), 0);
    if (m) {
        CHECK_INT(m->n_ids, 2);
        CHECK_INT(m->n_buffers, 2);
        CHECK_STR(m->msg_type, "execute_reply");
        CHECK_STR(json_string_value(json_object_get(m->parent_header, "msg_id")), "req-1");
        CHECK_INT(json_integer_value(json_object_get(m->content, "execution_count")), 3);
        CHECK_INT(m->buffers[1].len, 0);
    }
    lb_msg_free(m);
    lb_frames_free(f, n);
    /* No identities, no buffers: the delimiter comes first (iopub without topic). */
    CHECK_INT(lb_wire_serialize(s, NULL, 0, h, NULL, NULL, NULL, NULL, 0, &f, &n), 0);
    CHECK_INT(n, 6);
    CHECK(memcmp(f[0].data, "<IDS|MSG>", 9) == 0);
    CHECK(f[3].len == 2 && memcmp(f[3].data, "{}", 2) == 0);   /* parent {} */
    CHECK(f[5].len == 2 && memcmp(f[5].data, "{}", 2) == 0);   /* content {} */
    CHECK_INT(lb_wire_parse(r, f, n, &m, err, sizeof err), 0);
    CHECK(m && m->n_ids == 0 && m->n_buffers == 0);
    lb_msg_free(m);
    lb_frames_free(f, n);
    json_decref(h);
    json_decref(parent);
    json_decref(content);
    lb_session_free(r);
    lb_session_free(s);
}

static void test_header_fields(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), "bob");
    json_t *h = lb_wire_header(s, "status");
    CHECK_INT(json_object_size(h), 6);
    const char *id = json_string_value(json_object_get(h, "msg_id"));
    CHECK(id && strlen(id) == 36 && id[8] == '-' && id[14] == '4');
    CHECK_STR(json_string_value(json_object_get(h, "session")), lb_session_id(s));
    CHECK_INT(strlen(lb_session_id(s)), 36);
    CHECK_STR(json_string_value(json_object_get(h, "username")), "bob");
    CHECK_STR(json_string_value(json_object_get(h, "msg_type")), "status");
    CHECK_STR(json_string_value(json_object_get(h, "version")), "5.3");
    const char *date = json_string_value(json_object_get(h, "date"));
    /* 2026-11-22T06:14:17.123456Z */
    CHECK(date && strlen(date) == 27 && date[4] == '-' && date[10] == 'T' && date[19] == '.' &&
          date[26] == 'Z');
    json_t *h2 = lb_wire_header(s, "status");
    CHECK(strcmp(id, json_string_value(json_object_get(h2, "msg_id"))) != 0);
    json_decref(h);
    json_decref(h2);
    lb_session_free(s);
}

static void make_signed(lb_session *w, size_t i, char hdr[96], char hex[65])
{
    snprintf(hdr, 96, "{\"msg_id\":\"%zu\",\"msg_type\":\"x\"}", i);
    lb_frame p4[4] = {F(hdr), F("{}"), F("{}"), F("{}")};
    lb_session_sign(w, p4, hex);
}

static int parse_signed(lb_session *s, const char *hdr, const char *hex)
{
    const char *parts[4] = {hdr, "{}", "{}", "{}"};
    lb_frame fr[6];
    size_t n = build(fr, NULL, 0, hex, parts, NULL, 0);
    lb_msg *m = NULL;
    char err[128];
    int rc = lb_wire_parse(s, fr, n, &m, err, sizeof err);
    lb_msg_free(m);
    return rc;
}

static void test_replay_history_evicts_oldest(void)
{
    lb_session *s = lb_session_new(KEY, strlen(KEY), NULL);
    lb_session *w = lb_session_new(KEY, strlen(KEY), NULL);
    size_t total = LB_DIGEST_HISTORY + 10;
    size_t accepted = 0;
    char hdr[96], hex[65];
    for (size_t i = 0; i < total; i++) {
        make_signed(w, i, hdr, hex);
        if (parse_signed(s, hdr, hex) == 0) accepted++;
    }
    CHECK_INT(accepted, total);
    /* The history holds exactly the last 2^16 digests: messages 10 .. total-1. */
    make_signed(w, total - 1, hdr, hex);
    CHECK_INT(parse_signed(s, hdr, hex), -1);
    make_signed(w, 10, hdr, hex);
    CHECK_INT(parse_signed(s, hdr, hex), -1);
    make_signed(w, 9, hdr, hex);   /* evicted: accepted again (and remembered anew) */
    CHECK_INT(parse_signed(s, hdr, hex), 0);
    CHECK_INT(parse_signed(s, hdr, hex), -1);
    make_signed(w, 0, hdr, hex);
    CHECK_INT(parse_signed(s, hdr, hex), 0);
    lb_session_free(w);
    lb_session_free(s);
}

static void test_connection_file(void)
{
    lb_connection c;
    char err[256];
    const char *ok = "{\"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3, \"control_port\": 4,"
                     " \"hb_port\": 5, \"ip\": \"127.0.0.1\", \"key\": \"abc\", \"transport\": \"tcp\","
                     " \"signature_scheme\": \"hmac-sha256\", \"kernel_name\": \"labbook\"}";
    CHECK_INT(lb_connection_parse(ok, &c, err, sizeof err), 0);
    CHECK_INT(c.shell_port, 1);
    CHECK_INT(c.hb_port, 5);
    CHECK_STR(c.key, "abc");
    char ep[64];
    CHECK_INT(lb_connection_endpoint(&c, c.control_port, ep, sizeof ep), 0);
    CHECK_STR(ep, "tcp://127.0.0.1:4");
    lb_connection_free(&c);
    const char *md5 = "{\"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3, \"control_port\": 4,"
                      " \"hb_port\": 5, \"ip\": \"127.0.0.1\", \"key\": \"abc\", \"signature_scheme\": \"hmac-md5\"}";
    CHECK_INT(lb_connection_parse(md5, &c, err, sizeof err), -1);
    CHECK(strstr(err, "hmac-md5") && strstr(err, "not supported"));
    CHECK_INT(lb_connection_parse("{\"shell_port\": 1}", &c, err, sizeof err), -1);
    CHECK(strstr(err, "iopub_port") != NULL);
    CHECK_INT(lb_connection_parse("not json", &c, err, sizeof err), -1);
    const char *ipc = "{\"shell_port\": 1, \"iopub_port\": 2, \"stdin_port\": 3, \"control_port\": 4,"
                      " \"hb_port\": 5, \"ip\": \"/tmp/k\", \"key\": \"\", \"transport\": \"ipc\"}";
    CHECK_INT(lb_connection_parse(ipc, &c, err, sizeof err), 0);
    CHECK_INT(lb_connection_endpoint(&c, 3, ep, sizeof ep), 0);
    CHECK_STR(ep, "ipc:///tmp/k-3");
    CHECK_INT(c.key_len, 0);
    lb_connection_free(&c);
}

static void test_utf8(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";   /* a é € 😀 z */
    size_t len = strlen(s);
    CHECK_INT(lb_utf8_cp_to_byte(s, len, 0), 0);
    CHECK_INT(lb_utf8_cp_to_byte(s, len, 2), 3);
    CHECK_INT(lb_utf8_cp_to_byte(s, len, 4), 10);
    CHECK_INT(lb_utf8_cp_to_byte(s, len, 99), len);
    CHECK_INT(lb_utf8_byte_to_cp(s, len, 10), 4);
    CHECK_INT(lb_utf8_byte_to_cp(s, len, len), 5);
    size_t n;
    char *c = lb_utf8_sanitize("ok\xff\xc3", 4, &n);
    CHECK_STR(c, "ok\xef\xbf\xbd\xef\xbf\xbd");
    free(c);
    CHECK_INT(lb_utf8_incomplete_tail("ab\xe2\x82", 4), 2);
    CHECK_INT(lb_utf8_incomplete_tail("ab\xe2\x82\xac", 5), 0);
    CHECK_INT(lb_utf8_incomplete_tail("ab\xf0", 3), 1);
    CHECK_INT(lb_utf8_incomplete_tail("ab\xff", 3), 0);
}

int main(void)
{
    RUN(test_sign_known_vector);
    RUN(test_verify_good_and_replay);
    RUN(test_verify_rejects_bad);
    RUN(test_no_key_accepts_unsigned);
    RUN(test_malformed_parts);
    RUN(test_framing_roundtrip);
    RUN(test_header_fields);
    RUN(test_replay_history_evicts_oldest);
    RUN(test_connection_file);
    RUN(test_utf8);
    return CHECK_SUMMARY();
}
