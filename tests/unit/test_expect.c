/* test_expect.c — the `expect CONDITION ["message"]` command (kernel/lang/expect.c) through a whole
 * interpreter: passing checks are silent; a false comparison fails with ExpectationFailed and
 * a message showing the condition and both sides exactly (round-trip digits, nan, strings,
 * cut long values), chains naming the failing link and evaluating each operand once, bare
 * falsy values, `not`, the optional message, the error's line and column, errors inside the
 * condition passing through unchanged, the cell's earlier lines keeping their effects, the
 * condition re-printed canonically from the tree, and help. */
#include <stdlib.h>

#include "check.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "interp_harness.h"
#include "lang/value.h"

static char PAGE[8192];

static void rec_page(void *ctx, json_t *data)
{
    (void)ctx;
    const char *t = json_string_value(json_object_get(data, "text/plain"));
    snprintf(PAGE, sizeof PAGE, "%s", t ? t : "");
}

/* tick(): how many times it has been called (to see that each operand is evaluated once). */
static int TICKS;

static lb_value *tick(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)a, (void)n, (void)kw, (void)d, (void)err;
    return lb_num(++TICKS);
}

static void setup(void)
{
    harness_start((lb_output){.stream = rec_stream, .page = rec_page});
    PAGE[0] = '\0';
    TICKS = 0;
    lb_error err = {0};
    CHECK(lb_interp_register_function(IN, "tick", "tick()", "Counts its calls.", tick, NULL, &err) == 0);
    lb_error_clear(&err);
}

static void teardown(void)
{
    harness_stop();
}

/* Runs code that must fail with ExpectationFailed, and checks the whole message and where the
 * error points (line, column, caret width). */
static void fails(const char *code, const char *message, int line, int col, int span)
{
    int r = run(code);
    CHECK_INT(r, -1);
    CHECK_STR(ERR.ename, "ExpectationFailed");
    CHECK_STR(ERR.evalue, message);
    CHECK_INT(ERR.line, line);
    CHECK_INT(ERR.col, col);
    if (span > 0)
        CHECK_INT(ERR.span, span);
    if (r != -1 || strcmp(ERR.ename, "ExpectationFailed") != 0 || ERR.line != line || ERR.col != col)
        fprintf(stderr, "    for: %s\n    got %s at %d:%d\n", code, ERR.ename, ERR.line, ERR.col);
}

/* Runs code that must succeed without printing anything. */
static void silent(const char *code)
{
    OUT[0] = '\0';
    int r = run(code);
    if (r != 0)
        fprintf(stderr, "    \"%s\" failed: %s: %s\n", code, ERR.ename, ERR.evalue ? ERR.evalue : "");
    CHECK_INT(r, 0);
    CHECK_STR(OUT, "");
}

/* ---- passing checks ------------------------------------------------------------------------- */

static void test_passing_is_silent(void)
{
    setup();
    CHECK(lb_commands_find(lb_interp_commands(IN), "expect") != NULL);
    silent("acc = 0.91\nexpect acc > 0.85");
    silent("expect 0.5 <= acc <= 1");
    silent("expect 1 < 2 < 3 <= 3 != 4 == 4 >= 0");
    silent("expect true");
    silent("expect 1, \"one is truthy\"");
    silent("expect \"abc\" < \"abd\"");
    silent("expect [1, {a: \"x\"}] == [1, {a: \"x\"}]");
    silent("expect not 0");
    silent("expect not []");
    silent("expect 1 and \"x\"");
    silent("expect 0 or [0]");
    silent("expect num(\"nan\") != num(\"nan\")");
    silent("expect len([1, 2]) == 2, \"two items\"");
    silent("expect (acc > 0.5)");
    silent("expect {a: {b: 3}}.a.b == 3");
    silent("expect true, \"a\" + \"b\"");
    CHECK_STR(OUT, "");
    teardown();
}

/* ---- failing comparisons -------------------------------------------------------------------- */

static void test_failing_comparison(void)
{
    setup();
    CHECK(run("runs = {test: {acc: 0.8312}}") == 0);
    fails("expect runs.test.acc > 0.85",
          "expect failed: runs.test.acc > 0.85\n  left:  0.8312\n  right: 0.85", 1, 8, 20);
    fails("x = 3\nexpect x == 4", "expect failed: x == 4\n  left:  3\n  right: 4", 2, 8, 6);
    fails("expect 2 != 2", "expect failed: 2 != 2\n  left:  2\n  right: 2", 1, 8, 6);
    fails("expect 5 <= 4", "expect failed: 5 <= 4\n  left:  5\n  right: 4", 1, 8, 6);
    fails("expect 1 >= 2", "expect failed: 1 >= 2\n  left:  1\n  right: 2", 1, 8, 6);
    fails("expect 2 < 1", "expect failed: 2 < 1\n  left:  2\n  right: 1", 1, 8, 5);
    /* == on numbers: round-trip digits, so the difference shows */
    fails("expect 0.1 + 0.2 == 0.3",
          "expect failed: 0.1 + 0.2 == 0.3\n  left:  0.30000000000000004\n  right: 0.3", 1, 8, 16);
    fails("expect 1 / 3 == 0.33333333",
          "expect failed: 1 / 3 == 0.33333333\n  left:  0.3333333333333333\n  right: 0.33333333", 1,
          8, 19);
    fails("expect 2 ** 53 + 1 == 2 ** 53 + 2",
          "expect failed: 2 ** 53 + 1 == 2 ** 53 + 2\n  left:  9007199254740992\n"
          "  right: 9007199254740994",
          1, 8, 26);
    fails("expect 1e20 == 1.5E+20", "expect failed: 1e+20 == 1.5e+20\n  left:  1e+20\n  right: 1.5e+20",
          1, 8, 15);
    /* lists, maps, none, bools, types that differ */
    fails("expect [1, 2] == [1, 2, 3]",
          "expect failed: [1, 2] == [1, 2, 3]\n  left:  [1, 2]\n  right: [1, 2, 3]", 1, 8, 19);
    fails("expect {a: 1} == none", "expect failed: {a: 1} == none\n  left:  {a: 1}\n  right: none", 1,
          8, 14);
    fails("expect \"1\" == 1", "expect failed: \"1\" == 1\n  left:  \"1\"\n  right: 1", 1, 8, 8);
    fails("expect true < false", "expect failed: true < false\n  left:  true\n  right: false", 1, 8,
          12);
    /* each operand is evaluated once, and what it gave is shown */
    fails("expect tick() > 5", "expect failed: tick() > 5\n  left:  1\n  right: 5", 1, 8, 10);
    CHECK_INT(TICKS, 1);
    teardown();
}

static void test_chains(void)
{
    setup();
    CHECK(run("acc = 1.2") == 0);
    fails("expect 0.5 <= acc <= 1",
          "expect failed: 0.5 <= acc <= 1 (acc <= 1 is false)\n  left:  1.2\n  right: 1", 1, 8, 15);
    CHECK(run("acc = 0.2") == 0);
    fails("expect 0.5 <= acc <= 1",
          "expect failed: 0.5 <= acc <= 1 (0.5 <= acc is false)\n  left:  0.5\n  right: 0.2", 1, 8,
          15);
    fails("expect 1 == 1 < 0 < nope",
          "expect failed: 1 == 1 < 0 < nope (1 < 0 is false)\n  left:  1\n  right: 0", 1, 8, 17);
    /* operands in order, each once, stopping at the false link (`nope` is never looked up) */
    TICKS = 0;
    fails("expect 0 < tick() < tick() < 2 < tick()",
          "expect failed: 0 < tick() < tick() < 2 < tick() (tick() < 2 is false)\n  left:  2\n"
          "  right: 2",
          1, 8, 0);
    CHECK_INT(TICKS, 2);
    TICKS = 0;
    silent("expect 0 < tick() < tick() < tick() == 3");
    CHECK_INT(TICKS, 3);
    teardown();
}

/* ---- other conditions --------------------------------------------------------------------- */

static void test_bare_values(void)
{
    setup();
    CHECK(run("done = false\nn = num(\"nan\")\nempty = []") == 0);
    fails("expect done", "expect failed: done\n  value: false", 1, 8, 4);
    fails("expect 0", "expect failed: 0\n  value: 0", 1, 8, 1);
    fails("expect none", "expect failed: none\n  value: none", 1, 8, 4);
    fails("expect \"\"", "expect failed: \"\"\n  value: \"\"", 1, 8, 2);
    fails("expect empty", "expect failed: empty\n  value: []", 1, 8, 5);
    fails("expect {}", "expect failed: {}\n  value: {}", 1, 8, 2);
    fails("expect n", "expect failed: n\n  value: nan", 1, 8, 1);
    fails("expect len(empty)", "expect failed: len(empty)\n  value: 0", 1, 8, 10);
    fails("expect 1 and 0", "expect failed: 1 and 0\n  value: 0", 1, 8, 7);
    fails("expect done or empty", "expect failed: done or empty\n  value: []", 1, 8, 13);
    fails("expect not [1, 2]", "expect failed: not [1, 2]\n  operand: [1, 2]", 1, 8, 10);
    fails("expect not 1 < 2", "expect failed: not 1 < 2\n  operand: true", 1, 8, 9);
    /* a bare comparison inside `and` is just a value */
    fails("expect 1 < 2 and 3 < 2", "expect failed: 1 < 2 and 3 < 2\n  value: false", 1, 8, 15);
    teardown();
}

static void test_nan(void)
{
    setup();
    CHECK(run("n = num(\"nan\")") == 0);
    fails("expect n > 1", "expect failed: n > 1\n  left:  nan\n  right: 1", 1, 8, 5);
    fails("expect n <= 1", "expect failed: n <= 1\n  left:  nan\n  right: 1", 1, 8, 6);
    fails("expect n == n", "expect failed: n == n\n  left:  nan\n  right: nan", 1, 8, 6);
    fails("expect 0 < n < 1", "expect failed: 0 < n < 1 (0 < n is false)\n  left:  0\n  right: nan",
          1, 8, 9);
    fails("expect [n] == [n]", "expect failed: [n] == [n]\n  left:  [nan]\n  right: [nan]", 1, 8, 10);
    teardown();
}

static void test_strings(void)
{
    setup();
    CHECK(run("name = \"alice\"\ns = \"a\\nb \\\"q\\\"\"") == 0);
    fails("expect name == \"bob\"", "expect failed: name == \"bob\"\n  left:  \"alice\"\n  right: \"bob\"",
          1, 8, 13);
    fails("expect name > \"b\"", "expect failed: name > \"b\"\n  left:  \"alice\"\n  right: \"b\"", 1,
          8, 10);
    fails("expect s == 'a'", "expect failed: s == \"a\"\n  left:  \"a\\nb \\\"q\\\"\"\n  right: \"a\"", 1,
          8, 8);
    fails("expect \"日本\" == \"日本語\"",
          "expect failed: \"日本\" == \"日本語\"\n  left:  \"日本\"\n  right: \"日本語\"", 1, 8, 13);
    /* a long value is cut (400 code points, "..." at the end) */
    CHECK(run("expect range(1000) == []") == -1);
    CHECK_STR(ERR.ename, "ExpectationFailed");
    const char *left = ERR.evalue ? strstr(ERR.evalue, "  left:  [0, 1, 2,") : NULL;
    const char *right = ERR.evalue ? strstr(ERR.evalue, "...\n  right: []") : NULL;
    CHECK(left && right && right - (left + 9) == 397);
    teardown();
}

static void test_message(void)
{
    setup();
    fails("loss = 1.3\nexpect loss < 1, \"the loss should fall below 1\"",
          "the loss should fall below 1\nexpect failed: loss < 1\n  left:  1.3\n  right: 1", 2, 8, 8);
    fails("expect loss < 1 \"no comma\"", "no comma\nexpect failed: loss < 1\n  left:  1.3\n  right: 1",
          1, 8, 8);
    fails("expect false, \"at \" + str(loss)", "at 1.3\nexpect failed: false\n  value: false", 1, 8, 5);
    /* the message must be a string, and is evaluated every time */
    CHECK(run("x = 3\nexpect x -1 < 0") == -1);
    CHECK(err_has("TypeError", "the message of expect must be a string, got bool"));
    CHECK(err_has("TypeError", "`x -1` is two arguments, `x` and `-1`; write `x - 1`"));
    CHECK_INT(ERR.line, 2);
    CHECK_INT(ERR.col, 10);
    CHECK(run("expect 1 < 2, 3") == -1);
    CHECK(err_has("TypeError", "must be a string, got number"));
    CHECK_INT(ERR.col, 15);
    CHECK(run("expect true, nope") == -1);
    CHECK(err_has("NameError", "name 'nope' is not defined"));
    CHECK_INT(ERR.col, 14);
    /* arity: one condition, one message */
    CHECK(run("expect") == -1);
    CHECK(err_has("TypeError", "usage: expect CONDITION [\"message\"]"));
    CHECK(run("expect 1 \"a\" \"b\"") == -1);
    CHECK(err_has("TypeError", "expect takes at most 2 arguments (got 3)"));
    CHECK(run("expect 1 level=2") == -1);
    CHECK(err_has("TypeError", "unknown parameter 'level' for expect"));
    teardown();
}

/* ---- positions, errors inside, state -------------------------------------------------------- */

static void test_position(void)
{
    setup();
    /* the error points at the condition: its line, its column, its width */
    fails("a = 1\n\n# check\nexpect   a + 1 >= 3 # comment",
          "expect failed: a + 1 >= 3\n  left:  2\n  right: 3", 4, 10, 10);
    fails("l = [1, 2]\nexpect l == [1,\n  3]", "expect failed: l == [1, 3]\n  left:  [1, 2]\n  right: [1, 3]",
          2, 8, 0);
    fails("s = \"é\"\nexpect s + \"x\" == \"é\"",
          "expect failed: s + \"x\" == \"é\"\n  left:  \"éx\"\n  right: \"é\"", 2, 8, 14);
    /* the traceback has the caret under the condition */
    CHECK(run("v = 2\nexpect v > 3") == -1);
    char *tb = lb_error_format(&ERR, "v = 2\nexpect v > 3", NULL);
    CHECK_STR(tb, "ExpectationFailed: expect failed: v > 3\n  left:  2\n  right: 3\n"
                  "  at line 2, column 8:\n    expect v > 3\n           ^^^^^\n");
    free(tb);
    teardown();
}

static void test_errors_propagate(void)
{
    setup();
    CHECK(run("expect nope > 1") == -1);
    CHECK(err_has("NameError", "name 'nope' is not defined"));
    CHECK_INT(ERR.line, 1);
    CHECK_INT(ERR.col, 8);
    CHECK_INT(ERR.span, 4);
    CHECK(run("x = 1\nexpect 0 < x < nope") == -1);
    CHECK(err_has("NameError", "name 'nope' is not defined"));
    CHECK_INT(ERR.line, 2);
    CHECK_INT(ERR.col, 16);
    CHECK(run("expect nope") == -1);
    CHECK(err_has("NameError", "name 'nope' is not defined"));
    CHECK(run("expect not nope") == -1);
    CHECK(err_has("NameError", "name 'nope' is not defined"));
    CHECK_INT(ERR.col, 12);
    /* the same TypeError the evaluator gives, at the same place */
    CHECK(run("expect \"a\" < 1") == -1);
    CHECK_STR(ERR.ename, "TypeError");
    CHECK_STR(ERR.evalue, "cannot compare string and number with <");
    CHECK_INT(ERR.col, 8);
    CHECK(run("y = \"a\" < 1") == -1);
    CHECK_STR(ERR.evalue, "cannot compare string and number with <");
    CHECK_INT(ERR.col, 5);
    CHECK(run("expect 1 / 0 > 1") == -1);
    CHECK(err_has("ZeroDivisionError", "division by zero"));
    CHECK(run("expect sqrt(-1) > 0") == -1);
    CHECK(err_has("ValueError", "sqrt"));
    CHECK(run("expect {a: 1}.b == 1") == -1);
    CHECK(err_has("KeyError", "key 'b' not found"));
    teardown();
}

static void test_state_kept(void)
{
    setup();
    OUT[0] = '\0';
    CHECK(run("a = 1\nprint \"before\"\nexpect a > 1\nb = 2\nprint \"after\"") == -1);
    CHECK_STR(ERR.ename, "ExpectationFailed");
    CHECK_INT(ERR.line, 3);
    CHECK_STR(OUT, "before\n");
    lb_value *a = lb_interp_get(IN, "a");
    CHECK(a && a->kind == LB_NUM && a->u.num == 1);
    CHECK(lb_interp_get(IN, "b") == NULL);
    /* the interpreter goes on as before */
    silent("a = 5\nexpect a > 1");
    teardown();
}

/* ---- the condition as text ---------------------------------------------------------------- */

/* `expect false and (EXPR)` never evaluates EXPR: the message shows how it is re-printed. */
static void shows(const char *expr, const char *want)
{
    char code[1024], msg[900];
    snprintf(code, sizeof code, "expect false and (%s)", expr);
    int r = run(code);
    CHECK_INT(r, -1);
    const char *p = ERR.evalue ? strstr(ERR.evalue, "expect failed: false and ") : NULL;
    const char *e = p ? strstr(p, "\n  value: false") : NULL;
    if (!p || !e) {
        fprintf(stderr, "    %s: %s\n", expr, ERR.evalue ? ERR.evalue : "(no error)");
        CHECK(0);
        return;
    }
    p += strlen("expect failed: false and ");
    snprintf(msg, sizeof msg, "%.*s", (int)(e - p), p);
    CHECK_STR(msg, want);
    /* the canonical text reads back as the same expression */
    snprintf(code, sizeof code, "expect false and %s", msg);
    CHECK_INT(run(code), -1);
    CHECK(ERR.evalue && strstr(ERR.evalue, msg));
}

static void test_condition_text(void)
{
    setup();
    shows("a   <  b", "a < b");
    shows("a.b(1, k = 2)[0].c", "a.b(1, k=2)[0].c");
    shows("[1, -2, {a: 'x', \"b c\": 0.5, \"not\": none, \"if\": true}]",
          "[1, -2, {a: \"x\", \"b c\": 0.5, \"not\": none, if: true}]");
    shows("-2 ** 2", "-2 ** 2");
    shows("(-2) ** 2", "(-2) ** 2");
    shows("2 ** -1", "2 ** -1");
    shows("2 ** 3 ** 2", "2 ** 3 ** 2");
    shows("(2 ** 3) ** 2", "(2 ** 3) ** 2");
    shows("1 - (2 - 3)", "1 - (2 - 3)");
    shows("(1 - 2) - 3", "1 - 2 - 3");
    shows("(1 + 2) * 3 // 4 % 5 / 6", "(1 + 2) * 3 // 4 % 5 / 6");
    shows("- -1", "- -1");
    shows("-(1 + x)", "-(1 + x)");
    shows("(3).x", "(3).x");
    shows("not not a", "not not a");
    shows("(not a) == b", "(not a) == b");
    shows("(a < b) == c", "(a < b) == c");
    shows("a < b < c", "a < b < c");
    shows("a or b and c", "(a or b and c)"); /* an `or` needs brackets right of `and` */
    shows("(a or b) and c", "((a or b) and c)");
    shows("a and b", "(a and b)");
    shows("x[1 + 1]", "x[1 + 1]");
    shows("f(g(1), [h])(2)", "f(g(1), [h])(2)");
    shows("1e-3 + 1.50", "0.001 + 1.5");
    shows("\"tab\\there\"", "\"tab\\there\"");
    teardown();
}

static void test_help(void)
{
    setup();
    CHECK(run("help expect") == 0);
    CHECK(strstr(PAGE, "expect CONDITION [\"message\"]") != NULL);
    CHECK(strstr(PAGE, "ExpectationFailed") != NULL);
    CHECK(strstr(PAGE, "expect 0.5 <= acc <= 1") != NULL);
    CHECK(run("help") == 0);
    CHECK(strstr(PAGE, "expect CONDITION") != NULL);
    teardown();
}

static void test_many_executions(void)
{
    setup();
    for (int i = 0; i < 500; i++) {
        char code[256];
        snprintf(code, sizeof code, "x = %d\nexpect 0 <= x < 1000, \"in range\"\nexpect [x] == [x + 1]", i);
        CHECK_INT(run(code), -1);
        CHECK_STR(ERR.ename, "ExpectationFailed");
    }
    teardown();
}

int main(void)
{
    RUN(test_passing_is_silent);
    RUN(test_failing_comparison);
    RUN(test_chains);
    RUN(test_bare_values);
    RUN(test_nan);
    RUN(test_strings);
    RUN(test_message);
    RUN(test_position);
    RUN(test_errors_propagate);
    RUN(test_state_kept);
    RUN(test_condition_text);
    RUN(test_help);
    RUN(test_many_executions);
    return CHECK_SUMMARY();
}
