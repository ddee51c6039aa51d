/* module.h — how the parts of labbook add to the language. A module is a name, a function
 * that registers its commands, builtin functions, value classes and library versions into an
 * interpreter (and may attach its own per-interpreter state), and optional hooks through which
 * the language's front-end tools (help, inspection, completion) learn about names the module
 * defines outside the command table (a plugin's layer types). The interpreter knows no module
 * by name: the program's entry point puts the list together (cli/labbook.c) and hands it to
 * lb_interp_add_modules. */
#ifndef LB_MODULE_H
#define LB_MODULE_H

#include <stdbool.h>
#include <jansson.h>

#include "base/error.h"

typedef struct lb_interp lb_interp;

typedef struct lb_module {
    const char *name; /* "plugins", "data", "plots", "training", ... */
    /* Registers what the module adds; -1 with *err stops the interpreter's creation. */
    int (*init)(lb_interp *in, lb_error *err);
    /* Optional: the documentation of `name` when the module defines it (malloc'd plain text
     * and markdown), false otherwise. Asked by `help NAME` and inspection after commands. */
    bool (*doc)(lb_interp *in, const char *name, char **plain, char **markdown);
    /* Optional: extra words that complete a positional argument of `command` (`use` ->
     * plugin names): a new JSON array of strings, or NULL. */
    json_t *(*complete_arg)(lb_interp *in, const char *command);
    /* Optional: the key= parameter names of a callable `fname(...)` the module defines (a
     * layer type): a new JSON array of strings, or NULL when fname is not the module's. */
    json_t *(*call_params)(lb_interp *in, const char *fname);
    /* Optional: a cell magic. A cell whose first non-blank line starts with `cell_magic`
     * ("%%plugin", then a blank or the end) is not labbook: run_cell runs all of it, and the
     * front-end tools leave it alone (complete, never completion or inspection). */
    const char *cell_magic;
    int (*run_cell)(lb_interp *in, const char *code, lb_error *err);
} lb_module;

/* Runs each module's init in order and keeps the list for the hooks (the modules must
 * outlive the interpreter: static storage). 0, or -1 with *err. */
int lb_interp_add_modules(lb_interp *in, const lb_module *const *modules, size_t n, lb_error *err);

/* A module's state in an interpreter, under its key (the module's name): set once, freed by
 * lb_interp_free with free_fn after every variable is gone, the last set first (so a state set
 * later, which may hold values that depend on an earlier one, goes first). */
int lb_interp_set_state(lb_interp *in, const char *key, void *state, void (*free_fn)(void *));
void *lb_interp_state(const lb_interp *in, const char *key); /* NULL when not set */

#endif
