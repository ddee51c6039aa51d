/* table.c — table rendering into text/plain, text/markdown and text/html (see table.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render/table.h"
#include "base/format.h"
#include "base/strbuf.h"

typedef struct {
    char *text; /* NULL = empty */
    bool numeric, emphasis;
} cell;

struct lb_table {
    cell *header; /* ncols entries once has_header */
    bool has_header;
    cell **rows;  /* each ncols_alloc entries */
    size_t nrows, rows_cap;
    size_t ncols, cols_cap;
    size_t *widths; /* cols_cap entries: the widest cell of each column, in plain text */
    char *note;     /* a line shown under the table, or NULL */
};

/* The width of a cell in plain text (code points, plus the emphasis mark). */
static size_t cell_width(const cell *c)
{
    size_t w = c->emphasis ? 1 : 0;
    for (const char *p = c->text ? c->text : ""; *p; p++)
        if (((unsigned char)*p & 0xC0) != 0x80)
            w++;
    return w;
}

lb_table *lb_table_new(void)
{
    return calloc(1, sizeof(lb_table));
}

void lb_table_free(lb_table *t)
{
    if (!t)
        return;
    for (size_t c = 0; c < t->cols_cap; c++)
        if (t->header)
            free(t->header[c].text);
    free(t->header);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->cols_cap; c++)
            free(t->rows[r][c].text);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->widths);
    free(t->note);
    free(t);
}

/* Makes room for column index col in the header and every row. */
static int grow_cols(lb_table *t, size_t col)
{
    if (col >= t->ncols)
        t->ncols = col + 1;
    if (col < t->cols_cap)
        return 0;
    size_t cap = t->cols_cap ? t->cols_cap : 4;
    while (cap <= col)
        cap *= 2;
    cell *h = realloc(t->header, cap * sizeof *h);
    if (!h)
        return -1;
    memset(h + t->cols_cap, 0, (cap - t->cols_cap) * sizeof *h);
    t->header = h;
    size_t *w = realloc(t->widths, cap * sizeof *w);
    if (!w)
        return -1;
    memset(w + t->cols_cap, 0, (cap - t->cols_cap) * sizeof *w);
    t->widths = w;
    for (size_t r = 0; r < t->nrows; r++) {
        cell *row = realloc(t->rows[r], cap * sizeof *row);
        if (!row)
            return -1; /* header grown but cols_cap unchanged: rows still consistent */
        memset(row + t->cols_cap, 0, (cap - t->cols_cap) * sizeof *row);
        t->rows[r] = row;
    }
    t->cols_cap = cap;
    return 0;
}

int lb_table_set_header(lb_table *t, size_t col, const char *text)
{
    if (!t || grow_cols(t, col) < 0)
        return -1;
    char *s = strdup(text ? text : "");
    if (!s)
        return -1;
    free(t->header[col].text);
    t->header[col].text = s;
    t->has_header = true;
    size_t w = cell_width(&t->header[col]);
    if (w > t->widths[col])
        t->widths[col] = w;
    return 0;
}

long lb_table_add_row(lb_table *t)
{
    if (!t)
        return -1;
    if (t->cols_cap == 0) {
        size_t nc = t->ncols; /* allocate column storage without inventing a column */
        if (grow_cols(t, 0) < 0)
            return -1;
        t->ncols = nc;
    }
    if (t->nrows == t->rows_cap) {
        size_t cap = t->rows_cap ? t->rows_cap * 2 : 8;
        cell **rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows)
            return -1;
        t->rows = rows;
        t->rows_cap = cap;
    }
    cell *row = calloc(t->cols_cap, sizeof *row);
    if (!row)
        return -1;
    t->rows[t->nrows] = row;
    return (long)t->nrows++;
}

int lb_table_set(lb_table *t, size_t row, size_t col, const char *text, bool numeric)
{
    if (!t || row >= t->nrows || grow_cols(t, col) < 0)
        return -1;
    char *s = strdup(text ? text : "");
    if (!s)
        return -1;
    free(t->rows[row][col].text);
    t->rows[row][col].text = s;
    t->rows[row][col].numeric = numeric;
    size_t w = cell_width(&t->rows[row][col]);
    if (w > t->widths[col])
        t->widths[col] = w;
    return 0;
}

void lb_table_pop_row(lb_table *t)
{
    if (!t || t->nrows == 0)
        return;
    cell *row = t->rows[--t->nrows];
    for (size_t c = 0; c < t->cols_cap; c++)
        free(row[c].text);
    free(row);
    /* the row may have been the widest: measure again */
    for (size_t c = 0; c < t->cols_cap; c++) {
        t->widths[c] = t->has_header ? cell_width(&t->header[c]) : 0;
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = cell_width(&t->rows[r][c]);
            if (w > t->widths[c])
                t->widths[c] = w;
        }
    }
}

size_t lb_table_plain_size(const lb_table *t)
{
    if (!t)
        return 0;
    size_t line = 1;
    for (size_t c = 0; c < t->ncols; c++)
        line += t->widths[c] + 2;
    return (t->nrows + (t->has_header ? 2 : 0)) * line;
}

int lb_table_set_note(lb_table *t, const char *text)
{
    char *s = t ? strdup(text ? text : "") : NULL;
    if (!s)
        return -1;
    free(t->note);
    t->note = s;
    return 0;
}

void lb_table_format_number(double x, char *buf, size_t size)
{
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, size, "%.0f", x == 0 ? 0.0 : x);
        return;
    }
    if (!isfinite(x)) {
        lb_format_number(x, buf, size);
        return;
    }
    snprintf(buf, size, "%.6g", x);
}

void lb_table_emphasize(lb_table *t, size_t row, size_t col, bool on)
{
    if (t && row < t->nrows && col < t->cols_cap) {
        t->rows[row][col].emphasis = on;
        if (col >= t->ncols)
            t->ncols = col + 1;
        size_t w = cell_width(&t->rows[row][col]);
        if (w > t->widths[col])
            t->widths[col] = w;
    }
}

size_t lb_table_rows(const lb_table *t) { return t ? t->nrows : 0; }
size_t lb_table_cols(const lb_table *t) { return t ? t->ncols : 0; }

/* ---- rendering ----------------------------------------------------------------------------- */


static char *ob_done(lb_strbuf *b)
{
    if (b->oom) {
        free(b->buf);
        return NULL;
    }
    return b->buf ? b->buf : strdup("");
}

static const cell *get(const lb_table *t, long row, size_t col)
{
    static const cell empty = {0};
    if (col >= t->cols_cap)
        return &empty;
    if (row < 0)
        return t->header ? &t->header[col] : &empty;
    return &t->rows[row][col];
}

/* Text of a cell for plain output: newlines and tabs become spaces. */
static void plain_text(lb_strbuf *b, const cell *c, size_t *width)
{
    size_t w = 0;
    for (const char *p = c->text ? c->text : ""; *p; p++) {
        char ch = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;
        if (b)
            lb_sb_addn(b, &ch, 1);
        if (((unsigned char)*p & 0xC0) != 0x80)
            w++;
    }
    if (c->emphasis) {
        if (b)
            lb_sb_add(b, "*");
        w++;
    }
    if (width)
        *width = w;
}

char *lb_table_plain(const lb_table *t)
{
    lb_strbuf b = {0};
    size_t nc = t->ncols;
    size_t *w = calloc(nc ? nc : 1, sizeof *w);
    if (!w)
        return NULL;
    long first = t->has_header ? -1 : 0;
    for (long r = first; r < (long)t->nrows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t cw;
            plain_text(NULL, get(t, r, c), &cw);
            if (cw > w[c])
                w[c] = cw;
        }
    for (long r = first; r < (long)t->nrows; r++) {
        /* columns are numeric-aligned when their body cells are numbers */
        for (size_t c = 0; c < nc; c++) {
            const cell *x = get(t, r, c);
            size_t cw;
            plain_text(NULL, x, &cw);
            bool right = x->numeric;
            if (r < 0) {
                right = t->nrows > 0;
                for (size_t k = 0; k < t->nrows; k++)
                    if (t->rows[k][c].text && t->rows[k][c].text[0] && !t->rows[k][c].numeric)
                        right = false;
            }
            if (c)
                lb_sb_add(&b, "  ");
            bool last = c + 1 == nc;
            if (right)
                lb_sb_pad(&b, w[c] - cw);
            plain_text(&b, x, NULL);
            if (!right && !last)
                lb_sb_pad(&b, w[c] - cw);
        }
        while (!b.oom && b.len && b.buf[b.len - 1] == ' ')
            b.buf[--b.len] = '\0'; /* no trailing blanks */
        lb_sb_add(&b, "\n");
        if (r < 0) {
            for (size_t c = 0; c < nc; c++) {
                if (c)
                    lb_sb_add(&b, "  ");
                for (size_t k = 0; k < (w[c] ? w[c] : 1); k++)
                    lb_sb_add(&b, "-");
            }
            lb_sb_add(&b, "\n");
        }
    }
    free(w);
    if (t->note) {
        lb_sb_add(&b, t->note);
        lb_sb_add(&b, "\n");
    }
    /* drop the final newline: a table is one block */
    if (!b.oom && b.len && b.buf[b.len - 1] == '\n')
        b.buf[--b.len] = '\0';
    return ob_done(&b);
}

static void md_cell(lb_strbuf *b, const cell *c)
{
    const char *s = c->text ? c->text : "";
    if (c->emphasis && *s)
        lb_sb_add(b, "**");
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '|': case '\\': case '*': case '_': case '`': case '[': case ']': case '<': case '>':
        case '#': case '~':
            lb_sb_addn(b, "\\", 1);
            lb_sb_addn(b, p, 1);
            break;
        case '\n': case '\r': case '\t':
            lb_sb_add(b, " ");
            break;
        default:
            lb_sb_addn(b, p, 1);
        }
    }
    if (c->emphasis && *s)
        lb_sb_add(b, "**");
}

static bool column_numeric(const lb_table *t, size_t c)
{
    bool any = false;
    for (size_t k = 0; k < t->nrows; k++) {
        const cell *x = get(t, (long)k, c);
        if (x->text && x->text[0]) {
            if (!x->numeric)
                return false;
            any = true;
        }
    }
    return any;
}

char *lb_table_markdown(const lb_table *t)
{
    lb_strbuf b = {0};
    size_t nc = t->ncols ? t->ncols : 1;
    /* markdown needs a header row: an untitled table gets empty header cells */
    lb_sb_add(&b, "|");
    for (size_t c = 0; c < nc; c++) {
        lb_sb_add(&b, " ");
        if (t->has_header)
            md_cell(&b, get(t, -1, c));
        lb_sb_add(&b, " |");
    }
    lb_sb_add(&b, "\n|");
    for (size_t c = 0; c < nc; c++)
        lb_sb_add(&b, column_numeric(t, c) ? " ---: |" : " --- |");
    lb_sb_add(&b, "\n");
    for (size_t r = 0; r < t->nrows; r++) {
        lb_sb_add(&b, "|");
        for (size_t c = 0; c < nc; c++) {
            lb_sb_add(&b, " ");
            md_cell(&b, get(t, (long)r, c));
            lb_sb_add(&b, " |");
        }
        lb_sb_add(&b, "\n");
    }
    if (t->note) {
        cell note = {.text = t->note};
        lb_sb_add(&b, "\n");
        md_cell(&b, &note);
        lb_sb_add(&b, "\n");
    }
    if (!b.oom && b.len && b.buf[b.len - 1] == '\n')
        b.buf[--b.len] = '\0';
    return ob_done(&b);
}

static void html_escape(lb_strbuf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '&': lb_sb_add(b, "&amp;"); break;
        case '<': lb_sb_add(b, "&lt;"); break;
        case '>': lb_sb_add(b, "&gt;"); break;
        case '"': lb_sb_add(b, "&quot;"); break;
        case '\'': lb_sb_add(b, "&#39;"); break;
        case '\n': lb_sb_add(b, "<br>"); break;
        default: lb_sb_addn(b, p, 1);
        }
    }
}

static void html_cell(lb_strbuf *b, const char *tag, const cell *c, bool right)
{
    lb_sb_add(b, "<");
    lb_sb_add(b, tag);
    /* explicit on both sides: notebook stylesheets right-align every cell; short text (names,
     * run labels) stays on one line */
    if (right)
        lb_sb_add(b, " style=\"text-align: right\"");
    else if (!c->text || strlen(c->text) <= 40)
        lb_sb_add(b, " style=\"text-align: left; white-space: nowrap\"");
    else
        lb_sb_add(b, " style=\"text-align: left\"");
    lb_sb_add(b, ">");
    if (c->emphasis)
        lb_sb_add(b, "<strong>");
    html_escape(b, c->text);
    if (c->emphasis)
        lb_sb_add(b, "</strong>");
    lb_sb_add(b, "</");
    lb_sb_add(b, tag);
    lb_sb_add(b, ">");
}

char *lb_table_html(const lb_table *t)
{
    lb_strbuf b = {0};
    size_t nc = t->ncols;
    lb_sb_add(&b, "<table class=\"labbook-table\">\n");
    if (t->has_header) {
        lb_sb_add(&b, "<thead>\n<tr>");
        for (size_t c = 0; c < nc; c++)
            html_cell(&b, "th", get(t, -1, c), column_numeric(t, c));
        lb_sb_add(&b, "</tr>\n</thead>\n");
    }
    lb_sb_add(&b, "<tbody>\n");
    for (size_t r = 0; r < t->nrows; r++) {
        lb_sb_add(&b, "<tr>");
        for (size_t c = 0; c < nc; c++) {
            const cell *x = get(t, (long)r, c);
            html_cell(&b, "td", x, x->numeric);
        }
        lb_sb_add(&b, "</tr>\n");
    }
    lb_sb_add(&b, "</tbody>\n</table>");
    if (t->note) {
        lb_sb_add(&b, "\n<p>");
        html_escape(&b, t->note);
        lb_sb_add(&b, "</p>");
    }
    return ob_done(&b);
}

json_t *lb_table_bundle(const lb_table *t)
{
    if (!t)
        return NULL;
    char *plain = lb_table_plain(t), *md = lb_table_markdown(t), *html = lb_table_html(t);
    json_t *bundle = json_object();
    if (!plain || !md || !html || !bundle ||
        json_object_set_new(bundle, "text/plain", json_string(plain)) < 0 ||
        json_object_set_new(bundle, "text/markdown", json_string(md)) < 0 ||
        json_object_set_new(bundle, "text/html", json_string(html)) < 0) {
        json_decref(bundle);
        bundle = NULL;
    }
    free(plain);
    free(md);
    free(html);
    return bundle;
}
