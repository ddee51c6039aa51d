/* history.h — the persisted input/output history that Jupyter's history_request reads
 * (tail, range, search). One append-only JSON-lines file shared by all labbook kernels of a
 * user; see spec/protocol.md for the format and why it cannot be corrupted by crashes or
 * concurrent kernels. Used from one thread (the shell thread). */
#ifndef LB_HISTORY_H
#define LB_HISTORY_H

#include <jansson.h>
#include <stdbool.h>

typedef struct lb_history lb_history;

/* The Jupyter data dir: $JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter, else
 * ~/.local/share/jupyter. malloc'd; NULL when no home directory is known. */
char *lb_jupyter_data_dir(void);
/* <data dir>/labbook/history.jsonl, malloc'd (NULL as above). */
char *lb_history_default_path(void);

/* Opens the history at `path` (NULL: the default path), creating its directory, and claims
 * a new session number (one more than the largest in the file) under an exclusive lock.
 * The earlier records are parsed on the first query, not at start. If the file cannot be used, the history still works in memory for this
 * session and a warning is put in err (err[0] == 0 otherwise). NULL only when out of memory. */
lb_history *lb_history_open(const char *path, char *err, size_t errlen);
void lb_history_free(lb_history *h);
int lb_history_session(const lb_history *h);
/* Total number of entries (all sessions) known. */
size_t lb_history_count(lb_history *h);

/* Records the input of cell `line` (when it starts) and its output (the text/plain of its
 * execute_result, when it ends). Return 0, or -1 when the file write failed (the entry is
 * still kept in memory). */
int lb_history_add_input(lb_history *h, int line, const char *code);
int lb_history_add_output(lb_history *h, int line, const char *text);

/* Jupyter history_reply lists: [session, line, input] or, with output,
 * [session, line, [input, output-or-null]], oldest first. */
json_t *lb_history_tail(lb_history *h, int n, bool output);
/* Lines start <= line < stop (stop <= 0: no end) of `session`; session <= 0 counts back
 * from the current one (0 = current, -1 = the previous, ...) as IPython does. */
json_t *lb_history_range(lb_history *h, int session, int start, int stop, bool output);
/* Entries whose whole input matches the glob `pattern` (fnmatch without escapes: SQLite
 * GLOB semantics, which IPython uses). unique keeps the latest of equal inputs; n > 0 keeps
 * the last n matches. */
json_t *lb_history_search(lb_history *h, const char *pattern, int n, bool unique, bool output);

#endif
