/* task.h — a task: the kind of learning problem a run solves, between the model and the data.
 * It checks the model against the data's fields, prepares a batch (a set of named tensors), gives
 * the loss of the model's output on it, and accumulates its metrics over a whole split (each
 * declaring which way it is better) before they are final. The trainer (loop.c) knows only this
 * interface; the built-in tasks are in task_classify.c, task_regress.c and task_segment.c, and
 * more are registered with lb_task_register (plugins do it through the host table).
 *
 * The default task comes from the data (lb_dataset.task), so image and CSV classification data
 * sets train as they always did. */
#ifndef LB_TASK_H
#define LB_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "data/dataset.h"
#include "host/model.h"
#include "train/metrics.h"

#define LB_TASK_MAXMETRICS 8

typedef struct lb_task_metric {
    char name[24];      /* "loss", "acc", "top5", "mae", "miou" */
    lb_better better;
    bool on_train;      /* also computed on the training batches as they train */
} lb_task_metric;

struct lb_train_config;
struct lb_task;

/* What a task sees of one run. */
typedef struct lb_task_env {
    const struct lb_task *task;
    lb_model *m;
    const lb_dataset *ds;
    const struct lb_train_config *c;
} lb_task_env;

typedef struct lb_task {
    size_t size;          /* sizeof(lb_task) */
    const char *name;     /* "classify" */
    const char *summary;  /* one line */
    const char *loss_name;
    const char *monitor;  /* the default `monitor` ("valid.acc") */
    /* The split metrics, the loss first; returns their number. */
    int (*metrics)(const lb_task_env *e, lb_task_metric *out);
    /* Whether the model fits the data (inputs are checked by the trainer): -1 with *err. */
    int (*check)(const lb_task_env *e, lb_error *err);
    /* Changes the batch before the forward pass (e.g. shifting targets for teacher forcing);
     * may be NULL. -1 with *err. */
    int (*prepare)(const lb_task_env *e, lb_graph *g, lb_batch *b, lb_error *err);
    /* The scalar loss of out on b (recorded on g's tape when training), NULL with g's error. */
    lb_tensor *(*loss)(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training);
    /* Metric accumulation over a split: new, reset, one batch (its mean loss), the final values
     * in metrics order, optional details (JSON fields added to a test split's results), free. */
    void *(*acc_new)(const lb_task_env *e);
    void (*acc_reset)(void *acc);
    void (*acc_add)(void *acc, const lb_tensor *out, const lb_batch *b, double batch_loss);
    void (*acc_values)(void *acc, double *values);
    void (*acc_detail)(void *acc, const lb_task_env *e, json_t *into); /* may be NULL */
    void (*acc_free)(void *acc);
    /* The predicted value of each sample of out (e.g. its class), into pred (out's batch
     * entries); may be NULL when the task predicts no single number per sample. */
    void (*predict)(const lb_task_env *e, const lb_tensor *out, float *pred);
} lb_task;

/* Registers t (append-only; the name must be new). -1 with *err. */
int lb_task_register(const lb_task *t, lb_error *err);
/* The task named `name`, or NULL. */
const lb_task *lb_task_find(const char *name);
/* The registered tasks' names, in registration order; *n of them (static storage). */
const char *const *lb_task_names(size_t *n);

/* The built-in tasks. */
extern const lb_task lb_task_classify, lb_task_regress, lb_task_segment;

/* The data field of target `name` for task `task`, checked: present, a target, of type `type`.
 * NULL with *err saying what is missing. */
const lb_field *lb_task_target(const lb_task_env *e, const char *name, lb_field_type type, lb_error *err);

/* The values of t (any strides) as contiguous row-major memory: t's data when already so, else
 * a copy in *scratch (grown as needed, *cap floats; freed by the caller). NULL when out of
 * memory. */
const float *lb_task_rows(const lb_tensor *t, float **scratch, int64_t *cap);

#endif
