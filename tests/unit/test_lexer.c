/* test_lexer.c — unit tests of the labbook tokenizer: every token kind, positions (line and
 * column in code points), escapes, continuation rules, and every lexical error, including the
 * "incomplete" ones that is_complete relies on, and source text that is not UTF-8. */
#include <stdlib.h>

#include "check.h"
#include "lang/lexer.h"

static lb_tokens lex_ok(const char *code)
{
    lb_tokens t;
    lb_error err = {0};
    bool inc = true;
    int r = lb_lex(code, &t, &err, &inc);
    CHECK_INT(r, 0);
    CHECK(!inc);
    if (r != 0) {
        fprintf(stderr, "  lex error: %s: %s\n", err.ename, err.evalue ? err.evalue : "");
        memset(&t, 0, sizeof t);
    }
    lb_error_clear(&err);
    return t;
}

/* Lexes code expecting an error; checks its position and incomplete flag, returns the message. */
static void lex_err(const char *code, int line, int col, bool incomplete, const char *needle)
{
    lb_tokens t;
    lb_error err = {0};
    bool inc = !incomplete;
    CHECK_INT(lb_lex(code, &t, &err, &inc), -1);
    CHECK_STR(err.ename, "SyntaxError");
    CHECK_INT(err.line, line);
    CHECK_INT(err.col, col);
    CHECK_INT(inc, incomplete);
    if (!err.evalue || !strstr(err.evalue, needle)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\" (code %s)\n", err.evalue ? err.evalue : "",
                needle, code);
        CHECK(0);
    }
    lb_error_clear(&err);
}

static void test_names_numbers_strings(void)
{
    lb_tokens t = lex_ok("abc _x1 42 0.5 1e-3 .5 2E+2 7. \"s\" 'q'");
    lb_tok_kind want[] = {TK_NAME, TK_NAME, TK_NUMBER, TK_NUMBER, TK_NUMBER, TK_NUMBER,
                          TK_NUMBER, TK_NUMBER, TK_STRING, TK_STRING, TK_NEWLINE, TK_EOF};
    CHECK_INT(t.len, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < t.len && i < sizeof want / sizeof want[0]; i++)
        CHECK_INT(t.items[i].kind, want[i]);
    if (t.len >= 10) {
        CHECK_STR(t.items[0].text, "abc");
        CHECK_STR(t.items[1].text, "_x1");
        CHECK_NEAR(t.items[2].num, 42, 0);
        CHECK_NEAR(t.items[3].num, 0.5, 0);
        CHECK_NEAR(t.items[4].num, 1e-3, 1e-18);
        CHECK_NEAR(t.items[5].num, 0.5, 0);
        CHECK_NEAR(t.items[6].num, 200, 0);
        CHECK_NEAR(t.items[7].num, 7, 0);
        CHECK_STR(t.items[8].text, "s");
        CHECK_STR(t.items[9].text, "q");
        CHECK_INT(t.items[0].col, 1);
        CHECK_INT(t.items[1].col, 5);
        CHECK_INT(t.items[2].col, 9);
        CHECK(t.items[1].space_before);
    }
    lb_tokens_free(&t);
}

static void test_operators(void)
{
    lb_tokens t = lex_ok("+ - * / // % ** == != < <= > >= = , . : ( ) [ ] { }");
    lb_tok_kind want[] = {TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_DSLASH, TK_PERCENT, TK_POW,
                          TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE, TK_ASSIGN, TK_COMMA,
                          TK_DOT, TK_COLON, TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET,
                          TK_LBRACE, TK_RBRACE, TK_NEWLINE, TK_EOF};
    CHECK_INT(t.len, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < t.len && i < sizeof want / sizeof want[0]; i++)
        CHECK_INT(t.items[i].kind, want[i]);
    lb_tokens_free(&t);
    /* no spaces: longest match */
    t = lex_ok("a**-b//c<=d");
    lb_tok_kind want2[] = {TK_NAME, TK_POW, TK_MINUS, TK_NAME, TK_DSLASH, TK_NAME, TK_LE, TK_NAME,
                           TK_NEWLINE, TK_EOF};
    CHECK_INT(t.len, sizeof want2 / sizeof want2[0]);
    for (size_t i = 0; i < t.len && i < sizeof want2 / sizeof want2[0]; i++)
        CHECK_INT(t.items[i].kind, want2[i]);
    if (t.len > 2)
        CHECK(!t.items[1].space_before);
    lb_tokens_free(&t);
}

static void test_escapes(void)
{
    lb_tokens t = lex_ok("\"a\\nb\\tc\\\\d\\\"e\\'f\\u00e9\\u20ac\" 'it\\'s \"x\"'");
    CHECK_INT(t.items[0].kind, TK_STRING);
    CHECK_STR(t.items[0].text, "a\nb\tc\\d\"e'f\xc3\xa9\xe2\x82\xac");
    CHECK_INT(t.items[0].text_len, strlen("a\nb\tc\\d\"e'f\xc3\xa9\xe2\x82\xac"));
    CHECK_STR(t.items[1].text, "it's \"x\"");
    lb_tokens_free(&t);
}

static void test_positions_code_points(void)
{
    /* é is two bytes but one column */
    lb_tokens t = lex_ok("s = \"é\" + x\n  y");
    CHECK_INT(t.items[0].col, 1);
    CHECK_INT(t.items[2].col, 5);  /* the string */
    CHECK_INT(t.items[2].width, 3);
    CHECK_INT(t.items[3].col, 9);  /* + */
    CHECK_INT(t.items[4].col, 11); /* x */
    CHECK_INT(t.items[5].kind, TK_NEWLINE);
    CHECK_INT(t.items[6].line, 2);
    CHECK_INT(t.items[6].col, 3);
    lb_tokens_free(&t);
}

static void test_newlines_comments_continuation(void)
{
    /* blank lines and comments vanish; newlines inside brackets are ignored */
    lb_tokens t = lex_ok("\n\n# only a comment\nx = [1,\n  2]  # trailing\n\n\ny = (3 +\n4)\n");
    size_t newlines = 0;
    for (size_t i = 0; i < t.len; i++)
        newlines += t.items[i].kind == TK_NEWLINE;
    CHECK_INT(newlines, 2);
    CHECK_INT(t.items[0].kind, TK_NAME);
    CHECK_INT(t.items[0].line, 4);
    lb_tokens_free(&t);
    /* trailing backslash joins lines */
    t = lex_ok("print 1 \\\n  2");
    CHECK_INT(t.len, 5); /* print 1 2 NEWLINE EOF */
    CHECK_INT(t.items[2].line, 2);
    CHECK_INT(t.items[2].col, 3);
    lb_tokens_free(&t);
    /* empty input: just EOF */
    t = lex_ok("");
    CHECK_INT(t.len, 1);
    CHECK_INT(t.items[0].kind, TK_EOF);
    lb_tokens_free(&t);
}

static void test_errors(void)
{
    lex_err("x = \"abc", 1, 5, true, "unterminated string");
    lex_err("x = 'abc", 1, 5, true, "unterminated string");
    lex_err("x = \"abc\ny = 2", 1, 5, false, "cannot span lines");
    lex_err("m = f(", 1, 6, true, "never closed");
    lex_err("m = [1, {a: (2", 1, 13, true, "never closed");
    lex_err("print \"a\" \\", 1, 11, true, "end of input");
    lex_err("print 1 \\ 2", 1, 9, false, "after line continuation");
    lex_err("x = (1]", 1, 7, false, "does not match");
    lex_err("x = 1 $ 2", 1, 7, false, "unexpected character '$'");
    lex_err("x = é", 1, 5, false, "unexpected character 'é'");
    lex_err("x = !y", 1, 5, false, "use 'not'");
    lex_err("s = \"a\\qb\"", 1, 7, false, "invalid escape '\\q'");
    lex_err("s = \"\\u12\"", 1, 6, false, "4 hex digits");
    lex_err("s = \"\\ud800\"", 1, 6, false, "surrogate");
    lex_err("n = 12abc", 1, 5, false, "invalid number '12abc'");
    lex_err("n = 1.2.3", 1, 5, false, "invalid number");
    /* source that is not UTF-8 (a Latin-1 "é", a cut sequence, a lone continuation byte, an
     * encoded surrogate), in a string, a comment or anywhere: refused at its code point */
    lex_err("x = 1\ns = \"caf\xe9\"", 2, 9, false, "invalid UTF-8 (byte 0xE9): labbook source text is UTF-8");
    lex_err("# \xc3\xa9t\xe9\nx = 1", 1, 5, false, "invalid UTF-8 (byte 0xE9)");
    lex_err("s = \"\xe1\x8bo\"", 1, 6, false, "invalid UTF-8 (byte 0xE1)");
    lex_err("\x80", 1, 1, false, "invalid UTF-8 (byte 0x80)");
    lex_err("s = \"\xed\xa0\x80\"", 1, 6, false, "invalid UTF-8 (byte 0xED)");
}

int main(void)
{
    RUN(test_names_numbers_strings);
    RUN(test_operators);
    RUN(test_escapes);
    RUN(test_positions_code_points);
    RUN(test_newlines_comments_continuation);
    RUN(test_errors);
    return CHECK_SUMMARY();
}
