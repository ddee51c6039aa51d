/* task_metrics_driver.c — a task's loss and metrics on given outputs and targets, for
 * tests/test_task_metrics.py, which checks them against PyTorch (losses) and scikit-learn
 * (metrics). It runs the real task (train/task.h) the way the trainer does: batch by batch,
 * each batch's loss from the task's loss function, the metrics accumulated over the whole set.
 *
 *   task_metrics_driver TASK IN.bin OUT.bin
 *
 * Inputs (blobs.h): "out" [N, ...] the model's outputs, "y" [N, ...] the targets (class ids as
 * floats for classify/segment), "meta" = [classes, ignore index (segment), batch, topk].
 * Outputs: "values" (the task's metrics in its order), "batch_loss" (each batch's loss) and, for
 * segment, "iou" [classes] (NaN where a class's union is empty). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "train/task.h"
#include "train/train.h"

#define DRIVER "task_metrics_driver"
#include "blobs.h"

/* A data set with just the target field "y" (as the task reads it) and class names. */
static lb_dataset *target_set(const char *task, const blob *y, int nclasses, double pad)
{
    lb_dataset *ds = calloc(1, sizeof *ds);
    lb_field *f = &ds->fields[0];
    snprintf(f->name, sizeof f->name, "y");
    f->type = strcmp(task, "regress") == 0 ? LB_FIELD_FLOAT : LB_FIELD_INT;
    f->target = true;
    f->ndim = y->ndim - 1;
    f->numel = 1;
    for (int d = 1; d < y->ndim; d++) {
        f->shape[d - 1] = y->shape[d];
        f->numel *= y->shape[d];
    }
    f->maxlen = f->ndim ? f->shape[0] : 1;
    f->pad = pad;
    f->block = LB_BLOCK_T;
    ds->nfields = 1;
    ds->nclasses = nclasses;
    ds->classes = calloc((size_t)nclasses + 1, sizeof *ds->classes);
    for (int c = 0; c < nclasses; c++)
        if (asprintf(&ds->classes[c], "c%d", c) < 0)
            die("classes", "out of memory");
    ds->name = strdup("blobs");
    snprintf(ds->task, sizeof ds->task, "%s", task);
    return ds;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        die("usage", "task_metrics_driver TASK IN.bin OUT.bin");
    read_blobs(argv[2]);
    const blob *out = input("out"), *y = input("y"), *meta = input("meta");
    const lb_task *t = lb_task_find(argv[1]);
    if (!t)
        die("no such task", argv[1]);
    lb_train_config c = {.topk = (int)meta->data[3]};
    lb_dataset *ds = target_set(argv[1], y, (int)meta->data[0], meta->data[1]);
    lb_task_env e = {.task = t, .ds = ds, .c = &c};
    void *acc = t->acc_new(&e);
    lb_graph *g = lb_graph_new();
    if (!acc || !g)
        die("setup", "out of memory");
    lb_graph_set_grad(g, 0);
    t->acc_reset(acc);
    const int64_t N = out->shape[0], B = (int64_t)meta->data[2];
    const int64_t on = out->n / N, yn = y->n / N;
    float losses[4096];
    int64_t nb = 0;
    for (int64_t i = 0; i < N; i += B, nb++) {
        int64_t b = N - i < B ? N - i : B, os[4], ys[4];
        memcpy(os, out->shape, sizeof os);
        memcpy(ys, y->shape, sizeof ys);
        os[0] = ys[0] = b;
        lb_graph_reset(g);
        lb_batch batch = {.n = b, .nfields = 1, .field = {&ds->fields[0]}};
        batch.t[0] = lb_wrap(g, y->ndim, ys, y->data + i * yn);
        lb_tensor *o = lb_wrap(g, out->ndim, os, out->data + i * on);
        lb_tensor *loss = t->loss(&e, g, o, &batch, false);
        if (!loss || nb >= 4096)
            die("loss", lb_graph_error(g));
        losses[nb] = loss->data[0];
        t->acc_add(acc, o, &batch, loss->data[0]);
    }
    lb_task_metric m[LB_TASK_MAXMETRICS];
    int nm = t->metrics(&e, m);
    double v[LB_TASK_MAXMETRICS];
    float vf[LB_TASK_MAXMETRICS];
    t->acc_values(acc, v);
    for (int i = 0; i < nm; i++)
        vf[i] = (float)v[i];
    int64_t shape[1] = {nm};
    put("", "values", 1, shape, vf);
    shape[0] = nb;
    put("", "batch_loss", 1, shape, losses);
    if (t->acc_detail && strcmp(argv[1], "segment") == 0) {
        json_t *d = json_object();
        t->acc_detail(acc, &e, d);
        float iou[256];
        for (int k = 0; k < ds->nclasses && k < 256; k++) {
            json_t *x = json_object_get(json_object_get(d, "iou"), ds->classes[k]);
            iou[k] = json_is_number(x) ? (float)json_number_value(x) : NAN;
        }
        shape[0] = ds->nclasses;
        put("", "iou", 1, shape, iou);
        json_decref(d);
    }
    write_blobs(argv[3]);
    t->acc_free(acc);
    lb_graph_free(g);
    return 0;
}
