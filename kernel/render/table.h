/* table.h — renders a table (optional header + rows of cells) as text/plain (aligned
 * columns), text/markdown (pipe table) and text/html (<table> with <thead>), returned as one
 * mime bundle. Cells carry a numeric flag (right-aligned) and an emphasis flag (the seam for
 * "best value marked": bold in HTML and markdown, a trailing * in plain text). */
#ifndef LB_TABLE_H
#define LB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef struct lb_table lb_table;

lb_table *lb_table_new(void);
void lb_table_free(lb_table *t);
/* Header cells (column names); setting any makes the table have a header row. */
int lb_table_set_header(lb_table *t, size_t col, const char *text);
/* Appends an empty row; returns its index or -1 on OOM. */
long lb_table_add_row(lb_table *t);
/* Sets a cell (row must exist; columns grow as needed). text is copied. */
int lb_table_set(lb_table *t, size_t row, size_t col, const char *text, bool numeric);
void lb_table_emphasize(lb_table *t, size_t row, size_t col, bool on);
/* Removes the last row (a builder over its size budget takes back the row that passed it). */
void lb_table_pop_row(lb_table *t);
/* The size of the plain rendering in characters (every row padded to the column widths):
 * what a builder keeps under a budget, since one wide cell widens its whole column. */
size_t lb_table_plain_size(const lb_table *t);
/* A line shown under the table in every format (what was left out); text is copied. */
int lb_table_set_note(lb_table *t, const char *text);
size_t lb_table_rows(const lb_table *t);
size_t lb_table_cols(const lb_table *t);

/* Formats a number for a table: integers plainly, others with up to 6 significant digits. */
void lb_table_format_number(double x, char *buf, size_t size);

/* A new mime bundle {"text/plain", "text/markdown", "text/html"}; NULL on OOM. */
json_t *lb_table_bundle(const lb_table *t);
char *lb_table_plain(const lb_table *t);
char *lb_table_markdown(const lb_table *t);
char *lb_table_html(const lb_table *t);

#endif
