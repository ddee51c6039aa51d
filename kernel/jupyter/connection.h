/* connection.h — the Jupyter connection file: where to bind the five sockets and how to
 * sign messages. */
#ifndef LB_CONNECTION_H
#define LB_CONNECTION_H

#include <stddef.h>

typedef struct lb_connection {
    char transport[8];    /* "tcp" or "ipc" */
    char ip[256];         /* tcp: address to bind; ipc: path prefix */
    int shell_port, iopub_port, stdin_port, control_port, hb_port;
    char *key;            /* malloc'd signing key ("" = no signing) */
    size_t key_len;
    char signature_scheme[32];
} lb_connection;

/* Reads and validates a connection file. Returns 0, or -1 with a message in err. Only the
 * hmac-sha256 signature scheme is accepted. On failure *c holds nothing to free. */
int lb_connection_load(const char *path, lb_connection *c, char *err, size_t errlen);
/* The same from a JSON text (used by load and by the tests). */
int lb_connection_parse(const char *json_text, lb_connection *c, char *err, size_t errlen);
void lb_connection_free(lb_connection *c);
/* The ZeroMQ endpoint for a port: "tcp://IP:PORT" or "ipc://IP-PORT". Returns 0, or -1
 * when it does not fit. */
int lb_connection_endpoint(const lb_connection *c, int port, char *buf, size_t n);

#endif
