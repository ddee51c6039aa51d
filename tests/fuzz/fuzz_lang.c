/* fuzz_lang.c — libFuzzer harness of the language (tests/fuzz/README.md): the input is up to four
 * cells separated by NUL bytes, run one after the other in a fresh interpreter with every module
 * (lb_labbook_new, as the kernel makes it). For each cell: the lexer, the parser, is_complete,
 * completion and inspection at a few cursors, execution (with the execute_result) and the cell
 * as a user expression. Checked beyond "no crash, no leak, no undefined behaviour": a failing
 * call sets an error with a name, a message and a position inside the cell, whose traceback
 * renders; completion ranges lie in the cell; every bundle shown has text/plain; and for a cell
 * that is valid UTF-8 (all that Jupyter can send) every text shown is valid UTF-8.
 *
 * Bounded, and what is left out (README.md says why): cells whose first line is a cell magic
 * (`%%plugin` compiles C with the system compiler) and cells with the commands `use` (loads
 * plugins: code outside this build, the door to models and training of any size and length) or
 * `sleep` (waits on the clock) are lexed, parsed, completed and inspected but not run. Files are
 * written only inside the scratch folder (fuzz_common.h). LABBOOK_MAX_DATA caps what a data set
 * may read. */
#include <stdbool.h>
#include <stdint.h>

#include "fuzz_common.h"

#include "base/error.h"
#include "base/utf8.h"
#include "cli/labbook.h"
#include "lang/ast.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "lang/lexer.h"
#include "lang/parser.h"

#define MAX_CELLS 4

/* ---- checking what the interpreter shows ----------------------------------------------------- */

static bool cell_utf8; /* the cell being run is valid UTF-8: so must be all it shows */

static bool valid_utf8(const char *s, size_t n)
{
    size_t out = 0;
    char *clean = lb_utf8_sanitize(s, n, &out);
    bool same = clean && out == n && memcmp(clean, s, n) == 0;
    free(clean);
    return same || !clean; /* (out of memory: nothing to say) */
}

static void check_bundle(json_t *data, const char *what)
{
    FUZZ_ASSERT(json_is_object(data), "%s: the bundle is not an object", what);
    FUZZ_ASSERT(json_is_string(json_object_get(data, "text/plain")), "%s: no text/plain", what);
    char *text = json_dumps(data, JSON_COMPACT);
    free(text);
}

static void on_stream(void *ctx, lb_stream which, const char *text, size_t len)
{
    (void)ctx;
    (void)which;
    FUZZ_ASSERT(!cell_utf8 || valid_utf8(text, len), "stream text of a UTF-8 cell: %.*s", (int)len, text);
}

static void on_display(void *ctx, json_t *data, json_t *metadata, const char *id, bool update)
{
    (void)ctx;
    (void)metadata;
    FUZZ_ASSERT(!update || id, "an update without a display id");
    check_bundle(data, "display");
}

static void on_result(void *ctx, json_t *data, json_t *metadata)
{
    (void)ctx;
    (void)metadata;
    check_bundle(data, "execute_result");
}

static void on_page(void *ctx, json_t *data)
{
    (void)ctx;
    check_bundle(data, "page");
}

static void on_clear(void *ctx, bool wait)
{
    (void)ctx;
    (void)wait;
}

static const lb_output OUTPUT = {.stream = on_stream, .display = on_display, .result = on_result,
                                 .clear = on_clear, .page = on_page};

/* The lines of code (1 + its newlines). */
static int count_lines(const char *code)
{
    int n = 1;
    for (const char *p = code; *p; p++)
        n += *p == '\n';
    return n;
}

/* A failing call left a usable error: a name, a message, a position in the cell (0: none; a
 * position may be one past the last line, at the end of the input), a traceback. */
static void check_error(const lb_error *err, const char *code, const char *what)
{
    FUZZ_ASSERT(err->ename[0] && err->evalue, "%s failed without an error", what);
    FUZZ_ASSERT(err->line >= 0 && err->col >= 0 && err->line <= count_lines(code) + 1,
                "%s: %s at line %d, column %d of a %d-line cell", what, err->ename, err->line,
                err->col, count_lines(code));
    char *tb = lb_error_format(err, code, "cell");
    json_t *tj = lb_error_traceback_json(err, code);
    FUZZ_ASSERT(tb && json_is_array(tj), "%s: the traceback of %s did not render", what, err->ename);
    for (size_t i = 0; i < json_array_size(tj); i++)
        FUZZ_ASSERT(json_is_string(json_array_get(tj, i)), "%s: traceback line %zu", what, i);
    free(tb);
    json_decref(tj);
}

/* ---- what is run ------------------------------------------------------------------------------ */

static const char *const NOT_RUN[] = {"use", "sleep"}; /* why: the comment at the top */

/* Whether the tree holds a command the harness does not run. */
static bool holds_excluded(const lb_node *n)
{
    if (!n)
        return false;
    if (n->kind == LB_N_COMMAND)
        for (size_t i = 0; i < sizeof NOT_RUN / sizeof NOT_RUN[0]; i++)
            if (n->text && strcmp(n->text, NOT_RUN[i]) == 0)
                return true;
    for (size_t i = 0; i < n->nkids; i++)
        if (holds_excluded(n->kids[i]))
            return true;
    return false;
}

/* The lexer alone: tokens in order, inside the cell, ending with EOF. */
static void lex(const char *code)
{
    lb_tokens toks = {0};
    lb_error err = {0};
    bool incomplete = false;
    size_t len = strlen(code);
    if (lb_lex(code, &toks, &err, &incomplete) == 0) {
        FUZZ_ASSERT(toks.len >= 1 && toks.items[toks.len - 1].kind == TK_EOF, "no EOF token");
        for (size_t i = 0; i < toks.len; i++) {
            const lb_token *t = &toks.items[i];
            FUZZ_ASSERT(t->start + t->len <= len && t->line >= 1 && t->col >= 1,
                        "token %zu at %zu+%zu, line %d col %d", i, t->start, t->len, t->line, t->col);
            FUZZ_ASSERT(i == 0 || t->start >= toks.items[i - 1].start, "tokens out of order");
        }
    } else {
        check_error(&err, code, "lb_lex");
    }
    lb_tokens_free(&toks);
    lb_error_clear(&err);
}

/* Completion and inspection at byte offset `at`, moved back to the start of a code point (the
 * server converts Jupyter's code point cursors). */
static void tools_at(lb_interp *in, const char *code, size_t at)
{
    while (at > 0 && ((unsigned char)code[at] & 0xC0) == 0x80)
        at--;
    size_t start = SIZE_MAX, end = SIZE_MAX, len = strlen(code);
    json_t *m = lb_interp_complete(in, code, at, &start, &end);
    FUZZ_ASSERT(json_is_array(m), "completion gave no list");
    FUZZ_ASSERT(start <= end && end <= len, "completion range %zu..%zu in %zu bytes", start, end, len);
    for (size_t i = 0; i < json_array_size(m); i++)
        FUZZ_ASSERT(json_is_string(json_array_get(m, i)), "match %zu is not a string", i);
    json_decref(m);
    for (int detail = 0; detail < 2; detail++) {
        json_t *b = lb_interp_inspect(in, code, at, detail);
        if (b)
            check_bundle(b, "inspect");
        json_decref(b);
    }
}

static void one_cell(lb_interp *in, const char *code)
{
    size_t len = strlen(code);
    cell_utf8 = valid_utf8(code, len);
    lex(code);
    lb_code_status st = lb_interp_is_complete(in, code);
    FUZZ_ASSERT(st == LB_CODE_COMPLETE || st == LB_CODE_INCOMPLETE || st == LB_CODE_INVALID,
                "is_complete gave %d", (int)st);
    size_t cursors[] = {len, len / 2, len / 3, 0};
    for (size_t i = 0; i < sizeof cursors / sizeof cursors[0]; i++)
        tools_at(in, code, cursors[i]);
    if (lb_modules_cell(in, code))
        return; /* %%plugin: C for the system compiler */
    lb_error err = {0};
    lb_node *block = lb_parse(code, lb_interp_commands(in), &err, NULL);
    bool run = block && !holds_excluded(block);
    if (!block)
        check_error(&err, code, "lb_parse");
    lb_node_free(block);
    lb_error_clear(&err);
    if (run) {
        if (lb_interp_execute(in, code, true, &err) < 0)
            check_error(&err, code, "lb_interp_execute");
        else
            FUZZ_ASSERT(!err.evalue, "success with an error set: %s", err.evalue);
        lb_error_clear(&err);
        json_t *b = lb_interp_eval_bundle(in, code, &err); /* as a user expression */
        if (b)
            check_bundle(b, "user expression");
        else
            check_error(&err, code, "lb_interp_eval_bundle");
        json_decref(b);
        lb_error_clear(&err);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_make_scratch_dir("lang");
    setenv("LABBOOK_MAX_DATA", "8M", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    lb_interp *in = lb_labbook_new(&OUTPUT);
    FUZZ_ASSERT(in, "no interpreter");
    lb_interrupt_clear();
    const char *cell = text;
    for (int k = 0; k < MAX_CELLS && cell <= text + size; k++) {
        one_cell(in, cell);
        cell += strlen(cell) + 1; /* the next cell starts after the NUL */
    }
    lb_interp_free(in);
    free(text);
    return 0;
}
