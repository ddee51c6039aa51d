/* commands.h — the command table and the API that commands (built-in now, plugins later) are
 * written against. A command is a line `verb arg ... key=value ...`; the parser asks the table
 * which names are verbs, the evaluator checks arity and key=value names against the command's
 * schema (with "did you mean" suggestions) and calls its handler with the UNEVALUATED argument
 * nodes; the handler evaluates what it needs through the lb_call_* helpers below.
 *
 * Registering:
 *     static const lb_param train_params[] = {
 *         {"epochs", LB_PARAM_INT, "5", "number of passes over the data"},
 *         {"lr", LB_PARAM_ANY, "0.01", "learning rate, or a list of rates to sweep"},
 *         {0}};
 *     static const lb_command train_cmd = {
 *         .name = "train", .synopsis = "train MODEL... on DATA epochs=5 lr=0.01",
 *         .doc = "Trains ...", .example = "train a b on f epochs=5 lr=[0.1, 0.01]",
 *         .params = train_params, .min_args = 1, .max_args = -1,
 *         .hint = LB_ARGS_VARIABLES, .handler = train_handler};
 *     if (lb_interp_register_command(in, &train_cmd, &err) < 0) ...
 * The lb_command (and its params) must outlive the interpreter: use static storage.
 *
 * How a command line is split (spec/language.md §2): arguments are expressions separated by
 * whitespace or commas; `name=expr` (spaces around `=` allowed) is a key=value argument.
 * So `plot runs loss valid.acc` gives three positional nodes (a name, a name, a member
 * expression), `train a b on f epochs=5` gives four names and one keyword, and
 * `model net = mlp(3)` gives one keyword node `net` whose value is `mlp(3)`: a command of
 * that shape sets LB_CMD_OPEN_KEYWORDS and reads call->kwargs[0]->text as the new name.
 * Handlers decide what to evaluate: a node that is a bare name (LB_N_NAME, text = the name)
 * can be taken as a word (`on`, a metric name) without looking it up. */
#ifndef LB_COMMANDS_H
#define LB_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "base/suggest.h"
#include "lang/ast.h"
#include "base/error.h"
#include "lang/output.h"
#include "lang/value.h"

typedef struct lb_interp lb_interp;
typedef struct lb_commands lb_commands;
typedef struct lb_table lb_table;

/* ---- schema ----------------------------------------------------------------------------- */

typedef enum {
    LB_PARAM_ANY,
    LB_PARAM_BOOL,
    LB_PARAM_NUMBER,
    LB_PARAM_INT,
    LB_PARAM_STRING,
    LB_PARAM_LIST,
    LB_PARAM_MAP
} lb_param_type;

typedef struct lb_param {
    const char *name;    /* NULL ends a params array */
    lb_param_type type;  /* checked by lb_call_param */
    const char *def;     /* default as labbook source ("false", "5", "[0.1]"); NULL: none */
    const char *doc;     /* one line */
} lb_param;

/* What the positional arguments of a command complete to. */
typedef enum {
    LB_ARGS_VALUES,    /* expressions: variables, builtin functions, true/false/none */
    LB_ARGS_COMMANDS,  /* command and builtin function names (help) */
    LB_ARGS_VARIABLES, /* variable names only (del, ask) */
    LB_ARGS_NONE       /* nothing to complete */
} lb_arg_hint;

#define LB_CMD_OPEN_KEYWORDS 1u /* key=value names are not checked against params */
/* The command gives a value that `NAME = VERB ...` assigns (`runs = train a on f`): the handler
 * sets call->result (a new reference). Without an assignment the value is dropped. */
#define LB_CMD_RESULT 2u

typedef struct lb_cmd_call lb_cmd_call;
typedef int (*lb_cmd_handler)(lb_cmd_call *call, lb_error *err);

typedef struct lb_command {
    const char *name;      /* the verb: an identifier, not a keyword */
    const char *synopsis;  /* one usage line: "print VALUE..." */
    const char *doc;       /* documentation paragraphs (plain text, may use `code`) */
    const char *example;   /* one or more example lines, or NULL */
    const lb_param *params; /* key=value schema, ended by {0}; NULL for none */
    int min_args, max_args; /* positional argument counts; max_args -1 = unlimited */
    lb_arg_hint hint;
    unsigned flags;        /* LB_CMD_* */
    lb_cmd_handler handler;
    void *data;            /* free for the command's own use */
} lb_command;

/* What a handler receives. Argument nodes are borrowed and unevaluated, and valid only
 * during the call: a handler that needs an argument later evaluates it or copies its text. */
struct lb_cmd_call {
    lb_interp *in;
    const lb_command *cmd;
    const lb_node *node;     /* the whole command statement (for positions) */
    const lb_node **args;    /* positional argument expressions */
    size_t nargs;
    const lb_node **kwargs;  /* LB_N_KEYWORD nodes: text = key, kids[0] = value expression */
    size_t nkwargs;
    lb_value *result;        /* LB_CMD_RESULT commands: the value given (new reference) */
};

/* ---- the table -------------------------------------------------------------------------- */

lb_commands *lb_commands_new(void);
void lb_commands_free(lb_commands *cmds);
/* Refuses a duplicate name, a name that is not an identifier or is a keyword, a missing
 * handler, and duplicate parameter names: -1 with *err (ename "RegistrationError"). */
int lb_commands_register(lb_commands *cmds, const lb_command *cmd, lb_error *err);
const lb_command *lb_commands_find(const lb_commands *cmds, const char *name);
size_t lb_commands_count(const lb_commands *cmds);
const lb_command *lb_commands_at(const lb_commands *cmds, size_t i); /* sorted by name */
/* The closest command name (for "did you mean"), or NULL. */
const char *lb_commands_suggest(const lb_commands *cmds, const char *name);

const lb_param *lb_command_param(const lb_command *cmd, const char *name);
const char *lb_param_type_name(lb_param_type t);
/* Whether v is of type t (the check lb_call_param and function options apply). */
bool lb_param_type_ok(lb_param_type t, const lb_value *v);
/* The documentation `help NAME` pages and inspect shows: malloc'd plain text / markdown. */
char *lb_command_doc_text(const lb_command *cmd);
char *lb_command_doc_markdown(const lb_command *cmd);


/* ---- helpers for handlers --------------------------------------------------------------- */

/* Evaluates an expression node (new reference, or NULL with *err positioned at the node). */
lb_value *lb_call_eval(lb_cmd_call *call, const lb_node *expr, lb_error *err);
/* Evaluates positional argument i. */
lb_value *lb_call_arg(lb_cmd_call *call, size_t i, lb_error *err);
/* The name written as positional argument i (it must be a bare name, not evaluated). */
const char *lb_call_arg_name(lb_cmd_call *call, size_t i, lb_error *err);
/* The key=value node for name, or NULL when not given. */
const lb_node *lb_call_keyword(const lb_cmd_call *call, const char *name);
/* The value of parameter `name`: the given key=value evaluated and type-checked against the
 * schema, else the schema default, else none. New reference, or NULL with *err. */
lb_value *lb_call_param(lb_cmd_call *call, const char *name, lb_error *err);
/* Sets an error positioned at a node (span = node width); returns -1. */
int lb_node_error(lb_error *err, const lb_node *node, const char *ename, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- interpreter services for commands and plugins -------------------------------------- */

lb_commands *lb_interp_commands(lb_interp *in);
int lb_interp_register_command(lb_interp *in, const lb_command *cmd, lb_error *err);
/* Registers the n commands of an array, stopping at the first failure (-1 with *err). */
int lb_interp_register_commands(lb_interp *in, const lb_command *cmds, size_t n, lb_error *err);
/* Adds a builtin function (name must be new); doc is one line, signature like "len(x)". */
int lb_interp_register_function(lb_interp *in, const char *name, const char *signature,
                                const char *doc, lb_builtin_fn fn, void *data, lb_error *err);
lb_value *lb_interp_builtin(lb_interp *in, const char *name); /* borrowed, NULL if absent */
lb_value *lb_interp_builtins(lb_interp *in);                  /* borrowed map name -> function */

/* Variables (globals). get returns a borrowed reference; set takes its own reference. */
lb_value *lb_interp_get(lb_interp *in, const char *name);
int lb_interp_set(lb_interp *in, const char *name, lb_value *value);
bool lb_interp_del(lb_interp *in, const char *name);
lb_value *lb_interp_globals(lb_interp *in); /* borrowed map */

/* The global seed (`seed N`): *is_set tells whether the user set one. */
double lb_interp_seed(lb_interp *in, bool *is_set);
void lb_interp_set_seed(lb_interp *in, double seed);

/* Library versions shown by `version`: other parts (ops, plots, server) add theirs here. */
int lb_interp_add_version(lb_interp *in, const char *library, const char *version);
json_t *lb_interp_versions(lb_interp *in); /* borrowed JSON object {library: version} */

/* Output, each a no-op when the front end lacks it. */
const lb_output *lb_interp_output(lb_interp *in);
void lb_emit_stream(lb_interp *in, lb_stream which, const char *text, size_t len);
void lb_emit_display(lb_interp *in, json_t *data, json_t *metadata, const char *display_id,
                     bool update);
/* Sets a cell of table t (render/table.h) from a value: numbers formatted with
 * lb_table_format_number, strings raw, none empty, anything else as its repr; text longer
 * than LB_TABLE_CELL_MAX characters is cut with "…" (built only that far). */
int lb_table_set_value(lb_table *t, size_t row, size_t col, const lb_value *v);
#define LB_TABLE_CELL_MAX 200
/* The text of a table cell: as lb_table_set_value shows v (malloc'd; NULL on OOM). */
char *lb_cell_text(const lb_value *v);
/* Shows table t (table.h) as display_data and frees it: 0, or -1 with a MemoryError. */
int lb_emit_table(lb_interp *in, lb_table *t, lb_error *err);
void lb_emit_clear(lb_interp *in, bool wait);
void lb_emit_page(lb_interp *in, json_t *data);

#endif
