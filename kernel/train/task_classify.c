/* task_classify.c — the classification task: one class per sample (target field "y", int), the
 * model's output [classes] of logits, cross-entropy (with the run's label smoothing when
 * training), and the metrics of metrics.h: loss, accuracy, top-k, and for the test split the
 * per-class accuracy and the confusion matrix. The default task of image and CSV data sets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/format.h"
#include "train/task.h"
#include "train/train.h"

static int metrics(const lb_task_env *e, lb_task_metric *out)
{
    out[0] = (lb_task_metric){"loss", LB_BETTER_LOWER, true};
    out[1] = (lb_task_metric){"acc", LB_BETTER_HIGHER, true};
    out[2] = (lb_task_metric){"", LB_BETTER_HIGHER, false};
    snprintf(out[2].name, sizeof out[2].name, "top%d", e->c ? e->c->topk : 5);
    return 3;
}

static int check(const lb_task_env *e, lb_error *err)
{
    const lb_field *y = lb_task_target(e, "y", LB_FIELD_INT, err);
    if (!y)
        return -1;
    if (y->ndim != 0) {
        char shp[96];
        lb_format_shape(y->ndim, y->shape, shp, sizeof shp);
        return lb_error_set(err, "ValueError", 0, 0, "task classify needs one class per sample; field y of %s is %s",
                            e->ds->name, shp);
    }
    int64_t out[LB_MAXDIM];
    int nd = lb_model_output_shape(e->m, out);
    int nclasses = e->ds->nclasses;
    if (nd != 1 || out[0] != nclasses) {
        char got[96];
        lb_format_shape(nd, out, got, sizeof got);
        return lb_error_set(err, "ValueError", 0, 0,
                            "model %s gives outputs of shape %s, but the data has %d classes "
                            "(a classifier gives [%d])",
                            lb_model_name(e->m), got, nclasses, nclasses);
    }
    return 0;
}

static lb_tensor *loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    float ls = training && e->c ? (float)e->c->label_smoothing : 0;
    return lb_cross_entropy(g, out, lb_batch_get(b, "y"), -100, ls);
}

typedef struct acc {
    lb_metrics m;
    int32_t *y;     /* the batch's labels as ints */
    float *scratch; /* logits copied into rows when they are strided */
    int64_t cap;
} acc;

static void *acc_new(const lb_task_env *e)
{
    acc *a = calloc(1, sizeof *a);
    if (a && lb_metrics_init(&a->m, e->ds->nclasses, e->c ? e->c->topk : 5) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

static void acc_reset(void *p) { lb_metrics_reset(&((acc *)p)->m); }

static void acc_free(void *p)
{
    acc *a = p;
    if (!a)
        return;
    lb_metrics_free(&a->m);
    free(a->y);
    free(a->scratch);
    free(a);
}

static int grow(acc *a, int64_t b, int64_t numel)
{
    if (b * (numel > 1 ? numel : 1) <= a->cap && b <= a->cap)
        return 0;
    int64_t cap = b * (numel > 1 ? numel : 1);
    int32_t *y = realloc(a->y, (size_t)cap * sizeof *y);
    if (y)
        a->y = y;
    float *s = realloc(a->scratch, (size_t)cap * sizeof *s);
    if (s)
        a->scratch = s;
    if (!y || !s)
        return -1;
    a->cap = cap;
    return 0;
}

static void acc_add(void *p, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    acc *a = p;
    const lb_tensor *t = lb_batch_get(b, "y");
    if (grow(a, b->n, out->numel) < 0)
        return; /* out of memory: the batch is not counted (n stays short, which shows) */
    for (int64_t i = 0; i < b->n; i++)
        a->y[i] = (int32_t)t->data[i];
    int64_t ld;
    const float *rows = lb_logit_rows(out, a->scratch, &ld);
    lb_metrics_add(&a->m, rows, ld, a->y, b->n, batch_loss, NULL);
}

static void acc_values(void *p, double *v)
{
    acc *a = p;
    v[0] = lb_metrics_loss(&a->m);
    v[1] = lb_metrics_accuracy(&a->m);
    v[2] = lb_metrics_topk(&a->m);
}

static json_t *jnum(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static void acc_detail(void *p, const lb_task_env *e, json_t *into)
{
    const lb_metrics *m = &((acc *)p)->m;
    json_t *pc = json_object(), *cm = json_array();
    for (int c = 0; c < m->nclasses; c++) {
        json_object_set_new(pc, e->ds->classes[c], jnum(lb_metrics_class_accuracy(m, c)));
        json_t *row = json_array();
        for (int q = 0; q < m->nclasses; q++)
            json_array_append_new(row, json_integer(m->confusion[(size_t)c * (size_t)m->nclasses + (size_t)q]));
        json_array_append_new(cm, row);
    }
    json_object_set_new(into, "per_class", pc);
    json_object_set_new(into, "confusion", cm);
}

static void predict(const lb_task_env *e, const lb_tensor *out, float *pred)
{
    (void)e;
    int64_t n = out->shape[0], C = out->shape[1];
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        float bv = out->data[i * out->stride[0]];
        for (int64_t c = 1; c < C; c++) {
            float v = out->data[i * out->stride[0] + c * out->stride[1]];
            if (v > bv) {
                bv = v;
                best = c;
            }
        }
        pred[i] = (float)best;
    }
}

const lb_task lb_task_classify = {
    .size = sizeof(lb_task),
    .name = "classify",
    .summary = "one class per sample: cross-entropy; loss, accuracy, top-k (test: per class, confusion)",
    .loss_name = "cross_entropy",
    .monitor = "valid.acc",
    .metrics = metrics,
    .check = check,
    .loss = loss,
    .acc_new = acc_new,
    .acc_reset = acc_reset,
    .acc_add = acc_add,
    .acc_values = acc_values,
    .acc_detail = acc_detail,
    .acc_free = acc_free,
    .predict = predict,
};
