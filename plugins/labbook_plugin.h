/* labbook_plugin.h — the one public header of labbook's plugin ABI (spec/plugin-abi.md).
 *
 * A plugin is a shared library loaded with dlopen at run time (`use NAME`). It needs NO
 * link-time symbol from the kernel: everything it uses (tensor ops, parameters, random
 * initialisation, errors) reaches it through the host function table passed to its init,
 * as with SQLite extensions. It exports exactly two symbols:
 *
 *     LBP_MODULE_MAGIC("mylayers", "1.0.0", "what the plugin provides");
 *
 *     int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
 *     {
 *         if (h->register_type(p, &swish_type) < 0) return -1;  // host wrote the reason
 *         return 0;
 *     }
 *
 * The host compares the magic block with its own field by field before it calls anything in
 * the library; a mismatch is reported naming the field and both values, and the library is
 * closed. lbp_init returns 0, or -1 after writing a one-line reason into err (the host then
 * drops whatever the plugin registered and closes the library).
 *
 * Stability rules: lbp_host only grows at the end (its first field is its size: test
 * LBP_HOST_HAS(h, field) before using a function added after ABI 1); the structs a plugin
 * hands to the host (lbp_type, lbp_op, lbp_command) start with their own size so that the
 * host can read older plugins. Everything else changes only with LBP_ABI_VERSION.
 * Tensors, graphs, layers and argument sets are opaque handles. Nothing here calls exit()
 * or abort(); plugins must not either: they report errors as strings. */
#ifndef LABBOOK_PLUGIN_H
#define LABBOOK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LBP_ABI_VERSION 1
#define LBP_MAGIC_NUMBER 0x4C42504CU /* "LBPL" */
#define LBP_MAXDIM 4
#define LBP_MAXINPUTS 4 /* named inputs of a model type (lbp_type.inputs) */

/* ---- opaque handles ------------------------------------------------------------------- */
typedef struct lbp_plugin lbp_plugin; /* the plugin being initialised */
typedef struct lbp_tensor lbp_tensor; /* a float32 tensor (up to LBP_MAXDIM dims, batch first) */
typedef struct lbp_graph lbp_graph;   /* the step graph: arena memory + autograd tape */
typedef struct lbp_layer lbp_layer;   /* one layer instance of a model, while built or run */
typedef struct lbp_args lbp_args;     /* checked arguments of a layer, model or command call */
typedef struct lbp_call lbp_call;     /* one run of a plugin command */
typedef struct lbp_host lbp_host;     /* the host function table (below) */

/* ---- the magic block ------------------------------------------------------------------ */
typedef struct lbp_magic {
    uint32_t size;        /* sizeof(lbp_magic) */
    uint32_t magic;       /* LBP_MAGIC_NUMBER */
    uint32_t abi_version; /* LBP_ABI_VERSION */
    uint32_t maxdim;      /* LBP_MAXDIM */
    uint32_t sizeof_pointer;
    uint32_t sizeof_size_t;
    uint32_t sizeof_param;   /* sizeof(lbp_param) */
    uint32_t sizeof_type;    /* sizeof(lbp_type) */
    uint32_t sizeof_op;      /* sizeof(lbp_op) */
    uint32_t sizeof_command; /* sizeof(lbp_command) */
    /* Not compared: who the plugin is. */
    const char *name;        /* identifier; `use NAME` and the `plugins` table */
    const char *version;
    const char *description; /* one line */
} lbp_magic;

#define LBP_MAGIC_INIT(name_, version_, description_)                                         \
    {sizeof(lbp_magic), LBP_MAGIC_NUMBER, LBP_ABI_VERSION, LBP_MAXDIM, sizeof(void *),         \
     sizeof(size_t), sizeof(lbp_param), sizeof(lbp_type), sizeof(lbp_op), sizeof(lbp_command), \
     name_, version_, description_}

/* Defines the exported magic block; put it in exactly one file of the plugin. */
#ifdef __cplusplus
#define LBP_EXPORT_C extern "C" __attribute__((visibility("default")))
#else
#define LBP_EXPORT_C __attribute__((visibility("default")))
#endif
#define LBP_MODULE_MAGIC(name_, version_, description_)                                 \
    LBP_EXPORT_C const lbp_magic lbp_module_magic = LBP_MAGIC_INIT(name_, version_, description_)

#define LBP_MAGIC_SYMBOL "lbp_module_magic"
#define LBP_INIT_SYMBOL "lbp_init"

/* ---- parameter schemas ----------------------------------------------------------------
 * A schema is an array of lbp_param ended by {0}. It drives `help`, inspection, tab
 * completion and argument checking: the host resolves positional arguments (in schema
 * order) and key=value arguments, refuses unknown names with a "did you mean", checks
 * types, ranges and choices and fills in defaults, all before the plugin sees anything. */
typedef enum {
    LBP_T_INT = 1, /* an integral number */
    LBP_T_NUM,     /* a number */
    LBP_T_BOOL,
    LBP_T_STR,
    LBP_T_INTS,    /* a list of integers (a bare integer is taken as a list of one) */
    LBP_T_NUMS,    /* a list of numbers */
    LBP_T_ANY
} lbp_ptype;

#define LBP_LO 1u        /* value (each item for lists) >= lo */
#define LBP_HI 2u        /* value <= hi */
#define LBP_LO_OPEN 4u   /* with LBP_LO: value > lo */
#define LBP_HI_OPEN 8u   /* with LBP_HI: value < hi */
#define LBP_NONE_OK 16u  /* `none` is accepted (and may be the default) */
#define LBP_NONEMPTY 32u /* lists: at least one item */

typedef struct lbp_param {
    const char *name;    /* identifier; NULL ends the array */
    lbp_ptype type;
    const char *def;     /* default as labbook source: "1", "true", "\"max\"", "[16, 32]", "none";
                            NULL: required */
    unsigned flags;      /* LBP_LO, LBP_HI, ... */
    double lo, hi;       /* the range, per flags */
    const char *choices; /* strings: the allowed values separated by '|' ("max|stride"), or NULL */
    const char *doc;     /* one line */
} lbp_param;

/* ---- layer and model types -------------------------------------------------------------
 * A type is called like a function in labbook (`conv2d(1, 16, 3, pad=1)`), which checks the
 * arguments and gives a layer value; `model NAME = ...` builds it for an input shape.
 *
 * build(h, L) runs once per model build, with the input shape known (h->in_ndim/in_dim,
 * batch excluded). It creates the layer's parameters (h->param, initialised with h->init_*)
 * and/or adds child layers (h->child: any registered type, written as labbook source such
 * as "conv2d(%d, %d, %d, pad=%d)"). It returns 0, or -1 after h->fail(L, ...).
 * forward(h, L, g, x) maps a batch x [N, ...] to the output using host ops on g, so that the
 * backward pass comes from the tape; NULL means "run the children in order". Errors inside
 * ops are sticky in g: return NULL (or the op's NULL) and the host reports the message.
 * The output shape is found by running forward once on a zero batch of 1 at build time.
 * default_input (optional) gives the input shape (batch excluded) used when `model` is given
 * none: e.g. [in_features] for linear. Returns ndim, or 0 for "no opinion". */
#define LBP_KIND_LAYER 0
#define LBP_KIND_MODEL 1

typedef struct lbp_type {
    size_t size;          /* sizeof(lbp_type) */
    const char *name;     /* identifier, unique across every loaded plugin */
    int kind;             /* LBP_KIND_LAYER or LBP_KIND_MODEL (how help and tables list it) */
    const char *summary;  /* one line */
    const char *doc;      /* paragraphs (may be NULL) */
    const char *example;  /* example lines (may be NULL) */
    const lbp_param *params;
    int (*build)(const lbp_host *h, lbp_layer *L);
    lbp_tensor *(*forward)(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x);
    int (*default_input)(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM]);
    void (*free_state)(void *state); /* frees what h->set_state stored; may be NULL */

    /* ---- appended after ABI 1 (named inputs): the host reads these fields only when the
     * type's size covers them, so a plugin built against the ABI-1 header (without them)
     * still loads, and its types have one input "x" and output "y". */
    /* The model's inputs: NULL-terminated names (identifiers, 1 to LBP_MAXINPUTS); NULL: one
     * input "x". A type with two or more inputs is a model's root only (not a layer inside
     * sequential or a child), is fed by forward_inputs, and its build sees each input's shape
     * with h->in_count / in_ndim_at / in_dim_at (h->in_ndim / in_dim: input 0). */
    const char *const *inputs;
    const char *output; /* the output's name; NULL: "y" */
    /* xs[i] is the batch [N, ...] of input i (the order of `inputs`), n their number; used
     * instead of forward when the type has several inputs. */
    lbp_tensor *(*forward_inputs)(const lbp_host *h, lbp_layer *L, lbp_graph *g,
                                  lbp_tensor *const *xs, int n);
    /* The shape of input i (batch excluded) when `model` is given none: returns ndim, or 0 for
     * "no opinion" (then `model` needs input={name: shape, ...}). */
    int (*default_inputs)(const lbp_host *h, const lbp_args *a, int i, int64_t shape[LBP_MAXDIM]);
} lbp_type;

/* Whether a type struct handed over by a plugin has an appended field (the host's test; a
 * plugin's own struct always has them all). */
#define LBP_TYPE_HAS(t, field) \
    ((t)->size >= offsetof(lbp_type, field) + sizeof(((const lbp_type *)0)->field))

/* ---- custom ops ---------------------------------------------------------------------------
 * An op with its own backward, for what host ops cannot compose. The host makes the output
 * (shape given to h->op), passes contiguous inputs, records a tape node, and at backward
 * time calls backward with the output gradient; it must ACCUMULATE (+=) into gin[i] (NULL
 * for inputs that need no gradient). */
typedef struct lbp_opcall {
    int nin;
    const float *in[4];
    int in_ndim[4];
    int64_t in_shape[4][LBP_MAXDIM];
    float *out;
    int out_ndim;
    int64_t out_shape[LBP_MAXDIM];
    float attr[4]; /* scalars given to h->op */
} lbp_opcall;

typedef struct lbp_op {
    size_t size; /* sizeof(lbp_op) */
    const char *name;
    const char *doc;
    int nin; /* 1..4 */
    void (*forward)(const lbp_opcall *c);
    void (*backward)(const lbp_opcall *c, const float *gout, float *const *gin);
} lbp_op;

/* ---- commands -------------------------------------------------------------------------------
 * A command line `NAME arg ... key=value ...`; positional values are read with
 * h->call_num/call_str/call_model, key=value ones (checked against params) with h->arg_*
 * on h->call_args(c). run returns 0, or -1 after h->call_fail. */
typedef struct lbp_command {
    size_t size; /* sizeof(lbp_command) */
    const char *name;
    const char *synopsis;
    const char *doc;
    const char *example;
    const lbp_param *params;
    int min_args, max_args; /* max_args -1: unlimited */
    int (*run)(const lbp_host *h, lbp_call *c);
} lbp_command;

/* ---- tasks and data sources (after ABI 1) -----------------------------------------------------
 * A task is a kind of learning problem (spec/language.md §13 "Tasks"): it checks the model's
 * output against the data's targets, gives the loss of a batch and accumulates its metrics over a
 * whole split. `train ... task="NAME"` uses a registered one; a data source names its default.
 * A batch is the data's fields as tensors, by name (h->batch_field). The loss uses host ops (or a
 * custom op, for its own backward). The accumulator reads values with h->read. Metrics list the
 * loss first; `better` is 1 (higher is better) or -1 (lower); `on_train` ones are also measured
 * on the training batches. Register with h->register_task (test LBP_HOST_HAS(h, register_task)). */
typedef struct lbp_batch lbp_batch;     /* one batch: the data's fields by name */
typedef struct lbp_taskrun lbp_taskrun; /* what a task sees of a run: the model and the data */

typedef struct lbp_metric {
    const char *name; /* identifier; NULL ends the array */
    int better;       /* 1: higher is better; -1: lower */
    int on_train;     /* also measured on the training batches */
} lbp_metric;

typedef struct lbp_task {
    size_t size;          /* sizeof(lbp_task) */
    const char *name;     /* identifier, unique among tasks */
    const char *summary;  /* one line */
    const char *loss_name;
    const char *monitor;  /* the default monitor, e.g. "valid.acc" */
    const lbp_metric *metrics;
    /* 0, or -1 after writing why the model does not fit the data into err; may be NULL */
    int (*check)(const lbp_host *h, const lbp_taskrun *r, char *err, size_t errlen);
    lbp_tensor *(*loss)(const lbp_host *h, const lbp_taskrun *r, lbp_graph *g, lbp_tensor *out,
                        const lbp_batch *b, int training);
    void *(*acc_new)(const lbp_host *h, const lbp_taskrun *r);
    void (*acc_reset)(void *acc);
    void (*acc_add)(const lbp_host *h, void *acc, const lbp_tensor *out, const lbp_batch *b,
                    double batch_loss);
    void (*acc_values)(void *acc, double *values); /* one per metric, in order */
    void (*acc_free)(void *acc);
} lbp_task;

/* A loss and a metric on their own, for any task whose batches and outputs they understand:
 * `train ... loss="NAME"` replaces the task's loss (the metrics stay the task's), and
 * `train ... metrics=["NAME", ...]` adds metrics after the task's. A metric accumulates over a
 * whole split like a task's (acc_new ... acc_free) and gives one value. */
typedef struct lbp_loss {
    size_t size;          /* sizeof(lbp_loss) */
    const char *name;     /* identifier, unique among losses */
    const char *summary;
    lbp_tensor *(*loss)(const lbp_host *h, const lbp_taskrun *r, lbp_graph *g, lbp_tensor *out,
                        const lbp_batch *b, int training);
} lbp_loss;

typedef struct lbp_metric_def {
    size_t size;          /* sizeof(lbp_metric_def) */
    const char *name;     /* identifier, unique among metrics; at most 23 characters */
    const char *summary;
    int better;           /* 1: higher is better; -1: lower */
    int on_train;
    void *(*acc_new)(const lbp_host *h, const lbp_taskrun *r);
    void (*acc_reset)(void *acc);
    void (*acc_add)(const lbp_host *h, void *acc, const lbp_tensor *out, const lbp_batch *b);
    double (*acc_value)(void *acc);
    void (*acc_free)(void *acc);
} lbp_metric_def;

/* A data source: a function `NAME(n=..., test=..., valid=0, seed=0, normalize=true, ...)` giving
 * a data set whose samples the plugin draws one at a time. Its fields (fixed shapes) are the
 * model's inputs (by name) and the task's targets; an int target with no dimensions is a class
 * (classes names them). sample() writes sample i of the training (test = 0) or test (test = 1)
 * set: every input field's values into x, every target field's into t, each in field order;
 * the same (seed, test, i) must give the same sample. The host adds the parameters n, test,
 * valid, seed and normalize to params. */
#define LBP_FIELD_FLOAT 0
#define LBP_FIELD_INT 1

typedef struct lbp_field {
    const char *name; /* identifier; NULL ends the array */
    int type;         /* LBP_FIELD_FLOAT or LBP_FIELD_INT */
    int target;       /* 0: a model input */
    int ndim;         /* 0..3 */
    int64_t shape[3];
    double pad;       /* int targets: the index the loss and metrics ignore */
} lbp_field;

typedef struct lbp_data {
    size_t size;          /* sizeof(lbp_data) */
    const char *name;     /* identifier: the function's name */
    const char *summary;
    const char *doc;
    const char *example;
    const lbp_param *params; /* its own parameters (may be NULL) */
    const char *task;     /* the default task of its data */
    const lbp_field *fields;
    const char *const *classes; /* NULL-terminated class names (a class target), or NULL */
    int (*sample)(const lbp_host *h, const lbp_args *a, uint64_t seed, int test, int64_t i, float *x,
                  float *t);
} lbp_data;

/* ---- the host function table ------------------------------------------------------------- */
typedef struct lbp_conv {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w; /* 0 means 1 for stride/dilation */
} lbp_conv;

struct lbp_host {
    size_t size;          /* sizeof(lbp_host) in the host: LBP_HOST_HAS tests it */
    uint32_t abi_version; /* LBP_ABI_VERSION of the host */
    const char *host_version;

    /* registration (inside lbp_init only); -1 with the reason written to init's err */
    int (*register_type)(lbp_plugin *p, const lbp_type *t);
    int (*register_op)(lbp_plugin *p, const lbp_op *op);
    int (*register_command)(lbp_plugin *p, const lbp_command *c);
    /* Loads another plugin first (as `use NAME`); -1 when it cannot be loaded. */
    int (*require)(lbp_plugin *p, const char *plugin_name);
    const lbp_op *(*find_op)(const char *name); /* any loaded plugin's op, or NULL */

    /* checked arguments: the value, or the default; a wrong-typed read gives 0 / NULL */
    const lbp_args *(*args)(lbp_layer *L);
    int (*arg_given)(const lbp_args *a, const char *name); /* written by the user */
    int (*arg_none)(const lbp_args *a, const char *name);  /* the value is none */
    int64_t (*arg_int)(const lbp_args *a, const char *name);
    double (*arg_num)(const lbp_args *a, const char *name);
    int (*arg_bool)(const lbp_args *a, const char *name);
    const char *(*arg_str)(const lbp_args *a, const char *name);
    size_t (*arg_len)(const lbp_args *a, const char *name); /* list length */
    double (*arg_item)(const lbp_args *a, const char *name, size_t i);

    /* building a layer */
    int (*fail)(lbp_layer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    int (*in_ndim)(lbp_layer *L);            /* input dims, batch excluded */
    int64_t (*in_dim)(lbp_layer *L, int i);  /* negative i counts from the end */
    /* A parameter (trainable = 1) or buffer (0) of this layer, zero-filled, in the model's
     * parameter block; named "<layer path>.<name>". NULL after failing the build. */
    lbp_tensor *(*param)(lbp_layer *L, const char *name, int ndim, const int64_t *shape,
                         int trainable);
    /* Adds a child layer written as labbook source (printf format), built on the current
     * shape (the input, or the previous child's output). -1 after failing the build. */
    int (*child)(lbp_layer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void (*set_state)(lbp_layer *L, void *state); /* freed by type->free_state */
    void *(*state)(lbp_layer *L);
    /* PyTorch-default initialisation from the model's seeded generator */
    void (*init_linear)(lbp_layer *L, lbp_tensor *w, lbp_tensor *b); /* U(+-1/sqrt(fan_in)) */
    void (*init_uniform)(lbp_layer *L, lbp_tensor *t, float lo, float hi);
    void (*init_normal)(lbp_layer *L, lbp_tensor *t, float mean, float std);
    void (*init_const)(lbp_layer *L, lbp_tensor *t, float v);

    /* running a layer */
    lbp_tensor *(*get_param)(lbp_layer *L, const char *name); /* by the name given to param */
    int (*nchildren)(lbp_layer *L);
    lbp_tensor *(*run_child)(lbp_layer *L, int i, lbp_graph *g, lbp_tensor *x);
    int (*training)(lbp_layer *L); /* 1 in a training step, 0 in evaluation */

    /* tensors */
    int (*ndim)(const lbp_tensor *t);
    int64_t (*dim)(const lbp_tensor *t, int i); /* negative i counts from the end */
    int64_t (*numel)(const lbp_tensor *t);
    lbp_tensor *(*zeros)(lbp_graph *g, int ndim, const int64_t *shape);
    lbp_tensor *(*full)(lbp_graph *g, int ndim, const int64_t *shape, float v);
    /* sets the graph's error (all later ops then give NULL); returns NULL */
    lbp_tensor *(*graph_fail)(lbp_graph *g, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

    /* ops: each records on the tape when gradients are on */
    lbp_tensor *(*add)(lbp_graph *g, lbp_tensor *a, lbp_tensor *b); /* broadcasting */
    lbp_tensor *(*sub)(lbp_graph *g, lbp_tensor *a, lbp_tensor *b);
    lbp_tensor *(*mul)(lbp_graph *g, lbp_tensor *a, lbp_tensor *b);
    lbp_tensor *(*div)(lbp_graph *g, lbp_tensor *a, lbp_tensor *b);
    lbp_tensor *(*add_scalar)(lbp_graph *g, lbp_tensor *x, float s);
    lbp_tensor *(*mul_scalar)(lbp_graph *g, lbp_tensor *x, float s);
    lbp_tensor *(*pow)(lbp_graph *g, lbp_tensor *x, float p);
    lbp_tensor *(*exp)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*log)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*sqrt)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*tanh)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*sigmoid)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*relu)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*leaky_relu)(lbp_graph *g, lbp_tensor *x, float slope);
    lbp_tensor *(*gelu)(lbp_graph *g, lbp_tensor *x);
    lbp_tensor *(*sum)(lbp_graph *g, lbp_tensor *x, int axis, int keepdim);
    lbp_tensor *(*mean)(lbp_graph *g, lbp_tensor *x, int axis, int keepdim);
    lbp_tensor *(*max)(lbp_graph *g, lbp_tensor *x, int axis, int keepdim);
    lbp_tensor *(*reshape)(lbp_graph *g, lbp_tensor *x, int ndim, const int64_t *shape);
    lbp_tensor *(*flatten)(lbp_graph *g, lbp_tensor *x, int start_axis);
    lbp_tensor *(*transpose)(lbp_graph *g, lbp_tensor *x, int a0, int a1);
    lbp_tensor *(*slice)(lbp_graph *g, lbp_tensor *x, int axis, int64_t start, int64_t end,
                         int64_t step);
    lbp_tensor *(*concat)(lbp_graph *g, lbp_tensor *const *xs, int n, int axis);
    lbp_tensor *(*matmul)(lbp_graph *g, lbp_tensor *a, lbp_tensor *b);
    lbp_tensor *(*linear)(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b);
    lbp_tensor *(*conv2d)(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b,
                          const lbp_conv *o);
    lbp_tensor *(*maxpool2d)(lbp_graph *g, lbp_tensor *x, int k, int s, int p);
    lbp_tensor *(*avgpool2d)(lbp_graph *g, lbp_tensor *x, int k, int s, int p);
    lbp_tensor *(*embedding)(lbp_graph *g, lbp_tensor *ids, lbp_tensor *w);
    /* inverted dropout with the model's generator; identity unless training */
    lbp_tensor *(*dropout)(lbp_layer *L, lbp_graph *g, lbp_tensor *x, float p);
    lbp_tensor *(*softmax)(lbp_graph *g, lbp_tensor *x, int axis);
    lbp_tensor *(*log_softmax)(lbp_graph *g, lbp_tensor *x, int axis);
    lbp_tensor *(*layernorm)(lbp_graph *g, lbp_tensor *x, lbp_tensor *w, lbp_tensor *b, float eps);
    /* batch statistics (and running-statistics update) when L is training, else the running
     * statistics */
    lbp_tensor *(*batchnorm)(lbp_layer *L, lbp_graph *g, lbp_tensor *x, lbp_tensor *w,
                             lbp_tensor *b, lbp_tensor *running_mean, lbp_tensor *running_var,
                             float momentum, float eps);
    /* a custom op (registered by any plugin): inputs, output shape, up to 4 scalar attrs */
    lbp_tensor *(*op)(lbp_graph *g, const lbp_op *op, lbp_tensor *const *in, int nin,
                      int out_ndim, const int64_t *out_shape, const float *attr, int nattr);

    /* commands */
    const lbp_args *(*call_args)(lbp_call *c); /* the key=value parameters */
    size_t (*call_nargs)(lbp_call *c);
    int (*call_num)(lbp_call *c, size_t i, double *out);     /* -1 (and error set) if not */
    const char *(*call_str)(lbp_call *c, size_t i);          /* NULL (and error set) if not */
    void (*call_print)(lbp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    int (*call_fail)(lbp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    /* a model's trainable parameter count, or -1 (error set) when arg i is not a model */
    int64_t (*call_model_params)(lbp_call *c, size_t i);

    /* ---- appended after ABI 1 (test LBP_HOST_HAS(h, in_count) first) ---- */
    /* building a type with named inputs (lbp_type.inputs): their number (1 for any other
     * layer), and the shape of input `input` (batch excluded; negative i counts from the end) */
    int (*in_count)(lbp_layer *L);
    int (*in_ndim_at)(lbp_layer *L, int input);
    int64_t (*in_dim_at)(lbp_layer *L, int input, int i);

    /* ---- appended after ABI 1 (test LBP_HOST_HAS(h, register_task) first) ---- */
    /* registration of tasks and data sources (inside lbp_init only) */
    int (*register_task)(lbp_plugin *p, const lbp_task *t);
    int (*register_data)(lbp_plugin *p, const lbp_data *d);
    /* a batch's field (NULL when it has none of that name) and its number of samples */
    lbp_tensor *(*batch_field)(const lbp_batch *b, const char *name);
    int64_t (*batch_size)(const lbp_batch *b);
    /* copies t's values (any strides) row-major into out, at most n; returns t's element count */
    int64_t (*read)(const lbp_tensor *t, float *out, int64_t n);
    /* the run's data: its class count; the shape of the model's output (ndim); a target field's
     * shape (ndim, or -1 when the data has no target of that name) and padding value */
    int (*run_classes)(const lbp_taskrun *r);
    int (*run_output)(const lbp_taskrun *r, int64_t shape[LBP_MAXDIM]);
    int (*run_target)(const lbp_taskrun *r, const char *name, int64_t shape[3], double *pad);
    /* registration of a loss and a metric of their own (inside lbp_init only) */
    int (*register_loss)(lbp_plugin *p, const lbp_loss *l);
    int (*register_metric)(lbp_plugin *p, const lbp_metric_def *m);
};

#define LBP_HOST_HAS(h, field) \
    ((h)->size >= offsetof(lbp_host, field) + sizeof(((const lbp_host *)0)->field))

/* The exported init function. */
typedef int (*lbp_init_fn)(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen);
__attribute__((visibility("default"))) int lbp_init(const lbp_host *h, lbp_plugin *p, char *err,
                                                     size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
