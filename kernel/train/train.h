/* train.h — training a model on a data set (spec/language.md §"Training"), knowing nothing of
 * the language: the settings of one run (lb_train_config), the run record's fixed part, the
 * training loop of one run and the evaluation of a model on a split. The language side (the
 * `train` line, sweeps, run values, the live display) is modules/train_commands.c, which
 * calls these with hooks for interrupts and progress.
 *
 * A run is reproducible: its batches come from the data set's documented seeded order
 * (data/dataset.h), dropout draws from a generator seeded from the run's seed, and the ops are
 * deterministic for a given thread count and BLAS core; so the same seed, threads and core
 * give bit-identical metrics and weights, which the record states. */
#ifndef LB_TRAIN_H
#define LB_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "data/dataset.h"
#include "host/model.h"
#include "train/metrics.h"
#include "train/task.h"

/* The settings of one run, resolved (every field set; spec/language.md lists the defaults). */
typedef struct lb_train_config {
    int64_t epochs, batch, warmup, step_size, patience, eval_batch;
    int opt;             /* LB_SGD, LB_ADAM, LB_ADAMW */
    double lr, momentum, weight_decay, beta1, beta2, eps, gamma, eta_min, clip, label_smoothing;
    double min_delta;
    bool nesterov, restore_best, test;
    bool live, curves;   /* the caller's display settings (the loop ignores them) */
    int schedule;        /* LB_SCHED_* */
    int topk;
    uint64_t seed;
    char monitor[48];    /* the validation metric that ranks epochs ("valid.acc") */
    char task[24];       /* the task (train/task.h): the data's default unless set */
    const struct lb_task *task_impl; /* the task itself when it is not a registered one (a
                                        plugin's, adapted by the caller); NULL: by name */
    char loss_override[24];           /* the caller's settings (loss=, metrics=: a plugin's loss */
    char extra_metrics[4][24];        /* and metrics, which the caller composes into task_impl) */
    int nextra;
} lb_train_config;

extern const char *const lb_opt_names[3];   /* "sgd", "adam", "adamw" */
extern const char *const lb_sched_names[3]; /* "constant", "step", "cosine" */

/* The resolved settings as JSON (what the record keeps and what the config hash covers). */
json_t *lb_train_config_json(const lb_train_config *c);

typedef enum { LB_RUN_RUNNING, LB_RUN_FINISHED, LB_RUN_STOPPED, LB_RUN_INTERRUPTED, LB_RUN_FAILED } lb_run_state;
const char *lb_run_state_name(lb_run_state s); /* "running", "finished", "stopped early", ... */

/* What the caller hears while a run trains (any function may be NULL). poll is the safe point
 * between batches: -1 with *err (an Interrupted error) stops the run. */
typedef struct lb_train_hooks {
    void *ctx;
    int (*poll)(void *ctx, lb_error *err);
    void (*batch)(void *ctx, int64_t epoch, int64_t batch, double running_loss, int64_t samples);
    void (*epoch)(void *ctx); /* the record's history has grown by one epoch */
    /* The one point after the backward pass where the batch's gradients (in P's gradient
     * block) could be combined across processes, before clipping and the optimizer step: a
     * data-parallel run would all-reduce them here, each process having drawn its share of the
     * batch (lb_epoch_share). NULL: one process. -1 with *err stops the run. */
    int (*grads)(void *ctx, lb_params *P, lb_error *err);
} lb_train_hooks;

/* ---- metrics and their directions -------------------------------------------------------------
 * A run record names every metric it holds with the way it is better: "metrics" is an object
 * {"loss": "lower", "acc": "higher", "top5": "higher", "seconds": "lower", ...}. The split's
 * metrics ("loss", "acc", "topK") are the task's (classification: cross-entropy, accuracy, top-k
 * accuracy); they appear per split as "train.loss", "valid.acc", "test.top5". The rest are the
 * run's own (timings). The runs table, best(), early stopping and `monitor` read this. */

/* The direction of a metric of rec ("valid.acc", "loss", "samples_per_s"): LB_BETTER_NONE when
 * rec does not declare it. */
lb_better lb_record_better(const json_t *rec, const char *name);
/* The metrics `monitor` may name for settings c (the epochs' metrics with a direction:
 * "train.loss", "train.acc", "valid.loss", "valid.acc", "valid.top5"): *n names in names
 * (static storage, valid until the next call). */
const char *const *lb_train_monitor_names(const lb_train_config *c, size_t *n);

/* The fixed part of run id's record: id, name, model, spec, params, seeds, the starting weights'
 * hash, status "running", settings, swept (taken), the config hash, the data record, plugins
 * (taken), labbook's version, threads, the BLAS library and core, host, start time, the
 * reproducibility statement, the metrics and their directions, and an empty history. NULL on
 * OOM. */
json_t *lb_train_record_new(const lb_train_config *c, lb_model *m, lb_dataset *ds, const char *start_sha256,
                            int id, const char *name, json_t *swept, json_t *plugins);

/* Trains one run of m on d's train split from the weights `start` (every run of a sweep starts
 * from the same ones), evaluating on valid every epoch and on test at the end, filling rec (made
 * by lb_train_record_new): history, epochs_run, best_epoch, kept_epoch, timings, final, status,
 * error, weights_sha256. The model keeps the weights of the kept epoch; *weights (malloc'd,
 * *nweights floats; may stay NULL on OOM) receives a copy. Returns 0 when the run finished or
 * stopped early, -1 with *err when it failed or was interrupted (*state says which). */
typedef struct lb_train_data {
    lb_dataset *ds;
    const lb_split *train, *valid, *test; /* valid and test may be NULL */
} lb_train_data;
int lb_train_run(const lb_train_config *c, lb_model *m, const lb_train_data *d, const float *start, size_t nstart,
                 json_t *rec, const lb_train_hooks *h, lb_run_state *state, float **weights, size_t *nweights,
                 lb_error *err);

/* Whether m fits the data for c's task: each of the model's inputs fed by the data's input field
 * of its name (the same number of values per sample), then the task's check of the output
 * against the targets. -1 with a ValueError saying what differs. */
int lb_train_check(lb_model *m, const lb_dataset *ds, const lb_train_config *c, lb_error *err);

/* Runs m over split s of ds in no-grad mode (eval-mode layers), batches of `batch`, accumulating
 * classification metrics into met (initialised by the caller with the data set's class count);
 * preds (may be NULL) receives s->n predicted classes. The model is fed as in training (its
 * inputs from the fields of their names) and checked first. Calls h->poll between batches. -1
 * with *err. */
int lb_evaluate_split(lb_model *m, const lb_dataset *ds, const lb_split *s, int64_t batch, lb_metrics *met,
                      int32_t *preds, const lb_train_hooks *h, lb_error *err);

#endif
