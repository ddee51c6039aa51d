/* plugins.h — the kernel side of the plugin ABI (plugins/labbook_plugin.h, spec/plugin-abi.md):
 * the per-interpreter plugin registry (load from a .so, unload, replace), checked arguments
 * against parameter schemas, layer values, models (built layers + one parameter block) and
 * the commands `use`, `plugins`, `model`, `params`.
 *
 * Seams for later work:
 *  - the trainer (issue 4): lb_model_from_value, lb_model_forward on a batch in a step graph,
 *    then lb_backward and an optimizer over lb_model_params;
 *  - %%plugin cells (item 5): lb_plugin_load_file (a .so compiled at run time) and
 *    lb_plugin_replace (swap a plugin by name, e.g. after a forked gradient check passed). */
#ifndef LB_PLUGINS_H
#define LB_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labbook_plugin.h"
#include "base/error.h"
#include "base/fault.h"
#include "ops.h"
#include "host/model.h"
#include "lang/module.h"
#include "lang/value.h"

typedef struct lb_interp lb_interp;
typedef struct lb_registry lb_registry;
typedef struct lb_model lb_model;

/* ---- registry (plugin_load.c) -------------------------------------------------------------- */

/* The plugins module (lang/module.h): registers `use`, `plugins`, `model`, `params` and
 * `sequential(...)`, keeps the registry as its state, documents and completes plugin types. */
extern const struct lb_module lb_plugins_module;
lb_registry *lb_interp_registry(lb_interp *in);
void lb_registry_free(lb_registry *reg); /* unloads everything (the module state's free) */

/* `use NAME`: LABBOOK_PLUGIN_PATH (':'-separated), then the install directory, then the
 * build tree. Already loaded: 0 and nothing happens. *loaded (optional) is set when the
 * plugin (or one it requires) was newly loaded. */
int lb_plugin_use(lb_interp *in, const char *name, bool *loaded, lb_error *err);
/* Loads one .so file into the registry: magic block, init, registrations; on any failure the
 * library is closed and nothing of it stays registered. */
int lb_plugin_load_file(lb_interp *in, const char *path, bool *loaded, lb_error *err);
/* Unloads a plugin by name: its types, ops and commands disappear (values built from it keep
 * the library open until they are freed). -1 when no plugin has that name. */
int lb_plugin_unload(lb_interp *in, const char *name, lb_error *err);
/* Unloads plugin `name` (if loaded) and loads `path` in its place; on failure the old plugin
 * is loaded back. */
int lb_plugin_replace(lb_interp *in, const char *name, const char *path, lb_error *err);
/* The file a plugin name resolves to (malloc'd), or NULL with *err listing where it looked. */
char *lb_plugin_find(const char *name, lb_error *err);

/* Layer and model types known now. */
const lbp_type *lb_registry_type(lb_interp *in, const char *name);
size_t lb_registry_ntypes(lb_interp *in);
const lbp_type *lb_registry_type_at(lb_interp *in, size_t i);


/* ---- crashes in plugin code (plugin_guard.c; base/fault.h) ---------------------------------
 * Every call into a plugin's function runs under a fault guard: a SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL or abort() in it ends the call, not the process. The plugin is then disabled (its
 * types, ops, commands, tasks and data sources refuse to run, naming the crash) until `use NAME`
 * enables it again. LB_PLUGIN_CALL runs STATEMENT guarded and sets sig_ to the signal caught (0
 * when none); a value the statement assigns must not be read when sig_ != 0. kind_ and name_
 * say what ran ("layer type", "conv2d"), phase_ when ("forward"). */
struct lbp_plugin;
void lb_plugin_guard_push(lb_fault_guard *g, struct lbp_plugin *p, const char *kind, const char *name,
                          const char *phase);
int lb_plugin_guard_pop(lb_fault_guard *g, struct lbp_plugin *p);
#define LB_PLUGIN_CALL(sig_, p_, kind_, name_, phase_, ...)                 \
    do {                                                                    \
        lb_fault_guard fg_;                                                 \
        lb_plugin_guard_push(&fg_, (p_), (kind_), (name_), (phase_));       \
        if (sigsetjmp(fg_.jb, 0) == 0) {                                    \
            __VA_ARGS__;                                                    \
        }                                                                   \
        (sig_) = lb_plugin_guard_pop(&fg_, (p_));                           \
        (void)(sig_); /* callers that only need the plugin disabled */      \
    } while (0)
/* The plugin whose code runs now on this thread (the innermost guard's), or NULL. */
struct lbp_plugin *lb_plugin_current(void);
/* Why p may not run now ("plugin bad is disabled: it crashed ..."), or NULL when it may. */
const char *lb_plugin_disabled(const struct lbp_plugin *p);
/* "plugin P is disabled: <the crash> earlier in this session; `use P` enables it again" in buf,
 * or NULL when p may run. */
const char *lb_plugin_disabled_text(const struct lbp_plugin *p, char *buf, size_t n);
/* A PluginError in err for a disabled plugin; -1. (A crash just caught: lb_fault_error.) */
int lb_plugin_disabled_error(const struct lbp_plugin *p, lb_error *err);

/* ---- checked arguments (plugin_args.c) ---------------------------------------------------- */

struct lbp_args {
    const lbp_param *params;
    const char *owner;      /* type or command name (for messages) */
    lb_value *values;       /* map name -> value (defaults filled in), schema order */
    uint64_t given;         /* bit i: params[i] was written by the user */
};
/* Resolves positional args (schema order) and kwargs (a map, may be NULL) against params. */
int lb_args_check(struct lbp_args *a, const lbp_param *params, const char *owner, lb_value **args,
                  size_t nargs, lb_value *kwargs, lb_error *err);
void lb_args_clear(struct lbp_args *a);
int lb_args_copy(struct lbp_args *dst, const struct lbp_args *src);
/* "conv2d(1, 16, 3, pad=1)": required params positionally, then the key=value ones given. */
char *lb_args_text(const struct lbp_args *a);
/* Checks a schema itself at registration (names, types, parseable defaults in range). */
int lb_schema_validate(const lbp_param *params, const char *owner, char *msg, size_t size);
/* "conv2d(in_channels, channels, kernel, stride=1, ...)" */
char *lb_schema_signature(const char *name, const lbp_param *params);
/* The parameter lines of help (plain) and a markdown table. */
char *lb_schema_doc_plain(const lbp_param *params);
char *lb_schema_doc_markdown(const lbp_param *params);

/* ---- models (model.c) ------------------------------------------------------------------------ */

lb_model *lb_model_from_value(const lb_value *v); /* NULL when v is not a model */
/* Every loaded plugin as {"name", "version", "sha256", "file", "used"} (used: m's layers come
 * from it; m may be NULL), a new JSON array (what a run record keeps). */
json_t *lb_plugins_json(lb_interp *in, const lb_model *m);
/* The model class (for the `save` hook and checkpoints, kernel/checkpoint.c). */
extern const lb_class lb_model_class;

/* ---- checkpoints (checkpoint.c) --------------------------------------------------------------
 * The file format (versioned, SHA-256 checksummed, written atomically) is spec/language.md §12.
 * Errors: IOError / FileNotFoundError naming the path, CheckpointError (not a checkpoint,
 * newer format, truncated, corrupted, invalid header, tensors that do not fit the model). */

/* Writes m's weights and header to path (temp file in the same folder, fsync, rename). */
int lb_checkpoint_save(lb_model *m, const char *path, lb_error *err);
/* The model class's `save` hook: lb_checkpoint_save on a model value. */
int lb_checkpoint_save_value(const lb_value *self, const char *path, lb_error *err);
/* `load NAME "file"`: into the model NAME holds, else into a model rebuilt from the header (the
 * plugins it names loaded with lb_plugin_use) and stored in NAME. *model (optional) receives a
 * new reference to it. */
int lb_checkpoint_load(lb_interp *in, const char *name, const char *path, lb_value **model,
                       lb_error *err);
/* Registers `load` (called by lb_register_model_commands). */
int lb_register_checkpoint_commands(lb_interp *in, lb_error *err);

/* ---- gradient check (plugin_check.c) --------------------------------------------------------
 * The tape's gradients of L = sum(y * w) (w fixed random weights) with respect to the input
 * [batch, *input] and every trainable parameter, compared with central differences on `samples`
 * entries of each tensor. Input: N(0, 1), or integers in [0, ids_max) (token ids; no input
 * gradient). Every forward uses the same generator state (dropout draws the same mask). Entries
 * next to a kink (one-sided differences disagree) are skipped. The model's gradients (and, in
 * training mode, running statistics) are overwritten. */
typedef struct lb_gradcheck {
    int training;       /* 1: training mode (batch statistics, dropout) */
    int batch;          /* 0: 2 */
    int samples;        /* entries per tensor; 0: 24 */
    double h;           /* 0: 1e-2 */
    double tol;         /* largest relative difference accepted; 0: 0.1 */
    int64_t ids_max;    /* > 0: the input holds integer ids */
    uint64_t seed;
    int run_only;       /* 1: forward and backward only (crashes, hangs), nothing compared */
    void (*stage)(void *ctx, const char *what); /* progress ("finite differences of weight") */
    void *ctx;
} lb_gradcheck;

typedef struct lb_gradcheck_result {
    double worst;        /* the largest relative difference |a - n| / max(|a|, |n|, floor) */
    char tensor[128];    /* where: "input" or the parameter's name ("0.weight") */
    char index[64];      /* "[1, 0, 3, 5]" */
    double analytic, numeric;
    int checked, skipped; /* entries compared / skipped next to a kink */
} lb_gradcheck_result;

/* 0 when every compared entry is within tol, 1 on a mismatch (*r names the worst entry), -1
 * when the check could not run (*err). */
int lb_gradcheck_model(lb_model *m, const lb_gradcheck *o, lb_gradcheck_result *r, lb_error *err);

/* ---- %%plugin cells (plugin_cell.c) ----------------------------------------------------------- */

/* Compiles the cell with the system C compiler, checks every type it registers in a forked
 * process (crash, hang, gradients) and loads it in place of an earlier plugin of that name.
 * Errors: CompileError (the compiler's messages, at the cell's line numbers), PluginError,
 * GradientCheckError; the kernel's state is untouched then. */
int lb_plugin_cell_execute(lb_interp *in, const char *code, lb_error *err);
/* Removes the per-kernel directory of compiled cells (lb_registry_free calls it). */
void lb_plugin_cell_cleanup(lb_registry *reg);

/* ---- tasks and data sources of plugins (plugin_tasks.c) ----
 * What a plugin task sees of a run (lbp_taskrun in the ABI). */
struct lbp_taskrun {
    lb_model *m;
    const struct lb_dataset *ds;
};
/* The task, loss or metric a loaded plugin registered under `name` (NULL: none); its plugin in
 * *owner (may be NULL). */
const lbp_task *lb_plugins_find_task(lb_interp *in, const char *name, lbp_plugin **owner);
const lbp_loss *lb_plugins_find_loss(lb_interp *in, const char *name, lbp_plugin **owner);
const lbp_metric_def *lb_plugins_find_metric(lb_interp *in, const char *name, lbp_plugin **owner);
/* The names of the loaded plugins' tasks (kind 0), losses (1) or metrics (2): up to max of them
 * into names; the number found. */
size_t lb_plugins_item_names(lb_interp *in, int kind, const char **names, size_t max);
/* How a data set becomes a labbook value (set by the data module at its start): plugin data
 * sources give their data sets through it. Takes ds. */
typedef lb_value *(*lb_dataset_maker)(struct lb_dataset *ds, lb_error *err);
void lb_plugins_set_dataset_maker(lb_dataset_maker make);

/* Layer values (what `conv2d(...)` returns) and the host table (plugin_host.c). */
lb_value *lb_layer_value_new(lb_interp *in, const lbp_type *t, struct lbp_args *args_take,
                             lb_value **children, size_t nchildren, lb_error *err);
const lbp_host *lb_plugin_host_table(void);
int lb_register_model_commands(lb_interp *in, lb_error *err);

#endif
