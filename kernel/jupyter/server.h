/* server.h — the labbook Jupyter kernel: binds the five sockets of a connection file and
 * serves the messaging protocol (5.3) until a shutdown_request or SIGTERM. */
#ifndef LB_SERVER_H
#define LB_SERVER_H

#include "lang/interp.h"

/* Makes the interpreter the kernel serves (the language with whatever modules the program
 * puts in it); NULL when it cannot. */
typedef lb_interp *(*lb_interp_factory)(const lb_output *out);

/* Runs the kernel. history_path NULL means the default (<Jupyter data dir>/labbook/
 * history.jsonl; LABBOOK_HISTORY overrides it); new_interp NULL means the language alone
 * (lb_interp_new). Returns the process exit status: 0 after a clean shutdown, 1 when the
 * kernel could not start (the reason is printed on stderr). */
int lb_server_run(const char *connection_file, const char *history_path, lb_interp_factory new_interp);

#endif
