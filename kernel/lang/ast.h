/* ast.h — the syntax tree the parser builds and the evaluator walks. Every node carries the
 * position (line, column in code points, width) of the text it came from, so that errors
 * point at the offending token. Command handlers receive their argument nodes unevaluated. */
#ifndef LB_AST_H
#define LB_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "lang/lexer.h"

typedef enum {
    /* expressions */
    LB_N_NUM,     /* num */
    LB_N_STR,     /* text (decoded), text_len */
    LB_N_BOOL,    /* num: 1 or 0 */
    LB_N_NONE,
    LB_N_NAME,    /* text: the name */
    LB_N_LIST,    /* kids: the items */
    LB_N_MAP,     /* kids: LB_N_KEYWORD pairs (text: key, kids[0]: value) */
    LB_N_UNARY,   /* op: TK_MINUS or TK_PLUS; kids[0] */
    LB_N_NOT,     /* kids[0] */
    LB_N_BINARY,  /* op: TK_PLUS ... TK_POW; kids[0], kids[1] */
    LB_N_AND,     /* kids[0], kids[1] */
    LB_N_OR,      /* kids[0], kids[1] */
    LB_N_COMPARE, /* kids[0..n], ops[0..n-2]: a chain a < b <= c */
    LB_N_CALL,    /* kids[0]: callee; kids[1..]: arguments (LB_N_KEYWORD for key=value) */
    LB_N_MEMBER,  /* kids[0]: object; text: member name */
    LB_N_INDEX,   /* kids[0]: object; kids[1]: index */
    LB_N_KEYWORD, /* text: key; kids[0]: value (call / command keyword args, map entries) */
    /* statements */
    LB_N_ASSIGN,  /* text: name; kids[0]: value */
    LB_N_COMMAND, /* text: verb; kids: arguments (expressions and LB_N_KEYWORD) */
    LB_N_EXPR,    /* kids[0]: the expression */
    LB_N_BLOCK    /* kids: statements of a cell */
} lb_node_kind;

typedef struct lb_node lb_node;
struct lb_node {
    lb_node_kind kind;
    int line, col; /* 1-based; col in code points */
    int span;      /* width in code points of the node's text on its first line (>= 1) */
    int end_line, end_col; /* position just after the node */
    size_t start, end;     /* byte range in the source */
    lb_tok_kind op;
    double num;
    char *text;
    size_t text_len;
    lb_node **kids;
    size_t nkids, kids_cap;
    lb_tok_kind *ops; /* LB_N_COMPARE */
    bool lone;        /* LB_N_COMMAND: just the verb, no arguments */
    int key_line, key_col; /* LB_N_KEYWORD / LB_N_ASSIGN / LB_N_MEMBER: position of the name */
    int height;            /* 1 + the height of the tallest child (bounds recursion) */
};

/* The tallest expression tree the parser accepts (`1+1+...+1` with 1000 operators is fine;
 * much more is a SyntaxError rather than a risk to the stack). */
#define LB_MAX_TREE_HEIGHT 1000

void lb_node_free(lb_node *n);

#endif
