/* loop.c — the training loop of one run and the evaluation of a model on a split (train.h):
 * seeded batches, forward, the loss, backward, clipping, the optimizer step with its schedule,
 * evaluation on the valid split every epoch, early stopping, the test split at the end; and the
 * run record's fixed part. Knows nothing of the language: interrupts and progress come and go
 * through lb_train_hooks. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/format.h"
#include "base/sha256.h"
#include "base/version.h"
#include "train/train.h"

const char *const lb_opt_names[3] = {"sgd", "adam", "adamw"};
const char *const lb_sched_names[3] = {"constant", "step", "cosine"};


/* A JSON number, or null for NaN and infinities (JSON has no such numbers). */
static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static int poll(const lb_train_hooks *h, lb_error *err) { return h && h->poll ? h->poll(h->ctx, err) : 0; }

const char *lb_run_state_name(lb_run_state s)
{
    switch (s) {
    case LB_RUN_RUNNING: return "running";
    case LB_RUN_FINISHED: return "finished";
    case LB_RUN_STOPPED: return "stopped early";
    case LB_RUN_INTERRUPTED: return "interrupted";
    default: return "failed";
    }
}

/* The resolved settings as JSON (what the record keeps and what a config hash covers). */
json_t *lb_train_config_json(const lb_train_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "batch", json_integer(c->batch));
    json_object_set_new(o, "opt", json_string(lb_opt_names[c->opt]));
    json_object_set_new(o, "lr", json_real(c->lr));
    if (c->opt == LB_SGD) {
        json_object_set_new(o, "momentum", json_real(c->momentum));
        json_object_set_new(o, "nesterov", json_boolean(c->nesterov));
    } else {
        json_object_set_new(o, "beta1", json_real(c->beta1));
        json_object_set_new(o, "beta2", json_real(c->beta2));
        json_object_set_new(o, "eps", json_real(c->eps));
    }
    json_object_set_new(o, "weight_decay", json_real(c->weight_decay));
    json_object_set_new(o, "schedule", json_string(lb_sched_names[c->schedule]));
    if (c->schedule == LB_SCHED_STEP) {
        json_object_set_new(o, "step_size", json_integer(c->step_size));
        json_object_set_new(o, "gamma", json_real(c->gamma));
    } else if (c->schedule == LB_SCHED_COSINE) {
        json_object_set_new(o, "eta_min", json_real(c->eta_min));
    }
    json_object_set_new(o, "warmup", json_integer(c->warmup));
    json_object_set_new(o, "clip", json_real(c->clip));
    json_object_set_new(o, "label_smoothing", json_real(c->label_smoothing));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(o, "patience", json_integer(c->patience));
    json_object_set_new(o, "monitor", json_string(c->monitor));
    if (c->patience) {
        json_object_set_new(o, "min_delta", json_real(c->min_delta));
        json_object_set_new(o, "restore_best", json_boolean(c->restore_best));
    }
    json_object_set_new(o, "eval_batch", json_integer(c->eval_batch));
    json_object_set_new(o, "topk", json_integer(c->topk));
    const lb_task *t = c->task_impl ? c->task_impl : lb_task_find(c->task);
    json_object_set_new(o, "task", json_string(c->task));
    json_object_set_new(o, "loss", json_string(t ? t->loss_name : "?"));
    return o;
}

/* ---- evaluation --------------------------------------------------------------------------- */

static int graph_error(lb_graph *g, const char *what, lb_error *err)
{
    if (lb_fault_pending())
        return lb_fault_error(err);
    const char *e = lb_graph_error(g);
    return lb_error_set(err, "ModelError", 0, 0, "%s: %s", what, e ? e : "failed");
}

/* ---- metrics and their directions ---------------------------------------------------------- */

/* The task of settings c: the one given, else the registered one of its name (NULL: none). */
static const lb_task *task_of(const lb_train_config *c)
{
    return c->task_impl ? c->task_impl : lb_task_find(c->task);
}

/* The task's split metrics (for settings c; classification if c names no known task). */
static int task_metrics(const lb_train_config *c, lb_task_metric *out)
{
    const lb_task *t = task_of(c);
    lb_task_env e = {.task = t ? t : &lb_task_classify, .c = c};
    return e.task->metrics(&e, out);
}

static const char *better_name(lb_better b)
{
    return b == LB_BETTER_LOWER ? "lower" : b == LB_BETTER_HIGHER ? "higher" : "none";
}

/* {"loss": "lower", ...} for the task's metrics, then the run's own. */
static json_t *metrics_declared(const lb_train_config *c)
{
    lb_task_metric m[LB_TASK_MAXMETRICS];
    int n = task_metrics(c, m);
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(o, m[i].name, json_string(better_name(m[i].better)));
    json_object_set_new(o, "seconds", json_string("lower"));
    json_object_set_new(o, "seconds_per_epoch", json_string("lower"));
    json_object_set_new(o, "samples_per_s", json_string("higher"));
    return o;
}

/* {"name", "loss", "metrics": [the split metrics in order]} */
static json_t *task_declared(const lb_train_config *c)
{
    const lb_task *t = task_of(c);
    lb_task_metric m[LB_TASK_MAXMETRICS];
    int n = task_metrics(c, m);
    json_t *names = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(names, json_string(m[i].name));
    return json_pack("{s:s, s:s, s:o}", "name", c->task, "loss", t ? t->loss_name : "?", "metrics", names);
}

lb_better lb_record_better(const json_t *rec, const char *name)
{
    static const char *const splits[] = {"train.", "valid.", "test."};
    for (size_t i = 0; i < 3; i++)
        if (strncmp(name, splits[i], strlen(splits[i])) == 0) {
            name += strlen(splits[i]);
            break;
        }
    const char *d = json_string_value(json_object_get(json_object_get(rec, "metrics"), name));
    return !d ? LB_BETTER_NONE : strcmp(d, "lower") == 0 ? LB_BETTER_LOWER : strcmp(d, "higher") == 0 ? LB_BETTER_HIGHER
                                                                                                     : LB_BETTER_NONE;
}

const char *const *lb_train_monitor_names(const lb_train_config *c, size_t *n)
{
    static char names[2 * LB_TASK_MAXMETRICS][32];
    static const char *out[2 * LB_TASK_MAXMETRICS];
    lb_task_metric m[LB_TASK_MAXMETRICS];
    int nm = task_metrics(c, m);
    size_t k = 0;
    for (int i = 0; i < nm; i++)
        if (m[i].on_train)
            snprintf(names[k++], sizeof names[0], "train.%.23s", m[i].name);
    for (int i = 0; i < nm; i++)
        snprintf(names[k++], sizeof names[0], "valid.%.23s", m[i].name);
    for (size_t i = 0; i < k; i++)
        out[i] = names[i];
    *n = k;
    return out;
}

/* ---- one run ------------------------------------------------------------------------------ */

json_t *lb_train_record_new(const lb_train_config *c, lb_model *m, lb_dataset *ds, const char *start_sha256,
                            int id, const char *name, json_t *swept, json_t *plugins)
{
    char host[256] = "", started[32];
    gethostname(host, sizeof host - 1);
    lb_utc_iso(started, sizeof started);
    json_t *rec = json_object(), *settings = lb_train_config_json(c), *history = json_array();
    if (!rec || !settings || !history) {
        json_decref(rec);
        json_decref(settings);
        json_decref(history);
        json_decref(swept);
        json_decref(plugins);
        return NULL;
    }
    char cfg_hash[65] = "";
    json_t *h = json_pack("{s:s, s:O, s:s, s:s}", "spec", lb_model_spec_text(m), "settings", settings, "data",
                          lb_dataset_fingerprint(ds), "init", start_sha256);
    char *txt = h ? json_dumps(h, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    lb_sha256_hex(txt ? txt : "", txt ? strlen(txt) : 0, cfg_hash);
    free(txt);
    json_decref(h);
    int threads = lb_get_threads();
    json_object_set_new(rec, "id", json_integer(id));
    json_object_set_new(rec, "name", json_string(name));
    json_object_set_new(rec, "model", json_string(lb_model_name(m)));
    json_object_set_new(rec, "spec", json_string(lb_model_spec_text(m)));
    json_object_set_new(rec, "params", json_integer(lb_params_numel(lb_model_params(m), 1)));
    json_object_set_new(rec, "model_seed", json_integer((json_int_t)lb_model_seed(m)));
    json_object_set_new(rec, "init_sha256", json_string(start_sha256));
    json_object_set_new(rec, "status", json_string("running"));
    json_object_set_new(rec, "settings", settings);
    json_object_set_new(rec, "swept", swept ? swept : json_object());
    json_object_set_new(rec, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(rec, "config_sha256", json_string(cfg_hash));
    json_object_set_new(rec, "data", lb_dataset_record(ds));
    json_object_set_new(rec, "plugins", plugins ? plugins : json_array());
    json_object_set_new(rec, "labbook", json_string(LB_VERSION));
    json_object_set_new(rec, "threads", json_integer(threads));
    const lb_blas_info *blas = lb_blas_info_get();
    json_object_set_new(rec, "blas", json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "library", blas->library,
                                               "version", blas->version, "core", blas->core, "detected",
                                               blas->detected, "chosen_by", blas->chosen_by, "cpu", blas->cpu));
    json_object_set_new(rec, "host", json_string(host));
    json_object_set_new(rec, "started", json_string(started));
    char repro[384];
    snprintf(repro, sizeof repro,
             "bit-identical: the same model initialisation (init_sha256), data (data.fingerprint), "
             "settings and seed %" PRIu64 " with %d thread%s on OpenBLAS %s core %s give the same metrics "
             "and weights",
             c->seed, threads, threads == 1 ? "" : "s", blas->version, blas->core);
    json_object_set_new(rec, "reproducible", json_string(repro));
    json_object_set_new(rec, "task", task_declared(c));
    json_object_set_new(rec, "metrics", metrics_declared(c));
    json_object_set_new(rec, "history", history);
    return rec;
}

static double monitor_of(const lb_train_config *c, json_t *ep)
{
    json_t *v = json_object_get(ep, c->monitor);
    return v ? json_number_value(v) : NAN;
}

/* Whether epoch value a improves on b for the monitor, which is better `better`. */
static bool improves(const lb_train_config *c, lb_better better, double a, double b)
{
    if (isnan(a))
        return false;
    if (isnan(b))
        return true;
    return better == LB_BETTER_LOWER ? a < b - c->min_delta : a > b + c->min_delta;
}

/* ---- batches as named tensors ------------------------------------------------------------ */

/* The data field that feeds model input i: the input field of its name; for a model of one
 * unnamed input ("x"), the data's only input field whatever its name. -1: none. */
static int input_field(const lb_task_env *e, int i)
{
    int fi = -1;
    const lb_field *f = lb_dataset_field(e->ds, lb_model_input_name(e->m, i), &fi);
    if (f && !f->target)
        return fi;
    if (lb_model_ninputs(e->m) != 1 || strcmp(lb_model_input_name(e->m, 0), "x") != 0)
        return -1;
    int only = -1, n = 0;
    for (int k = 0; k < e->ds->nfields; k++)
        if (!e->ds->fields[k].target) {
            only = k;
            n++;
        }
    return n == 1 ? only : -1;
}

/* Checks the model's inputs against the data's fields (each input fed from the input field of
 * its name, with the same number of values per sample: flat [784] models take [1, 28, 28]
 * images) and the task's own check. */
static int check_run(const lb_task_env *e, lb_error *err)
{
    for (int i = 0; i < lb_model_ninputs(e->m); i++) {
        const char *name = lb_model_input_name(e->m, i);
        int fi = input_field(e, i);
        const lb_field *f = fi >= 0 ? &e->ds->fields[fi] : NULL;
        int64_t in[LB_MAXDIM], n = 1;
        int nd = lb_model_input_shape_at(e->m, i, in);
        for (int d = 0; d < nd; d++)
            n *= in[d];
        char want[96], got[96];
        lb_format_shape(nd, in, want, sizeof want);
        if (!f)
            return lb_error_set(err, "ValueError", 0, 0, "model %s has an input %s %s, but data set %s has no input field %s",
                                lb_model_name(e->m), name, want, e->ds->name, name);
        if (f->numel != n || (f->ndim && f->shape[0] < 0)) {
            lb_format_shape(f->ndim, f->shape, got, sizeof got);
            if (strcmp(name, "x") == 0)
                return lb_error_set(err, "ValueError", 0, 0, "model %s takes inputs of shape %s, but the %s samples are %s",
                                    lb_model_name(e->m), want, e->ds->splits[0].name, got);
            return lb_error_set(err, "ValueError", 0, 0, "model %s takes input %s of shape %s, but field %s of %s is %s",
                                lb_model_name(e->m), name, want, name, e->ds->name, got);
        }
    }
    return e->task->check ? e->task->check(e, err) : 0;
}

int lb_train_check(lb_model *m, const lb_dataset *ds, const lb_train_config *c, lb_error *err)
{
    const lb_task *t = task_of(c);
    if (!t)
        return lb_error_set(err, "ValueError", 0, 0, "no task named %s", c->task);
    lb_task_env e = {.task = t, .m = m, .ds = ds, .c = c};
    return check_run(&e, err);
}

/* One buffer per field for batches of up to `batch` samples. */
typedef struct fieldbufs {
    float *buf[LB_MAX_FIELDS];
    int64_t lens[LB_MAX_FIELDS];
} fieldbufs;

static void fieldbufs_free(fieldbufs *f)
{
    for (int i = 0; i < LB_MAX_FIELDS; i++) {
        free(f->buf[i]);
        f->buf[i] = NULL;
    }
}

static int fieldbufs_alloc(fieldbufs *f, const lb_dataset *ds, int64_t batch, lb_error *err)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < ds->nfields; i++)
        if (!(f->buf[i] = malloc((size_t)lb_field_batch_numel(&ds->fields[i], batch) * sizeof(float) + 1))) {
            fieldbufs_free(f);
            return lb_oom(err);
        }
    return 0;
}

/* The batch's tensors in g over the filled buffers, and the model's inputs (the input fields,
 * shaped as the model takes them: same values, the model's shape). */
static void wrap_batch(const lb_task_env *e, lb_graph *g, fieldbufs *f, int64_t b, lb_batch *B,
                       lb_tensor **xs)
{
    B->n = b;
    B->nfields = e->ds->nfields;
    for (int i = 0; i < e->ds->nfields; i++) {
        const lb_field *d = &e->ds->fields[i];
        int64_t shape[LB_MAXDIM] = {b};
        for (int k = 0; k < d->ndim && k + 1 < LB_MAXDIM; k++)
            shape[k + 1] = k == 0 ? f->lens[i] : d->shape[k];
        B->field[i] = d;
        B->t[i] = lb_wrap(g, d->ndim + 1, shape, f->buf[i]);
    }
    for (int i = 0; i < lb_model_ninputs(e->m); i++) {
        int64_t shape[LB_MAXDIM] = {b}, in[LB_MAXDIM];
        int nd = lb_model_input_shape_at(e->m, i, in);
        for (int k = 0; k < nd && k + 1 < LB_MAXDIM; k++)
            shape[k + 1] = in[k];
        xs[i] = lb_wrap(g, nd + 1, shape, f->buf[input_field(e, i)]);
    }
}

/* What run_split does with each batch's output: out [b, ...] of the batch B whose first sample
 * is sample `first` of the split, and the batch's loss. */
typedef void (*batch_fn)(void *ctx, lb_tensor *out, const lb_batch *B, double loss, int64_t first);

/* Runs the model over split s in no-grad mode (eval-mode layers), batches of `batch` in order,
 * giving each batch's output and loss to fn; h->poll between batches. -1 with *err. */
static int run_split(const lb_task_env *e, const lb_split *s, int64_t batch, batch_fn fn, void *ctx,
                     const lb_train_hooks *h, lb_error *err)
{
    lb_epoch_iter it;
    if (lb_epoch_init(&it, s, batch, false, false, 0, err) < 0)
        return -1;
    fieldbufs f;
    lb_graph *g = lb_graph_new();
    int rc = fieldbufs_alloc(&f, e->ds, batch, err);
    if (rc == 0 && !g)
        rc = lb_oom(err);
    if (rc < 0)
        goto out;
    lb_graph_set_grad(g, 0);
    int64_t b, first = 0;
    while (rc == 0 && (b = lb_epoch_fields(&it, e->ds, f.buf, f.lens)) > 0) {
        lb_graph_reset(g);
        lb_batch B;
        lb_tensor *xs[LB_MODEL_MAXINPUTS];
        wrap_batch(e, g, &f, b, &B, xs);
        if (e->task->prepare && (rc = e->task->prepare(e, g, &B, err)) < 0)
            break;
        lb_tensor *y = lb_model_forward_inputs(e->m, g, xs, lb_model_ninputs(e->m), 0, NULL);
        lb_tensor *loss = y ? e->task->loss(e, g, y, &B, false) : NULL;
        if (!loss) {
            rc = graph_error(g, "evaluating", err);
            break;
        }
        fn(ctx, y, &B, loss->data[0], first);
        first += b;
        rc = poll(h, err);
    }
out:
    lb_epoch_free(&it);
    fieldbufs_free(&f);
    lb_graph_free(g);
    return rc;
}

typedef struct acc_ctx {
    const lb_task *task;
    void *acc;
} acc_ctx;

static void add_to_acc(void *ctx, lb_tensor *out, const lb_batch *B, double loss, int64_t first)
{
    (void)first;
    acc_ctx *a = ctx;
    a->task->acc_add(a->acc, out, B, loss);
}

/* The task's metrics of split s into acc (reset first). */
static int evaluate_task(const lb_task_env *e, const lb_split *s, int64_t batch, void *acc,
                         const lb_train_hooks *h, lb_error *err)
{
    e->task->acc_reset(acc);
    acc_ctx a = {e->task, acc};
    return run_split(e, s, batch, add_to_acc, &a, h, err);
}

/* lb_evaluate_split's batches: classification metrics and predictions of every sample. */
typedef struct cls_ctx {
    lb_metrics *met;
    int32_t *preds, *y;
    float *scratch;
} cls_ctx;

static void add_classes(void *ctx, lb_tensor *out, const lb_batch *B, double loss, int64_t first)
{
    cls_ctx *c = ctx;
    const lb_tensor *t = lb_batch_get(B, "y");
    for (int64_t i = 0; i < B->n; i++)
        c->y[i] = (int32_t)t->data[i];
    int64_t ld;
    const float *rows = lb_logit_rows(out, c->scratch, &ld);
    lb_metrics_add(c->met, rows, ld, c->y, B->n, loss, c->preds ? c->preds + first : NULL);
}

int lb_evaluate_split(lb_model *m, const lb_dataset *ds, const lb_split *s, int64_t batch, lb_metrics *met,
                      int32_t *preds, const lb_train_hooks *h, lb_error *err)
{
    lb_train_config c = {.topk = met->k};
    snprintf(c.task, sizeof c.task, "classify");
    lb_task_env e = {.task = &lb_task_classify, .m = m, .ds = ds, .c = &c};
    if (check_run(&e, err) < 0)
        return -1;
    cls_ctx k = {.met = met, .preds = preds, .y = malloc((size_t)batch * sizeof(int32_t)),
                 .scratch = malloc((size_t)(batch * met->nclasses) * sizeof(float))};
    int rc = k.y && k.scratch ? run_split(&e, s, batch, add_classes, &k, h, err) : lb_oom(err);
    free(k.y);
    free(k.scratch);
    return rc;
}

/* ---- one run's loop ----------------------------------------------------------------------- */

/* The buffers and state of one run's loop. */
typedef struct loop {
    const lb_train_config *c;
    lb_model *m;
    lb_dataset *ds;
    const lb_split *tr, *va, *te;
    const lb_train_hooks *h;
    lb_params *P;
    size_t nvals;
    lb_graph *g;
    float *best_w;
    fieldbufs f;
    lb_task_env env;
    lb_task_metric met[LB_TASK_MAXMETRICS];
    int nmet;
    void *tacc, *vacc; /* the task's metrics of the training batches and of the valid split */
    float *bufs;       /* the buffers before the step (see save_buffers) */
    size_t nbufs;
} loop;

/* Buffers (tensors not trained, such as batch norm's running statistics) change during the
 * forward pass, before the optimizer; a step that fails (a plugin's crash, an error, a loss that
 * is not finite) puts them back, so that the model keeps its state from before that step. The
 * weights need no copy: only the optimizer, after every check, writes them. */
static void save_buffers(loop *L, bool restore)
{
    size_t at = 0;
    for (int i = 0; L->nbufs && i < lb_params_count(L->P); i++) {
        lb_tensor *t = lb_params_get(L->P, i);
        if (t->trainable || !t->numel)
            continue;
        if (restore)
            memcpy(t->data, L->bufs + at, (size_t)t->numel * sizeof *L->bufs);
        else
            memcpy(L->bufs + at, t->data, (size_t)t->numel * sizeof *L->bufs);
        at += (size_t)t->numel;
    }
}

static void loop_free(loop *L)
{
    lb_graph_free(L->g);
    free(L->best_w);
    free(L->bufs);
    fieldbufs_free(&L->f);
    if (L->env.task) {
        if (L->tacc)
            L->env.task->acc_free(L->tacc);
        if (L->vacc)
            L->env.task->acc_free(L->vacc);
    }
}

static int step(loop *L, int64_t b, lb_optim *o, float lr, float *lv, lb_error *err);

/* One training step on the filled batch of b samples at rate lr; its loss in *lv. 1 when the
 * loss is not finite (nothing updated). On failure the buffers are as before the step. */
static int train_step(loop *L, int64_t b, lb_optim *o, float lr, float *lv, lb_error *err)
{
    save_buffers(L, false);
    int rc = step(L, b, o, lr, lv, err);
    if (rc != 0)
        save_buffers(L, true);
    return rc;
}

static int step(loop *L, int64_t b, lb_optim *o, float lr, float *lv, lb_error *err)
{
    lb_graph_reset(L->g);
    lb_batch B;
    lb_tensor *xs[LB_MODEL_MAXINPUTS];
    wrap_batch(&L->env, L->g, &L->f, b, &B, xs);
    if (L->env.task->prepare && L->env.task->prepare(&L->env, L->g, &B, err) < 0)
        return -1;
    lb_tensor *out = lb_model_forward_inputs(L->m, L->g, xs, lb_model_ninputs(L->m), 1, NULL);
    lb_tensor *loss = out ? L->env.task->loss(&L->env, L->g, out, &B, true) : NULL;
    if (!loss)
        return graph_error(L->g, "training", err);
    *lv = loss->data[0];
    if (!isfinite(*lv))
        return 1;
    L->env.task->acc_add(L->tacc, out, &B, *lv);
    lb_params_zero_grad(L->P);
    if (lb_backward(L->g, loss) < 0)
        return graph_error(L->g, "backward", err);
    /* a crash in a plugin's backward or metric has no error channel: caught, it is pending */
    if (lb_fault_pending())
        return lb_fault_error(err);
    if (L->h && L->h->grads && L->h->grads(L->h->ctx, L->P, err) < 0)
        return -1;
    if (L->c->clip > 0)
        lb_clip_grad_norm(L->P, (float)L->c->clip);
    o->lr = lr;
    if (lb_optim_step(o, L->P, lb_graph_status(L->g)) < 0)
        return graph_error(L->g, "optimizer", err);
    return 0;
}

/* The values of acc as "<split>.<metric>" entries of ep (only the on_train ones for train). */
static void put_metrics(loop *L, void *acc, const char *split, bool train_only, json_t *ep)
{
    double v[LB_TASK_MAXMETRICS];
    L->env.task->acc_values(acc, v);
    for (int i = 0; i < L->nmet; i++) {
        if (train_only && !L->met[i].on_train)
            continue;
        char k[48];
        snprintf(k, sizeof k, "%s.%s", split, L->met[i].name);
        json_object_set_new(ep, k, jnum(v[i]));
    }
}

/* One epoch of training; the epoch's record entry (new) through *ep. -1 with *err. */
static int train_epoch(loop *L, lb_epoch_iter *it, lb_optim *o, const lb_sched *sch, int64_t e, int64_t *step,
                       json_t **ep, lb_run_state *state, const char *run_label, lb_error *err)
{
    const lb_train_config *c = L->c;
    double te0 = lb_now();
    lb_epoch_start(it, e);
    L->env.task->acc_reset(L->tacc);
    int64_t b, bi = 0, seen = 0;
    float lr = (float)c->lr;
    double loss_sum = 0;
    while ((b = lb_epoch_fields(it, L->ds, L->f.buf, L->f.lens)) > 0) {
        bi++;
        lr = lb_sched_lr(sch, *step);
        float lv = 0;
        int rc = train_step(L, b, o, lr, &lv, err);
        if (rc < 0)
            return -1;
        if (rc > 0)
            return lb_error_set(err, "TrainingError", 0, 0,
                                "the loss is %s at epoch %" PRId64 ", batch %" PRId64
                                " of %s; training stopped. The model keeps the weights "
                                "of the last finite step; a smaller lr (now %g) or clip=1 may help",
                                isnan(lv) ? "NaN" : "infinite", e + 1, bi, run_label, c->lr);
        (*step)++;
        seen += b;
        loss_sum += (double)lv * (double)b;
        if (L->h && L->h->batch)
            L->h->batch(L->h->ctx, e, bi, loss_sum / (double)seen, seen);
        if (poll(L->h, err) < 0) {
            *state = LB_RUN_INTERRUPTED;
            return -1;
        }
    }
    double train_s = lb_now() - te0;
    *ep = json_object();
    json_object_set_new(*ep, "epoch", json_integer(e + 1));
    put_metrics(L, L->tacc, "train", true, *ep);
    if (L->va) {
        if (evaluate_task(&L->env, L->va, c->eval_batch, L->vacc, L->h, err) < 0) {
            if (strcmp(err->ename, "Interrupted") == 0)
                *state = LB_RUN_INTERRUPTED;
            json_decref(*ep);
            *ep = NULL;
            return -1;
        }
        put_metrics(L, L->vacc, "valid", false, *ep);
    }
    char lrb[32];
    snprintf(lrb, sizeof lrb, "%.7g", (double)lr); /* the float32 rate, without its binary tail */
    json_object_set_new(*ep, "lr", json_real(strtod(lrb, NULL)));
    json_object_set_new(*ep, "seconds", json_real(lb_now() - te0));
    json_object_set_new(*ep, "samples_per_s", json_real(train_s > 0 ? (double)seen / train_s : 0));
    return 0;
}

/* The record's end: timings, the final train/valid metrics of the kept epoch. */
static void record_finals(loop *L, json_t *rec, json_t *history, int64_t kept, double total)
{
    size_t ne = json_array_size(history);
    double sps = 0, secs = 0;
    for (size_t i = 0; i < ne; i++) {
        json_t *ep = json_array_get(history, i);
        sps += json_number_value(json_object_get(ep, "samples_per_s"));
        secs += json_number_value(json_object_get(ep, "seconds"));
    }
    json_object_set_new(rec, "seconds", json_real(total));
    json_object_set_new(rec, "samples_per_s", json_real(ne ? sps / (double)ne : 0));
    json_object_set_new(rec, "seconds_per_epoch", json_real(ne ? secs / (double)ne : 0));
    json_t *fin = json_object();
    if (kept > 0) {
        json_t *ep = json_array_get(history, (size_t)kept - 1);
        json_t *tr = json_object(), *va = L->va ? json_object() : NULL;
        for (int i = 0; i < L->nmet; i++) {
            char k[48];
            snprintf(k, sizeof k, "train.%s", L->met[i].name);
            if (L->met[i].on_train)
                json_object_set(tr, L->met[i].name, json_object_get(ep, k));
            snprintf(k, sizeof k, "valid.%s", L->met[i].name);
            if (va)
                json_object_set(va, L->met[i].name, json_object_get(ep, k));
        }
        json_object_set_new(fin, "train", tr);
        if (va)
            json_object_set_new(fin, "valid", va);
    }
    json_object_set_new(rec, "final", fin);
}

/* The test split's results at the end: the task's metrics, the sample count and its details. */
static int test_results(loop *L, json_t *rec, lb_run_state *state, lb_error *err)
{
    void *acc = L->env.task->acc_new(&L->env);
    if (!acc)
        return lb_oom(err);
    int rc = evaluate_task(&L->env, L->te, L->c->eval_batch, acc, L->h, err);
    if (rc < 0) {
        if (strcmp(err->ename, "Interrupted") == 0)
            *state = LB_RUN_INTERRUPTED;
    } else {
        double v[LB_TASK_MAXMETRICS];
        L->env.task->acc_values(acc, v);
        json_t *o = json_object();
        for (int i = 0; i < L->nmet; i++)
            json_object_set_new(o, L->met[i].name, jnum(v[i]));
        json_object_set_new(o, "samples", json_integer(L->te->n));
        if (L->env.task->acc_detail)
            L->env.task->acc_detail(acc, &L->env, o);
        json_object_set_new(json_object_get(rec, "final"), "test", o);
    }
    L->env.task->acc_free(acc);
    return rc;
}

int lb_train_run(const lb_train_config *c, lb_model *m, const lb_train_data *d, const float *start, size_t nstart,
                 json_t *rec, const lb_train_hooks *h, lb_run_state *state, float **weights, size_t *nweights,
                 lb_error *err)
{
    lb_dataset *ds = d->ds;
    loop L = {.c = c, .m = m, .ds = ds, .h = h, .tr = d->train, .va = d->valid, .te = d->test};
    L.P = lb_model_params(m);
    float *vals = lb_params_values(L.P, &L.nvals);
    json_t *history = json_object_get(rec, "history");
    *state = LB_RUN_FAILED;
    *weights = NULL;
    *nweights = 0;
    char label[320];
    snprintf(label, sizeof label, "run %d (%s)", (int)json_integer_value(json_object_get(rec, "id")),
             json_string_value(json_object_get(rec, "name")));

    /* a fresh start: the sweep's starting weights, no optimizer state, seeded dropout */
    if (nstart != L.nvals)
        return lb_error_set(err, "TrainingError", 0, 0, "the starting weights do not fit model %s", lb_model_name(m));
    memcpy(vals, start, L.nvals * sizeof *vals);
    lb_params_zero_grad(L.P);
    lb_params_reset_state(L.P);
    lb_model_seed_run(m, c->seed ^ 0x2545F4914F6CDD1DULL);

    L.env = (lb_task_env){.task = task_of(c), .m = m, .ds = ds, .c = c};
    if (!L.env.task)
        return lb_error_set(err, "ValueError", 0, 0, "no task named %s", c->task);
    if (check_run(&L.env, err) < 0)
        return -1;
    L.nmet = L.env.task->metrics(&L.env, L.met);
    lb_epoch_iter it;
    if (lb_epoch_init(&it, L.tr, c->batch, true, false, c->seed, err) < 0)
        return -1;
    int64_t nb = lb_epoch_batches(&it);
    L.g = lb_graph_new();
    L.best_w = c->patience && c->restore_best ? malloc(L.nvals * sizeof *L.best_w) : NULL;
    L.tacc = L.env.task->acc_new(&L.env);
    L.vacc = L.env.task->acc_new(&L.env);
    int rc = fieldbufs_alloc(&L.f, ds, c->batch, err);
    for (int i = 0; i < lb_params_count(L.P); i++)
        if (!lb_params_get(L.P, i)->trainable)
            L.nbufs += (size_t)lb_params_get(L.P, i)->numel;
    L.bufs = L.nbufs ? malloc(L.nbufs * sizeof *L.bufs) : NULL;
    if (rc == 0 && lb_fault_pending()) /* a plugin task's acc_new crashed */
        rc = lb_fault_error(err);
    if (rc == 0 && (!L.g || (c->patience && c->restore_best && !L.best_w) || !L.tacc || !L.vacc ||
                    (L.nbufs && !L.bufs)))
        rc = lb_oom(err);
    if (rc < 0)
        goto out;

    lb_optim o = c->opt == LB_SGD    ? lb_optim_sgd((float)c->lr, (float)c->momentum, 0, (float)c->weight_decay, c->nesterov)
                 : c->opt == LB_ADAM ? lb_optim_adam((float)c->lr, (float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->weight_decay)
                                     : lb_optim_adamw((float)c->lr, (float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->weight_decay);
    lb_sched sch = {.kind = c->schedule, .base_lr = (float)c->lr, .step_size = c->step_size * nb,
                    .gamma = (float)c->gamma, .t_max = c->epochs * nb - c->warmup,
                    .eta_min = (float)c->eta_min, .warmup = c->warmup};
    if (sch.t_max < 1)
        sch.t_max = 1;

    lb_better better = lb_record_better(rec, c->monitor);
    double t0 = lb_now();
    int64_t step = 0, since_best = 0, best_epoch = 0;
    double best = NAN;
    bool stopped = false;
    for (int64_t e = 0; e < c->epochs && rc == 0 && !stopped; e++) {
        json_t *ep = NULL;
        if ((rc = train_epoch(&L, &it, &o, &sch, e, &step, &ep, state, label, err)) < 0)
            break;
        json_array_append_new(history, ep);
        double mv = monitor_of(c, ep);
        if (improves(c, better, mv, best)) {
            best = mv;
            best_epoch = e + 1;
            since_best = 0;
            if (L.best_w) /* re-fetched: the optimizer's first step may have moved the block */
                memcpy(L.best_w, lb_params_values(L.P, NULL), L.nvals * sizeof *vals);
        } else {
            since_best++;
        }
        if (c->patience && since_best >= c->patience && e + 1 < c->epochs)
            stopped = true;
        if (h && h->epoch)
            h->epoch(h->ctx);
    }
    double total = lb_now() - t0;

    /* the weights kept and the final metrics (the block may have moved: optimizer state) */
    vals = lb_params_values(L.P, NULL);
    if (rc == 0 && L.best_w && best_epoch > 0 && best_epoch < (int64_t)json_array_size(history))
        memcpy(vals, L.best_w, L.nvals * sizeof *vals);
    size_t ne = json_array_size(history);
    int64_t kept = rc == 0 && L.best_w && best_epoch > 0 ? best_epoch : (int64_t)ne;
    json_object_set_new(rec, "epochs_run", json_integer((json_int_t)ne));
    json_object_set_new(rec, "best_epoch", best_epoch ? json_integer(best_epoch) : json_null());
    json_object_set_new(rec, "kept_epoch", kept ? json_integer(kept) : json_null());
    record_finals(&L, rec, history, kept, total);
    if (rc == 0 && c->test && L.te)
        rc = test_results(&L, rec, state, err);
    if (rc == 0)
        *state = stopped ? LB_RUN_STOPPED : LB_RUN_FINISHED;
    json_object_set_new(rec, "status", json_string(lb_run_state_name(*state)));
    if (rc < 0)
        json_object_set_new(rec, "error", json_string(err->evalue));
    if ((*weights = malloc(L.nvals * sizeof **weights))) {
        memcpy(*weights, vals, L.nvals * sizeof *vals);
        *nweights = L.nvals;
    }
    char wsha[65];
    lb_sha256_hex(vals, L.nvals * sizeof *vals, wsha);
    json_object_set_new(rec, "weights_sha256", json_string(wsha));
out:
    lb_epoch_free(&it);
    loop_free(&L);
    return rc;
}
