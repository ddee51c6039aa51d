/* train_commands.c — the commands `train`, `evaluate` and `confusion` (spec/language.md
 * §"Training"): the settings of a `train` line checked against one schema, list-valued settings
 * and several models expanded to the cartesian product of runs (a sweep), each run's record and
 * value (runs_values.c) around the training loop of train/ (train.h), fed to the live progress
 * display (progress.c) through the loop's hooks; afterwards each model holds its best run's
 * weights. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sha256.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "modules/data_values.h"
#include "modules/modules.h"
#include "modules/plot_values.h"
#include "modules/training.h"
#include "render/table.h"


/* A JSON number, or null for NaN and infinities (JSON has no such numbers). */


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
    {"monitor", LB_PARAM_STRING, NULL, "the validation metric that ranks epochs and runs (default: the task's, e.g. valid.acc)"},
    {"loss", LB_PARAM_STRING, NULL, "a loss a plugin registered, in place of the task's"},
    {"metrics", LB_PARAM_ANY, NULL, "metrics plugins registered, measured after the task's: [\"NAME\", ...]"},
    {"task", LB_PARAM_STRING, NULL, "the task: \"classify\", \"regress\", \"segment\" or a plugin's (default: the data's)"},
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
    static const char *const fixed[] = {"monitor", "task", "loss", "metrics", "min_delta", "restore_best", "eval_batch",
                                        "topk", "test", "live", "curves"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(fixed[i], name) == 0)
            return false;
    return true;
}

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

typedef lb_train_config cfg;

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
        int k = choice(v, lb_opt_names, 3, "optimizer", at, err);
        if (k < 0)
            return -1;
        c->opt = k;
    } else if (strcmp(name, "schedule") == 0) {
        int k = choice(v, lb_sched_names, 3, "schedule", at, err);
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
    } else if (strcmp(name, "monitor") == 0) { /* checked against the task's metrics later */
        if (strlen(v->u.str.s) >= sizeof c->monitor)
            return lb_node_error(err, at, "ValueError", "monitor \"%.40s...\" is too long", v->u.str.s);
        snprintf(c->monitor, sizeof c->monitor, "%s", v->u.str.s);
    } else if (strcmp(name, "loss") == 0) { /* checked against the plugins' losses later */
        if (strlen(v->u.str.s) >= sizeof c->loss_override)
            return lb_node_error(err, at, "ValueError", "loss \"%.20s...\" is too long", v->u.str.s);
        snprintf(c->loss_override, sizeof c->loss_override, "%s", v->u.str.s);
    } else if (strcmp(name, "metrics") == 0) { /* a list of names; checked later */
        size_t n = v->kind == LB_LIST ? lb_list_len(v) : 0;
        if (v->kind != LB_LIST || n > 4)
            return lb_node_error(err, at, "TypeError", "metrics must be a list of up to 4 metric names");
        for (size_t i = 0; i < n; i++) {
            lb_value *it = lb_list_get(v, i);
            if (it->kind != LB_STR || strlen(it->u.str.s) >= sizeof c->extra_metrics[0])
                return lb_node_error(err, at, "TypeError", "metrics: item %zu is not a metric name", i + 1);
            snprintf(c->extra_metrics[i], sizeof c->extra_metrics[0], "%s", it->u.str.s);
        }
        c->nextra = (int)n;
    } else if (strcmp(name, "task") == 0) { /* checked against the registered tasks later */
        if (strlen(v->u.str.s) >= sizeof c->task)
            return lb_node_error(err, at, "ValueError", "task \"%.20s...\" is too long", v->u.str.s);
        snprintf(c->task, sizeof c->task, "%s", v->u.str.s);
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
    lb_train_data d;
    lb_progress *prog;
    lb_value *run;        /* the run being trained (for the progress display) */
} trainer;

/* The training loop's hooks (train.h): the interpreter's safe point, the live display. */
static int hook_poll(void *ctx, lb_error *err) { return lb_safe_point(((trainer *)ctx)->in, err); }
static int poll_interp(void *in, lb_error *err) { return lb_safe_point(in, err); }
static void hook_batch(void *ctx, int64_t epoch, int64_t batch, double loss, int64_t samples)
{
    lb_progress_batch(((trainer *)ctx)->prog, epoch, batch, loss, samples);
}
static void hook_epoch(void *ctx) { lb_progress_epoch(((trainer *)ctx)->prog, ((trainer *)ctx)->run); }

/* Trains one run: its record and run value (*runv, made whatever happens), then the loop.
 * 0 when it finished or stopped early, -1 with *err (*state says how it ended). */
static int run_one(trainer *T, job *J, int id, int index, lb_value **runv, lb_run_state *state, lb_error *err)
{
    *state = LB_RUN_FAILED;
    *runv = NULL;
    json_t *rec = lb_train_record_new(&J->c, J->model, T->d.ds, J->start_sha, id, J->name, json_incref(J->swept),
                                      lb_plugins_json(T->in, J->model));
    lb_run *R = rec ? calloc(1, sizeof *R) : NULL;
    if (!R) {
        json_decref(rec);
        return lb_oom(err);
    }
    R->id = id;
    R->record = rec;
    R->model = lb_incref(J->model_value);
    if (!(*runv = lb_run_value_new(R)))
        return lb_oom(err);
    T->run = *runv;
    lb_progress_run(T->prog, index, J->name, J->c.epochs, (T->d.train->n + J->c.batch - 1) / J->c.batch,
                    T->d.train->n);
    lb_train_hooks h = {.ctx = T, .poll = hook_poll, .batch = hook_batch, .epoch = hook_epoch};
    return lb_train_run(&J->c, J->model, &T->d, J->start, J->nstart, rec, &h, state, &R->weights, &R->nweights,
                        err);
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
        return lb_oom(err);
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

/* One `train` line: its models and data, settings, the sweep's axes and its runs (jobs). */
typedef struct sweep {
    lb_cmd_call *call;
    lb_value **models, *data;
    size_t nmodels;
    axis axes[32];
    size_t naxes;
    cfg base;
    bool wd_given;       /* weight_decay written (else adamw gets PyTorch's default) */
    size_t per_model;    /* runs per model */
    job *jobs;
    size_t njobs;
    float **starts;      /* each model's starting weights */
    struct lb_task *ptask; /* a plugin's task, adapted (NULL: a built-in one) */
    struct lb_task *ctask; /* the task with loss= and metrics= (NULL: none given) */
} sweep;

static void sweep_free(sweep *S)
{
    for (size_t i = 0; i < S->njobs && S->jobs; i++)
        json_decref(S->jobs[i].swept);
    free(S->jobs);
    for (size_t i = 0; S->starts && i < S->nmodels; i++)
        free(S->starts[i]);
    free(S->starts);
    for (size_t a = 0; a < S->naxes; a++)
        lb_decref(S->axes[a].values);
    lb_decref(S->data);
    lb_plugin_task_free(S->ctask);
    lb_plugin_task_free(S->ptask);
    free_models(S->models, S->nmodels);
}

/* One setting of the line into the base settings, or, a list of a sweepable one, into an axis
 * (each of its values checked). */
static int read_setting(sweep *S, const lb_param *p, lb_error *err)
{
    lb_cmd_call *call = S->call;
    const lb_node *k = lb_call_keyword(call, p->name);
    if (!k && !p->def)
        return 0;
    lb_value *v = lb_call_param(call, p->name, err);
    if (!v)
        return -1;
    const lb_node *at = k ? k->kids[0] : call->node;
    int rc = 0;
    if (v->kind == LB_LIST && sweepable(p->name)) {
        if (lb_list_len(v) == 0)
            rc = lb_node_error(err, at, "ValueError", "%s is an empty list: nothing to sweep", p->name);
        for (size_t i = 0; rc == 0 && i < lb_list_len(v); i++) {
            cfg probe = S->base;
            rc = set_value(&probe, p->name, lb_list_get(v, i), at, err);
        }
        if (rc == 0 && S->naxes == sizeof S->axes / sizeof S->axes[0])
            rc = lb_node_error(err, at, "ValueError", "too many swept settings");
        if (rc == 0) {
            S->axes[S->naxes++] = (axis){p->name, k, v};
            return 0;
        }
    } else {
        rc = set_value(&S->base, p->name, v, at, err);
    }
    lb_decref(v);
    return rc;
}

/* "unknown <setting> "given" (did you mean ...?) (one of ...)" at the setting's value. */
static int unknown_choice(sweep *S, const char *setting, const char *given, const char *const *names, size_t n,
                          lb_error *err)
{
    const lb_node *k = lb_call_keyword(S->call, strcmp(setting, "metric") == 0 ? "metrics" : setting);
    const char *sug = lb_suggest(given, names, n);
    char list[256] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "", names[i]);
    return lb_node_error(err, k ? k->kids[0] : S->call->node, "ValueError", "unknown %s \"%s\"%s%s%s (one of %s)",
                         setting, given, sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "", list);
}

/* monitor names one of the metrics the epochs record, with a direction (the task's). */
static int check_monitor(sweep *S, lb_error *err)
{
    size_t nm = 0;
    const char *const *names = lb_train_monitor_names(&S->base, &nm);
    for (size_t i = 0; i < nm; i++)
        if (strcmp(names[i], S->base.monitor) == 0)
            return 0;
    return unknown_choice(S, "monitor", S->base.monitor, names, nm, err);
}

/* The base settings (schema defaults, then every non-list value given) and the sweep's axes, in
 * the order they were written on the line. */
static int read_settings(sweep *S, lb_error *err)
{
    bool seed_set = false;
    double gseed = lb_interp_seed(S->call->in, &seed_set);
    S->base.seed = seed_set && gseed >= 0 ? (uint64_t)gseed : 0;
    S->wd_given = lb_call_keyword(S->call, "weight_decay") != NULL;
    for (const lb_param *p = train_params; p->name; p++)
        if (read_setting(S, p, err) < 0)
            return -1;
    axis *ax = S->axes;
    for (size_t i = 1; i < S->naxes; i++)
        for (size_t j = i; j > 0 && ax[j].at->line * 100000 + ax[j].at->col < ax[j - 1].at->line * 100000 + ax[j - 1].at->col;
             j--) {
            axis t = ax[j];
            ax[j] = ax[j - 1];
            ax[j - 1] = t;
        }
    return 0;
}

/* loss= and metrics=: plugins' losses and metrics composed with task *t (which becomes the
 * composition). Unknown names get a "did you mean" among the loaded plugins'. */
static int read_loss_metrics(sweep *S, const lb_task **t, lb_error *err)
{
    lb_train_config *c = &S->base;
    if (!c->loss_override[0] && !c->nextra)
        return 0;
    const char *names[32];
    const lbp_loss *loss = NULL;
    lbp_plugin *loss_owner = NULL, *owners[4] = {0};
    if (c->loss_override[0] && !(loss = lb_plugins_find_loss(S->call->in, c->loss_override, &loss_owner)))
        return unknown_choice(S, "loss", c->loss_override, names,
                              lb_plugins_item_names(S->call->in, 1, names, 32), err);
    const lbp_metric_def *extra[4];
    lb_task_metric own[LB_TASK_MAXMETRICS];
    lb_task_env e = {.task = *t, .c = c};
    int nown = (*t)->metrics(&e, own);
    for (int i = 0; i < c->nextra; i++) {
        if (!(extra[i] = lb_plugins_find_metric(S->call->in, c->extra_metrics[i], &owners[i])))
            return unknown_choice(S, "metric", c->extra_metrics[i], names,
                                  lb_plugins_item_names(S->call->in, 2, names, 32), err);
        for (int k = 0; k < nown; k++)
            if (strcmp(own[k].name, extra[i]->name) == 0)
                return lb_node_error(err, lb_call_keyword(S->call, "metrics")->kids[0], "ValueError",
                                     "task %s already has a metric %s", (*t)->name, own[k].name);
        if (nown + i + 1 > LB_TASK_MAXMETRICS)
            return lb_node_error(err, lb_call_keyword(S->call, "metrics")->kids[0], "ValueError",
                                 "at most %d metrics in all", LB_TASK_MAXMETRICS);
    }
    if (!(S->ctask = lb_task_compose(*t, loss, loss_owner, extra, owners, c->nextra)))
        return lb_oom(err);
    *t = S->ctask;
    c->task_impl = S->ctask;
    return 0;
}

/* The task: task= (a built-in one, or one a loaded plugin registered), else the data's; then
 * monitor's default, the task's. */
static int read_task(sweep *S, const lb_dataset *ds, lb_error *err)
{
    const lb_node *k = lb_call_keyword(S->call, "task");
    if (!k)
        snprintf(S->base.task, sizeof S->base.task, "%s", ds->task);
    const lb_task *t = lb_task_find(S->base.task);
    lbp_plugin *owner = NULL;
    const lbp_task *pt = t ? NULL : lb_plugins_find_task(S->call->in, S->base.task, &owner);
    if (pt) {
        if (!(S->ptask = lb_plugin_task_new(pt, owner)))
            return lb_oom(err);
        t = S->ptask;
        S->base.task_impl = t;
    }
    if (!t) {
        size_t n = 0;
        const char *const *built = lb_task_names(&n);
        const char *names[64];
        for (size_t i = 0; i < n && i < 32; i++)
            names[i] = built[i];
        n = (n < 32 ? n : 32) + lb_plugins_item_names(S->call->in, 0, names + (n < 32 ? n : 32), 32);
        return unknown_choice(S, "task", S->base.task, names, n, err);
    }
    if (read_loss_metrics(S, &t, err) < 0)
        return -1;
    if (!lb_call_keyword(S->call, "monitor"))
        snprintf(S->base.monitor, sizeof S->base.monitor, "%s", t->monitor);
    return 0;
}

/* The splits to train on (a split given alone, `on f.test`, is trained on without valid and
 * test), and every model checked against them. */
static int read_data(sweep *S, trainer *T, lb_error *err)
{
    lb_cmd_call *call = S->call;
    lb_dataset *ds = NULL;
    const lb_split *only = NULL;
    lb_data_from_value(S->data, &ds, &only);
    T->d.ds = ds;
    T->d.train = only ? only : lb_dataset_split(ds, "train");
    T->d.valid = only ? NULL : lb_dataset_split(ds, "valid");
    T->d.test = only ? NULL : lb_dataset_split(ds, "test");
    if (!T->d.train || T->d.train->n == 0)
        return lb_node_error(err, call->args[call->nargs - 1], "ValueError", "the data set has no training samples");
    if (read_task(S, ds, err) < 0 || check_monitor(S, err) < 0)
        return -1;
    if (!T->d.valid && strncmp(S->base.monitor, "valid.", 6) == 0) /* rank by the training loss */
        snprintf(S->base.monitor, sizeof S->base.monitor, "train.loss");
    for (size_t i = 0; i < S->nmodels; i++)
        if (lb_train_check(lb_model_from_value(S->models[i]), ds, &S->base, err) < 0) {
            lb_error_locate(err, call->args[i]->line, call->args[i]->col, call->args[i]->span);
            return -1;
        }
    return 0;
}

/* Run r of model mi: the base settings with the axes' values of r (the cartesian product:
 * the last axis varies fastest), its name and swept settings. */
static void make_job(sweep *S, job *J, size_t r, lb_error *err)
{
    J->c = S->base;
    J->swept = json_object();
    snprintf(J->name, sizeof J->name, "%s", lb_model_name(J->model));
    size_t rem = r, stride = S->per_model;
    for (size_t a = 0; a < S->naxes; a++) {
        stride /= lb_list_len(S->axes[a].values);
        const lb_value *val = lb_list_get(S->axes[a].values, rem / stride);
        rem %= stride;
        set_value(&J->c, S->axes[a].name, val, S->axes[a].at, err); /* checked when read */
        char vb[64];
        name_value(vb, sizeof vb, val);
        size_t used = strlen(J->name);
        snprintf(J->name + used, sizeof J->name - used, " %s=%s", S->axes[a].name, vb);
        json_object_set_new(J->swept, S->axes[a].name, value_json(val));
    }
    if (!S->wd_given && J->c.opt == LB_ADAMW)
        J->c.weight_decay = 0.01; /* PyTorch's AdamW default */
}

/* The runs: models outermost, then the axes in the order written; every run of a model starts
 * from the weights the model has now. */
static int expand(sweep *S, lb_error *err)
{
    S->per_model = 1;
    for (size_t a = 0; a < S->naxes; a++)
        S->per_model *= lb_list_len(S->axes[a].values);
    if (S->per_model * S->nmodels > 10000)
        return lb_node_error(err, S->call->node, "ValueError", "the sweep has %zu runs (at most 10000)",
                             S->per_model * S->nmodels);
    S->njobs = S->per_model * S->nmodels;
    S->jobs = calloc(S->njobs, sizeof *S->jobs);
    S->starts = calloc(S->nmodels, sizeof *S->starts);
    if (!S->jobs || !S->starts)
        return lb_oom(err);
    for (size_t mi = 0; mi < S->nmodels; mi++) {
        lb_model *m = lb_model_from_value(S->models[mi]);
        size_t nv = 0;
        const float *v = lb_params_values(lb_model_params(m), &nv);
        if (!(S->starts[mi] = malloc(nv * sizeof *v + 1)))
            return lb_oom(err);
        memcpy(S->starts[mi], v, nv * sizeof *v);
        char sha[65];
        lb_sha256_hex(v, nv * sizeof *v, sha);
        for (size_t r = 0; r < S->per_model; r++) {
            job *J = &S->jobs[mi * S->per_model + r];
            *J = (job){.model_value = S->models[mi], .model = m, .start = S->starts[mi], .nstart = nv};
            memcpy(J->start_sha, sha, sizeof sha);
            make_job(S, J, r, err);
        }
    }
    return 0;
}

/* Each model keeps the weights of its best run; with several runs per model, line (the text
 * shown after the table) says which. */
static void keep_best(sweep *S, lb_value *list, char *line, size_t n)
{
    const char *monitor = S->base.monitor;
    for (size_t mi = 0; mi < S->nmodels; mi++) {
        lb_model *m = lb_model_from_value(S->models[mi]);
        const lb_run *best = lb_run_from_value(lb_runs_best(list, monitor, S->models[mi]));
        size_t nv = 0;
        float *vals = lb_params_values(lb_model_params(m), &nv);
        if (!best || !best->weights || nv != best->nweights)
            continue;
        memcpy(vals, best->weights, nv * sizeof *vals);
        if (S->per_model > 1) {
            size_t used = strlen(line);
            snprintf(line + used, n - used, "%s holds the weights of run %d (%s, best %s)\n", lb_model_name(m),
                     best->id, json_string_value(json_object_get(best->record, "name")), monitor);
        }
    }
}

/* Trains the runs in order, each added to list and to the session's runs as it ends; stops at
 * the first that fails or is interrupted (*last says how it ended). */
static int run_jobs(sweep *S, trainer *T, lb_value *list, lb_run_state *last, lb_error *err)
{
    *last = LB_RUN_FINISHED;
    for (size_t j = 0; j < S->njobs; j++) {
        int id = (int)lb_list_len(lb_session_runs(T->in)) + 1;
        lb_value *rv = NULL;
        lb_run_state st;
        int r = run_one(T, &S->jobs[j], id, (int)j, &rv, &st, err);
        if (rv) {
            lb_list_append(list, rv);
            lb_session_add_run(T->in, rv);
            lb_progress_run_end(T->prog, rv, st);
        }
        lb_decref(rv);
        if (r < 0) {
            *last = st;
            return -1;
        }
    }
    return 0;
}

static int cmd_train(lb_cmd_call *call, lb_error *err)
{
    lb_interp *in = call->in;
    sweep S = {.call = call};
    trainer T = {.in = in};
    lb_value *list = NULL;
    int rc = -1;
    if (read_targets(call, "train", &S.models, &S.nmodels, &S.data, err) < 0 || read_settings(&S, err) < 0 ||
        read_data(&S, &T, err) < 0 || expand(&S, err) < 0)
        goto done;
    list = lb_list_new();
    T.prog = lb_progress_new(in, (int)S.njobs, S.base.live, S.base.curves);
    if (!list || !T.prog) {
        lb_oom(err);
        goto done;
    }
    lb_run_state last;
    rc = run_jobs(&S, &T, list, &last, err);
    /* after an interrupt or a failure each model keeps the weights it stopped with */
    char line[1024] = "";
    if (rc == 0)
        keep_best(&S, list, line, sizeof line);
    char msg[512] = "";
    if (rc < 0 && last == LB_RUN_INTERRUPTED)
        snprintf(msg, sizeof msg, "stopped at the next batch; the completed epochs (in the run) and "
                                  "the model's weights are kept");
    else if (rc < 0)
        snprintf(msg, sizeof msg, "%s", err->evalue);
    lb_progress_finish(T.prog, rc == 0 ? LB_RUN_FINISHED : last, msg);

    lb_value *rs = lb_runs_value_new(list);
    if (!rs) {
        if (rc == 0)
            lb_oom(err);
        rc = -1;
        goto done;
    }
    if (rc == 0) {
        lb_table *t = lb_runs_table(list, S.base.monitor);
        if (t && lb_emit_table(in, t, err) < 0)
            rc = -1;
        if (line[0])
            lb_emit_stream(in, LB_STDOUT, line, strlen(line));
    } else if (last == LB_RUN_INTERRUPTED) {
        /* an interrupted training still gives the runs it made (the completed epochs; `runs`
         * lists them too) before the error stops the cell */
        lb_error_set(err, "Interrupted", 0, 0, "training interrupted; %zu run%s kept (see `runs`)", lb_list_len(list),
                     lb_list_len(list) == 1 ? "" : "s");
    }
    call->result = rs;
done:
    sweep_free(&S);
    lb_progress_free(T.prog);
    lb_decref(list);
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
        lb_oom(err);
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

int lb_predict_split(lb_interp *in, const lb_value *v, const lb_dataset *ds, const lb_split *s,
                     int32_t *preds, char *label, size_t label_size, lb_error *err)
{
    float *saved;
    lb_model *m = swap_in(v, &saved, label, label_size, err);
    if (!m)
        return -1;
    lb_metrics met;
    int rc = lb_metrics_init(&met, ds->nclasses, 1) < 0 ? lb_oom(err) : 0;
    lb_train_hooks h = {.ctx = in, .poll = poll_interp};
    if (rc == 0)
        rc = lb_evaluate_split(m, ds, s, 500, &met, preds, &h, err);
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
    lb_train_config c = {.topk = 5};
    snprintf(c.task, sizeof c.task, "classify");
    if (strcmp(t->ds->task, "classify") != 0)
        return lb_node_error(err, call->args[call->nargs - 1], "ValueError",
                             "%s shows classification results; %s is a %s data set (train's run records hold "
                             "its metrics)", verb, t->ds->name, t->ds->task);
    if (lb_train_check(t->m, t->ds, &c, err) < 0) {
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
        return lb_oom(err);
    lb_train_hooks h = {.ctx = call->in, .poll = poll_interp};
    if (lb_evaluate_split(t->m, t->ds, t->s, 500, met, preds, &h, err) < 0) {
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
            rc = lb_oom(err);
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
            rc = lb_oom(err);
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
