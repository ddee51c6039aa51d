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
    json_object_set_new(o, "loss", json_string("cross_entropy"));
    return o;
}

/* ---- evaluation --------------------------------------------------------------------------- */

/* The model's input shape for a split's samples: the same element count, the model's shape
 * (so flat [784] models take [1, 28, 28] images). -1 with *err when they differ. */
static int input_shape(lb_model *m, const lb_split *s, int64_t shape[LB_MAXDIM], lb_error *err)
{
    int64_t in[LB_MAXDIM];
    int nd = lb_model_input_shape(m, in);
    int64_t n = 1;
    for (int i = 0; i < nd && i + 1 < LB_MAXDIM; i++) {
        shape[i + 1] = in[i];
        n *= in[i];
    }
    if (n != s->numel) {
        char want[96], got[96];
        lb_format_shape(nd, shape + 1, want, sizeof want);
        lb_format_shape(s->ndim, s->shape, got, sizeof got);
        return lb_error_set(err, "ValueError", 0, 0,
                            "model %s takes inputs of shape %s, but the %s samples are %s",
                            lb_model_name(m), want, s->name, got);
    }
    return nd + 1;
}

static int check_classes(lb_model *m, int nclasses, lb_error *err)
{
    int64_t out[LB_MAXDIM];
    int nd = lb_model_output_shape(m, out);
    if (nd != 1 || out[0] != nclasses) {
        char got[96];
        lb_format_shape(nd, out, got, sizeof got);
        return lb_error_set(err, "ValueError",
                            0, 0, "model %s gives outputs of shape %s, but the data has %d classes "
                                  "(a classifier gives [%d])",
                            lb_model_name(m), got, nclasses, nclasses);
    }
    return 0;
}

/* Copies logits [b, C] (any strides) into rows of C floats when they are not already. */
static const float *logit_rows(const lb_tensor *y, float *scratch, int64_t *ld)
{
    if (y->stride[1] == 1) {
        *ld = y->stride[0];
        return y->data;
    }
    for (int64_t i = 0; i < y->numel; i++)
        scratch[i] = lb_get(y, i);
    *ld = y->shape[1];
    return scratch;
}

static int graph_error(lb_graph *g, const char *what, lb_error *err)
{
    const char *e = lb_graph_error(g);
    return lb_error_set(err, "ModelError", 0, 0, "%s: %s", what, e ? e : "failed");
}

int lb_evaluate_split(lb_model *m, const lb_split *s, int64_t batch, lb_metrics *met, int32_t *preds,
                      const lb_train_hooks *h, lb_error *err)
{
    int64_t shape[LB_MAXDIM];
    int nd = input_shape(m, s, shape, err);
    if (nd < 0)
        return -1;
    if (check_classes(m, met->nclasses, err) < 0)
        return -1;
    lb_graph *g = lb_graph_new();
    float *labels = malloc((size_t)batch * sizeof *labels);
    float *scratch = malloc((size_t)(batch * met->nclasses) * sizeof *scratch);
    int rc = 0;
    if (!g || !labels || !scratch) {
        rc = lb_oom(err);
        goto out;
    }
    lb_graph_set_grad(g, 0);
    for (int64_t i = 0; i < s->n && rc == 0; i += batch) {
        int64_t b = s->n - i < batch ? s->n - i : batch;
        lb_graph_reset(g);
        shape[0] = b;
        for (int64_t k = 0; k < b; k++)
            labels[k] = (float)s->y[i + k];
        lb_tensor *x = lb_wrap(g, nd, shape, s->x + i * s->numel);
        lb_tensor *y = lb_model_forward(m, g, x, 0, NULL);
        lb_tensor *t = lb_wrap(g, 1, &b, labels);
        lb_tensor *loss = y ? lb_cross_entropy(g, y, t, -100, 0) : NULL;
        if (!loss) {
            rc = graph_error(g, "evaluating", err);
            break;
        }
        int64_t ld;
        const float *rows = logit_rows(y, scratch, &ld);
        lb_metrics_add(met, rows, ld, s->y + i, b, loss->data[0], preds ? preds + i : NULL);
        rc = poll(h, err);
    }
out:
    lb_graph_free(g);
    free(labels);
    free(scratch);
    return rc;
}

/* {"loss", "acc", "topK"} of metrics (plus per-class accuracy and the confusion matrix when
 * full). */
json_t *lb_metrics_json(const lb_metrics *m, const lb_dataset *ds, bool full)
{
    char k[16];
    snprintf(k, sizeof k, "top%d", m->k);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "loss", jnum(lb_metrics_loss(m)));
    json_object_set_new(o, "acc", jnum(lb_metrics_accuracy(m)));
    json_object_set_new(o, k, jnum(lb_metrics_topk(m)));
    json_object_set_new(o, "samples", json_integer(m->n));
    if (full) {
        json_t *pc = json_object(), *cm = json_array();
        for (int c = 0; c < m->nclasses; c++) {
            double a = lb_metrics_class_accuracy(m, c);
            json_object_set_new(pc, ds->classes[c], jnum(a));
            json_t *row = json_array();
            for (int p = 0; p < m->nclasses; p++)
                json_array_append_new(row, json_integer(m->confusion[(size_t)c * (size_t)m->nclasses + (size_t)p]));
            json_array_append_new(cm, row);
        }
        json_object_set_new(o, "per_class", pc);
        json_object_set_new(o, "confusion", cm);
    }
    return o;
}

/* ---- metrics and their directions ---------------------------------------------------------- */

/* The classification task's metrics of a split, and the run's own. */
static void metric_names(const lb_train_config *c, char topk[16])
{
    snprintf(topk, 16, "top%d", c->topk);
}

static json_t *metrics_declared(const lb_train_config *c)
{
    char topk[16];
    metric_names(c, topk);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "loss", "lower", "acc", "higher", topk, "higher", "seconds",
                     "lower", "seconds_per_epoch", "lower", "samples_per_s", "higher");
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
    static char names[5][24];
    static const char *out[5];
    char topk[16];
    metric_names(c, topk);
    snprintf(names[0], sizeof names[0], "train.loss");
    snprintf(names[1], sizeof names[1], "train.acc");
    snprintf(names[2], sizeof names[2], "valid.loss");
    snprintf(names[3], sizeof names[3], "valid.acc");
    snprintf(names[4], sizeof names[4], "valid.%s", topk);
    for (int i = 0; i < 5; i++)
        out[i] = names[i];
    *n = 5;
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
    float *x, *yf, *scratch, *best_w;
    int32_t *yi;
    lb_metrics tm, vm;
    int64_t shape[LB_MAXDIM];
    int nd;
} loop;

static void loop_free(loop *L)
{
    lb_graph_free(L->g);
    free(L->x);
    free(L->yf);
    free(L->yi);
    free(L->scratch);
    free(L->best_w);
    lb_metrics_free(&L->tm);
    lb_metrics_free(&L->vm);
}

/* One epoch of training; the epoch's record entry (new) through *ep. -1 with *err. */
static int train_epoch(loop *L, lb_epoch_iter *it, lb_optim *o, const lb_sched *sch, int64_t e, int64_t *step,
                       json_t **ep, lb_run_state *state, const char *run_label, lb_error *err)
{
    const lb_train_config *c = L->c;
    double te0 = lb_now();
    lb_epoch_start(it, e);
    lb_metrics_reset(&L->tm);
    int64_t b, bi = 0, seen = 0;
    float lr = (float)c->lr;
    while ((b = lb_epoch_next(it, L->x, L->yf, L->yi)) > 0) {
        bi++;
        lb_graph_reset(L->g);
        L->shape[0] = b;
        lb_tensor *X = lb_wrap(L->g, L->nd, L->shape, L->x);
        lb_tensor *Y = lb_wrap(L->g, 1, &b, L->yf);
        lb_tensor *out = lb_model_forward(L->m, L->g, X, 1, NULL);
        lb_tensor *loss = out ? lb_cross_entropy(L->g, out, Y, -100, (float)c->label_smoothing) : NULL;
        if (!loss)
            return graph_error(L->g, "training", err);
        float lv = loss->data[0];
        if (!isfinite(lv))
            return lb_error_set(err, "TrainingError", 0, 0,
                                "the loss is %s at epoch %" PRId64 ", batch %" PRId64
                                " of %s; training stopped. The model keeps the weights "
                                "of the last finite step; a smaller lr (now %g) or clip=1 may help",
                                isnan(lv) ? "NaN" : "infinite", e + 1, bi, run_label, c->lr);
        lb_params_zero_grad(L->P);
        if (lb_backward(L->g, loss) < 0)
            return graph_error(L->g, "backward", err);
        if (L->h && L->h->grads && L->h->grads(L->h->ctx, L->P, err) < 0)
            return -1;
        if (c->clip > 0)
            lb_clip_grad_norm(L->P, (float)c->clip);
        lr = lb_sched_lr(sch, *step);
        o->lr = lr;
        if (lb_optim_step(o, L->P, lb_graph_status(L->g)) < 0)
            return graph_error(L->g, "optimizer", err);
        (*step)++;
        int64_t ld;
        const float *rows = logit_rows(out, L->scratch, &ld);
        lb_metrics_add(&L->tm, rows, ld, L->yi, b, lv, NULL);
        seen += b;
        if (L->h && L->h->batch)
            L->h->batch(L->h->ctx, e, bi, lb_metrics_loss(&L->tm), seen);
        if (poll(L->h, err) < 0) {
            *state = LB_RUN_INTERRUPTED;
            return -1;
        }
    }
    double train_s = lb_now() - te0;
    *ep = json_object();
    json_object_set_new(*ep, "epoch", json_integer(e + 1));
    json_object_set_new(*ep, "train.loss", jnum(lb_metrics_loss(&L->tm)));
    json_object_set_new(*ep, "train.acc", jnum(lb_metrics_accuracy(&L->tm)));
    if (L->va) {
        lb_metrics_reset(&L->vm);
        if (lb_evaluate_split(L->m, L->va, c->eval_batch, &L->vm, NULL, L->h, err) < 0) {
            if (strcmp(err->ename, "Interrupted") == 0)
                *state = LB_RUN_INTERRUPTED;
            json_decref(*ep);
            *ep = NULL;
            return -1;
        }
        char k[24];
        snprintf(k, sizeof k, "valid.top%d", L->vm.k);
        json_object_set_new(*ep, "valid.loss", jnum(lb_metrics_loss(&L->vm)));
        json_object_set_new(*ep, "valid.acc", jnum(lb_metrics_accuracy(&L->vm)));
        json_object_set_new(*ep, k, jnum(lb_metrics_topk(&L->vm)));
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
        json_object_set_new(fin, "train", json_pack("{s:O, s:O}", "loss", json_object_get(ep, "train.loss"),
                                                    "acc", json_object_get(ep, "train.acc")));
        if (L->va) {
            char k[24];
            snprintf(k, sizeof k, "valid.top%d", L->vm.k);
            json_t *v = json_pack("{s:O, s:O}", "loss", json_object_get(ep, "valid.loss"), "acc",
                                  json_object_get(ep, "valid.acc"));
            json_object_set(v, k + 6, json_object_get(ep, k));
            json_object_set_new(fin, "valid", v);
        }
    }
    json_object_set_new(rec, "final", fin);
}

int lb_train_check(lb_model *m, const lb_split *s, int nclasses, lb_error *err)
{
    int64_t shape[LB_MAXDIM];
    if (input_shape(m, s, shape, err) < 0)
        return -1;
    return check_classes(m, nclasses, err);
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
    int nclasses = ds->nclasses;
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

    if ((L.nd = input_shape(m, L.tr, L.shape, err)) < 0)
        return -1;
    lb_epoch_iter it;
    if (lb_epoch_init(&it, L.tr, c->batch, true, false, c->seed, err) < 0)
        return -1;
    int64_t nb = lb_epoch_batches(&it);
    L.g = lb_graph_new();
    L.x = malloc((size_t)(c->batch * L.tr->numel) * sizeof *L.x);
    L.yf = malloc((size_t)c->batch * sizeof *L.yf);
    L.yi = malloc((size_t)c->batch * sizeof *L.yi);
    L.scratch = malloc((size_t)(c->batch * nclasses) * sizeof *L.scratch);
    L.best_w = c->patience && c->restore_best ? malloc(L.nvals * sizeof *L.best_w) : NULL;
    int rc = 0;
    if (!L.g || !L.x || !L.yf || !L.yi || !L.scratch || (c->patience && c->restore_best && !L.best_w) ||
        lb_metrics_init(&L.tm, nclasses, c->topk) < 0 || lb_metrics_init(&L.vm, nclasses, c->topk) < 0) {
        rc = lb_oom(err);
        goto out;
    }

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
    if (rc == 0 && c->test && L.te) {
        lb_metrics te = {0};
        if (lb_metrics_init(&te, nclasses, c->topk) < 0) {
            rc = lb_oom(err);
        } else if (lb_evaluate_split(m, L.te, c->eval_batch, &te, NULL, h, err) < 0) {
            if (strcmp(err->ename, "Interrupted") == 0)
                *state = LB_RUN_INTERRUPTED;
            rc = -1;
        } else {
            json_object_set_new(json_object_get(rec, "final"), "test", lb_metrics_json(&te, ds, true));
        }
        lb_metrics_free(&te);
    }
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
