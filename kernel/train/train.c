/* train.c — the commands `train`, `evaluate` and `confusion` (spec/language.md §"Training"):
 * the settings of a `train` line checked against one schema, list-valued settings and several
 * models expanded to the cartesian product of runs (a sweep), and the training loop of one
 * run: seeded batches, forward, cross-entropy, backward, clipping, optimizer step with its
 * schedule, evaluation on the valid split every epoch, early stopping, the test split at the
 * end; every run makes a record (runs.c) and feeds the live progress (progress.c).
 *
 * A run is reproducible: its batches come from the data set's documented seeded order
 * (dataset.h), dropout draws from a generator seeded from the run's seed, and the ops are
 * deterministic for a given thread count; so the same seed and threads give bit-identical
 * metrics and weights, which the record states. */
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lang/commands.h"
#include "lang/interp_state.h"
#include "lang/interp.h"
#include "modules/plot_values.h"
#include "render/table.h"
#include "train/train.h"
#include "modules/data_values.h"

static int oom(lb_error *err) { return lb_error_set(err, "MemoryError", 0, 0, "out of memory"); }

/* A JSON number, or null for NaN and infinities (JSON has no such numbers). */
static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- settings ---------------------------------------------------------------------------- */

/* Every setting may be given as a list to sweep over it, except those marked fixed. */
static const lb_param train_params[] = {
    {"epochs", LB_PARAM_ANY, "5", "passes over the training split"},
    {"batch", LB_PARAM_ANY, "64", "samples per batch"},
    {"opt", LB_PARAM_ANY, "\"sgd\"", "optimizer: \"sgd\", \"adam\" or \"adamw\""},
    {"lr", LB_PARAM_ANY, "0.01", "learning rate"},
    {"momentum", LB_PARAM_ANY, "0", "SGD momentum"},
    {"nesterov", LB_PARAM_ANY, "false", "SGD with Nesterov momentum"},
    {"weight_decay", LB_PARAM_ANY, NULL, "L2 penalty (sgd, adam) or decoupled decay (adamw); default 0, adamw 0.01"},
    {"beta1", LB_PARAM_ANY, "0.9", "Adam's first-moment decay"},
    {"beta2", LB_PARAM_ANY, "0.999", "Adam's second-moment decay"},
    {"eps", LB_PARAM_ANY, "1e-8", "Adam's epsilon"},
    {"schedule", LB_PARAM_ANY, "\"constant\"", "learning-rate schedule: \"constant\", \"step\" or \"cosine\""},
    {"step_size", LB_PARAM_ANY, "1", "step schedule: epochs between decays"},
    {"gamma", LB_PARAM_ANY, "0.1", "step schedule: the decay factor"},
    {"eta_min", LB_PARAM_ANY, "0", "cosine schedule: the final learning rate"},
    {"warmup", LB_PARAM_ANY, "0", "batches of linear warm-up before the schedule"},
    {"clip", LB_PARAM_ANY, "0", "clip the gradients' global L2 norm to this (0: no clipping)"},
    {"label_smoothing", LB_PARAM_ANY, "0", "label smoothing of the cross-entropy"},
    {"seed", LB_PARAM_ANY, NULL, "seed of the batch order and dropout (default: the `seed` in force, else 0)"},
    {"patience", LB_PARAM_ANY, "0", "early stopping: epochs without improvement of monitor (0: off)"},
    {"monitor", LB_PARAM_STRING, "\"valid.acc\"", "the validation metric that ranks epochs and runs"},
    {"min_delta", LB_PARAM_NUMBER, "0", "early stopping: the smallest change that counts as improvement"},
    {"restore_best", LB_PARAM_BOOL, "true", "with patience: keep the weights of the best epoch"},
    {"eval_batch", LB_PARAM_INT, "500", "samples per batch when evaluating"},
    {"topk", LB_PARAM_INT, "5", "k of the top-k accuracy"},
    {"test", LB_PARAM_BOOL, "true", "evaluate on the test split at the end"},
    {"live", LB_PARAM_BOOL, "true", "show live progress while training"},
    {"curves", LB_PARAM_BOOL, "true", "show live learning curves (each epoch)"},
    {0}};

/* The settings that can be swept (lists expand), in schema order. */
static bool sweepable(const char *name)
{
    static const char *const fixed[] = {"monitor", "min_delta", "restore_best", "eval_batch",
                                        "topk", "test", "live", "curves"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(fixed[i], name) == 0)
            return false;
    return true;
}

typedef struct cfg {
    int64_t epochs, batch, warmup, step_size, patience, eval_batch;
    int opt;             /* LB_SGD, LB_ADAM, LB_ADAMW */
    double lr, momentum, weight_decay, beta1, beta2, eps, gamma, eta_min, clip, label_smoothing;
    double min_delta;
    bool nesterov, restore_best, test, live, curves;
    int schedule;        /* LB_SCHED_* */
    int topk;
    uint64_t seed;
    char monitor[48];
} cfg;

static const char *const opt_names[] = {"sgd", "adam", "adamw"};
static const char *const sched_names[] = {"constant", "step", "cosine"};

static int choice(const lb_value *v, const char *const *names, size_t n, const char *what,
                  const lb_node *at, lb_error *err)
{
    if (v->kind != LB_STR)
        return lb_node_error(err, at, "TypeError", "%s must be a string, one of \"%s\"%s", what,
                             names[0], n > 1 ? "..." : "");
    for (size_t i = 0; i < n; i++)
        if (strcmp(v->u.str.s, names[i]) == 0)
            return (int)i;
    const char *s = lb_suggest(v->u.str.s, names, n);
    char list[128] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", names[i]);
    return lb_node_error(err, at, "ValueError", "unknown %s \"%s\"%s%s%s (known: %s)", what, v->u.str.s,
                         s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "", list);
}

static int num_error(const char *name, double lo, double hi, bool open_lo, const lb_node *at,
                     lb_error *err)
{
    if (isinf(hi))
        return lb_node_error(err, at, "ValueError", "%s must be a number %s %g", name,
                             open_lo ? ">" : ">=", lo);
    return lb_node_error(err, at, "ValueError", "%s must be a number from %g to %g", name, lo, hi);
}

/* One setting's value into c; `at` is where errors point. */
static int set_value(cfg *c, const char *name, const lb_value *v, const lb_node *at, lb_error *err)
{
    const bool num = v->kind == LB_NUM, isint = lb_is_int(v);
    const double x = num ? v->u.num : NAN;
#define NEED_INT(lo, hi)                                                                           \
    do {                                                                                           \
        if (!isint || x < (lo) || x > (hi))                                                        \
            return lb_node_error(err, at, "ValueError", "%s must be an integer from %g to %g",    \
                                 name, (double)(lo), (double)(hi));                                \
    } while (0)
#define NEED_NUM(lo, hi, open_lo)                                                                  \
    do {                                                                                           \
        if (!num || !isfinite(x) || ((open_lo) ? x <= (lo) : x < (lo)) || x > (hi))                \
            return num_error(name, (lo), (hi), (open_lo), at, err);                                \
    } while (0)
    if (strcmp(name, "epochs") == 0) {
        NEED_INT(1, 100000);
        c->epochs = (int64_t)x;
    } else if (strcmp(name, "batch") == 0) {
        NEED_INT(1, 1000000);
        c->batch = (int64_t)x;
    } else if (strcmp(name, "eval_batch") == 0) {
        NEED_INT(1, 100000);
        c->eval_batch = (int64_t)x;
    } else if (strcmp(name, "opt") == 0) {
        int k = choice(v, opt_names, 3, "optimizer", at, err);
        if (k < 0)
            return -1;
        c->opt = k;
    } else if (strcmp(name, "schedule") == 0) {
        int k = choice(v, sched_names, 3, "schedule", at, err);
        if (k < 0)
            return -1;
        c->schedule = k;
    } else if (strcmp(name, "lr") == 0) {
        NEED_NUM(0, INFINITY, 1);
        c->lr = x;
    } else if (strcmp(name, "momentum") == 0) {
        NEED_NUM(0, 1, 0);
        c->momentum = x;
    } else if (strcmp(name, "weight_decay") == 0) {
        NEED_NUM(0, INFINITY, 0);
        c->weight_decay = x;
    } else if (strcmp(name, "beta1") == 0 || strcmp(name, "beta2") == 0) {
        if (!num || !(x >= 0 && x < 1))
            return lb_node_error(err, at, "ValueError", "%s must be a number in [0, 1)", name);
        *(name[4] == '1' ? &c->beta1 : &c->beta2) = x;
    } else if (strcmp(name, "eps") == 0) {
        NEED_NUM(0, INFINITY, 1);
        c->eps = x;
    } else if (strcmp(name, "gamma") == 0) {
        NEED_NUM(0, INFINITY, 1);
        c->gamma = x;
    } else if (strcmp(name, "eta_min") == 0) {
        NEED_NUM(0, INFINITY, 0);
        c->eta_min = x;
    } else if (strcmp(name, "clip") == 0) {
        NEED_NUM(0, INFINITY, 0);
        c->clip = x;
    } else if (strcmp(name, "label_smoothing") == 0) {
        if (!num || !(x >= 0 && x < 1))
            return lb_node_error(err, at, "ValueError", "label_smoothing must be a number in [0, 1)");
        c->label_smoothing = x;
    } else if (strcmp(name, "min_delta") == 0) {
        NEED_NUM(0, INFINITY, 0);
        c->min_delta = x;
    } else if (strcmp(name, "step_size") == 0) {
        NEED_INT(1, 1000000);
        c->step_size = (int64_t)x;
    } else if (strcmp(name, "warmup") == 0) {
        NEED_INT(0, 1e12);
        c->warmup = (int64_t)x;
    } else if (strcmp(name, "patience") == 0) {
        NEED_INT(0, 100000);
        c->patience = (int64_t)x;
    } else if (strcmp(name, "topk") == 0) {
        NEED_INT(1, 1000);
        c->topk = (int)x;
    } else if (strcmp(name, "seed") == 0) {
        NEED_INT(0, 9007199254740991.0);
        c->seed = (uint64_t)x;
    } else if (strcmp(name, "monitor") == 0) {
        const char *m = v->u.str.s;
        bool ok = (strncmp(m, "valid.", 6) == 0 || strncmp(m, "train.", 6) == 0) &&
                  (strcmp(m + 6, "loss") == 0 || strcmp(m + 6, "acc") == 0 ||
                   (strcmp(m, "valid.top5") == 0));
        if (!ok || strlen(m) >= sizeof c->monitor)
            return lb_node_error(err, at, "ValueError",
                                 "monitor must be one of \"valid.acc\", \"valid.loss\", \"valid.top5\", "
                                 "\"train.loss\", \"train.acc\"");
        snprintf(c->monitor, sizeof c->monitor, "%s", m);
    } else if (v->kind != LB_BOOL) {
        return lb_node_error(err, at, "TypeError", "%s must be true or false", name);
    } else if (strcmp(name, "nesterov") == 0) {
        c->nesterov = v->u.b;
    } else if (strcmp(name, "restore_best") == 0) {
        c->restore_best = v->u.b;
    } else if (strcmp(name, "test") == 0) {
        c->test = v->u.b;
    } else if (strcmp(name, "live") == 0) {
        c->live = v->u.b;
    } else if (strcmp(name, "curves") == 0) {
        c->curves = v->u.b;
    }
#undef NEED_INT
#undef NEED_NUM
    return 0;
}

/* The resolved settings as JSON (what the record keeps and what a config hash covers). */
static json_t *cfg_json(const cfg *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "batch", json_integer(c->batch));
    json_object_set_new(o, "opt", json_string(opt_names[c->opt]));
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
    json_object_set_new(o, "schedule", json_string(sched_names[c->schedule]));
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

int lb_evaluate_split(lb_interp *in, lb_model *m, const lb_split *s, int64_t batch,
                      lb_metrics *met, int32_t *preds, lb_error *err)
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
        rc = oom(err);
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
        rc = lb_safe_point(in, err);
    }
out:
    lb_graph_free(g);
    free(labels);
    free(scratch);
    return rc;
}

/* {"loss", "acc", "topK"} of metrics (plus per-class accuracy and the confusion matrix when
 * full). */
static json_t *metrics_json(const lb_metrics *m, const lb_dataset *ds, bool full)
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

/* ---- one run ------------------------------------------------------------------------------ */

typedef struct job {
    lb_value *model_value;
    lb_model *model;
    const float *start;   /* the weights every run of this model starts from */
    size_t nstart;
    char start_sha[65];
    cfg c;
    char name[256];       /* "pool lr=0.1" */
    json_t *swept;        /* {setting: value} of the swept settings */
} job;

typedef struct trainer {
    lb_interp *in;
    lb_dataset *ds;
    const lb_split *tr, *va, *te;
    lb_progress *prog;
    const lb_node *at;
} trainer;

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void iso_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double monitor_of(const cfg *c, json_t *ep)
{
    json_t *v = json_object_get(ep, c->monitor);
    return v ? json_number_value(v) : NAN;
}

/* Whether epoch value a improves on b for the monitor. */
static bool improves(const cfg *c, double a, double b)
{
    if (isnan(a))
        return false;
    if (isnan(b))
        return true;
    return lb_metric_lower_better(c->monitor) ? a < b - c->min_delta : a > b + c->min_delta;
}

/* Trains one run. Returns 0 when it finished (or stopped early), -1 with *err when it failed
 * or was interrupted (*state says which); the run value is made in both cases (*runv). */
static int run_one(trainer *T, job *J, int id, int index, lb_value **runv, lb_run_state *state,
                   lb_error *err)
{
    lb_interp *in = T->in;
    lb_model *m = J->model;
    const cfg *c = &J->c;
    const lb_split *tr = T->tr;
    int nclasses = T->ds->nclasses;
    lb_params *P = lb_model_params(m);
    size_t nvals = 0;
    float *vals = lb_params_values(P, &nvals);
    *state = LB_RUN_FAILED;
    *runv = NULL;

    /* the record's fixed part */
    char host[256] = "", started[32];
    gethostname(host, sizeof host - 1);
    iso_now(started, sizeof started);
    json_t *rec = json_object();
    json_t *settings = cfg_json(c);
    json_t *history = json_array();
    if (!rec || !settings || !history) {
        json_decref(rec);
        json_decref(settings);
        json_decref(history);
        return oom(err);
    }
    char cfgtext_hash[65];
    {
        json_t *h = json_pack("{s:s, s:O, s:s, s:s}", "spec", lb_model_spec_text(m), "settings",
                              settings, "data", lb_dataset_fingerprint(T->ds), "init", J->start_sha);
        char *txt = h ? json_dumps(h, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        sha256_hex(txt ? txt : "", txt ? strlen(txt) : 0, cfgtext_hash);
        free(txt);
        json_decref(h);
    }
    int threads = lb_get_threads();
    json_object_set_new(rec, "id", json_integer(id));
    json_object_set_new(rec, "name", json_string(J->name));
    json_object_set_new(rec, "model", json_string(lb_model_name(m)));
    json_object_set_new(rec, "spec", json_string(lb_model_spec_text(m)));
    json_object_set_new(rec, "params", json_integer(lb_params_numel(P, 1)));
    json_object_set_new(rec, "model_seed", json_integer((json_int_t)lb_model_seed(m)));
    json_object_set_new(rec, "init_sha256", json_string(J->start_sha));
    json_object_set_new(rec, "status", json_string("running"));
    json_object_set_new(rec, "settings", settings);
    json_object_set_new(rec, "swept", json_incref(J->swept));
    json_object_set_new(rec, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(rec, "config_sha256", json_string(cfgtext_hash));
    json_object_set_new(rec, "data", lb_dataset_record(T->ds));
    json_object_set_new(rec, "plugins", lb_plugins_json(in, m));
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
    json_object_set_new(rec, "history", history);

    lb_run *R = calloc(1, sizeof *R);
    if (!R) {
        json_decref(rec);
        return oom(err);
    }
    R->id = id;
    R->record = rec;
    R->model = lb_incref(J->model_value);
    lb_value *rv = lb_run_value_new(R);
    if (!rv)
        return oom(err);
    *runv = rv;

    /* a fresh start: the sweep's starting weights, no optimizer state, seeded dropout */
    memcpy(vals, J->start, nvals * sizeof *vals);
    lb_params_zero_grad(P);
    lb_params_reset_state(P);
    lb_model_seed_run(m, c->seed ^ 0x2545F4914F6CDD1DULL);

    int64_t shape[LB_MAXDIM];
    int nd = input_shape(m, tr, shape, err);
    if (nd < 0)
        return -1;
    lb_epoch_iter it;
    if (lb_epoch_init(&it, tr, c->batch, true, false, c->seed, err) < 0)
        return -1;
    int64_t nb = lb_epoch_batches(&it);
    lb_graph *g = lb_graph_new();
    float *x = malloc((size_t)(c->batch * tr->numel) * sizeof *x);
    float *yf = malloc((size_t)c->batch * sizeof *yf);
    int32_t *yi = malloc((size_t)c->batch * sizeof *yi);
    float *scratch = malloc((size_t)(c->batch * nclasses) * sizeof *scratch);
    float *best_w = c->patience && c->restore_best ? malloc(nvals * sizeof *best_w) : NULL;
    lb_metrics tm = {0}, vm = {0};
    int rc = 0;
    if (!g || !x || !yf || !yi || !scratch || (c->patience && c->restore_best && !best_w) ||
        lb_metrics_init(&tm, nclasses, c->topk) < 0 || lb_metrics_init(&vm, nclasses, c->topk) < 0) {
        rc = oom(err);
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
    lb_progress_run(T->prog, index, J->name, c->epochs, nb, tr->n);

    double t0 = now_s();
    int64_t step = 0, since_best = 0, best_epoch = 0;
    double best = NAN;
    bool stopped = false;
    for (int64_t e = 0; e < c->epochs && rc == 0 && !stopped; e++) {
        double te0 = now_s();
        lb_epoch_start(&it, e);
        lb_metrics_reset(&tm);
        int64_t b, bi = 0, seen = 0;
        float lr = (float)c->lr;
        while ((b = lb_epoch_next(&it, x, yf, yi)) > 0) {
            bi++;
            lb_graph_reset(g);
            shape[0] = b;
            lb_tensor *X = lb_wrap(g, nd, shape, x);
            lb_tensor *Y = lb_wrap(g, 1, &b, yf);
            lb_tensor *out = lb_model_forward(m, g, X, 1, NULL);
            lb_tensor *loss = out ? lb_cross_entropy(g, out, Y, -100, (float)c->label_smoothing) : NULL;
            if (!loss) {
                rc = graph_error(g, "training", err);
                break;
            }
            float lv = loss->data[0];
            if (!isfinite(lv)) {
                rc = lb_error_set(err, "TrainingError", 0, 0,
                                  "the loss is %s at epoch %" PRId64 ", batch %" PRId64
                                  " of run %d (%s); training stopped. The model keeps the weights "
                                  "of the last finite step; a smaller lr (now %g) or clip=1 may help",
                                  isnan(lv) ? "NaN" : "infinite", e + 1, bi, id, J->name, c->lr);
                break;
            }
            lb_params_zero_grad(P);
            if (lb_backward(g, loss) < 0) {
                rc = graph_error(g, "backward", err);
                break;
            }
            if (c->clip > 0)
                lb_clip_grad_norm(P, (float)c->clip);
            lr = lb_sched_lr(&sch, step);
            o.lr = lr;
            if (lb_optim_step(&o, P, lb_graph_status(g)) < 0) {
                rc = graph_error(g, "optimizer", err);
                break;
            }
            step++;
            int64_t ld;
            const float *rows = logit_rows(out, scratch, &ld);
            lb_metrics_add(&tm, rows, ld, yi, b, lv, NULL);
            seen += b;
            lb_progress_batch(T->prog, e, bi, lb_metrics_loss(&tm), seen);
            if (lb_safe_point(in, err) < 0) {
                rc = -1;
                *state = LB_RUN_INTERRUPTED;
                break;
            }
        }
        if (rc < 0)
            break;
        double train_s = now_s() - te0;
        json_t *ep = json_object();
        json_object_set_new(ep, "epoch", json_integer(e + 1));
        json_object_set_new(ep, "train.loss", jnum(lb_metrics_loss(&tm)));
        json_object_set_new(ep, "train.acc", jnum(lb_metrics_accuracy(&tm)));
        if (T->va) {
            lb_metrics_reset(&vm);
            if (lb_evaluate_split(in, m, T->va, c->eval_batch, &vm, NULL, err) < 0) {
                if (strcmp(err->ename, "Interrupted") == 0)
                    *state = LB_RUN_INTERRUPTED;
                rc = -1;
                json_decref(ep);
                break;
            }
            char k[24];
            snprintf(k, sizeof k, "valid.top%d", vm.k);
            json_object_set_new(ep, "valid.loss", jnum(lb_metrics_loss(&vm)));
            json_object_set_new(ep, "valid.acc", jnum(lb_metrics_accuracy(&vm)));
            json_object_set_new(ep, k, jnum(lb_metrics_topk(&vm)));
        }
        char lrb[32];
        snprintf(lrb, sizeof lrb, "%.7g", (double)lr); /* the float32 rate, without its binary tail */
        json_object_set_new(ep, "lr", json_real(strtod(lrb, NULL)));
        json_object_set_new(ep, "seconds", json_real(now_s() - te0));
        json_object_set_new(ep, "samples_per_s", json_real(train_s > 0 ? (double)seen / train_s : 0));
        json_array_append_new(history, ep);
        double mv = monitor_of(c, ep);
        if (improves(c, mv, best)) {
            best = mv;
            best_epoch = e + 1;
            since_best = 0;
            if (best_w) /* re-fetched: the optimizer's first step may have moved the block */
                memcpy(best_w, lb_params_values(P, NULL), nvals * sizeof *vals);
        } else {
            since_best++;
        }
        if (c->patience && since_best >= c->patience && e + 1 < c->epochs)
            stopped = true;
        lb_progress_epoch(T->prog, rv);
    }
    double total = now_s() - t0;

    /* the weights kept and the final metrics (the block may have moved: optimizer state) */
    vals = lb_params_values(P, NULL);
    if (rc == 0 && best_w && best_epoch > 0 && best_epoch < (int64_t)json_array_size(history))
        memcpy(vals, best_w, nvals * sizeof *vals);
    size_t ne = json_array_size(history);
    int64_t kept = rc == 0 && best_w && best_epoch > 0 ? best_epoch : (int64_t)ne;
    json_object_set_new(rec, "epochs_run", json_integer((json_int_t)ne));
    json_object_set_new(rec, "best_epoch", best_epoch ? json_integer(best_epoch) : json_null());
    json_object_set_new(rec, "kept_epoch", kept ? json_integer(kept) : json_null());
    json_object_set_new(rec, "seconds", json_real(total));
    double sps = 0, secs = 0;
    for (size_t i = 0; i < ne; i++) {
        json_t *ep = json_array_get(history, i);
        sps += json_number_value(json_object_get(ep, "samples_per_s"));
        secs += json_number_value(json_object_get(ep, "seconds"));
    }
    json_object_set_new(rec, "samples_per_s", json_real(ne ? sps / (double)ne : 0));
    json_object_set_new(rec, "seconds_per_epoch", json_real(ne ? secs / (double)ne : 0));
    json_t *fin = json_object();
    if (kept > 0) {
        json_t *ep = json_array_get(history, (size_t)kept - 1);
        json_object_set_new(fin, "train", json_pack("{s:O, s:O}", "loss", json_object_get(ep, "train.loss"),
                                                    "acc", json_object_get(ep, "train.acc")));
        if (T->va) {
            char k[24];
            snprintf(k, sizeof k, "valid.top%d", vm.k);
            json_t *v = json_pack("{s:O, s:O}", "loss", json_object_get(ep, "valid.loss"), "acc",
                                  json_object_get(ep, "valid.acc"));
            json_object_set(v, k + 6, json_object_get(ep, k));
            json_object_set_new(fin, "valid", v);
        }
    }
    if (rc == 0 && c->test && T->te) {
        lb_metrics te = {0};
        if (lb_metrics_init(&te, nclasses, c->topk) < 0) {
            rc = oom(err);
        } else if (lb_evaluate_split(in, m, T->te, c->eval_batch, &te, NULL, err) < 0) {
            if (strcmp(err->ename, "Interrupted") == 0)
                *state = LB_RUN_INTERRUPTED;
            rc = -1;
        } else {
            json_object_set_new(fin, "test", metrics_json(&te, T->ds, true));
        }
        lb_metrics_free(&te);
    }
    json_object_set_new(rec, "final", fin);
    if (rc == 0)
        *state = stopped ? LB_RUN_STOPPED : LB_RUN_FINISHED;
    json_object_set_new(rec, "status", json_string(lb_run_state_name(*state)));
    if (rc < 0)
        json_object_set_new(rec, "error", json_string(err->evalue));
    R->weights = malloc(nvals * sizeof *R->weights);
    if (R->weights) {
        memcpy(R->weights, vals, nvals * sizeof *vals);
        R->nweights = nvals;
    }
    char wsha[65];
    sha256_hex(vals, nvals * sizeof *vals, wsha);
    json_object_set_new(rec, "weights_sha256", json_string(wsha));
out:
    lb_epoch_free(&it);
    lb_graph_free(g);
    free(x);
    free(yf);
    free(yi);
    free(scratch);
    free(best_w);
    lb_metrics_free(&tm);
    lb_metrics_free(&vm);
    return rc;
}

/* ---- the train command ----------------------------------------------------------------------- */

/* Models and data of `MODEL... on DATA`: models gets new references to the model values. */
static int read_targets(lb_cmd_call *call, const char *verb, lb_value ***models, size_t *nmodels,
                        lb_value **data, lb_error *err)
{
    size_t on = call->nargs;
    for (size_t i = 0; i < call->nargs; i++)
        if (call->args[i]->kind == LB_N_NAME && strcmp(call->args[i]->text, "on") == 0 &&
            !lb_interp_get(call->in, "on")) {
            on = i;
            break;
        }
    if (on == call->nargs || on == 0 || on + 2 != call->nargs)
        return lb_node_error(err, call->node, "SyntaxError",
                             "usage: %s MODEL... on DATA, as in `%s pool on f%s`", verb, verb,
                             strcmp(verb, "train") == 0 ? " epochs=5" : ".test");
    *models = calloc(on, sizeof **models);
    if (!*models)
        return oom(err);
    *nmodels = 0;
    for (size_t i = 0; i < on; i++) {
        lb_value *v = lb_call_arg(call, i, err);
        if (!v)
            return -1;
        bool is_run = lb_run_from_value(v) && strcmp(verb, "train") != 0;
        if (!lb_model_from_value(v) && !is_run) {
            int rc = lb_node_error(err, call->args[i], "TypeError",
                                   "%s needs models (made with `model NAME = ...`)%s, not a %s", verb,
                                   strcmp(verb, "train") == 0 ? "" : " or runs", lb_type_name(v));
            lb_decref(v);
            return rc;
        }
        for (size_t k = 0; k < *nmodels; k++)
            if ((*models)[k] == v) {
                lb_decref(v);
                return lb_node_error(err, call->args[i], "ValueError", "model %s is named twice",
                                     call->args[i]->text ? call->args[i]->text : "");
            }
        (*models)[(*nmodels)++] = v;
    }
    *data = lb_call_arg(call, on + 1, err);
    if (!*data)
        return -1;
    if (!lb_data_from_value(*data, NULL, NULL))
        return lb_node_error(err, call->args[on + 1], "TypeError",
                             "%s needs a data set after `on` (made with fashion_mnist(), idx() or "
                             "csv()), not a %s",
                             verb, lb_type_name(*data));
    return 0;
}

typedef struct axis {
    const char *name;
    const lb_node *at;
    lb_value *values; /* a list (swept) */
} axis;

static void free_models(lb_value **models, size_t n)
{
    for (size_t i = 0; models && i < n; i++)
        lb_decref(models[i]);
    free(models);
}

static void name_value(char *buf, size_t n, const lb_value *v)
{
    if (v->kind == LB_NUM)
        lb_format_number(v->u.num, buf, n);
    else if (v->kind == LB_STR)
        snprintf(buf, n, "%s", v->u.str.s);
    else
        snprintf(buf, n, "%s", v->kind == LB_BOOL ? (v->u.b ? "true" : "false") : "?");
}

static json_t *value_json(const lb_value *v)
{
    if (v->kind == LB_NUM)
        return lb_is_int(v) ? json_integer((json_int_t)v->u.num) : json_real(v->u.num);
    if (v->kind == LB_STR)
        return json_string(v->u.str.s);
    if (v->kind == LB_BOOL)
        return json_boolean(v->u.b);
    return json_null();
}

static int cmd_train(lb_cmd_call *call, lb_error *err)
{
    lb_interp *in = call->in;
    lb_value **models = NULL, *data = NULL;
    size_t nmodels = 0;
    axis axes[32];
    size_t naxes = 0;
    job *jobs = NULL;
    size_t njobs = 0;
    float **starts = NULL;
    lb_value *list = NULL;
    lb_progress *prog = NULL;
    int rc = -1;
    if (read_targets(call, "train", &models, &nmodels, &data, err) < 0)
        goto done;

    /* the base settings: schema defaults, then every non-list value given */
    cfg base = {0};
    bool seed_set = false;
    double gseed = lb_interp_seed(in, &seed_set);
    base.seed = seed_set && gseed >= 0 ? (uint64_t)gseed : 0;
    bool wd_given = lb_call_keyword(call, "weight_decay") != NULL;
    for (const lb_param *p = train_params; p->name; p++) {
        const lb_node *k = lb_call_keyword(call, p->name);
        if (!k && !p->def)
            continue;
        lb_value *v = lb_call_param(call, p->name, err);
        if (!v)
            goto done;
        const lb_node *at = k ? k->kids[0] : call->node;
        if (v->kind == LB_LIST && sweepable(p->name)) {
            if (lb_list_len(v) == 0) {
                lb_decref(v);
                lb_node_error(err, at, "ValueError", "%s is an empty list: nothing to sweep", p->name);
                goto done;
            }
            for (size_t i = 0; i < lb_list_len(v); i++) {
                cfg probe = base;
                if (set_value(&probe, p->name, lb_list_get(v, i), at, err) < 0) {
                    lb_decref(v);
                    goto done;
                }
            }
            if (naxes == sizeof axes / sizeof axes[0]) {
                lb_decref(v);
                lb_node_error(err, at, "ValueError", "too many swept settings");
                goto done;
            }
            axes[naxes++] = (axis){p->name, k, v};
            continue;
        }
        int r = set_value(&base, p->name, v, at, err);
        lb_decref(v);
        if (r < 0)
            goto done;
    }
    /* the sweep's axes in the order they were written on the line */
    for (size_t i = 1; i < naxes; i++)
        for (size_t j = i; j > 0 && axes[j].at->line * 100000 + axes[j].at->col <
                                         axes[j - 1].at->line * 100000 + axes[j - 1].at->col; j--) {
            axis t = axes[j];
            axes[j] = axes[j - 1];
            axes[j - 1] = t;
        }

    lb_dataset *ds = NULL;
    const lb_split *only = NULL;
    lb_data_from_value(data, &ds, &only);
    trainer T = {.in = in, .ds = ds, .at = call->node};
    T.tr = only ? only : lb_dataset_split(ds, "train");
    T.va = only ? NULL : lb_dataset_split(ds, "valid");
    T.te = only ? NULL : lb_dataset_split(ds, "test");
    if (!T.tr || T.tr->n == 0) {
        lb_node_error(err, call->args[call->nargs - 1], "ValueError", "the data set has no training samples");
        goto done;
    }
    if (!T.va && strncmp(base.monitor, "valid.", 6) == 0) {
        /* without a valid split, rank by the training loss */
        snprintf(base.monitor, sizeof base.monitor, "train.loss");
    }
    for (size_t i = 0; i < nmodels; i++) {
        lb_model *m = lb_model_from_value(models[i]);
        int64_t shp[LB_MAXDIM];
        if (input_shape(m, T.tr, shp, err) < 0 || check_classes(m, ds->nclasses, err) < 0) {
            lb_error_locate(err, call->args[i]->line, call->args[i]->col, call->args[i]->span);
            goto done;
        }
    }

    /* the cartesian product: models outermost, then the axes in the order written */
    size_t per_model = 1;
    for (size_t a = 0; a < naxes; a++)
        per_model *= lb_list_len(axes[a].values);
    if (per_model * nmodels > 10000) {
        lb_node_error(err, call->node, "ValueError", "the sweep has %zu runs (at most 10000)",
                      per_model * nmodels);
        goto done;
    }
    njobs = per_model * nmodels;
    jobs = calloc(njobs, sizeof *jobs);
    starts = calloc(nmodels, sizeof *starts);
    if (!jobs || !starts) {
        oom(err);
        goto done;
    }
    for (size_t mi = 0; mi < nmodels; mi++) {
        lb_model *m = lb_model_from_value(models[mi]);
        size_t nv = 0;
        const float *v = lb_params_values(lb_model_params(m), &nv);
        starts[mi] = malloc(nv * sizeof *v + 1);
        if (!starts[mi]) {
            oom(err);
            goto done;
        }
        memcpy(starts[mi], v, nv * sizeof *v);
        char sha[65];
        sha256_hex(v, nv * sizeof *v, sha);
        for (size_t r = 0; r < per_model; r++) {
            job *J = &jobs[mi * per_model + r];
            J->model_value = models[mi];
            J->model = m;
            J->start = starts[mi];
            J->nstart = nv;
            memcpy(J->start_sha, sha, sizeof sha);
            J->c = base;
            J->swept = json_object();
            snprintf(J->name, sizeof J->name, "%s", lb_model_name(m));
            size_t rem = r;
            size_t stride = per_model;
            for (size_t a = 0; a < naxes; a++) {
                size_t len = lb_list_len(axes[a].values);
                stride /= len;
                const lb_value *val = lb_list_get(axes[a].values, rem / stride);
                rem %= stride;
                set_value(&J->c, axes[a].name, val, axes[a].at, err); /* checked above */
                char vb[64];
                name_value(vb, sizeof vb, val);
                size_t used = strlen(J->name);
                snprintf(J->name + used, sizeof J->name - used, " %s=%s", axes[a].name, vb);
                json_object_set_new(J->swept, axes[a].name, value_json(val));
            }
            if (!wd_given && J->c.opt == LB_ADAMW)
                J->c.weight_decay = 0.01; /* PyTorch's AdamW default */
        }
    }

    list = lb_list_new();
    prog = lb_progress_new(in, (int)njobs, base.live, base.curves);
    if (!list || !prog) {
        oom(err);
        goto done;
    }
    T.prog = prog;
    lb_run_state last = LB_RUN_FINISHED;
    rc = 0;
    for (size_t j = 0; j < njobs; j++) {
        int id = (int)lb_list_len(lb_session_runs(in)) + 1;
        lb_value *rv = NULL;
        lb_run_state st;
        int r = run_one(&T, &jobs[j], id, (int)j, &rv, &st, err);
        if (rv) {
            lb_list_append(list, rv);
            lb_session_add_run(in, rv);
            lb_progress_run_end(prog, rv, st);
        }
        lb_decref(rv);
        if (r < 0) {
            last = st;
            rc = -1;
            break;
        }
    }

    /* each model keeps the weights of its best run (after an interrupt or a failure: the
     * weights it stopped with); with several runs per model a line says which */
    const char *monitor = base.monitor;
    char line[1024] = "";
    for (size_t mi = 0; rc == 0 && mi < nmodels; mi++) {
        const lb_run *best = lb_run_from_value(lb_runs_best(list, monitor, models[mi]));
        size_t nv = 0;
        float *vals = lb_params_values(lb_model_params(lb_model_from_value(models[mi])), &nv);
        if (!best || !best->weights || nv != best->nweights)
            continue;
        memcpy(vals, best->weights, nv * sizeof *vals);
        if (per_model > 1) {
            size_t used = strlen(line);
            snprintf(line + used, sizeof line - used, "%s holds the weights of run %d (%s, best %s)\n",
                     lb_model_name(lb_model_from_value(models[mi])), best->id,
                     json_string_value(json_object_get(best->record, "name")), monitor);
        }
    }
    char msg[512] = "";
    if (rc < 0 && last == LB_RUN_INTERRUPTED)
        snprintf(msg, sizeof msg, "stopped at the next batch; the completed epochs (in the run) and "
                                  "the model's weights are kept");
    else if (rc < 0)
        snprintf(msg, sizeof msg, "%s", err->evalue);
    lb_progress_finish(prog, rc == 0 ? LB_RUN_FINISHED : last, msg);

    lb_value *rs = lb_runs_value_new(list);
    if (!rs) {
        if (rc == 0)
            oom(err);
        rc = -1;
        goto done;
    }
    if (rc == 0) {
        lb_table *t = lb_runs_table(list, monitor);
        if (t && lb_emit_table(in, t, err) < 0)
            rc = -1;
        if (line[0])
            lb_emit_stream(in, LB_STDOUT, line, strlen(line));
    } else {
        /* an interrupted or failed training still gives the runs it made (the completed
         * epochs; `runs` lists them too) before the error stops the cell */
        char tail[160];
        snprintf(tail, sizeof tail, "%s%zu run%s kept (see `runs`)",
                 last == LB_RUN_INTERRUPTED ? "training interrupted; " : "; ", lb_list_len(list),
                 lb_list_len(list) == 1 ? "" : "s");
        if (last == LB_RUN_INTERRUPTED)
            lb_error_set(err, "Interrupted", 0, 0, "%s", tail);
    }
    call->result = rs;
done:
    for (size_t i = 0; i < njobs && jobs; i++)
        json_decref(jobs[i].swept);
    free(jobs);
    for (size_t i = 0; starts && i < nmodels; i++)
        free(starts[i]);
    free(starts);
    for (size_t a = 0; a < naxes; a++)
        lb_decref(axes[a].values);
    lb_progress_free(prog);
    lb_decref(list);
    lb_decref(data);
    free_models(models, nmodels);
    return rc;
}

/* ---- evaluate and confusion -------------------------------------------------------------------- */

/* The model and split of `VERB MODEL on SPLIT`; a run evaluates its model with the run's final
 * weights (swapped in for the call). */
typedef struct target {
    lb_value *mv, *data;
    lb_model *m;
    lb_dataset *ds;
    const lb_split *s;
    float *saved;      /* the model's own weights while a run's are in */
    size_t nsaved;
    char label[256];
} target;

/* The model behind a model or run value; for a run its final weights are swapped in and the
 * model's own kept in *saved (swap_out puts them back). NULL with *err. */
static lb_model *swap_in(const lb_value *v, float **saved, char *label, size_t label_size, lb_error *err)
{
    *saved = NULL;
    const lb_run *R = lb_run_from_value(v);
    if (!R) {
        lb_model *m = lb_model_from_value(v);
        if (!m) {
            lb_error_set(err, "TypeError", 0, 0, "needs a model or a run, not a %s", lb_type_name(v));
            return NULL;
        }
        if (label)
            snprintf(label, label_size, "%s", lb_model_name(m));
        return m;
    }
    lb_model *m = lb_model_from_value(R->model);
    size_t nv = 0;
    float *vals = lb_params_values(lb_model_params(m), &nv);
    if (!R->weights || nv != R->nweights) {
        lb_error_set(err, "ValueError", 0, 0, "run %d kept no weights", R->id);
        return NULL;
    }
    *saved = malloc(nv * sizeof *vals);
    if (!*saved) {
        oom(err);
        return NULL;
    }
    memcpy(*saved, vals, nv * sizeof *vals);
    memcpy(vals, R->weights, nv * sizeof *vals);
    if (label)
        snprintf(label, label_size, "run %d (%s)", R->id,
                 json_string_value(json_object_get(R->record, "name")));
    return m;
}

static void swap_out(lb_model *m, float *saved)
{
    if (!saved)
        return;
    size_t n = 0;
    float *vals = lb_params_values(lb_model_params(m), &n);
    memcpy(vals, saved, n * sizeof *vals);
    free(saved);
}

int lb_predict_split(lb_interp *in, const lb_value *v, const lb_split *s, int nclasses,
                     int32_t *preds, char *label, size_t label_size, lb_error *err)
{
    float *saved;
    lb_model *m = swap_in(v, &saved, label, label_size, err);
    if (!m)
        return -1;
    lb_metrics met;
    int rc = lb_metrics_init(&met, nclasses, 1) < 0 ? oom(err) : 0;
    if (rc == 0)
        rc = lb_evaluate_split(in, m, s, 500, &met, preds, err);
    lb_metrics_free(&met);
    swap_out(m, saved);
    return rc;
}

static void target_release(target *t)
{
    if (t->m)
        swap_out(t->m, t->saved);
    lb_decref(t->mv);
    lb_decref(t->data);
}

static int read_target(lb_cmd_call *call, const char *verb, target *t, lb_error *err)
{
    memset(t, 0, sizeof *t);
    lb_value **models = NULL;
    size_t n = 0;
    if (read_targets(call, verb, &models, &n, &t->data, err) < 0) {
        free_models(models, n);
        lb_decref(t->data);
        t->data = NULL;
        return -1;
    }
    if (n != 1) {
        free_models(models, n);
        return lb_node_error(err, call->args[1], "TypeError", "%s takes one model or run", verb);
    }
    t->mv = models[0];
    free(models);
    lb_data_from_value(t->data, &t->ds, &t->s);
    if (!t->s)
        t->s = lb_dataset_split(t->ds, "test") ? lb_dataset_split(t->ds, "test") : lb_dataset_split(t->ds, "valid");
    if (!t->s)
        t->s = &t->ds->splits[0];
    t->m = swap_in(t->mv, &t->saved, t->label, sizeof t->label, err);
    if (!t->m) {
        lb_error_locate(err, call->args[0]->line, call->args[0]->col, call->args[0]->span);
        return -1;
    }
    if (check_classes(t->m, t->ds->nclasses, err) < 0) {
        lb_error_locate(err, call->args[0]->line, call->args[0]->col, call->args[0]->span);
        return -1;
    }
    return 0;
}

static int evaluate_target(lb_cmd_call *call, target *t, lb_metrics *met, int32_t *preds, lb_error *err)
{
    int k = 5;
    lb_value *kv = lb_call_param(call, "topk", err);
    if (!kv)
        return -1;
    if (kv->kind == LB_NUM)
        k = kv->u.num < 1 ? 1 : kv->u.num > 1000 ? 1000 : (int)kv->u.num;
    lb_decref(kv);
    if (lb_metrics_init(met, t->ds->nclasses, k) < 0)
        return oom(err);
    if (lb_evaluate_split(call->in, t->m, t->s, 500, met, preds, err) < 0) {
        if (strcmp(err->ename, "Interrupted") != 0)
            lb_error_locate(err, call->args[0]->line, call->args[0]->col, call->args[0]->span);
        return -1;
    }
    return 0;
}

static int cmd_evaluate(lb_cmd_call *call, lb_error *err)
{
    target t;
    lb_metrics met = {0};
    int rc = read_target(call, "evaluate", &t, err);
    if (rc == 0)
        rc = evaluate_target(call, &t, &met, NULL, err);
    if (rc == 0) {
        lb_table *tb = lb_table_new();
        lb_value *res = lb_map_new();
        if (!tb || !res) {
            lb_table_free(tb);
            lb_decref(res);
            rc = oom(err);
        } else {
            char k[16], buf[64];
            snprintf(k, sizeof k, "top%d", met.k);
            const char *hdr[] = {"metric", "value"};
            lb_table_set_header(tb, 0, hdr[0]);
            lb_table_set_header(tb, 1, hdr[1]);
            const char *names[] = {"loss", "acc", k};
            double vals[] = {lb_metrics_loss(&met), lb_metrics_accuracy(&met), lb_metrics_topk(&met)};
            for (int i = 0; i < 3; i++) {
                long r = lb_table_add_row(tb);
                char label[64];
                snprintf(label, sizeof label, "%s.%s", t.s->name, names[i]);
                lb_table_set(tb, (size_t)r, 0, label, false);
                lb_format_metric(vals[i], buf, sizeof buf);
                lb_table_set(tb, (size_t)r, 1, buf, true);
                lb_map_set_take(res, names[i], lb_num(vals[i]));
            }
            long r = lb_table_add_row(tb);
            lb_table_set(tb, (size_t)r, 0, "samples", false);
            lb_format_count(met.n, buf, sizeof buf);
            lb_table_set(tb, (size_t)r, 1, buf, true);
            lb_map_set_take(res, "samples", lb_num((double)met.n));
            lb_value *pc = lb_map_new(), *cm = lb_list_new();
            for (int c = 0; pc && cm && c < met.nclasses; c++) {
                double a = lb_metrics_class_accuracy(&met, c);
                lb_map_set_take(pc, t.ds->classes[c], a != a ? lb_none() : lb_num(a));
                lb_value *row = lb_list_new();
                for (int p = 0; row && p < met.nclasses; p++)
                    lb_list_append_take(row, lb_num((double)met.confusion[(size_t)c * (size_t)met.nclasses + (size_t)p]));
                lb_list_append_take(cm, row);
            }
            lb_map_set_take(res, "per_class", pc);
            lb_map_set_take(res, "confusion", cm);
            char title[400];
            snprintf(title, sizeof title, "%s on %s.%s\n", t.label, t.ds->name, t.s->name);
            lb_emit_stream(call->in, LB_STDOUT, title, strlen(title));
            rc = lb_emit_table(call->in, tb, err);
            /* per-class accuracy */
            lb_table *pt = lb_table_new();
            if (pt && rc == 0) {
                lb_table_set_header(pt, 0, "class");
                lb_table_set_header(pt, 1, "samples");
                lb_table_set_header(pt, 2, "accuracy");
                int worst = -1;
                for (int c = 0; c < met.nclasses; c++) {
                    double a = lb_metrics_class_accuracy(&met, c);
                    if (!isnan(a) && (worst < 0 || a < lb_metrics_class_accuracy(&met, worst)))
                        worst = c;
                }
                for (int c = 0; c < met.nclasses; c++) {
                    long rr = lb_table_add_row(pt);
                    lb_table_set(pt, (size_t)rr, 0, t.ds->classes[c], false);
                    lb_format_count(lb_metrics_class_count(&met, c), buf, sizeof buf);
                    lb_table_set(pt, (size_t)rr, 1, buf, true);
                    lb_format_metric(lb_metrics_class_accuracy(&met, c), buf, sizeof buf);
                    lb_table_set(pt, (size_t)rr, 2, buf, true);
                    if (c == worst)
                        lb_table_emphasize(pt, (size_t)rr, 2, true);
                }
                rc = lb_emit_table(call->in, pt, err);
            } else {
                lb_table_free(pt);
            }
            if (rc == 0)
                call->result = res;
            else
                lb_decref(res);
        }
    }
    lb_metrics_free(&met);
    target_release(&t);
    return rc;
}

static int cmd_confusion(lb_cmd_call *call, lb_error *err)
{
    target t;
    lb_metrics met = {0};
    int rc = read_target(call, "confusion", &t, err);
    if (rc == 0)
        rc = evaluate_target(call, &t, &met, NULL, err);
    lb_value *nv = rc == 0 ? lb_call_param(call, "normalize", err) : NULL;
    if (rc == 0 && !nv)
        rc = -1;
    if (rc == 0) {
        size_t C = (size_t)met.nclasses;
        double *counts = malloc(C * C * sizeof *counts);
        if (!counts) {
            rc = oom(err);
        } else {
            for (size_t i = 0; i < C * C; i++)
                counts[i] = (double)met.confusion[i];
            char title[400];
            snprintf(title, sizeof title, "%s on %s.%s: accuracy %.4f", t.label, t.ds->name,
                     t.s->name, lb_metrics_accuracy(&met));
            lb_plot_opts o = {.title = title};
            lb_plot *p = lb_plot_confusion(counts, C, (const char *const *)t.ds->classes,
                                           lb_truthy(nv), &o, err);
            free(counts);
            if (!p) {
                rc = -1;
            } else {
                lb_value *pv = lb_plot_value(p, err);
                if (!pv) {
                    rc = -1;
                } else {
                    rc = lb_plot_show(call->in, lb_plot_from_value(pv), NULL, false, err);
                    if (rc == 0)
                        call->result = pv;
                    else
                        lb_decref(pv);
                }
            }
        }
    }
    lb_decref(nv);
    lb_metrics_free(&met);
    target_release(&t);
    return rc;
}

static const lb_param eval_params[] = {
    {"topk", LB_PARAM_INT, "5", "k of the top-k accuracy"},
    {0}};
static const lb_param confusion_params[] = {
    {"normalize", LB_PARAM_BOOL, "false", "divide each row by its count (recall per class)"},
    {"topk", LB_PARAM_INT, "5", "k of the top-k accuracy"},
    {0}};

static const lb_command train_commands[] = {
    {.name = "train", .synopsis = "train MODEL... on DATA epochs=5 batch=64 opt=\"sgd\" lr=0.01 ...",
     .doc = "Trains models on a data set's train split with cross-entropy, evaluating on its valid\n"
            "split after every epoch and on its test split at the end. Any setting given as a list\n"
            "(lr=[0.1, 0.01]) is swept: the models and the listed values expand to every\n"
            "combination (models first, then the settings in the order written), trained one after\n"
            "the other, each from the same starting weights. It ends with one comparison table\n"
            "sorted by `monitor` (best first, best values marked); each model then holds the\n"
            "weights of its best run. While it trains, one display shows the progress (updated at\n"
            "most 5 times a second) and another the learning curves (each epoch).\n"
            "`runs = train ...` keeps the runs as a value (runs.best(\"valid.acc\").test.acc); `runs`\n"
            "lists every run of the session. An interrupt stops at the next batch: the run keeps\n"
            "its completed epochs (marked interrupted) and the model its weights. A NaN or infinite\n"
            "loss stops training with an error naming the epoch and batch.\n"
            "The same data, settings, seed and thread count give bit-identical results.",
     .example = "runs = train pool stride on f epochs=5 opt=\"sgd\" lr=[0.1, 0.01, 0.001] batch=64 seed=1",
     .params = train_params, .min_args = 3, .max_args = -1, .hint = LB_ARGS_VARIABLES,
     .flags = LB_CMD_RESULT, .handler = cmd_train},
    {.name = "evaluate", .synopsis = "evaluate MODEL on SPLIT topk=5",
     .doc = "Evaluates a model (or a run's final weights) on a split (f.test, f.valid; a data set\n"
            "means its test split): loss, accuracy, top-k accuracy and a table of per-class\n"
            "accuracy (the worst class marked). `m = evaluate ...` keeps them as a map with\n"
            "loss, acc, topK, samples, per_class and confusion (rows true, columns predicted).",
     .example = "evaluate pool on f.test\nm = evaluate pool on f.valid\nm.acc",
     .params = eval_params, .min_args = 3, .max_args = 3, .hint = LB_ARGS_VARIABLES,
     .flags = LB_CMD_RESULT, .handler = cmd_evaluate},
    {.name = "confusion", .synopsis = "confusion MODEL on SPLIT normalize=false",
     .doc = "Shows the confusion matrix of a model (or a run) on a split: rows are the true\n"
            "labels, columns the predicted ones, counts in the cells (viridis). normalize=true\n"
            "divides each row by its count. `p = confusion ...` keeps the figure.",
     .example = "confusion pool on f.test\nconfusion runs.best(\"valid.acc\") on f.test normalize=true",
     .params = confusion_params, .min_args = 3, .max_args = 3, .hint = LB_ARGS_VARIABLES,
     .flags = LB_CMD_RESULT, .handler = cmd_confusion},
};

int lb_register_train_commands(lb_interp *in, lb_error *err)
{
    return lb_interp_register_commands(in, train_commands,
                                       sizeof train_commands / sizeof train_commands[0], err);
}
