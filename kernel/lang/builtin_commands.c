/* builtin_commands.c — the commands of labbook v0: print, warn, fail, ask, sleep, help, vars,
 * del, clear, table, seed, version. Each is a static lb_command with its documentation, its
 * key=value schema and a handler written against commands.h, like any plugin command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "render/table.h"
#include "base/strbuf.h"

/* ---- text buffer ----------------------------------------------------------------------- */

/* Evaluates every positional argument and joins their texts (strings raw) with spaces. */
static char *join_args(lb_cmd_call *call, lb_error *err)
{
    lb_strbuf b = {0};
    lb_sb_add(&b, "");
    for (size_t i = 0; i < call->nargs; i++) {
        lb_value *v = lb_call_arg(call, i, err);
        if (!v) {
            free(b.buf);
            return NULL;
        }
        char *t = lb_text_shown(v, true, true, err);
        lb_decref(v);
        if (!t) {
            free(b.buf);
            return NULL;
        }
        if (i)
            lb_sb_add(&b, " ");
        lb_sb_add(&b, t);
        free(t);
    }
    if (b.oom) {
        free(b.buf);
        lb_oom(err);
        return NULL;
    }
    return b.buf;
}

/* ---- print / warn / fail ---------------------------------------------------------------- */

static int emit_joined(lb_cmd_call *call, lb_stream which, lb_error *err)
{
    char *text = join_args(call, err);
    if (!text)
        return -1;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return lb_oom(err);
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    lb_emit_stream(call->in, which, line, len + 1);
    free(line);
    return 0;
}

static int cmd_print(lb_cmd_call *call, lb_error *err) { return emit_joined(call, LB_STDOUT, err); }
static int cmd_warn(lb_cmd_call *call, lb_error *err) { return emit_joined(call, LB_STDERR, err); }

static int cmd_fail(lb_cmd_call *call, lb_error *err)
{
    char *text = join_args(call, err);
    if (!text)
        return -1;
    lb_error_set(err, "Failure", call->node->line, call->node->col, "%s", text);
    if (err)
        err->span = call->node->span;
    free(text);
    return -1;
}

/* ---- ask -------------------------------------------------------------------------------- */

static int cmd_ask(lb_cmd_call *call, lb_error *err)
{
    const char *name = lb_call_arg_name(call, 0, err);
    if (!name)
        return -1;
    char *prompt = NULL;
    if (call->nargs > 1) {
        lb_value *p = lb_call_arg(call, 1, err);
        if (!p)
            return -1;
        if (p->kind != LB_STR) {
            lb_decref(p);
            return lb_node_error(err, call->args[1], "TypeError", "the prompt of ask must be a string");
        }
        prompt = strdup(p->u.str.s);
        lb_decref(p);
    } else if (asprintf(&prompt, "%s: ", name) < 0) {
        prompt = NULL;
    }
    if (!prompt)
        return lb_oom(err);
    lb_value *pw = lb_call_param(call, "password", err);
    if (!pw) {
        free(prompt);
        return -1;
    }
    bool password = lb_truthy(pw);
    lb_decref(pw);
    const lb_output *out = lb_interp_output(call->in);
    if (!out || !out->ask) {
        free(prompt);
        return lb_node_error(err, call->node, "StdinNotImplementedError",
                             "ask needs an answer typed by the user, but this front end does not "
                             "accept input");
    }
    char *answer = out->ask(out->ctx, prompt, password, err);
    free(prompt);
    if (!answer) {
        if (!lb_error_is_set(err))
            lb_node_error(err, call->node, "StdinNotImplementedError",
                          "no answer: this front end does not accept input");
        return -1;
    }
    lb_value *v = lb_str_take(answer);
    if (!v || lb_interp_set(call->in, name, v) < 0) {
        lb_decref(v);
        return lb_oom(err);
    }
    lb_decref(v);
    return 0;
}

/* ---- sleep ------------------------------------------------------------------------------ */

static int cmd_sleep(lb_cmd_call *call, lb_error *err)
{
    lb_value *v = lb_call_arg(call, 0, err);
    if (!v)
        return -1;
    if (v->kind != LB_NUM || !(v->u.num >= 0) || v->u.num > 1e7) {
        int r = lb_node_error(err, call->args[0], v->kind == LB_NUM ? "ValueError" : "TypeError",
                              "sleep needs a number of seconds between 0 and 10000000, got %s",
                              lb_type_name(v));
        lb_decref(v);
        return r;
    }
    double seconds = v->u.num;
    lb_decref(v);
    double start = lb_now();
    for (;;) {
        if (lb_safe_point(call->in, err) < 0)
            return -1;
        double left = seconds - (lb_now() - start);
        if (left <= 0)
            return 0;
        double slice = left < 0.01 ? left : 0.01;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(slice * 1e9)};
        nanosleep(&ts, NULL); /* EINTR (SIGINT) just ends the slice early */
    }
}

/* ---- help ------------------------------------------------------------------------------- */

static void page(lb_interp *in, const char *plain, const char *markdown)
{
    json_t *bundle = json_object();
    if (!bundle)
        return;
    json_object_set_new(bundle, "text/plain", json_string(plain));
    if (markdown)
        json_object_set_new(bundle, "text/markdown", json_string(markdown));
    lb_emit_page(in, bundle);
    json_decref(bundle);
}

/* Copies the first sentence of doc (up to ". " or ".\n"), newlines turned into spaces. */
static void first_sentence(const char *doc, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = doc; *p && n + 1 < size; p++) {
        out[n++] = *p == '\n' ? ' ' : *p;
        if (*p == '.' && (p[1] == ' ' || p[1] == '\n' || p[1] == '\0'))
            break;
    }
    out[n] = '\0';
}

static int help_all(lb_interp *in, lb_error *err)
{
    lb_strbuf t = {0}, m = {0};
    lb_sb_add(&t, "labbook commands (one per line: `command arg ... key=value ...`):\n\n");
    lb_sb_add(&m, "**labbook commands** (one per line: `command arg ... key=value ...`)\n\n");
    lb_commands *cmds = lb_interp_commands(in);
    size_t width = 0;
    for (size_t i = 0; i < lb_commands_count(cmds); i++) {
        const lb_command *c = lb_commands_at(cmds, i);
        size_t w = strlen(c->synopsis ? c->synopsis : c->name);
        if (w > width)
            width = w;
    }
    for (size_t i = 0; i < lb_commands_count(cmds); i++) {
        const lb_command *c = lb_commands_at(cmds, i);
        const char *syn = c->synopsis ? c->synopsis : c->name;
        /* the first sentence of the doc (it may span lines) as summary */
        char summary[200];
        first_sentence(c->doc ? c->doc : "", summary, sizeof summary);
        char line[512];
        snprintf(line, sizeof line, "  %-*s  %s\n", (int)width, syn, summary);
        lb_sb_add(&t, line);
        snprintf(line, sizeof line, "- `%s` %s\n", syn, summary);
        lb_sb_add(&m, line);
    }
    lb_sb_add(&t, "\nbuiltin functions:\n\n");
    lb_sb_add(&m, "\n**builtin functions**\n\n");
    lb_value *fns = lb_interp_builtins(in);
    width = 0;
    for (size_t i = 0; i < lb_map_len(fns); i++) {
        lb_value *f = fns->u.map.entries[i].value;
        size_t w = strlen(f->u.func.signature ? f->u.func.signature : f->u.func.name);
        if (w > width)
            width = w;
    }
    for (size_t i = 0; i < lb_map_len(fns); i++) {
        lb_value *f = fns->u.map.entries[i].value;
        const char *sig = f->u.func.signature ? f->u.func.signature : f->u.func.name;
        char line[512];
        snprintf(line, sizeof line, "  %-*s  %s\n", (int)width, sig, f->u.func.doc ? f->u.func.doc : "");
        lb_sb_add(&t, line);
        snprintf(line, sizeof line, "- `%s` %s\n", sig, f->u.func.doc ? f->u.func.doc : "");
        lb_sb_add(&m, line);
    }
    lb_sb_add(&t, "\nType `help NAME` for the documentation of a command or function.\n");
    lb_sb_add(&m, "\nType `help NAME` for the documentation of a command or function.\n");
    if (t.oom || m.oom) {
        free(t.buf);
        free(m.buf);
        return lb_oom(err);
    }
    page(in, t.buf, m.buf);
    free(t.buf);
    free(m.buf);
    return 0;
}

static int cmd_help(lb_cmd_call *call, lb_error *err)
{
    lb_interp *in = call->in;
    if (call->nargs == 0)
        return help_all(in, err);
    const lb_node *a = call->args[0];
    const char *name;
    if (a->kind == LB_N_NAME || a->kind == LB_N_STR)
        name = a->text;
    else
        return lb_node_error(err, a, "TypeError",
                             "help needs the name of a command or function, as in `help print`");
    char *plain = NULL, *md = NULL;
    const lb_command *c = lb_commands_find(lb_interp_commands(in), name);
    lb_value *f = lb_interp_builtin(in, name);
    lb_value *v = lb_interp_get(in, name);
    if (c) {
        plain = lb_command_doc_text(c);
        md = lb_command_doc_markdown(c);
    } else if (!v && lb_modules_doc(in, name, &plain, &md)) {
        /* a layer or model type of a plugin: its parameter schema */
    } else if (v) {
        char *r = lb_repr_short(v, 2000);
        if (r && asprintf(&plain, "%s: %s\n\n%s\n", name, lb_type_name(v), r) < 0)
            plain = NULL;
        free(r);
    } else if (f) {
        plain = lb_function_doc_text(f);
        md = lb_function_doc_markdown(f);
    } else {
        lb_commands *cmds = lb_interp_commands(in);
        size_t nc = lb_commands_count(cmds), nf = lb_map_len(lb_interp_builtins(in));
        const char **names = malloc((nc + nf + 1) * sizeof *names);
        if (!names)
            return lb_oom(err);
        for (size_t i = 0; i < nc; i++)
            names[i] = lb_commands_at(cmds, i)->name;
        for (size_t i = 0; i < nf; i++)
            names[nc + i] = lb_interp_builtins(in)->u.map.entries[i].key;
        const char *s = lb_suggest(name, names, nc + nf);
        if (s)
            lb_node_error(err, a, "NameError",
                          "no command, function or variable named '%s' (did you mean '%s'?)", name, s);
        else
            lb_node_error(err, a, "NameError",
                          "no command, function or variable named '%s' (type `help` for the list)",
                          name);
        free(names);
        return -1;
    }
    if (!plain) {
        free(md);
        return lb_oom(err);
    }
    page(in, plain, md);
    free(plain);
    free(md);
    return 0;
}

/* ---- vars / del / clear ------------------------------------------------------------------ */

static int cmd_vars(lb_cmd_call *call, lb_error *err)
{
    lb_value *g = lb_interp_globals(call->in);
    if (lb_map_len(g) == 0) {
        const char *msg = "no variables defined\n";
        lb_emit_stream(call->in, LB_STDOUT, msg, strlen(msg));
        return 0;
    }
    lb_table *t = lb_table_new();
    if (!t || lb_table_set_header(t, 0, "name") < 0 || lb_table_set_header(t, 1, "type") < 0 ||
        lb_table_set_header(t, 2, "value") < 0) {
        lb_table_free(t);
        return lb_oom(err);
    }
    for (size_t i = 0; i < lb_map_len(g); i++) {
        lb_value *v = g->u.map.entries[i].value;
        long r = lb_table_add_row(t);
        char *summary = lb_repr_short(v, 60);
        if (r < 0 || !summary || lb_table_set(t, (size_t)r, 0, g->u.map.entries[i].key, false) < 0 ||
            lb_table_set(t, (size_t)r, 1, lb_type_name(v), false) < 0 ||
            lb_table_set(t, (size_t)r, 2, summary, false) < 0) {
            free(summary);
            lb_table_free(t);
            return lb_oom(err);
        }
        free(summary);
    }
    return lb_emit_table(call->in, t, err);
}

static int cmd_del(lb_cmd_call *call, lb_error *err)
{
    /* check every name first: del either removes all of them or none */
    for (size_t i = 0; i < call->nargs; i++) {
        const char *name = lb_call_arg_name(call, i, err);
        if (!name)
            return -1;
        if (!lb_interp_get(call->in, name))
            return lb_name_error(call->in, name, call->args[i], err);
    }
    for (size_t i = 0; i < call->nargs; i++)
        lb_interp_del(call->in, call->args[i]->text);
    return 0;
}

static int cmd_clear(lb_cmd_call *call, lb_error *err)
{
    lb_value *w = lb_call_param(call, "wait", err);
    if (!w)
        return -1;
    bool wait = lb_truthy(w);
    lb_decref(w);
    lb_emit_clear(call->in, wait);
    return 0;
}

/* ---- table ------------------------------------------------------------------------------ */

/* What `table` shows at most (spec/language.md, table): rows, columns, and characters of
 * its plain rendering (every row padded to the column widths); cells are cut at
 * LB_TABLE_CELL_MAX. The rest is summed up in a note under the table. */
#define TABLE_MAX_ROWS 1000
#define TABLE_MAX_COLS 100
#define TABLE_MAX_TEXT LB_SHOW_MAX

/* Adds row r of the rows (a map row takes the columns `cols` of the first map; a list row
 * its first ncols items). */
static int table_row(lb_cmd_call *call, lb_table *t, const lb_value *row, size_t r,
                     const lb_value *cols, size_t ncols, lb_error *err)
{
    const lb_node *at = call->args[0];
    if (cols && row->kind != LB_MAP)
        return lb_node_error(err, at, "TypeError", "table row %zu is a %s, but the first row is a map",
                             r + 1, lb_type_name(row));
    if (!cols && row->kind != LB_LIST)
        return lb_node_error(err, at, "TypeError", "table row %zu must be a list, got %s", r + 1,
                             lb_type_name(row));
    long ri = lb_table_add_row(t);
    if (ri < 0)
        return lb_oom(err);
    size_t n = cols ? cols->u.map.len : row->u.list.len;
    if (n > ncols)
        n = ncols;
    for (size_t c = 0; c < n; c++) {
        lb_value *cellv = cols ? lb_map_get(row, cols->u.map.entries[c].key) : row->u.list.items[c];
        if (lb_table_set_value(t, (size_t)ri, c, cellv ? cellv : lb_none()) < 0)
            return lb_oom(err);
    }
    return 0;
}

static int fill_table(lb_cmd_call *call, lb_table *t, const lb_value *rows, bool header,
                      lb_error *err)
{
    const lb_node *at = call->args[0];
    if (rows->kind != LB_LIST)
        return lb_node_error(err, at, "TypeError",
                             "table needs a list of rows (each a list or a map), got %s",
                             lb_type_name(rows));
    size_t n = rows->u.list.len;
    if (n == 0)
        return lb_node_error(err, at, "ValueError", "table needs at least one row");
    const lb_value *first = rows->u.list.items[0];
    /* rows of maps: the keys of the first map are the columns */
    const lb_value *cols = first->kind == LB_MAP ? first : NULL;
    size_t all_cols = 0, r = 0;
    if (cols) {
        all_cols = cols->u.map.len;
        for (size_t c = 0; c < all_cols && c < TABLE_MAX_COLS; c++)
            if (lb_table_set_header(t, c, cols->u.map.entries[c].key) < 0)
                return lb_oom(err);
    } else if (header && first->kind == LB_LIST) {
        for (size_t c = 0; c < first->u.list.len && c < TABLE_MAX_COLS; c++) {
            char *text = lb_cell_text(first->u.list.items[c]);
            if (!text || lb_table_set_header(t, c, text) < 0) {
                free(text);
                return lb_oom(err);
            }
            free(text);
        }
        r = 1;
    }
    size_t body0 = r, shown = 0;
    for (; r < n && shown < TABLE_MAX_ROWS; r++, shown++) {
        if (lb_interrupt_check(err) < 0)
            return -1;
        if (table_row(call, t, rows->u.list.items[r], r, cols, TABLE_MAX_COLS, err) < 0)
            return -1;
        /* one wide cell widens its whole column: the row that passes the budget goes back */
        if (lb_table_plain_size(t) > TABLE_MAX_TEXT && shown > 0) {
            lb_table_pop_row(t);
            break;
        }
    }
    /* the number of columns of list rows, counted over every row (shown or not) */
    for (size_t k = 0; !cols && k < n; k++) {
        if (k % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0)
            return -1;
        const lb_value *row = rows->u.list.items[k];
        if (row->kind == LB_LIST && row->u.list.len > all_cols)
            all_cols = row->u.list.len;
    }
    size_t body = n - body0;
    if (shown == body && all_cols <= TABLE_MAX_COLS)
        return 0;
    char note[512], a[32], b[32], c[32], d[32], max_rows[32], max_text[32];
    lb_format_count((int64_t)shown, a, sizeof a);
    lb_format_count((int64_t)body, b, sizeof b);
    lb_format_count((int64_t)(all_cols < TABLE_MAX_COLS ? all_cols : TABLE_MAX_COLS), c, sizeof c);
    lb_format_count((int64_t)all_cols, d, sizeof d);
    lb_format_count(TABLE_MAX_ROWS, max_rows, sizeof max_rows);
    lb_format_count(TABLE_MAX_TEXT, max_text, sizeof max_text);
    snprintf(note, sizeof note,
             "\xe2\x80\xa6 showing %s of %s rows and %s of %s columns (a table shows at most %s "
             "rows, %d columns and %s characters)",
             a, b, c, d, max_rows, TABLE_MAX_COLS, max_text);
    return lb_table_set_note(t, note) < 0 ? lb_oom(err) : 0;
}

static int cmd_table(lb_cmd_call *call, lb_error *err)
{
    lb_value *rows = lb_call_arg(call, 0, err);
    if (!rows)
        return -1;
    lb_value *h = lb_call_param(call, "header", err);
    if (!h) {
        lb_decref(rows);
        return -1;
    }
    bool header = lb_truthy(h);
    lb_decref(h);
    lb_table *t = lb_table_new();
    if (!t) {
        lb_decref(rows);
        return lb_oom(err);
    }
    int r = fill_table(call, t, rows, header, err);
    lb_decref(rows);
    if (r < 0) {
        lb_table_free(t);
        return r;
    }
    return lb_emit_table(call->in, t, err);
}

/* ---- seed / version --------------------------------------------------------------------- */

static int cmd_seed(lb_cmd_call *call, lb_error *err)
{
    if (call->nargs == 0) {
        bool set;
        double s = lb_interp_seed(call->in, &set);
        char line[64];
        if (set) {
            lb_format_number(s, line, sizeof line - 1);
            strcat(line, "\n");
        } else {
            snprintf(line, sizeof line, "no seed set\n");
        }
        lb_emit_stream(call->in, LB_STDOUT, line, strlen(line));
        return 0;
    }
    lb_value *v = lb_call_arg(call, 0, err);
    if (!v)
        return -1;
    if (!lb_is_int(v) || v->u.num < 0 || v->u.num > 18446744073709551615.0) {
        int r = lb_node_error(err, call->args[0], v->kind == LB_NUM ? "ValueError" : "TypeError",
                              "seed needs a non-negative integer, got %s", lb_type_name(v));
        lb_decref(v);
        return r;
    }
    lb_interp_set_seed(call->in, v->u.num);
    lb_decref(v);
    return 0;
}

static int cmd_version(lb_cmd_call *call, lb_error *err)
{
    json_t *versions = lb_interp_versions(call->in);
    lb_strbuf b = {0};
    size_t width = 0;
    const char *key;
    json_t *val;
    json_object_foreach(versions, key, val)
    {
        if (strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach(versions, key, val)
    {
        char line[256];
        snprintf(line, sizeof line, "%-*s  %s\n", (int)width, key,
                 json_is_string(val) ? json_string_value(val) : "?");
        lb_sb_add(&b, line);
    }
    if (b.oom || !b.buf) {
        free(b.buf);
        return lb_oom(err);
    }
    lb_emit_stream(call->in, LB_STDOUT, b.buf, b.len);
    free(b.buf);
    return 0;
}

/* ---- the table of v0 commands ------------------------------------------------------------ */

static const lb_param ask_params[] = {
    {"password", LB_PARAM_BOOL, "false", "hide the answer as it is typed"},
    {0}};
static const lb_param clear_params[] = {
    {"wait", LB_PARAM_BOOL, "false", "clear only when the next output arrives (no flicker)"},
    {0}};
static const lb_param table_params[] = {
    {"header", LB_PARAM_BOOL, "true", "the first row holds the column names"},
    {0}};

static const lb_command builtin_commands[] = {
    {.name = "print", .synopsis = "print VALUE...",
     .doc = "Prints the values to standard output, separated by spaces and followed by a newline.\n"
            "Strings are printed as they are (no quotes); other values as they display.",
     .example = "print \"hello, world\"\nprint \"accuracy:\" 0.91 [1, 2]",
     .min_args = 0, .max_args = -1, .hint = LB_ARGS_VALUES, .handler = cmd_print},
    {.name = "warn", .synopsis = "warn VALUE...",
     .doc = "Prints the values to standard error (shown highlighted in notebooks), separated by\n"
            "spaces and followed by a newline. The cell goes on running.",
     .example = "warn \"careful: the learning rate is high\"",
     .min_args = 0, .max_args = -1, .hint = LB_ARGS_VALUES, .handler = cmd_warn},
    {.name = "fail", .synopsis = "fail MESSAGE...",
     .doc = "Stops the cell with an error named Failure carrying the message (the values joined by\n"
            "spaces). Statements before it keep their effects.",
     .example = "fail \"the data set is empty\"",
     .min_args = 1, .max_args = -1, .hint = LB_ARGS_VALUES, .handler = cmd_fail},
    {.name = "ask", .synopsis = "ask NAME \"prompt\" password=false",
     .doc = "Asks the user to type a line and stores it, as a string, in the variable NAME.\n"
            "Use num(NAME) to turn a numeric answer into a number. Fails with\n"
            "StdinNotImplementedError when the front end cannot take input.",
     .example = "ask name \"Your name: \"\nask token \"API token: \" password=true",
     .params = ask_params, .min_args = 1, .max_args = 2, .hint = LB_ARGS_VARIABLES,
     .handler = cmd_ask},
    {.name = "sleep", .synopsis = "sleep SECONDS",
     .doc = "Waits for the given number of seconds (fractions allowed). An interrupt stops it at\n"
            "once (within a few milliseconds).",
     .example = "sleep 0.5",
     .min_args = 1, .max_args = 1, .hint = LB_ARGS_VALUES, .handler = cmd_sleep},
    {.name = "help", .synopsis = "help [NAME]",
     .doc = "Shows the documentation of a command, a builtin function or a variable in the pager.\n"
            "Without NAME, lists every command and builtin function.",
     .example = "help\nhelp print\nhelp len",
     .min_args = 0, .max_args = 1, .hint = LB_ARGS_COMMANDS, .handler = cmd_help},
    {.name = "vars", .synopsis = "vars",
     .doc = "Shows a table of the defined variables: name, type and a summary of the value.",
     .example = "x = 42\nvars",
     .min_args = 0, .max_args = 0, .hint = LB_ARGS_NONE, .handler = cmd_vars},
    {.name = "del", .synopsis = "del NAME...",
     .doc = "Deletes variables. Every name must be defined; otherwise nothing is deleted.",
     .example = "del x y",
     .min_args = 1, .max_args = -1, .hint = LB_ARGS_VARIABLES, .handler = cmd_del},
    {.name = "clear", .synopsis = "clear wait=false",
     .doc = "Clears the output of the current cell.",
     .example = "print \"this disappears\"\nclear",
     .params = clear_params, .min_args = 0, .max_args = 0, .hint = LB_ARGS_NONE,
     .handler = cmd_clear},
    {.name = "table", .synopsis = "table ROWS header=true",
     .doc = "Displays ROWS, a list of rows, as a table (HTML, markdown and plain text). Each row\n"
            "is a list of cells; with header=true the first row holds the column names. Rows may\n"
            "also be maps, whose keys (those of the first map) name the columns. Numbers are\n"
            "right-aligned and shown with up to 6 significant digits.",
     .example = "table [[\"lr\", \"acc\"], [0.1, 0.77], [0.01, 0.81]]\n"
                "table [{lr: 0.1, acc: 0.77}, {lr: 0.01, acc: 0.81}]",
     .params = table_params, .min_args = 1, .max_args = 1, .hint = LB_ARGS_VALUES,
     .handler = cmd_table},
    {.name = "seed", .synopsis = "seed [N]",
     .doc = "Sets the global random seed (a non-negative integer) used by everything random that\n"
            "runs afterwards (initialisation, shuffling, sampling). Without N, prints the seed.",
     .example = "seed 42\nseed",
     .min_args = 0, .max_args = 1, .hint = LB_ARGS_VALUES, .handler = cmd_seed},
    {.name = "version", .synopsis = "version",
     .doc = "Prints the version of labbook, of its language and of the libraries it uses.",
     .example = "version",
     .min_args = 0, .max_args = 0, .hint = LB_ARGS_NONE, .handler = cmd_version},
};

int lb_register_builtin_commands(lb_interp *in, lb_error *err)
{
    return lb_interp_register_commands(in, builtin_commands,
                                       sizeof builtin_commands / sizeof builtin_commands[0], err);
}
