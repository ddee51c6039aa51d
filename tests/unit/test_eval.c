/* test_eval.c — unit tests of the interpreter through interp.h and commands.h, with an
 * lb_output that records every call: the issue's snippets, values and their text forms,
 * every builtin command and function, error names with line AND column, cells that fail
 * half-way, atomic assignment, interrupts, is_complete, completion, inspection, the command
 * API (schemas, did-you-mean, object classes) and many executions without leaks. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "lang/commands.h"
#include "cli/labbook.h"
#include "lang/interp.h"
#include "render/table.h"
#include "lang/value.h"

/* ---- a recording lb_output ------------------------------------------------------------- */

typedef struct {
    char out[8192], err[8192];
    json_t *displays; /* array of {data, metadata, id, update} */
    json_t *results;  /* array of bundles */
    json_t *pages;    /* array of bundles */
    int clears, clear_waits;
    const char *answer; /* what ask returns; NULL = refuse */
    char last_prompt[256];
    bool last_password;
    sem_t *printed; /* when set, posted after each write to stdout */
} rec;

static void rec_stream(void *ctx, lb_stream which, const char *text, size_t len)
{
    rec *r = ctx;
    char *dst = which == LB_STDOUT ? r->out : r->err;
    strncat(dst, text, len < sizeof r->out - strlen(dst) - 1 ? len : sizeof r->out - strlen(dst) - 1);
    if (which == LB_STDOUT && r->printed)
        sem_post(r->printed);
}

static void rec_display(void *ctx, json_t *data, json_t *metadata, const char *id, bool update)
{
    rec *r = ctx;
    json_array_append_new(r->displays, json_pack("{s:O, s:O?, s:s?, s:b}", "data", data, "metadata",
                                                 metadata, "id", id, "update", update));
}

static void rec_result(void *ctx, json_t *data, json_t *metadata)
{
    (void)metadata;
    rec *r = ctx;
    json_array_append(r->results, data);
}

static void rec_clear(void *ctx, bool wait)
{
    rec *r = ctx;
    r->clears++;
    r->clear_waits += wait;
}

static void rec_page(void *ctx, json_t *data)
{
    rec *r = ctx;
    json_array_append(r->pages, data);
}

static char *rec_ask(void *ctx, const char *prompt, bool password, lb_error *err)
{
    rec *r = ctx;
    snprintf(r->last_prompt, sizeof r->last_prompt, "%s", prompt);
    r->last_password = password;
    if (!r->answer) {
        lb_error_set(err, "StdinNotImplementedError", 0, 0, "input is not allowed here");
        return NULL;
    }
    return strdup(r->answer);
}

static rec R;
static lb_interp *IN;

static void setup(void)
{
    json_decref(R.displays);
    json_decref(R.results);
    json_decref(R.pages);
    memset(&R, 0, sizeof R);
    R.displays = json_array();
    R.results = json_array();
    R.pages = json_array();
    lb_output o = {.ctx = &R, .stream = rec_stream, .display = rec_display, .result = rec_result,
                   .clear = rec_clear, .page = rec_page, .ask = rec_ask};
    lb_interp_free(IN);
    IN = lb_labbook_new(&o);
    lb_interrupt_clear();
}

static void reset_rec(void)
{
    R.out[0] = R.err[0] = '\0';
    json_array_clear(R.displays);
    json_array_clear(R.results);
    json_array_clear(R.pages);
    R.clears = R.clear_waits = 0;
}

static void teardown(void)
{
    lb_interp_free(IN);
    IN = NULL;
    json_decref(R.displays);
    json_decref(R.results);
    json_decref(R.pages);
    memset(&R, 0, sizeof R);
}

/* Runs code expecting success. */
static void ok(const char *code)
{
    lb_error err = {0};
    if (lb_interp_execute(IN, code, true, &err) != 0) {
        fprintf(stderr, "  \"%s\" failed: %s: %s (line %d col %d)\n", code, err.ename,
                err.evalue ? err.evalue : "", err.line, err.col);
        CHECK(0);
    }
    lb_error_clear(&err);
}

/* Runs code expecting an error with this name, position and message fragment. */
static void bad(const char *code, const char *ename, int line, int col, const char *needle)
{
    lb_error err = {0};
    int r = lb_interp_execute(IN, code, true, &err);
    CHECK_INT(r, -1);
    if (strcmp(err.ename, ename) != 0 || err.line != line || err.col != col ||
        !err.evalue || !strstr(err.evalue, needle)) {
        fprintf(stderr, "  \"%s\": got %s: %s at %d:%d; want %s \"%s\" at %d:%d\n", code, err.ename,
                err.evalue ? err.evalue : "", err.line, err.col, ename, needle, line, col);
        CHECK(0);
    }
    lb_error_clear(&err);
}

/* The text/plain result of evaluating one cell (the last result emitted). */
static const char *result_of(const char *code)
{
    static char buf[4096];
    json_array_clear(R.results);
    ok(code);
    json_t *last = json_array_get(R.results, json_array_size(R.results) - 1);
    const char *t = json_string_value(json_object_get(last, "text/plain"));
    snprintf(buf, sizeof buf, "%s", t ? t : "(no result)");
    return buf;
}

static const char *plain_of(json_t *bundle)
{
    return json_string_value(json_object_get(bundle, "text/plain"));
}

/* ---- the issue's snippets ---------------------------------------------------------------- */

static void test_issue_snippets(void)
{
    setup();
    ok("print \"hello, world\"");
    CHECK_STR(R.out, "hello, world\n");
    CHECK_STR(R.err, "");
    ok("warn \"careful\"");
    CHECK_STR(R.err, "careful\n");
    reset_rec();
    ok("x = 6 * 7");
    CHECK_INT(json_array_size(R.results), 0); /* an assignment shows nothing */
    ok("x");
    CHECK_INT(json_array_size(R.results), 1);
    CHECK_STR(plain_of(json_array_get(R.results, 0)), "42");
    bad("fail \"boom\"", "Failure", 1, 1, "boom");
    reset_rec();
    ok("help print");
    CHECK_INT(json_array_size(R.pages), 1);
    const char *doc = plain_of(json_array_get(R.pages, 0));
    CHECK(doc && strstr(doc, "print VALUE...") && strstr(doc, "standard output"));
    CHECK(json_object_get(json_array_get(R.pages, 0), "text/markdown") != NULL);
    json_t *insp = lb_interp_inspect(IN, "print", 5, 0);
    CHECK(insp != NULL);
    CHECK_STR(plain_of(insp), doc);
    json_decref(insp);
    insp = lb_interp_inspect(IN, "print \"x\"", 2, 0); /* cursor inside the word */
    CHECK_STR(plain_of(insp), doc);
    json_decref(insp);
    ok("clear");
    CHECK_INT(R.clears, 1);
    CHECK_INT(R.clear_waits, 0);
    reset_rec();
    ok("table [[\"lr\", \"acc\"], [0.1, 0.77]]");
    CHECK_INT(json_array_size(R.displays), 1);
    json_t *data = json_object_get(json_array_get(R.displays, 0), "data");
    const char *html = json_string_value(json_object_get(data, "text/html"));
    const char *md = json_string_value(json_object_get(data, "text/markdown"));
    const char *plain = plain_of(data);
    CHECK(html && strstr(html, "<thead>") && strstr(html, "<th style=\"text-align: right\">lr</th>"));
    CHECK(html && strstr(html, "<tbody>\n<tr><td style=\"text-align: right\">0.1</td>"));
    CHECK(html && strstr(html, ">0.77</td>"));
    CHECK_STR(md, "| lr | acc |\n| ---: | ---: |\n| 0.1 | 0.77 |");
    CHECK_STR(plain, " lr   acc\n---  ----\n0.1  0.77");
    teardown();
}

/* ---- values ------------------------------------------------------------------------------ */

static void test_values_and_repr(void)
{
    setup();
    CHECK_STR(result_of("42"), "42");
    CHECK_STR(result_of("0.1 + 0.2"), "0.30000000000000004");
    CHECK_STR(result_of("1 / 3"), "0.3333333333333333");
    CHECK_STR(result_of("1e-3"), "0.001");
    CHECK_STR(result_of("2 ** 70"), "1.1805916207174113e+21");
    CHECK_STR(result_of("-0.0"), "0");
    CHECK_STR(result_of("7 // 2"), "3");
    CHECK_STR(result_of("-7 // 2"), "-4");
    CHECK_STR(result_of("-7 % 3"), "2");
    CHECK_STR(result_of("7 % -3"), "-2");
    CHECK_STR(result_of("2 ** 3 ** 2"), "512");
    CHECK_STR(result_of("-2 ** 2"), "-4");
    CHECK_STR(result_of("\"abc\""), "\"abc\"");
    CHECK_STR(result_of("\"a\\\"b\\n\""), "\"a\\\"b\\n\"");
    CHECK_STR(result_of("\"ab\" + 'cd'"), "\"abcd\"");
    CHECK_STR(result_of("\"ab\" * 3"), "\"ababab\"");
    CHECK_STR(result_of("[1, 2] + [3]"), "[1, 2, 3]");
    CHECK_STR(result_of("[0] * 3"), "[0, 0, 0]");
    CHECK_STR(result_of("[1, \"a\", true, none, [2.5]]"), "[1, \"a\", true, none, [2.5]]");
    CHECK_STR(result_of("{a: 1, \"b c\": [2], \"true\": 3}"), "{a: 1, \"b c\": [2], \"true\": 3}");
    CHECK_STR(result_of("{a: 1, a: 2}"), "{a: 2}");
    CHECK_STR(result_of("true and 3"), "3");
    CHECK_STR(result_of("0 or \"x\""), "\"x\"");
    CHECK_STR(result_of("not []"), "true");
    CHECK_STR(result_of("1 < 2 < 3"), "true");
    CHECK_STR(result_of("3 > 2 > 2"), "false");
    CHECK_STR(result_of("\"a\" < \"b\""), "true");
    CHECK_STR(result_of("[1, {a: 2}] == [1, {a: 2}]"), "true");
    CHECK_STR(result_of("1 != \"1\""), "true");
    CHECK_STR(result_of("m = {lr: 0.1, opt: {name: \"sgd\"}}\nm.opt.name"), "\"sgd\"");
    CHECK_STR(result_of("m[\"lr\"]"), "0.1");
    CHECK_STR(result_of("l = [10, 20, 30]\nl[-1] + l[0]"), "40");
    CHECK_STR(result_of("\"héllo\"[1]"), "\"é\"");
    /* print shows strings raw, repr inside containers */
    reset_rec();
    ok("print \"a\" 1.5 [\"b\"] {k: \"v\"} none true");
    CHECK_STR(R.out, "a 1.5 [\"b\"] {k: \"v\"} none true\n");
    /* none is not shown as a result; only the last bare expression is */
    json_array_clear(R.results);
    ok("none");
    ok("1\n2");
    CHECK_INT(json_array_size(R.results), 1);
    CHECK_STR(plain_of(json_array_get(R.results, 0)), "2");
    /* want_result=false shows nothing */
    lb_error err = {0};
    json_array_clear(R.results);
    CHECK_INT(lb_interp_execute(IN, "5", false, &err), 0);
    CHECK_INT(json_array_size(R.results), 0);
    teardown();
}

static void test_value_api(void)
{
    char buf[40];
    lb_format_number(42, buf, sizeof buf);
    CHECK_STR(buf, "42");
    lb_format_number(0.1, buf, sizeof buf);
    CHECK_STR(buf, "0.1");
    lb_format_number(1e100, buf, sizeof buf);
    CHECK_STR(buf, "1e+100");
    lb_format_number(-1.0 / 0.0, buf, sizeof buf);
    CHECK_STR(buf, "-inf");
    lb_value *m = lb_map_new();
    lb_map_set_take(m, "b", lb_num(1));
    lb_map_set_take(m, "a", lb_num(2));
    lb_map_set_take(m, "b", lb_num(3));
    char *r = lb_repr(m);
    CHECK_STR(r, "{b: 3, a: 2}"); /* insertion order, replaced in place */
    free(r);
    CHECK(lb_map_del(m, "b"));
    CHECK(!lb_map_del(m, "b"));
    CHECK_INT(lb_map_len(m), 1);
    lb_value *l = lb_list_new();
    lb_list_append_take(l, lb_str("a very long string indeed"));
    lb_list_append(l, m);
    r = lb_repr_short(l, 12);
    CHECK_STR(r, "[\"a very ..."); /* 12 code points in all */
    free(r);
    r = lb_to_text(l);
    CHECK_STR(r, "[\"a very long string indeed\", {a: 2}]");
    free(r);
    CHECK_STR(lb_type_name(l), "list");
    CHECK(lb_truthy(l) && !lb_truthy(lb_none()) && !lb_truthy(lb_bool(false)));
    lb_decref(l);
    lb_decref(m);
}

/* ---- errors with positions ------------------------------------------------------------------ */

static void test_errors_and_positions(void)
{
    setup();
    bad("x = = 1", "SyntaxError", 1, 5, "unexpected '='");
    bad("a = 1\nz = y + 1", "NameError", 2, 5, "name 'y' is not defined");
    bad("valeu = 1\nprint value", "NameError", 2, 7, "did you mean 'valeu'?");
    bad("x = 1 + \"a\"", "TypeError", 1, 5, "cannot add number and string");
    bad("x = [1] - 1", "TypeError", 1, 5, "unsupported operand types for -: list and number");
    bad("x = -\"a\"", "TypeError", 1, 5, "unary -");
    bad("x = 1 < \"a\"", "TypeError", 1, 5, "cannot compare number and string");
    bad("x = 5(1)", "TypeError", 1, 5, "number is not callable");
    bad("x = 1\ny = (2 +\n  x / 0)", "ZeroDivisionError", 3, 3, "division by zero");
    bad("x = 1 // 0", "ZeroDivisionError", 1, 5, "integer division by zero");
    bad("x = 1 % 0", "ZeroDivisionError", 1, 5, "modulo by zero");
    bad("x = 0 ** -1", "ZeroDivisionError", 1, 5, "negative power");
    bad("x = (-8) ** 0.5", "ValueError", 1, 5, "fractional power");
    bad("l = [1, 2]\nl[5]", "IndexError", 2, 3, "list index 5 out of range (length 2)");
    bad("l = [1, 2]\nl[0.5]", "TypeError", 2, 3, "list index must be an integer");
    bad("m = {acc: 1}\nm.acc2", "KeyError", 2, 3, "key 'acc2' not found (did you mean 'acc'?)");
    bad("m = {acc: 1}\nm[\"x\"]", "KeyError", 2, 3, "key 'x' not found");
    bad("m = {acc: 1}\nm[1]", "TypeError", 2, 3, "map keys are strings");
    bad("n = 3\nn.foo", "AttributeError", 2, 3, "number has no member 'foo'");
    bad("5[0]", "TypeError", 1, 1, "number cannot be indexed");
    bad("x = sqrt(-1)", "ValueError", 1, 5, "negative");
    bad("len(1)", "TypeError", 1, 1, "number has no length");
    bad("len(\"a\", 2)", "TypeError", 1, 1, "len() takes 1 argument (got 2)");
    bad("len(x=1)", "TypeError", 1, 1, "unexpected keyword argument 'x'");
    bad("f = len\nf(1, y=2, 3)", "SyntaxError", 2, 11, "positional argument cannot follow");
    bad("prnt \"hi\"", "NameError", 1, 1, "unknown command 'prnt' (did you mean 'print'?)");
    bad("x = print", "NameError", 1, 5, "'print' is a command");
    bad("fail \"bad\" 42", "Failure", 1, 1, "bad 42");
    bad("range(1e9)", "ValueError", 1, 1, "too large");
    bad("range(0, 1, 1e-300)", "ValueError", 1, 1, "(1e+300 items;");
    {
        /* equality past the nesting bound is an error, never a silent wrong answer */
        static char deep[400000];
        size_t n = (size_t)snprintf(deep, sizeof deep, "a = [1]\nc = [1]\n");
        for (int i = 0; i < 10001; i++)
            n += (size_t)snprintf(deep + n, sizeof deep - n, "a = [a]\nc = [c]\n");
        snprintf(deep + n, sizeof deep - n, "q = a == c");
        bad(deep, "ValueError", 20005, 5, "cannot be compared");
        CHECK_STR(result_of("[[1]] == [[1]]"), "true");
    }
    bad("\"ab\" * 1e8", "ValueError", 1, 1, "too large");
    /* a command's argument errors point into the argument */
    bad("print 1 (2 + \"a\")", "TypeError", 1, 9, "cannot add"); /* caret under ( ... ) */
    teardown();
}

static void test_traceback(void)
{
    lb_error err = {0};
    lb_error_set(&err, "NameError", 2, 5, "name '%s' is not defined", "y");
    const char *code = "x = 1\nz = y + 1\n";
    char *t = lb_error_format(&err, code, NULL);
    CHECK_STR(t, "NameError: name 'y' is not defined\n  at line 2, column 5:\n    z = y + 1\n        ^\n");
    free(t);
    t = lb_error_format(&err, code, "cell[3]");
    CHECK(strstr(t, "  at line 2, column 5 of cell[3]:\n"));
    free(t);
    json_t *tb = lb_error_traceback_json(&err, code);
    CHECK_INT(json_array_size(tb), 4);
    CHECK_STR(json_string_value(json_array_get(tb, 0)), "NameError: name 'y' is not defined");
    CHECK_STR(json_string_value(json_array_get(tb, 3)), "        ^");
    json_decref(tb);
    /* carets count code points and span the width; a later locate does not move the error */
    lb_error_set(&err, "TypeError", 1, 6, "bad");
    err.span = 3;
    lb_error_locate(&err, 1, 1, 1);
    t = lb_error_format(&err, "s = \"é\" + 1", NULL);
    CHECK_STR(t, "TypeError: bad\n  at line 1, column 6:\n    s = \"é\" + 1\n         ^^^\n");
    free(t);
    /* no position: one line */
    lb_error_set(&err, "Interrupted", 0, 0, "interrupted by the user");
    lb_error_locate(&err, 3, 2, 1);
    CHECK_INT(err.line, 3);
    lb_error_set(&err, "Interrupted", 0, 0, "interrupted by the user");
    t = lb_error_format(&err, code, NULL);
    CHECK_STR(t, "Interrupted: interrupted by the user\n");
    free(t);
    CHECK(lb_error_is_set(&err));
    lb_error_clear(&err);
    CHECK(!lb_error_is_set(&err));
    CHECK_INT(lb_error_set(NULL, "X", 0, 0, "dropped"), -1);
}

/* ---- cells that fail part-way; atomic assignment ----------------------------------------------- */

static void test_partial_cell_and_atomic_assignment(void)
{
    setup();
    bad("a = 1\nb = a + 1\nc = a / 0\nd = 4", "ZeroDivisionError", 3, 5, "division by zero");
    CHECK_STR(result_of("[a, b]"), "[1, 2]");
    bad("d", "NameError", 1, 1, "name 'd' is not defined");
    bad("c", "NameError", 1, 1, "name 'c' is not defined");
    ok("x = 1");
    bad("x = [2, 1 / 0]", "ZeroDivisionError", 1, 9, "division by zero");
    CHECK_STR(result_of("x"), "1");
    /* output before the failing statement stays */
    reset_rec();
    bad("print \"before\"\nfail \"stop\"\nprint \"after\"", "Failure", 2, 1, "stop");
    CHECK_STR(R.out, "before\n");
    /* a syntax error anywhere runs nothing */
    reset_rec();
    bad("print \"never\"\nx = = 2", "SyntaxError", 2, 5, "unexpected");
    CHECK_STR(R.out, "");
    CHECK_STR(result_of("x"), "1");
    teardown();
}

/* ---- interrupts ---------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Interrupts once the cell has printed (the semaphore of rec.printed): the cell is then past
 * its print, in the sleep that follows. Returns non-NULL when no print came within
 * LB_TEST_LIMIT(60) (it interrupts anyway, so that the cell ends). */
static void *interrupt_when_printed(void *arg)
{
    sem_t *printed = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double limit = LB_TEST_LIMIT(60);
    until.tv_sec += (time_t)limit;
    int rc;
    while ((rc = sem_timedwait(printed, &until)) != 0 && errno == EINTR)
        ;
    lb_interrupt_request();
    return rc == 0 ? NULL : (void *)"no print";
}

static void test_interrupt(void)
{
    setup();
    ok("x = 1\ny = [1, 2]");
    /* an interrupt pending when a cell starts stops it before its first statement (line 1;
     * x keeps its value, and the sleep 600 never runs) */
    lb_interrupt_request();
    CHECK(lb_interrupt_pending());
    bad("x = 2\nsleep 600\ny = 3", "Interrupted", 1, 1, "interrupted by the user");
    lb_interrupt_clear();
    CHECK(!lb_interrupt_pending());
    CHECK_STR(result_of("[x, y]"), "[1, [1, 2]]");
    /* an interrupt arriving during a sleep stops the sleep there (line 3, long before its
     * 600 s), the statements before it kept, the one after it not run */
    sem_t printed;
    CHECK(sem_init(&printed, 0, 0) == 0);
    reset_rec();
    R.printed = &printed;
    pthread_t th;
    void *late = NULL;
    pthread_create(&th, NULL, interrupt_when_printed, &printed);
    double t0 = now_s();
    bad("x = 5\nprint \"in\"\nsleep 600\nx = 6", "Interrupted", 3, 1, "interrupted by the user");
    double took = now_s() - t0;
    pthread_join(th, &late);
    R.printed = NULL;
    sem_destroy(&printed);
    CHECK(late == NULL);
    CHECK(took < 600); /* the sleep was cut short, not run out */
    CHECK_STR(R.out, "in\n");
    lb_interrupt_clear();
    CHECK_STR(result_of("x"), "5");
    lb_error err = {0};
    CHECK_INT(lb_safe_point(IN, &err), 0);
    lb_interrupt_request();
    CHECK_INT(lb_safe_point(IN, &err), -1);
    CHECK_STR(err.ename, "Interrupted");
    CHECK_STR(err.evalue, "interrupted by the user");
    lb_error_clear(&err);
    lb_interrupt_clear();
    teardown();
}

/* ---- bounded work on values that stand for far more than they hold --------------------------- */

/* A list of n references to item (taken). */
static lb_value *shared_list(lb_value *item, size_t n)
{
    lb_value *l = lb_list_new();
    for (size_t i = 0; i < n; i++)
        lb_list_append(l, item);
    lb_decref(item);
    return l;
}

static void test_bounded_values(void)
{
    /* c stands for 10^9 numbers in about 3000 slots */
    lb_value *c = shared_list(shared_list(shared_list(lb_num(0), 1000), 1000), 1000);
    char *t = NULL;
    CHECK_INT(lb_text_within(c, false, 20, SIZE_MAX, false, &t, NULL), 0);
    CHECK_STR(t, "[[[0, 0, 0, 0, 0, 0,");
    free(t);
    t = lb_repr_short(c, 12);
    CHECK_STR(t, "[[[0, 0, ...");
    free(t);
    t = lb_repr(c); /* what a result shows: cut, with what the value is */
    CHECK(t && strlen(t) < LB_SHOW_MAX + 100);
    CHECK(t && strstr(t, "\xe2\x80\xa6 (cut at 1,000,000 characters: a list of 1,000 items)"));
    free(t);
    /* whole texts are untouched; a cut never splits a code point; bytes are a budget too */
    lb_value *s = lb_str("日本語");
    CHECK_INT(lb_text_within(s, true, 3, SIZE_MAX, false, &t, NULL), 1);
    CHECK_STR(t, "日本語");
    free(t);
    CHECK_INT(lb_text_within(s, true, 2, SIZE_MAX, false, &t, NULL), 0);
    CHECK_STR(t, "日本");
    free(t);
    CHECK_INT(lb_text_within(s, false, SIZE_MAX, 7, false, &t, NULL), 0);
    CHECK_STR(t, "\"日本");
    free(t);
    lb_decref(s);
    /* equality: a copy built apart compares in a few thousand steps (shared pairs once) */
    lb_value *c2 = shared_list(shared_list(shared_list(lb_num(0), 1000), 1000), 1000);
    lb_error err = {0};
    CHECK_INT(lb_equal(c, c2, &err), 1);
    /* ... and a difference deep inside is found */
    lb_value *a3 = shared_list(lb_num(0), 999);
    lb_list_append_take(a3, lb_num(1));
    lb_value *b3 = shared_list(lb_incref(lb_list_get(lb_list_get(c, 0), 0)), 999);
    lb_list_append_take(b3, a3);
    lb_value *c3 = shared_list(lb_incref(lb_list_get(c, 0)), 999);
    lb_list_append_take(c3, b3);
    CHECK_INT(lb_equal(c, c3, &err), 0);
    CHECK_INT(lb_equal(c3, c, &err), 0);
    /* a pending interrupt stops a long comparison and a long text */
    lb_value *x = shared_list(lb_num(1), 100000), *y = shared_list(lb_num(1), 100000);
    lb_interrupt_request();
    CHECK_INT(lb_equal(x, y, &err), -1);
    CHECK_STR(err.ename, "Interrupted");
    lb_error_clear(&err);
    CHECK_INT(lb_text_within(x, false, SIZE_MAX, SIZE_MAX, true, &t, &err), -1);
    CHECK_STR(err.ename, "Interrupted");
    lb_error_clear(&err);
    lb_interrupt_clear();
    CHECK_INT(lb_equal(x, y, &err), 1);
    lb_decref(y);
    lb_decref(c);
    lb_decref(c2);
    lb_decref(c3);

    setup();
    ok("a = [0] * 1000\nb = [a] * 1000\nc = [b] * 1000");
    lb_value *minf = lb_interp_builtin(IN, "min");
    lb_interrupt_request();
    CHECK(!minf->u.func.fn(IN, &x, 1, NULL, minf->u.func.data, &err));
    CHECK_STR(err.ename, "Interrupted");
    lb_error_clear(&err);
    lb_interrupt_clear();
    lb_decref(x);
    /* str() refuses a text longer than a string may be, naming the limit */
    bad("s = str(c)", "ValueError", 1, 5,
        "str(): the text of a list of 1,000 items is longer than 10,000,000 bytes");
    CHECK_STR(result_of("str(a) == str([0] * 1000)"), "true");
    /* joining lists or strings is bounded like repetition */
    bad("big = [0] * 6000000\nbig + big", "ValueError", 2, 1,
        "the list would have 12,000,000 items, more than the limit of 10,000,000");
    bad("t = \"ab\" * 3000000\nt + t", "ValueError", 2, 1,
        "the string would have 12,000,000 bytes");
    bad("[0, 1] * 6000000", "ValueError", 1, 1, "more than the limit of 10,000,000");
    CHECK_STR(result_of("len([1] * 5000000 + [2] * 5000000)"), "10000000");
    /* the comparison and the falsy check that hung the kernel */
    CHECK_STR(result_of("c == [[[0] * 1000] * 1000] * 1000"), "true");
    bad("expect not c", "ExpectationFailed", 1, 8, "operand: [[[0, 0, 0,");
    bad("expect c == 0", "ExpectationFailed", 1, 8, "left:  [[[0, 0, 0,");
    /* print and a result show LB_SHOW_MAX characters and say what was left out */
    json_array_clear(R.results);
    ok("[[0] * 10000] * 10005");
    const char *shown = plain_of(json_array_get(R.results, 0));
    CHECK(shown && strlen(shown) < LB_SHOW_MAX + 100);
    CHECK(shown && strstr(shown, "(cut at 1,000,000 characters: a list of 10,005 items)"));
    /* a table shows at most 100 columns, cells of 200 characters and about 1,000,000 in all */
    json_array_clear(R.displays);
    ok("table c");
    json_t *tb = json_object_get(json_array_get(R.displays, 0), "data");
    const char *plain = plain_of(tb);
    CHECK(plain && strlen(plain) < 2 * LB_SHOW_MAX);
    CHECK(plain && strstr(plain, "rows and 100 of 1,000 columns (a table shows at most 1,000 rows, "
                                 "100 columns and 1,000,000 characters)"));
    const char *html = json_string_value(json_object_get(tb, "text/html"));
    CHECK(html && strlen(html) < 3 * LB_SHOW_MAX && strstr(html, "of 1,000 columns"));
    json_array_clear(R.displays);
    ok("table [[1]] * 2000 header=false");
    plain = plain_of(json_object_get(json_array_get(R.displays, 0), "data"));
    CHECK(plain && strstr(plain, "showing 1,000 of 2,000 rows and 1 of 1 columns"));
    json_array_clear(R.displays);
    ok("table [[\"k\"], [\"x\" * 300]]");
    plain = plain_of(json_object_get(json_array_get(R.displays, 0), "data"));
    CHECK(plain && strstr(plain, "xxx\xe2\x80\xa6") && !strstr(plain, "showing"));
    teardown();
}

/* ---- commands ------------------------------------------------------------------------------ */

static void test_print_warn_fail(void)
{
    setup();
    ok("print");
    CHECK_STR(R.out, "\n");
    reset_rec();
    ok("print 1 -1, \"a\"");
    CHECK_STR(R.out, "1 -1 a\n");
    reset_rec();
    ok("n = 3\nwarn \"n is\" n");
    CHECK_STR(R.err, "n is 3\n");
    CHECK_STR(R.out, "");
    bad("fail", "TypeError", 1, 1, "fail needs at least 1 argument (got 0)");
    bad("x = 1\n  fail \"x was\" x", "Failure", 2, 3, "x was 1");
    bad("print 1 bogus=2", "TypeError", 1, 9, "unknown parameter 'bogus' for print (print takes no key=value parameters)");
    teardown();
}

static void test_ask(void)
{
    setup();
    R.answer = "Ada";
    ok("ask name \"Your name: \"");
    CHECK_STR(R.last_prompt, "Your name: ");
    CHECK(!R.last_password);
    CHECK_STR(result_of("name"), "\"Ada\"");
    R.answer = "s3cret";
    ok("ask token password=true");
    CHECK_STR(R.last_prompt, "token: ");
    CHECK(R.last_password);
    CHECK_STR(result_of("token"), "\"s3cret\"");
    bad("ask t password=1", "TypeError", 1, 16, "parameter 'password' of ask must be a bool");
    bad("ask \"x\"", "SyntaxError", 1, 5, "expects a variable name");
    bad("ask t 5", "TypeError", 1, 7, "prompt of ask must be a string");
    R.answer = NULL; /* the front end refuses (allow_stdin false) */
    bad("ask q", "StdinNotImplementedError", 1, 1, "not allowed");
    bad("q", "NameError", 1, 1, "not defined");
    /* no ask callback at all */
    lb_output o = {.ctx = &R, .stream = rec_stream};
    lb_interp_set_output(IN, &o);
    bad("ask q \"?\"", "StdinNotImplementedError", 1, 1, "does not accept input");
    teardown();
}

static void test_sleep(void)
{
    setup();
    double t0 = now_s();
    ok("sleep 0.03");
    double took = now_s() - t0;
    /* it sleeps at least as long as asked, in seconds (0.03 read as milliseconds would come
     * back at once); a slower machine only adds to that. The upper bound is a generous limit
     * (a sleep that does not come back), not a timing. */
    CHECK(took >= 0.029);
    CHECK(took < LB_TEST_LIMIT(10));
    ok("sleep 0");
    bad("sleep \"1\"", "TypeError", 1, 7, "number of seconds");
    bad("sleep -1", "ValueError", 1, 7, "number of seconds");
    bad("sleep", "TypeError", 1, 1, "sleep needs 1 argument");
    bad("sleep 1 2", "TypeError", 1, 9, "sleep takes at most 1 argument");
    teardown();
}

static void test_help(void)
{
    setup();
    ok("help");
    CHECK_INT(json_array_size(R.pages), 1);
    const char *all = plain_of(json_array_get(R.pages, 0));
    CHECK(all && strstr(all, "print VALUE...") && strstr(all, "table ROWS header=true") &&
          strstr(all, "len(x)") && strstr(all, "help NAME"));
    reset_rec();
    ok("help len");
    const char *l = plain_of(json_array_get(R.pages, 0));
    CHECK(l && strstr(l, "len(x)") && strstr(l, "length"));
    json_t *insp = lb_interp_inspect(IN, "n = len(", 8, 0);
    CHECK_STR(plain_of(insp), l);
    json_decref(insp);
    reset_rec();
    ok("help table");
    const char *t = plain_of(json_array_get(R.pages, 0));
    CHECK(t && strstr(t, "header=true  (bool)") && strstr(t, "Example:"));
    reset_rec();
    ok("help \"seed\"");
    CHECK(strstr(plain_of(json_array_get(R.pages, 0)), "seed [N]"));
    ok("v = [1, 2]");
    reset_rec();
    ok("help v");
    CHECK_STR(plain_of(json_array_get(R.pages, 0)), "v: list\n\n[1, 2]\n");
    bad("help pritn", "NameError", 1, 6, "did you mean 'print'?");
    bad("help 1 + 2", "TypeError", 1, 6, "help needs the name");
    teardown();
}

static void test_vars_del(void)
{
    setup();
    ok("vars");
    CHECK_STR(R.out, "no variables defined\n");
    ok("lr = 0.1\nname = \"<b>\"\nbig = range(100)");
    ok("vars");
    CHECK_INT(json_array_size(R.displays), 1);
    json_t *data = json_object_get(json_array_get(R.displays, 0), "data");
    const char *plain = plain_of(data);
    CHECK(plain && strstr(plain, "name  type    value") && strstr(plain, "lr    number  0.1"));
    CHECK(strstr(plain, "[0, 1, 2, 3") && strstr(plain, "..."));
    const char *html = json_string_value(json_object_get(data, "text/html"));
    CHECK(html && strstr(html, "&quot;&lt;b&gt;&quot;"));
    ok("del lr big");
    bad("lr", "NameError", 1, 1, "not defined");
    bad("del name nothere", "NameError", 1, 10, "name 'nothere' is not defined");
    CHECK_STR(result_of("name"), "\"<b>\""); /* nothing deleted */
    bad("del 1", "SyntaxError", 1, 5, "expects a variable name");
    teardown();
}

static void test_clear_table(void)
{
    setup();
    ok("clear wait=true");
    CHECK_INT(R.clears, 1);
    CHECK_INT(R.clear_waits, 1);
    bad("clear 1", "TypeError", 1, 7, "clear takes no positional arguments");
    bad("clear wiat=true", "TypeError", 1, 7, "unknown parameter 'wiat' for clear (did you mean 'wait'?)");
    reset_rec();
    ok("table [[1, \"a|b*\"], [2.5, \"<x>&\"]] header=false");
    json_t *data = json_object_get(json_array_get(R.displays, 0), "data");
    const char *html = json_string_value(json_object_get(data, "text/html"));
    const char *md = json_string_value(json_object_get(data, "text/markdown"));
    CHECK(html && !strstr(html, "<thead>") && strstr(html, "&lt;x&gt;&amp;"));
    CHECK_STR(md, "|  |  |\n| ---: | --- |\n| 1 | a\\|b\\* |\n| 2.5 | \\<x\\>& |");
    CHECK_STR(plain_of(data), "  1  a|b*\n2.5  <x>&");
    reset_rec();
    ok("table [{run: \"a\", acc: 0.912345678}, {run: \"b\", acc: 0.5, extra: 1}]");
    data = json_object_get(json_array_get(R.displays, 0), "data");
    CHECK_STR(plain_of(data), "run       acc\n---  --------\na    0.912346\nb         0.5");
    reset_rec();
    ok("table [[\"epoch\", \"loss\"], [1, 2.25], [10, 0.125], [100]]");
    data = json_object_get(json_array_get(R.displays, 0), "data");
    CHECK_STR(plain_of(data), "epoch   loss\n-----  -----\n    1   2.25\n   10  0.125\n  100");
    bad("table 5", "TypeError", 1, 7, "table needs a list of rows");
    bad("table []", "ValueError", 1, 7, "at least one row");
    bad("table [[1], 2]", "TypeError", 1, 7, "table row 2 must be a list");
    bad("table [[1]] header=\"yes\"", "TypeError", 1, 20, "must be a bool");
    teardown();
}

static void test_table_api(void)
{
    lb_table *t = lb_table_new();
    lb_table_set_header(t, 0, "lr");
    lb_table_set_header(t, 1, "acc");
    long r = lb_table_add_row(t);
    lb_table_set(t, (size_t)r, 0, "0.1", true);
    lb_table_set(t, (size_t)r, 1, "0.9", true);
    lb_table_emphasize(t, (size_t)r, 1, true);
    CHECK_INT(lb_table_rows(t), 1);
    CHECK_INT(lb_table_cols(t), 2);
    json_t *b = lb_table_bundle(t);
    CHECK(strstr(json_string_value(json_object_get(b, "text/html")), "<strong>0.9</strong>"));
    CHECK(strstr(json_string_value(json_object_get(b, "text/markdown")), "**0.9**"));
    CHECK(strstr(json_string_value(json_object_get(b, "text/plain")), "0.9*"));
    json_decref(b);
    lb_table_free(t);
    char buf[48];
    lb_table_format_number(0.1 + 0.2, buf, sizeof buf);
    CHECK_STR(buf, "0.3");
    lb_table_format_number(60000, buf, sizeof buf);
    CHECK_STR(buf, "60000");
    lb_table_format_number(1.23456789e-7, buf, sizeof buf);
    CHECK_STR(buf, "1.23457e-07");
}

static void test_seed_version(void)
{
    setup();
    ok("seed");
    CHECK_STR(R.out, "no seed set\n");
    ok("seed 42");
    bool set = false;
    CHECK_NEAR(lb_interp_seed(IN, &set), 42, 0);
    CHECK(set);
    reset_rec();
    ok("seed");
    CHECK_STR(R.out, "42\n");
    bad("seed 1.5", "ValueError", 1, 6, "non-negative integer");
    bad("seed \"a\"", "TypeError", 1, 6, "non-negative integer");
    reset_rec();
    lb_interp_add_version(IN, "openblas", "0.3.21");
    ok("version");
    CHECK(strstr(R.out, "labbook ") && strstr(R.out, LB_VERSION) && strstr(R.out, "jansson ") &&
          strstr(R.out, JANSSON_VERSION) && strstr(R.out, "openblas  ") && strstr(R.out, "0.3.21"));
    /* a lone command name that is also a variable evaluates the variable */
    ok("seed = 7");
    CHECK_STR(result_of("seed"), "7");
    CHECK_NEAR(lb_interp_seed(IN, NULL), 42, 0);
    ok("seed 3"); /* with arguments it is the command again */
    CHECK_NEAR(lb_interp_seed(IN, NULL), 3, 0);
    teardown();
}

/* ---- builtin functions ------------------------------------------------------------------- */

static void test_functions(void)
{
    setup();
    CHECK_STR(result_of("len(\"héllo\")"), "5");
    CHECK_STR(result_of("len([1, 2, 3])"), "3");
    CHECK_STR(result_of("len({a: 1})"), "1");
    CHECK_STR(result_of("str(0.5) + str([1, \"a\"])"), "\"0.5[1, \\\"a\\\"]\"");
    CHECK_STR(result_of("num(\" 1e-3 \")"), "0.001");
    CHECK_STR(result_of("num(true)"), "1");
    bad("num(\"abc\")", "ValueError", 1, 1, "cannot convert \"abc\" to a number");
    bad("num([1])", "TypeError", 1, 1, "cannot convert list");
    CHECK_STR(result_of("int(-2.7)"), "-2");
    CHECK_STR(result_of("int(\"42\")"), "42");
    CHECK_STR(result_of("round(2.5)"), "3");
    CHECK_STR(result_of("round(3.14159, 2)"), "3.14");
    CHECK_STR(result_of("round(3.14159, digits=3)"), "3.142");
    CHECK_STR(result_of("round(1234, -2)"), "1200");
    bad("round(1, 0.5)", "ValueError", 1, 1, "digits must be an integer");
    CHECK_STR(result_of("abs(-3)"), "3");
    CHECK_STR(result_of("min(3, 1, 2)"), "1");
    CHECK_STR(result_of("max([0.1, 0.7, 0.3])"), "0.7");
    CHECK_STR(result_of("max(\"a\", \"c\", \"b\")"), "\"c\"");
    bad("min([])", "ValueError", 1, 1, "empty list");
    bad("min(1, \"a\")", "TypeError", 1, 1, "cannot compare");
    bad("min(5)", "TypeError", 1, 1, "needs a list");
    CHECK_STR(result_of("range(4)"), "[0, 1, 2, 3]");
    CHECK_STR(result_of("range(1, 10, 3)"), "[1, 4, 7]");
    CHECK_STR(result_of("range(5, 0, -2)"), "[5, 3, 1]");
    CHECK_STR(result_of("range(0)"), "[]");
    bad("range(1, 2, 0)", "ValueError", 1, 1, "step must not be zero");
    CHECK_STR(result_of("sqrt(16)"), "4");
    CHECK_STR(result_of("exp(0)"), "1");
    CHECK_STR(result_of("log(exp(2))"), "2");
    CHECK_STR(result_of("log(8, 2)"), "3");
    CHECK_STR(result_of("log(100, base=10)"), "2");
    bad("log(0)", "ValueError", 1, 1, "not positive");
    bad("log(8, 1)", "ValueError", 1, 1, "base");
    CHECK_STR(result_of("keys({b: 1, a: 2})"), "[\"b\", \"a\"]");
    bad("keys([1])", "TypeError", 1, 1, "needs a map");
    CHECK_STR(result_of("type(1) + type(\"\") + type([]) + type({}) + type(none) + type(true) + type(len)"),
              "\"numberstringlistmapnoneboolfunction\"");
    CHECK_STR(result_of("len"), "<function len(x)>");
    /* user variables shadow builtin functions */
    ok("len = 3");
    CHECK_STR(result_of("len + 1"), "4");
    ok("del len");
    CHECK_STR(result_of("len([1])"), "1");
    teardown();
}

/* ---- is_complete, completion, inspection --------------------------------------------------- */

static json_t *complete(const char *code, size_t *start)
{
    size_t s = 99, e = 99;
    json_t *m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK_INT(e, strlen(code));
    if (start)
        *start = s;
    return m;
}

static bool has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void test_is_complete(void)
{
    setup();
    CHECK_INT(lb_interp_is_complete(IN, "print \"hello\""), LB_CODE_COMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "x = 1\ny = 2"), LB_CODE_COMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, ""), LB_CODE_COMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "m = f("), LB_CODE_INCOMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "x = [1,\n 2,"), LB_CODE_INCOMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "print \"a\" \\"), LB_CODE_INCOMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "print \"abc"), LB_CODE_INCOMPLETE);
    CHECK_INT(lb_interp_is_complete(IN, "x = = 1"), LB_CODE_INVALID);
    CHECK_INT(lb_interp_is_complete(IN, "print )"), LB_CODE_INVALID);
    CHECK_INT(lb_interp_is_complete(IN, "x = (1]"), LB_CODE_INVALID);
    CHECK_INT(lb_interp_is_complete(IN, "prnt \"x\""), LB_CODE_COMPLETE); /* runs, then reports */
    teardown();
}

static void test_completion(void)
{
    setup();
    size_t start;
    json_t *m = complete("pri", &start);
    char *s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"print\"]");
    free(s);
    CHECK_INT(start, 0);
    json_decref(m);
    /* after `help `: commands and builtin functions */
    m = complete("help ", &start);
    CHECK_INT(start, 5);
    CHECK(has(m, "print") && has(m, "table") && has(m, "len") && has(m, "vars"));
    CHECK(!has(m, "true"));
    json_decref(m);
    m = complete("help ta", NULL);
    s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"table\"]");
    free(s);
    json_decref(m);
    /* names from earlier executes */
    ok("learning_rate = 0.1\nlayers = [1]");
    m = complete("x = lea", &start);
    s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"learning_rate\"]");
    free(s);
    CHECK_INT(start, 4);
    json_decref(m);
    m = complete("la", NULL);
    CHECK(has(m, "layers") && !has(m, "learning_rate"));
    json_decref(m);
    m = complete("l", NULL);
    CHECK(has(m, "layers") && has(m, "learning_rate") && has(m, "len") && has(m, "log"));
    json_decref(m);
    /* keywords */
    m = complete("x = tr", NULL);
    CHECK(has(m, "true"));
    json_decref(m);
    m = complete("x = a a", NULL);
    CHECK(has(m, "and"));
    json_decref(m);
    /* members after name. */
    ok("cfg = {lr: 0.1, layers: 2, opt: {name: \"sgd\", momentum: 0.9}}");
    m = complete("print cfg.l", &start);
    s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"layers\",\"lr\"]");
    free(s);
    CHECK_INT(start, 10);
    json_decref(m);
    m = complete("cfg.opt.", NULL);
    s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"momentum\",\"name\"]");
    free(s);
    json_decref(m);
    /* key=value parameters of a command */
    m = complete("table rows ", NULL);
    CHECK(has(m, "header=") && has(m, "cfg") && has(m, "len"));
    json_decref(m);
    m = complete("table rows head", NULL); /* ("he" also completes the function heatmap) */
    s = json_dumps(m, JSON_COMPACT);
    CHECK_STR(s, "[\"header=\"]");
    free(s);
    json_decref(m);
    m = complete("ask ", NULL);
    CHECK(has(m, "password=") && has(m, "cfg") && !has(m, "len"));
    json_decref(m);
    /* nothing inside a string */
    m = complete("print \"pri", NULL);
    CHECK_INT(json_array_size(m), 0);
    json_decref(m);
    /* second line of a cell */
    m = complete("x = 1\npri", &start);
    CHECK(has(m, "print"));
    CHECK_INT(start, 6);
    json_decref(m);
    teardown();
}

static void test_inspect(void)
{
    setup();
    ok("acc = [0.5, 0.75]");
    json_t *b = lb_interp_inspect(IN, "print acc", 7, 0);
    CHECK_STR(plain_of(b), "acc: list\n\n[0.5, 0.75]\n");
    json_decref(b);
    b = lb_interp_inspect(IN, "x = sqrt", 8, 0);
    CHECK(strstr(plain_of(b), "sqrt(x)"));
    json_decref(b);
    b = lb_interp_inspect(IN, "table", 2, 0);
    CHECK(strstr(plain_of(b), "table ROWS header=true"));
    CHECK(json_object_get(b, "text/markdown") != NULL);
    json_decref(b);
    ok("cfg = {opt: {lr: 0.5}}");
    b = lb_interp_inspect(IN, "print cfg.opt.lr + 1", 15, 0);
    CHECK_STR(plain_of(b), "lr: number\n\n0.5\n");
    json_decref(b);
    CHECK(lb_interp_inspect(IN, "cfg.nope", 6, 0) == NULL);
    CHECK(lb_interp_inspect(IN, "unknown_thing", 3, 0) == NULL);
    CHECK(lb_interp_inspect(IN, "   ", 1, 0) == NULL);
    teardown();
}

static void test_eval_bundle(void)
{
    setup();
    ok("x = 6 * 7");
    lb_error err = {0};
    json_t *b = lb_interp_eval_bundle(IN, "x + 1", &err);
    CHECK_STR(plain_of(b), "43");
    json_decref(b);
    b = lb_interp_eval_bundle(IN, "nope", &err);
    CHECK(b == NULL);
    CHECK_STR(err.ename, "NameError");
    lb_error_clear(&err);
    b = lb_interp_eval_bundle(IN, "x = 2", &err);
    CHECK(b == NULL);
    CHECK_STR(err.ename, "SyntaxError");
    lb_error_clear(&err);
    teardown();
}

/* ---- the command API, as plugins use it ------------------------------------------------------ */

typedef struct {
    int size;
} box;

static char *box_repr(const lb_value *self)
{
    char *s = NULL;
    if (asprintf(&s, "<box %d>", ((box *)self->u.obj.data)->size) < 0)
        return NULL;
    return s;
}

static int box_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    (void)err;
    (void)metadata;
    char html[64];
    snprintf(html, sizeof html, "<b>box %d</b>", ((box *)self->u.obj.data)->size);
    json_object_set_new(bundle, "text/html", json_string(html));
    return 0;
}

static lb_value *box_member(lb_value *self, const char *name, lb_error *err)
{
    if (strcmp(name, "size") == 0)
        return lb_num(((box *)self->u.obj.data)->size);
    lb_error_set(err, "AttributeError", 0, 0, "box has no member '%s'", name);
    return NULL;
}

static json_t *box_members(const lb_value *self)
{
    (void)self;
    return json_pack("[s]", "size");
}

static const lb_class box_class = {.name = "box", .free = free, .repr = box_repr,
                                   .display = box_display, .member = box_member,
                                   .members = box_members};

static int conv2d_handler(lb_cmd_call *call, lb_error *err)
{
    const char *name = lb_call_arg_name(call, 0, err);
    if (!name)
        return -1;
    lb_value *ch = lb_call_param(call, "channels", err);
    if (!ch)
        return -1;
    box *b = malloc(sizeof *b);
    b->size = (int)ch->u.num;
    lb_decref(ch);
    lb_value *v = lb_object_new(&box_class, b);
    int r = lb_interp_set(call->in, name, v);
    lb_decref(v);
    return r;
}

static const lb_param conv2d_params[] = {
    {"channels", LB_PARAM_INT, "16", "output channels"},
    {"kernel", LB_PARAM_INT, "3", "kernel size"},
    {0}};
static const lb_command conv2d_cmd = {.name = "conv2d", .synopsis = "conv2d NAME channels=16 kernel=3",
                                      .doc = "Makes a box.", .params = conv2d_params,
                                      .min_args = 1, .max_args = 1, .hint = LB_ARGS_VARIABLES,
                                      .handler = conv2d_handler};


static lb_value *twice(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)kw, (void)d;
    if (n != 1 || a[0]->kind != LB_NUM) {
        lb_error_set(err, "TypeError", 0, 0, "twice() needs one number");
        return NULL;
    }
    return lb_num(a[0]->u.num * 2);
}

/* `label NAME = expr` (like `model`): a plugin-style command whose key=value names are free (the parser
 * reads `net = twice(2)` after a verb as a key=value argument). */
static int model_handler(lb_cmd_call *call, lb_error *err)
{
    if (call->nkwargs != 1 || call->nargs != 0)
        return lb_node_error(err, call->node, "SyntaxError", "usage: label NAME = EXPRESSION");
    const lb_node *kw = call->kwargs[0];
    lb_value *v = lb_call_eval(call, kw->kids[0], err);
    if (!v)
        return -1;
    int r = lb_interp_set(call->in, kw->text, v);
    lb_decref(v);
    return r;
}

static const lb_command model_cmd = {.name = "label", .synopsis = "label NAME = EXPRESSION",
                                     .doc = "Names a model.", .max_args = -1,
                                     .flags = LB_CMD_OPEN_KEYWORDS, .handler = model_handler};

static void test_open_keywords(void)
{
    setup();
    lb_error err = {0};
    CHECK_INT(lb_interp_register_command(IN, &model_cmd, &err), 0);
    CHECK_INT(lb_interp_register_function(IN, "twice", "twice(x)", "Doubles x.", twice, NULL, &err), 0);
    ok("label net = twice(21)");
    CHECK_STR(result_of("net"), "42");
    bad("label net", "SyntaxError", 1, 1, "usage: label NAME = EXPRESSION");
    bad("label net = twice(\"a\")", "TypeError", 1, 13, "twice() needs one number");
    CHECK_STR(result_of("net"), "42");
    teardown();
}

static void test_command_api(void)
{
    setup();
    lb_error err = {0};
    CHECK_INT(lb_interp_register_command(IN, &conv2d_cmd, &err), 0);
    CHECK_INT(lb_interp_register_command(IN, &conv2d_cmd, &err), -1);
    CHECK(strstr(err.evalue, "already registered"));
    lb_error_clear(&err);
    CHECK_INT(lb_interp_register_function(IN, "twice", "twice(x)", "Doubles x.", twice, NULL, &err), 0);
    CHECK_INT(lb_interp_register_function(IN, "len", "len(x)", "dup", twice, NULL, &err), -1);
    lb_error_clear(&err);
    bad("conv2d c chanels=8", "TypeError", 1, 10, "unknown parameter 'chanels' for conv2d (did you mean 'channels'?)");
    bad("conv2d c channels=8 channels=9", "SyntaxError", 1, 21, "given twice");
    bad("conv2d c channels=2.5", "TypeError", 1, 19, "parameter 'channels' of conv2d must be an integer");
    ok("conv2d c");
    CHECK_STR(result_of("c.size"), "16");
    ok("conv2d c channels=twice(4)");
    CHECK_STR(result_of("c.size"), "8");
    reset_rec();
    ok("c");
    json_t *res = json_array_get(R.results, 0);
    CHECK_STR(plain_of(res), "<box 8>");
    CHECK_STR(json_string_value(json_object_get(res, "text/html")), "<b>box 8</b>");
    CHECK_STR(result_of("type(c)"), "\"box\"");
    CHECK_STR(result_of("keys(c)"), "[\"size\"]");
    bad("c.weight", "AttributeError", 1, 3, "box has no member 'weight'");
    json_t *m = complete("c.", NULL);
    CHECK(has(m, "size"));
    json_decref(m);
    m = complete("conv2d c ", NULL);
    CHECK(has(m, "channels=") && has(m, "kernel=") && has(m, "c"));
    json_decref(m);
    m = complete("tw", NULL);
    CHECK(has(m, "twice"));
    json_decref(m);
    reset_rec();
    ok("help conv2d");
    CHECK(strstr(plain_of(json_array_get(R.pages, 0)), "channels=16  (integer)  output channels"));
    ok("vars");
    teardown();
}

static void test_deep_and_long(void)
{
    setup();
    /* a long left-deep chain is fine up to the tree limit, then a SyntaxError, never a crash */
    size_t n = 900;
    char *code = malloc(n * 2 + 8);
    strcpy(code, "1");
    for (size_t i = 1; i < n; i++)
        strcat(code, "+1");
    CHECK_STR(result_of(code), "900");
    free(code);
    n = 100000;
    code = malloc(n * 2 + 8);
    strcpy(code, "1");
    for (size_t i = 1; i < n; i++)
        strcat(code + 2 * i - 2, "+1");
    lb_error err = {0};
    CHECK_INT(lb_interp_execute(IN, code, true, &err), -1);
    CHECK_STR(err.ename, "SyntaxError");
    CHECK(strstr(err.evalue, "too deeply nested or too long"));
    lb_error_clear(&err);
    CHECK_INT(lb_interp_is_complete(IN, code), LB_CODE_INVALID);
    free(code);
    /* deep nesting of brackets, unary operators and not */
    const char *units[] = {"[", "(", "-", "not "};
    for (size_t u = 0; u < 4; u++) {
        size_t len = strlen(units[u]);
        code = malloc(len * 50000 + 8);
        code[0] = '\0';
        char *w = code;
        for (size_t i = 0; i < 50000; i++, w += len)
            memcpy(w, units[u], len);
        strcpy(w, "1");
        CHECK_INT(lb_interp_execute(IN, code, true, &err), -1);
        CHECK_STR(err.ename, "SyntaxError");
        CHECK(strstr(err.evalue, "nested"));
        lb_error_clear(&err);
        free(code);
    }
    /* a value nested 20000 deep (one statement per level) is freed without recursion */
    code = malloc(20000 * 10 + 16);
    strcpy(code, "x = 0\n");
    char *w = code + strlen(code);
    for (int i = 0; i < 20000; i++, w += 8)
        memcpy(w, "x = [x]\n", 8);
    strcpy(w, "y = x\nx == y");
    CHECK_STR(result_of(code), "true");
    free(code);
    ok("x = 0");
    ok("del y");
    teardown();
}

/* ---- many executions, silent interpreter ----------------------------------------------------- */

static void test_many_executions(void)
{
    setup();
    for (int i = 0; i < 2000; i++) {
        lb_error err = {0};
        char code[256];
        snprintf(code, sizeof code,
                 "x = %d\ny = [x, \"s\", {k: x * 2}]\nz = y[2].k + len(str(y))\nprint x\nz", i);
        CHECK_INT(lb_interp_execute(IN, code, true, &err), 0);
        lb_error_clear(&err);
        CHECK_INT(lb_interp_execute(IN, "q = 1 / 0", true, &err), -1);
        lb_error_clear(&err);
        if (i % 100 == 0)
            reset_rec();
    }
    teardown();
    lb_interp *silent = lb_labbook_new(NULL);
    lb_error err = {0};
    CHECK_INT(lb_interp_execute(silent, "print 1\ntable [[1]]\nhelp\nclear\nx = 2\nx", true, &err), 0);
    CHECK_INT(lb_interp_execute(silent, "ask x", true, &err), -1);
    CHECK_STR(err.ename, "StdinNotImplementedError");
    lb_error_clear(&err);
    lb_interp_free(silent);
}

int main(void)
{
    RUN(test_issue_snippets);
    RUN(test_values_and_repr);
    RUN(test_value_api);
    RUN(test_errors_and_positions);
    RUN(test_traceback);
    RUN(test_partial_cell_and_atomic_assignment);
    RUN(test_interrupt);
    RUN(test_bounded_values);
    RUN(test_print_warn_fail);
    RUN(test_ask);
    RUN(test_sleep);
    RUN(test_help);
    RUN(test_vars_del);
    RUN(test_clear_table);
    RUN(test_table_api);
    RUN(test_seed_version);
    RUN(test_functions);
    RUN(test_is_complete);
    RUN(test_completion);
    RUN(test_inspect);
    RUN(test_eval_bundle);
    RUN(test_command_api);
    RUN(test_open_keywords);
    RUN(test_deep_and_long);
    RUN(test_many_executions);
    return CHECK_SUMMARY();
}
