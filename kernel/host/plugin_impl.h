/* plugin_impl.h — internals shared by plugin_load.c, plugin_host.c and model.c: the loaded
 * plugin record (lbp_plugin), the registry, layer values and built layers (lbp_layer) and
 * models. Not for plugins (they see labbook_plugin.h only). */
#ifndef LB_PLUGIN_IMPL_H
#define LB_PLUGIN_IMPL_H

#include "lang/commands.h"
#include "host/plugins.h"

struct lbp_plugin {
    int refs;               /* the registry's (while loaded) + one per value built from it */
    lb_registry *reg;       /* NULL once unloaded */
    char *name, *version, *description, *path;
    char sha256[65];
    void *handle;
    char *err;              /* init's error buffer (registration failures are written here) */
    size_t errlen;
    bool failed;            /* a registration failed during init */
    char *crashed;          /* why it is disabled: the crash its code caused (NULL: enabled) */
};

typedef struct type_rec {
    const lbp_type *t;      /* valid while !dead */
    lbp_plugin *p;
    char *name, *signature, *summary;
    bool dead;              /* its plugin was unloaded */
} type_rec;

typedef struct op_rec {
    const lbp_op *op;
    lbp_plugin *p;
} op_rec;

typedef struct cmd_rec {
    lb_command cmd;         /* registered in the command table; lives until the registry goes */
    lb_param *params;       /* the lbp_param schema converted (names, types, defaults, docs) */
    const lbp_command *pc;  /* valid while p != NULL */
    lbp_plugin *p;          /* NULL once unloaded */
    char *name;
} cmd_rec;

/* Tasks and data sources registered by plugins (plugin_tasks.c). */
typedef enum { LB_ITEM_TASK, LB_ITEM_LOSS, LB_ITEM_METRIC } lb_item_kind;

typedef struct task_rec {   /* a task, loss or metric */
    lb_item_kind kind;
    const void *it;         /* lbp_task, lbp_loss or lbp_metric_def; valid while p */
    lbp_plugin *p;          /* NULL once unloaded */
    char *name;
} task_rec;

typedef struct data_rec {
    const lbp_data *d;      /* valid while !dead */
    lbp_plugin *p;
    char *name, *signature, *summary;
    lbp_param *params;      /* the plugin's, then n, test, valid, seed, normalize */
    bool dead;
} data_rec;

struct lb_registry {
    lb_interp *in;
    lbp_plugin **plugins;
    size_t n, cap;
    type_rec **types;       /* live and dead; lookups skip dead ones */
    size_t ntypes, tcap;
    op_rec *ops;
    size_t nops, ocap;
    cmd_rec **cmds;
    size_t ncmds, ccap;
    task_rec *tasks;
    size_t ntasks, tkcap;
    data_rec **datas;
    size_t ndatas, dcap;
    char *loading[16];      /* names being loaded (require cycles) */
    int nloading;
    char *cell_dir;         /* %%plugin cells: the per-kernel temp dir (created on first use) */
    unsigned ncells;        /* cells compiled so far (fresh file names) */
};

/* Registration helpers of plugin_load.c: fail with a reason (in init's err), check a new name
 * against everything registered, the first line of a text (malloc'd). */
int lb_reg_fail(lbp_plugin *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lb_reg_name_free(lbp_plugin *p, const char *what, const char *name);
char *lb_first_line(const char *s);
int lb_host_register_task(lbp_plugin *p, const lbp_task *t);
int lb_host_register_loss(lbp_plugin *p, const lbp_loss *l);
int lb_host_register_metric(lbp_plugin *p, const lbp_metric_def *m);
int lb_host_register_data(lbp_plugin *p, const lbp_data *d);
/* The host table's functions for tasks (lbp_host.batch_field ... run_target). */
lbp_tensor *lb_host_batch_field(const lbp_batch *b, const char *name);
int64_t lb_host_batch_size(const lbp_batch *b);
int64_t lb_host_read(const lbp_tensor *t, float *out, int64_t n);
int lb_host_run_classes(const lbp_taskrun *r);
int lb_host_run_output(const lbp_taskrun *r, int64_t shape[LBP_MAXDIM]);
int lb_host_run_target(const lbp_taskrun *r, const char *name, int64_t shape[3], double *pad);
/* Unloading p (its tasks and data sources go); freeing the registry's records. */
void lb_plugin_items_drop(lb_registry *reg, lbp_plugin *p);
void lb_plugin_items_free(lb_registry *reg);
/* ", task NAME, data NAME" of p, appended to line at *used (the `loaded` line). */
void lb_plugin_items_announce(lb_registry *reg, lbp_plugin *p, char *line, size_t size, size_t *used, int *n);

void lb_plugin_ref(lbp_plugin *p);
void lb_plugin_unref(lbp_plugin *p);
type_rec *lb_registry_type_rec(lb_registry *reg, const char *name);

/* The fields appended to lbp_type after ABI 1, read only when the plugin's struct has them
 * (LBP_TYPE_HAS): a type from an ABI-1 plugin has one input "x", output "y". The size of
 * lbp_type in ABI 1 is where the appended fields begin. */
#define LB_TYPE_SIZE_ABI1 offsetof(lbp_type, inputs)
int lb_type_ninputs(const lbp_type *t);                   /* 1.. LBP_MAXINPUTS; 1 for NULL */
const char *lb_type_input_name(const lbp_type *t, int i); /* "x" for a type naming none */
const char *lb_type_output_name(const lbp_type *t);       /* "y" unless named */
typedef lbp_tensor *(*lb_forward_inputs_fn)(const lbp_host *h, lbp_layer *L, lbp_graph *g,
                                            lbp_tensor *const *xs, int n);
lb_forward_inputs_fn lb_type_forward_inputs(const lbp_type *t); /* NULL when not given */
/* default_inputs(h, args, i, shape) of the type (of plugin p), or 0 when it has none or no
 * opinion, or p is disabled or crashed in it */
int lb_type_default_inputs(const lbp_type *t, lbp_plugin *p, const lbp_args *a, int i, int64_t shape[LB_MAXDIM]);

/* A layer value: what `conv2d(1, 16, 3)` or `sequential(...)` evaluates to. */
typedef struct layer_spec {
    const lbp_type *type;   /* NULL: sequential */
    lbp_plugin *plugin;     /* referenced; NULL for sequential */
    struct lbp_args args;
    lb_value **kids;        /* sequential: its layers */
    size_t nkids;
    char *text;             /* canonical source */
} layer_spec;

layer_spec *lb_layer_spec(const lb_value *v); /* NULL when v is not a layer value */

typedef struct layer_param {
    char *name;             /* as given to h->param */
    lb_tensor *t;
} layer_param;

struct lbp_layer {
    lb_model *m;
    const lbp_type *type;   /* NULL: sequential */
    lbp_plugin *plugin;     /* referenced */
    struct lbp_args args;
    char *path;             /* "" (root), "0", "1.2" */
    char *text;
    int in_ndim, out_ndim;
    int64_t in_shape[LB_MAXDIM], out_shape[LB_MAXDIM];
    int nin;                /* 1, or the named inputs of a root type that has several */
    int ins_ndim[LB_MODEL_MAXINPUTS]; /* each input's shape (input 0 is in_ndim / in_shape) */
    int64_t ins_shape[LB_MODEL_MAXINPUTS][LB_MAXDIM];
    int cur_ndim;           /* while building: the shape children are built on */
    int64_t cur_shape[LB_MAXDIM];
    lb_tensor *cur_x;       /* while building: the dry-run tensor [1, *cur_shape] */
    lb_tensor *cur_xs[LB_MODEL_MAXINPUTS]; /* while building a layer of several inputs: theirs */
    layer_param *params;
    int nparams;
    lbp_layer **kids;
    int nkids;
    void *state;
};

struct lb_model {
    lb_interp *in;
    char *name;
    lb_value *spec;         /* the layer value it was built from */
    lbp_layer *root;
    int ninputs;            /* named inputs (root->nin) */
    char *input_names[LB_MODEL_MAXINPUTS];
    char *output_name;
    lb_params *params;
    uint64_t seed;
    lb_rng init_rng, run_rng;
    lb_rng *rng;            /* for dropout in the current run */
    int training;
    lb_graph *dry;          /* while building */
    lb_error *err;          /* while building: where h->fail writes */
    bool failed;
};

int lb_layer_fail(lbp_layer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lb_layer_add_child(lbp_layer *L, const char *src);
lb_tensor *lb_layer_run(lbp_layer *L, lb_graph *g, lb_tensor *x);
/* A layer of several named inputs (L->nin of them in xs): its type's forward_inputs. */
lb_tensor *lb_layer_run_inputs(lbp_layer *L, lb_graph *g, lb_tensor *const *xs, int n);

#endif
