/* connection.c — parses and validates the connection file that Jupyter writes for a kernel
 * (transport, ip, the five ports, key, signature_scheme). */
#include "jupyter/connection.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int get_port(json_t *root, const char *name, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, name);
    if (!v) return fail(err, errlen, "connection file: missing \"%s\"", name);
    json_int_t p;
    if (json_is_integer(v)) p = json_integer_value(v);
    else if (json_is_string(v)) {
        char *end;
        p = strtol(json_string_value(v), &end, 10);
        if (*end || end == json_string_value(v))
            return fail(err, errlen, "connection file: \"%s\" is not a port number", name);
    } else
        return fail(err, errlen, "connection file: \"%s\" must be an integer", name);
    if (p < 0 || p > 65535)
        return fail(err, errlen, "connection file: \"%s\" = %lld is out of range", name, (long long)p);
    *out = (int)p;
    return 0;
}

int lb_connection_parse(const char *text, lb_connection *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        return fail(err, errlen, "connection file: invalid JSON at line %d: %s", jerr.line, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        fail(err, errlen, "connection file: not a JSON object");
        goto out;
    }
    json_t *v = json_object_get(root, "transport");
    const char *transport = v ? json_string_value(v) : "tcp";
    if (!transport || (strcmp(transport, "tcp") && strcmp(transport, "ipc"))) {
        fail(err, errlen, "connection file: unsupported transport \"%s\" (tcp or ipc)",
             transport ? transport : "(not a string)");
        goto out;
    }
    snprintf(c->transport, sizeof c->transport, "%s", transport);
    v = json_object_get(root, "ip");
    const char *ip = v ? json_string_value(v) : "127.0.0.1";
    if (!ip || !*ip || strlen(ip) >= sizeof c->ip) {
        fail(err, errlen, "connection file: \"ip\" must be a non-empty string");
        goto out;
    }
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    if (get_port(root, "shell_port", &c->shell_port, err, errlen) ||
        get_port(root, "iopub_port", &c->iopub_port, err, errlen) ||
        get_port(root, "stdin_port", &c->stdin_port, err, errlen) ||
        get_port(root, "control_port", &c->control_port, err, errlen) ||
        get_port(root, "hb_port", &c->hb_port, err, errlen))
        goto out;
    v = json_object_get(root, "signature_scheme");
    const char *scheme = v ? json_string_value(v) : "hmac-sha256";
    if (!scheme || strcmp(scheme, "hmac-sha256") != 0) {
        fail(err, errlen,
             "connection file: signature_scheme \"%s\" is not supported (labbook signs with "
             "hmac-sha256 only)", scheme ? scheme : "(not a string)");
        goto out;
    }
    snprintf(c->signature_scheme, sizeof c->signature_scheme, "%s", scheme);
    v = json_object_get(root, "key");
    if (v && !json_is_string(v)) {
        fail(err, errlen, "connection file: \"key\" must be a string");
        goto out;
    }
    const char *key = v ? json_string_value(v) : "";
    size_t klen = v ? json_string_length(v) : 0;
    c->key = malloc(klen + 1);
    if (!c->key) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    memcpy(c->key, key, klen);
    c->key[klen] = '\0';
    c->key_len = klen;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int lb_connection_load(const char *path, lb_connection *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "cannot open connection file %s: %m", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return fail(err, errlen, "out of memory");
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return fail(err, errlen, "cannot read connection file %s", path);
    }
    buf[len] = '\0';
    int rc = lb_connection_parse(buf, c, err, errlen);
    free(buf);
    return rc;
}

void lb_connection_free(lb_connection *c)
{
    if (!c) return;
    free(c->key);
    c->key = NULL;
    c->key_len = 0;
}

int lb_connection_endpoint(const lb_connection *c, int port, char *buf, size_t n)
{
    int k;
    if (strcmp(c->transport, "ipc") == 0)
        k = snprintf(buf, n, "ipc://%s-%d", c->ip, port);
    else if (strchr(c->ip, ':') && c->ip[0] != '[')
        k = snprintf(buf, n, "tcp://[%s]:%d", c->ip, port);   /* IPv6 literal */
    else
        k = snprintf(buf, n, "tcp://%s:%d", c->ip, port);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}
