/* eval.h — internal to the language: the interpreter's state and the tree-walking evaluator
 * shared by interp.c, eval.c, complete.c and the builtin commands. Front ends use interp.h;
 * commands and plugins use commands.h. */
#ifndef LB_EVAL_H
#define LB_EVAL_H

#include <jansson.h>

#include "lang/ast.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "lang/value.h"

struct lb_interp {
    lb_output out;       /* all callbacks NULL for a silent interpreter */
    lb_value *globals;   /* map name -> value: the user's variables */
    lb_value *builtins;  /* map name -> builtin function */
    lb_commands *cmds;
    double seed;
    bool seed_set;
    json_t *versions;    /* {library: version} for `version` */
    struct lb_registry *plugins; /* loaded plugins, their types and commands (plugins.h) */
    lb_value *runs;      /* every run of the session, a list of run values (train.h) */
};

/* Evaluates an expression node: new reference, or NULL with *err located at the node. */
lb_value *lb_eval(lb_interp *in, const lb_node *n, lb_error *err);

/* Runs one statement. When result is non-NULL and the statement is a bare expression (or a
 * lone command name that is also a variable), *result receives its value (new reference);
 * otherwise *result is set to NULL. Returns 0 or -1 with *err. */
int lb_exec(lb_interp *in, const lb_node *stmt, lb_value **result, lb_error *err);

/* One link of a comparison chain, exactly as the evaluator applies it: *out = a OP b, where OP
 * (TK_EQ ... TK_GE) is structural equality for == and != and an order on two numbers, two
 * strings or two bools for < <= > >=. Returns 0, or -1 with *err positioned at n (the
 * comparison node): a TypeError for values that cannot be ordered. (expect.c reuses it.) */
int lb_compare(const lb_node *n, lb_tok_kind op, const lb_value *a, const lb_value *b, bool *out,
               lb_error *err);
/* The text of an operator token: "+", "**", "<=", ... ("?" for other tokens). */
const char *lb_op_text(lb_tok_kind op);

/* Looks a name up (variables first, then builtin functions): borrowed, NULL if unknown. */
lb_value *lb_lookup(lb_interp *in, const char *name);

/* Sets a NameError for an unknown name with a "did you mean" when one is close. */
int lb_name_error(lb_interp *in, const char *name, const lb_node *at, lb_error *err);

/* Help text of a builtin function (plain / markdown), malloc'd. */
char *lb_function_doc_text(const lb_value *fn);
char *lb_function_doc_markdown(const lb_value *fn);

#endif
