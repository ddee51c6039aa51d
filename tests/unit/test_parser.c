/* test_parser.c — unit tests of the labbook parser: statement kinds, operator precedence and
 * associativity, postfix forms, literals, command argument splitting, unknown commands with
 * "did you mean", syntax errors with line and column, and the command table itself. */
#include <stdlib.h>

#include "check.h"
#include "lang/commands.h"
#include "lang/parser.h"

static int dummy(lb_cmd_call *call, lb_error *err)
{
    (void)call, (void)err;
    return 0;
}

static const lb_param train_params[] = {{"epochs", LB_PARAM_INT, "5", "passes"},
                                        {"lr", LB_PARAM_ANY, "0.01", "rate"},
                                        {0}};
static const lb_command test_cmds[] = {
    {.name = "print", .synopsis = "print VALUE...", .max_args = -1, .handler = dummy},
    {.name = "plot", .synopsis = "plot RUNS METRIC...", .max_args = -1, .handler = dummy},
    {.name = "train", .synopsis = "train ...", .params = train_params, .max_args = -1,
     .flags = LB_CMD_RESULT, .handler = dummy},
    {.name = "runs", .synopsis = "runs", .max_args = 0, .flags = LB_CMD_RESULT, .handler = dummy},
};

static lb_commands *table(void)
{
    lb_commands *c = lb_commands_new();
    lb_error err = {0};
    for (size_t i = 0; i < sizeof test_cmds / sizeof test_cmds[0]; i++)
        CHECK_INT(lb_commands_register(c, &test_cmds[i], &err), 0);
    lb_error_clear(&err);
    return c;
}

/* ---- an S-expression dump of a tree ---------------------------------------------------------- */

static void dump(const lb_node *n, char *buf, size_t size)
{
    char tmp[1024];
    size_t len = strlen(buf);
    if (len >= size - 1)
        return;
    char *o = buf + len;
    size_t room = size - len;
    switch (n->kind) {
    case LB_N_NUM: snprintf(o, room, "%g", n->num); return;
    case LB_N_STR: snprintf(o, room, "'%s'", n->text); return;
    case LB_N_BOOL: snprintf(o, room, "%s", n->num ? "true" : "false"); return;
    case LB_N_NONE: snprintf(o, room, "none"); return;
    case LB_N_NAME: snprintf(o, room, "%s", n->text); return;
    default: break;
    }
    const char *head = "?";
    tmp[0] = '\0';
    switch (n->kind) {
    case LB_N_LIST: head = "list"; break;
    case LB_N_MAP: head = "map"; break;
    case LB_N_UNARY: head = n->op == TK_MINUS ? "neg" : "pos"; break;
    case LB_N_NOT: head = "not"; break;
    case LB_N_AND: head = "and"; break;
    case LB_N_OR: head = "or"; break;
    case LB_N_COMPARE: head = "cmp"; break;
    case LB_N_CALL: head = "call"; break;
    case LB_N_INDEX: head = "index"; break;
    case LB_N_EXPR: head = "expr"; break;
    case LB_N_BLOCK: head = "block"; break;
    case LB_N_MEMBER: snprintf(tmp, sizeof tmp, "member.%s", n->text); head = tmp; break;
    case LB_N_KEYWORD: snprintf(tmp, sizeof tmp, "%s=", n->text); head = tmp; break;
    case LB_N_ASSIGN: snprintf(tmp, sizeof tmp, "assign %s", n->text); head = tmp; break;
    case LB_N_COMMAND: snprintf(tmp, sizeof tmp, "cmd %s%s", n->text, n->lone ? " lone" : ""); head = tmp; break;
    case LB_N_BINARY:
        switch (n->op) {
        case TK_PLUS: head = "+"; break;
        case TK_MINUS: head = "-"; break;
        case TK_STAR: head = "*"; break;
        case TK_SLASH: head = "/"; break;
        case TK_DSLASH: head = "//"; break;
        case TK_PERCENT: head = "%"; break;
        case TK_POW: head = "**"; break;
        default: break;
        }
        break;
    default: break;
    }
    snprintf(o, room, "(%s", head);
    for (size_t i = 0; i < n->nkids; i++) {
        strncat(buf, " ", size - strlen(buf) - 1);
        if (n->kind == LB_N_COMPARE && i > 0) {
            static const char *names[] = {"==", "!=", "<", "<=", ">", ">="};
            int k = (int)n->ops[i - 1] - (int)TK_EQ;
            strncat(buf, names[k], size - strlen(buf) - 1);
            strncat(buf, " ", size - strlen(buf) - 1);
        }
        dump(n->kids[i], buf, size);
    }
    strncat(buf, ")", size - strlen(buf) - 1);
}

static void parses(lb_commands *cmds, const char *code, const char *want)
{
    lb_error err = {0};
    lb_node *b = lb_parse(code, cmds, &err, NULL);
    if (!b) {
        fprintf(stderr, "  parse of \"%s\" failed: %s: %s\n", code, err.ename, err.evalue);
        CHECK(0);
        lb_error_clear(&err);
        return;
    }
    char buf[4096] = "";
    for (size_t i = 0; i < b->nkids; i++) {
        if (i)
            strcat(buf, " ; ");
        dump(b->kids[i], buf, sizeof buf);
    }
    CHECK_STR(buf, want);
    lb_node_free(b);
}

static void fails(lb_commands *cmds, const char *code, const char *ename, int line, int col,
                  const char *needle)
{
    lb_error err = {0};
    bool inc = false;
    lb_node *b = lb_parse(code, cmds, &err, &inc);
    CHECK(b == NULL);
    lb_node_free(b);
    CHECK_STR(err.ename, ename);
    CHECK_INT(err.line, line);
    CHECK_INT(err.col, col);
    if (!err.evalue || !strstr(err.evalue, needle)) {
        fprintf(stderr, "  \"%s\": message \"%s\" lacks \"%s\"\n", code, err.evalue ? err.evalue : "",
                needle);
        CHECK(0);
    }
    lb_error_clear(&err);
}

static void test_precedence(void)
{
    lb_commands *c = table();
    parses(c, "1 + 2 * 3", "(expr (+ 1 (* 2 3)))");
    parses(c, "(1 + 2) * 3", "(expr (* (+ 1 2) 3))");
    parses(c, "1 - 2 - 3", "(expr (- (- 1 2) 3))");
    parses(c, "8 / 4 // 2 % 3", "(expr (% (// (/ 8 4) 2) 3))");
    parses(c, "2 ** 3 ** 2", "(expr (** 2 (** 3 2)))");
    parses(c, "-2 ** 2", "(expr (neg (** 2 2)))");
    parses(c, "2 ** -1", "(expr (** 2 (neg 1)))");
    parses(c, "-a * +b", "(expr (* (neg a) (pos b)))");
    parses(c, "a + b == c * d", "(expr (cmp (+ a b) == (* c d)))");
    parses(c, "1 < x <= 3", "(expr (cmp 1 < x <= 3))");
    parses(c, "a != b and c >= d", "(expr (and (cmp a != b) (cmp c >= d)))");
    parses(c, "not a == b", "(expr (not (cmp a == b)))");
    parses(c, "a or b and not c", "(expr (or a (and b (not c))))");
    parses(c, "a or b or c", "(expr (or (or a b) c))");
    parses(c, "not not a", "(expr (not (not a)))");
    parses(c, "x > 1 or y < 2 and z", "(expr (or (cmp x > 1) (and (cmp y < 2) z)))");
    lb_commands_free(c);
}

static void test_postfix_literals(void)
{
    lb_commands *c = table();
    parses(c, "f(1, key=2)", "(expr (call f 1 (key= 2)))");
    parses(c, "f()", "(expr (call f))");
    parses(c, "a.b.c", "(expr (member.c (member.b a)))");
    parses(c, "a[1][2]", "(expr (index (index a 1) 2))");
    parses(c, "m.f(x)[0] ** 2", "(expr (** (index (call (member.f m) x) 0) 2))");
    parses(c, "-a.b ** 2", "(expr (neg (** (member.b a) 2)))");
    parses(c, "[1, 'a', true, false, none, [], {}]", "(expr (list 1 'a' true false none (list) (map)))");
    parses(c, "{lr: 0.1, \"batch size\": 64,}", "(expr (map (lr= 0.1) (batch size= 64)))");
    parses(c, "[1,\n 2,\n]", "(expr (list 1 2))");
    lb_commands_free(c);
}

static void test_statements(void)
{
    lb_commands *c = table();
    parses(c, "x = 6 * 7", "(assign x (* 6 7))");
    parses(c, "x = 1\ny = x\n\nx", "(assign x 1) ; (assign y x) ; (expr x)");
    parses(c, "print \"hello, world\"", "(cmd print 'hello, world')");
    parses(c, "print", "(cmd print lone)");
    /* a command name followed by = is an assignment */
    parses(c, "print = 3", "(assign print 3)");
    parses(c, "plot runs loss valid.acc", "(cmd plot runs loss (member.acc valid))");
    parses(c, "train a b on f epochs=5 lr=[0.1, 0.01]",
           "(cmd train a b on f (epochs= 5) (lr= (list 0.1 0.01)))");
    parses(c, "print a, b, c", "(cmd print a b c)");
    /* NAME = a command that gives a value, when an argument follows the verb */
    parses(c, "runs = train a on f lr=[0.1]", "(assign runs (cmd train a on f (lr= (list 0.1))))");
    parses(c, "x = train(1)", "(assign x (call train 1))");
    parses(c, "x = runs", "(assign x runs)");
    fails(c, "x = print 1", "SyntaxError", 1, 11, "after the assigned value"); /* not a value command */
    /* a command name followed by '.' is a variable: runs.best(...) */
    parses(c, "runs.best(\"valid.acc\").test.acc",
           "(expr (member.acc (member.test (call (member.best runs) 'valid.acc'))))");
    parses(c, "runs", "(cmd runs lone)");
    /* whitespace splits command arguments: -1 and [2] and (3) start new ones */
    parses(c, "print 1 -1 [2] (3)", "(cmd print 1 (neg 1) (list 2) 3)");
    parses(c, "print a - 1 a-1 f(2) a[0]", "(cmd print (- a 1) (- a 1) (call f 2) (index a 0))");
    parses(c, "print (1 +\n  2) x", "(cmd print (+ 1 2) x)");
    parses(c, "print 1 \\\n  2", "(cmd print 1 2)");
    parses(c, "print x == 1 not y", "(cmd print (cmp x == 1) (not y))");
    /* inside brackets whitespace does not split */
    parses(c, "print [a -1, f (2)]", "(cmd print (list (- a 1) (call f 2)))");
    parses(c, "# comment only\n", "");
    parses(c, "", "");
    lb_commands_free(c);
}

static void test_unknown_command(void)
{
    lb_commands *c = table();
    fails(c, "x = 1\nprnt \"hi\"", "NameError", 2, 1, "unknown command 'prnt' (did you mean 'print'?)");
    fails(c, "plto runs", "NameError", 1, 1, "did you mean 'plot'?");
    fails(c, "frobnicate 3", "NameError", 1, 1, "unknown command 'frobnicate'");
    fails(c, "x {a: 1}", "NameError", 1, 1, "unknown command 'x'");
    fails(c, "x true", "NameError", 1, 1, "unknown command 'x'");
    /* a name followed by an operator is an expression */
    parses(c, "x and y", "(expr (and x y))");
    parses(c, "x (1)", "(expr (call x 1))");
    lb_commands_free(c);
}

static void test_syntax_errors(void)
{
    lb_commands *c = table();
    fails(c, "x = = 1", "SyntaxError", 1, 5, "unexpected '='");
    fails(c, "print )", "SyntaxError", 1, 7, "unexpected ')'");
    fails(c, "x = 1 2", "SyntaxError", 1, 7, "one statement per line");
    fails(c, "a\nb = (1 + )", "SyntaxError", 2, 10, "expected an expression");
    fails(c, "x =", "SyntaxError", 1, 4, "expected a value after '='");
    fails(c, "1 + 2 = 3", "SyntaxError", 1, 7, "cannot assign to an expression");
    fails(c, "true = 1", "SyntaxError", 1, 1, "cannot assign to keyword 'true'");
    fails(c, "f(x=1", "SyntaxError", 1, 2, "never closed");
    fails(c, "[1 2]", "SyntaxError", 1, 4, "expected ',' or ']'");
    fails(c, "{1: 2}", "SyntaxError", 1, 2, "map key");
    fails(c, "{a 2}", "SyntaxError", 1, 4, "expected ':'");
    fails(c, "a.", "SyntaxError", 1, 3, "member name");
    fails(c, "()", "SyntaxError", 1, 2, "expected an expression");
    fails(c, "x = and", "SyntaxError", 1, 5, "keyword 'and'");
    fails(c, "train epochs=", "SyntaxError", 1, 14, "expected a value after 'epochs='");
    fails(c, "print 1 = 2", "SyntaxError", 1, 9, "use '==' to compare");
    parses(c, "print x = 1", "(cmd print (x= 1))"); /* a key=value; the schema check is at run time */
    fails(c, "print 1,", "SyntaxError", 1, 9, "after ','");
    /* nesting limit instead of a stack overflow */
    char deep[2048];
    memset(deep, '(', 1000);
    deep[1000] = '1';
    memset(deep + 1001, ')', 1000);
    deep[2001] = '\0';
    lb_error err = {0};
    lb_node *b = lb_parse(deep, c, &err, NULL);
    CHECK(b == NULL);
    CHECK(err.evalue && strstr(err.evalue, "nested"));
    lb_error_clear(&err);
    lb_commands_free(c);
}

static void test_positions(void)
{
    lb_commands *c = table();
    lb_error err = {0};
    lb_node *b = lb_parse("x = 1\n  y = foo(1, 2) + 3", c, &err, NULL);
    CHECK(b != NULL);
    if (b) {
        CHECK_INT(b->nkids, 2);
        const lb_node *s = b->kids[1];
        CHECK_INT(s->line, 2);
        CHECK_INT(s->col, 3);
        const lb_node *sum = s->kids[0];
        CHECK_INT(sum->col, 7);
        CHECK_INT(sum->span, 13); /* foo(1, 2) + 3 */
        CHECK_INT(sum->kids[0]->col, 7);
        CHECK_INT(sum->kids[0]->span, 9);
        CHECK_INT(sum->kids[1]->col, 19);
    }
    lb_node_free(b);
    lb_commands_free(c);
}

static void test_expression_entry(void)
{
    lb_error err = {0};
    lb_node *e = lb_parse_expression("a + 1", &err);
    CHECK(e && e->kind == LB_N_BINARY);
    lb_node_free(e);
    e = lb_parse_expression("a b", &err);
    CHECK(e == NULL);
    CHECK_STR(err.ename, "SyntaxError");
    lb_error_clear(&err);
    e = lb_parse_expression("  ", &err);
    CHECK(e == NULL);
    lb_error_clear(&err);
}

static void test_command_table(void)
{
    lb_commands *c = table();
    lb_error err = {0};
    CHECK_INT(lb_commands_count(c), 4);
    CHECK_STR(lb_commands_at(c, 0)->name, "plot"); /* sorted */
    CHECK(lb_commands_find(c, "train") == &test_cmds[2]);
    CHECK(lb_commands_find(c, "tran") == NULL);
    CHECK_INT(lb_commands_register(c, &test_cmds[0], &err), -1);
    CHECK_STR(err.ename, "RegistrationError");
    CHECK(strstr(err.evalue, "'print'") && strstr(err.evalue, "already registered"));
    lb_error_clear(&err);
    static const lb_command bad_name = {.name = "not", .handler = dummy};
    CHECK_INT(lb_commands_register(c, &bad_name, &err), -1);
    CHECK(strstr(err.evalue, "keyword"));
    lb_error_clear(&err);
    static const lb_command no_handler = {.name = "zap"};
    CHECK_INT(lb_commands_register(c, &no_handler, &err), -1);
    CHECK(strstr(err.evalue, "no handler"));
    lb_error_clear(&err);
    static const lb_param dup[] = {{"a", LB_PARAM_ANY, NULL, NULL}, {"a", LB_PARAM_ANY, NULL, NULL}, {0}};
    static const lb_command dup_params = {.name = "zap", .params = dup, .handler = dummy};
    CHECK_INT(lb_commands_register(c, &dup_params, &err), -1);
    CHECK(strstr(err.evalue, "listed twice"));
    lb_error_clear(&err);
    CHECK_INT(lb_commands_count(c), 4);
    CHECK_STR(lb_commands_suggest(c, "pirnt"), "print");
    CHECK_STR(lb_commands_suggest(c, "trian"), "train");
    CHECK(lb_commands_suggest(c, "xyz") == NULL);
    CHECK_INT(lb_edit_distance("chanels", "channels"), 1);
    CHECK_INT(lb_edit_distance("CA", "AC"), 1);
    CHECK_INT(lb_edit_distance("kitten", "sitting"), 3);
    const char *cands[] = {"x", "channels", "kernel"};
    CHECK(lb_suggest("y", cands, 3) == NULL);
    CHECK_STR(lb_suggest("chanels", cands, 3), "channels");
    CHECK_STR(lb_param_type_name(LB_PARAM_INT), "integer");
    char *doc = lb_command_doc_text(&test_cmds[2]);
    CHECK(doc && strstr(doc, "epochs=5  (integer)  passes"));
    free(doc);
    lb_commands_free(c);
}

int main(void)
{
    RUN(test_precedence);
    RUN(test_postfix_literals);
    RUN(test_statements);
    RUN(test_unknown_command);
    RUN(test_syntax_errors);
    RUN(test_positions);
    RUN(test_expression_entry);
    RUN(test_command_table);
    return CHECK_SUMMARY();
}
