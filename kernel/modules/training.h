/* training.h — the language side of training (modules/): run records as values (`run`,
 * `runs`; runs_values.c), the commands `train`, `evaluate`, `confusion` (train_commands.c) and
 * the live progress display of a training (progress.c). The training itself is train/train.h.
 * A run record is a JSON object (the same one `export` writes and the values read); its fields
 * are listed in spec/language.md §"Run records". */
#ifndef LB_TRAINING_H
#define LB_TRAINING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "host/plugins.h"
#include "lang/value.h"
#include "train/train.h"

typedef struct lb_interp lb_interp;
typedef struct lb_table lb_table;

/* ---- runs (runs_values.c) ---------------------------------------------------------------------- */

typedef struct lb_run {
    int id;              /* 1, 2, ... in the session */
    json_t *record;      /* the record (owned) */
    lb_value *model;     /* the model value trained (a reference) */
    float *weights;      /* its parameter values when the run ended (lb_params_values) */
    size_t nweights;
} lb_run;

/* Takes r (freed with the value, also on failure: NULL). */
lb_value *lb_run_value_new(lb_run *r);
lb_run *lb_run_from_value(const lb_value *v); /* borrowed; NULL when v is not a run */
/* A `runs` value over a list of run values (a new reference to list is taken), sorted by
 * nothing: the order given. */
lb_value *lb_runs_value_new(lb_value *list);
/* The run values of a `runs` value (borrowed list), or NULL when v is not one. */
lb_value *lb_runs_list(const lb_value *v);

/* A final metric of a run by its dotted name ("valid.acc", "test.loss", "train.acc",
 * "params", "seconds", "samples_per_s", "epochs"): NaN when the run has none. */
double lb_run_metric(const lb_run *r, const char *name);
/* The metric a run is summed up by, without its split: its monitor's ("valid.acc" -> "acc",
 * "valid.miou" -> "miou"; "acc" for records without one). Borrowed from the record. */
const char *lb_run_key_metric(const lb_run *r);

/* A plugin's task (host/plugins.h: lb_plugins_find_task) as the trainer's (plugin_tasks.c);
 * lb_plugin_task_free after the runs. */
struct lbp_task;
struct lb_task;
struct lbp_plugin;
struct lb_task *lb_plugin_task_new(const struct lbp_task *p, struct lbp_plugin *owner);
void lb_plugin_task_free(struct lb_task *t);
/* base with a plugin's loss in place of its own (loss may be NULL) and plugin metrics after its
 * own (`train ... loss="NAME" metrics=[...]`); lb_plugin_task_free after the runs. */
struct lbp_loss;
struct lbp_metric_def;
struct lb_task *lb_task_compose(const struct lb_task *base, const struct lbp_loss *loss,
                                struct lbp_plugin *loss_owner, const struct lbp_metric_def *const *extra,
                                struct lbp_plugin *const *extra_owners, int nextra);
/* The per-epoch values of a metric ("train.loss", "valid.acc", "lr"): a malloc'd array of
 * *n values (NaN where an epoch lacks it), or NULL when no epoch has it. */
double *lb_run_series(const lb_run *r, const char *name, size_t *n);
/* The run of list (of model's, when model is not NULL) with the best final value of metric
 * (borrowed), or NULL when none has it. */
lb_value *lb_runs_best(const lb_value *list, const char *metric, const lb_value *model);
/* A metric for tables and messages: 4 decimals, "-" for NaN (none). */
void lb_format_metric(double v, char *buf, size_t n);
/* The comparison table of runs (run values in list), sorted by `sort` (best first; NULL
 * keeps the order), best value of each metric column marked. NULL on OOM. */
lb_table *lb_runs_table(const lb_value *list, const char *sort);
/* A table of a run's epochs (epoch, train.loss, ..., lr, seconds, samples/s). */
lb_table *lb_run_history_table(const lb_run *r);
/* The session's list of every run made (borrowed list value). */
lb_value *lb_session_runs(lb_interp *in);
int lb_session_add_run(lb_interp *in, lb_value *run);
/* The learning curves of runs: one panel per metric name; a name without a split ("loss")
 * draws train (solid) and valid (dashed). Colour = the run's id - 1 (kept across figures).
 * NULL with *err. */
struct lb_plot;
struct lb_plot *lb_runs_curves(const lb_value *list, const char *const *metrics, size_t nmetrics,
                               bool logy, lb_error *err);

/* ---- predictions (train_commands.c) ------------------------------------------------------ */

/* Predicted classes of a model or a run (its final weights, swapped in for the call) for
 * every sample of s: preds gets s->n entries. label (may be NULL) receives "pool" or
 * "run 3 (pool lr=0.1)". -1 with *err (TypeError when v is neither). */
int lb_predict_split(lb_interp *in, const lb_value *v, const lb_dataset *ds, const lb_split *s,
                     int32_t *preds, char *label, size_t label_size, lb_error *err);

/* ---- live progress (progress.c) ---------------------------------------------------------- */

typedef struct lb_progress lb_progress;

/* One progress display for a whole `train` command (nruns runs, each epochs long) and one
 * live learning-curve image. live = false: nothing is shown until lb_progress_finish. */
lb_progress *lb_progress_new(lb_interp *in, int nruns, bool live, bool curves);
void lb_progress_free(lb_progress *p);
/* Minimum time between two updates of the display, in seconds (0.2: at most 5 a second). */
#define LB_PROGRESS_INTERVAL 0.2
/* A new run starts: its name and size. */
void lb_progress_run(lb_progress *p, int index, const char *name, int64_t epochs,
                     int64_t batches_per_epoch, int64_t samples_per_epoch);
/* After each batch: throttled (redraws only when LB_PROGRESS_INTERVAL has passed). */
void lb_progress_batch(lb_progress *p, int64_t epoch, int64_t batch, double running_loss,
                       int64_t samples_done);
/* After each epoch: the run value so far (its history grows) redraws the table and, at most
 * once per epoch, the curves. */
void lb_progress_epoch(lb_progress *p, const lb_value *run);
/* A run ended in state s (the summary line of the run stays in the display). */
void lb_progress_run_end(lb_progress *p, const lb_value *run, lb_run_state s);
/* The final redraw (always sent): finished / interrupted / failed. */
void lb_progress_finish(lb_progress *p, lb_run_state s, const char *message);

/* Registers train, evaluate, confusion (train_commands.c) and runs, export and the `plot
 * runs` source (runs_values.c). */
int lb_register_train_commands(lb_interp *in, lb_error *err);
int lb_register_run_commands(lb_interp *in, lb_error *err);

#endif
