/* interp_state.h — internal to the language: the interpreter's state and the tree-walking
 * evaluator (eval.c), shared by interp.c, eval.c, complete.c and the builtin commands. Front
 * ends use interp.h; commands and plugins use commands.h; modules module.h. */
#ifndef LB_INTERP_STATE_H
#define LB_INTERP_STATE_H

#include <jansson.h>

#include "lang/ast.h"
#include "lang/commands.h"
#include "lang/output.h"
#include "lang/module.h"
#include "lang/value.h"

typedef struct lb_interp lb_interp;

struct lb_interp {
    lb_output out;       /* all callbacks NULL for a silent interpreter */
    lb_value *globals;   /* map name -> value: the user's variables */
    lb_value *builtins;  /* map name -> builtin function */
    lb_commands *cmds;
    double seed;
    bool seed_set;
    json_t *versions;    /* {library: version} for `version` */
    const struct lb_module *const *modules; /* added by the entry point (module.h) */
    size_t nmodules;
    struct lb_state *states; /* the modules' per-interpreter state, newest first */
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

/* The language's own commands and functions, registered by lb_interp_new
 * (builtin_commands.c, builtin_functions.c, expect.c). */
int lb_register_builtin_commands(lb_interp *in, lb_error *err);
int lb_register_builtin_functions(lb_interp *in, lb_error *err);
int lb_register_expect_command(lb_interp *in, lb_error *err);

/* What the modules' hooks say (module.h), asked in module order: the first documentation of
 * name; every extra completion word of a command's argument (a new array, possibly empty);
 * the key= parameters of a module's callable (a new array, or NULL when none knows fname). */
bool lb_modules_doc(lb_interp *in, const char *name, char **plain, char **markdown);
json_t *lb_modules_complete_arg(lb_interp *in, const char *command);
json_t *lb_modules_call_params(lb_interp *in, const char *fname);
/* The module whose cell magic begins code, or NULL. */
const lb_module *lb_modules_cell(const lb_interp *in, const char *code);

#endif
