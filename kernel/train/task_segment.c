/* task_segment.c — per-pixel classification (semantic segmentation): the target field "y" holds
 * a class per pixel [H, W] (int; the field's pad value, 255 by default, marks pixels to ignore),
 * the model gives logits [classes, H, W]. Loss: cross-entropy averaged over the pixels that are
 * not ignored (PyTorch F.cross_entropy(out, y, ignore_index=pad)). Metrics as mmsegmentation
 * defines them (mmseg/evaluation/metrics/iou_metric.py): over the whole split, per class the
 * intersection I_c (pixels predicted c whose label is c), predicted area P_c and label area L_c,
 * ignored pixels left out; IoU_c = I_c / (P_c + L_c - I_c), mIoU = the mean of IoU_c over the
 * classes whose union is not empty (nanmean), pixel accuracy (mmseg's aAcc) = sum I_c / sum L_c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/format.h"
#include "train/task.h"
#include "train/train.h"

static int metrics(const lb_task_env *e, lb_task_metric *out)
{
    (void)e;
    out[0] = (lb_task_metric){"loss", LB_BETTER_LOWER, true};
    out[1] = (lb_task_metric){"pixel_acc", LB_BETTER_HIGHER, true};
    out[2] = (lb_task_metric){"miou", LB_BETTER_HIGHER, false};
    return 3;
}

static int check(const lb_task_env *e, lb_error *err)
{
    const lb_field *y = lb_task_target(e, "y", LB_FIELD_INT, err);
    if (!y)
        return -1;
    if (y->ndim != 2 || y->shape[0] < 0)
        return lb_error_set(err, "ValueError", 0, 0, "task segment needs targets of a class per pixel [H, W]; "
                            "field y of %s has %d dimension%s", e->ds->name, y->ndim, y->ndim == 1 ? "" : "s");
    int64_t out[LB_MAXDIM];
    int nd = lb_model_output_shape(e->m, out);
    if (nd != 3 || out[0] != e->ds->nclasses || out[1] != y->shape[0] || out[2] != y->shape[1]) {
        char got[96];
        lb_format_shape(nd, out, got, sizeof got);
        return lb_error_set(err, "ValueError", 0, 0,
                            "model %s gives outputs of shape %s, but segmenting %s needs [%d, %lld, %lld] "
                            "(classes, height, width)",
                            lb_model_name(e->m), got, e->ds->name, e->ds->nclasses, (long long)y->shape[0],
                            (long long)y->shape[1]);
    }
    return 0;
}

/* out [N, C, H, W] as rows of C logits per pixel [N*H*W, C]; y as [N*H*W]. */
static lb_tensor *loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    const lb_field *f = lb_dataset_field(e->ds, "y", NULL);
    lb_tensor *y = lb_batch_get(b, "y");
    if (!f || !y || out->ndim != 4) {
        lb_status_set(lb_graph_status(g), LB_ESHAPE, "segment: outputs [N, C, H, W] and targets [N, H, W] needed");
        return NULL;
    }
    int perm[4] = {0, 2, 3, 1};
    int64_t rows[2] = {out->shape[0] * out->shape[2] * out->shape[3], out->shape[1]};
    lb_tensor *logits = lb_reshape(g, lb_contiguous(g, lb_permute(g, out, perm)), 2, rows);
    lb_tensor *t = lb_reshape(g, y, 1, rows);
    float ls = training && e->c ? (float)e->c->label_smoothing : 0;
    return lb_cross_entropy(g, logits, t, (int)f->pad, ls);
}

typedef struct acc {
    int nclasses;
    int ignore;
    int64_t n;
    double loss_sum;
    int64_t *inter, *pred, *label; /* per class */
    float *scratch;
    int64_t cap;
} acc;

static void *acc_new(const lb_task_env *e)
{
    acc *a = calloc(1, sizeof *a);
    const lb_field *f = lb_dataset_field(e->ds, "y", NULL);
    if (!a || !f)
        return free(a), NULL;
    a->nclasses = e->ds->nclasses;
    a->ignore = (int)f->pad;
    a->inter = calloc((size_t)a->nclasses, sizeof *a->inter);
    a->pred = calloc((size_t)a->nclasses, sizeof *a->pred);
    a->label = calloc((size_t)a->nclasses, sizeof *a->label);
    if (!a->inter || !a->pred || !a->label) {
        free(a->inter);
        free(a->pred);
        free(a->label);
        free(a);
        return NULL;
    }
    return a;
}

static void acc_reset(void *p)
{
    acc *a = p;
    a->n = 0;
    a->loss_sum = 0;
    memset(a->inter, 0, (size_t)a->nclasses * sizeof *a->inter);
    memset(a->pred, 0, (size_t)a->nclasses * sizeof *a->pred);
    memset(a->label, 0, (size_t)a->nclasses * sizeof *a->label);
}

static void acc_free(void *p)
{
    acc *a = p;
    if (!a)
        return;
    free(a->inter);
    free(a->pred);
    free(a->label);
    free(a->scratch);
    free(a);
}

static void acc_add(void *p, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    acc *a = p;
    const float *o = lb_task_rows(out, &a->scratch, &a->cap);
    if (!o)
        return; /* out of memory: the batch is not counted */
    const float *y = lb_batch_get(b, "y")->data;
    const int64_t C = out->shape[1], HW = out->shape[2] * out->shape[3];
    for (int64_t i = 0; i < b->n; i++)
        for (int64_t q = 0; q < HW; q++) {
            int label = (int)y[i * HW + q];
            if (label == a->ignore || label < 0 || label >= a->nclasses)
                continue;
            const float *px = o + i * C * HW + q;
            int best = 0; /* the first largest logit, as torch.argmax */
            for (int64_t c = 1; c < C; c++)
                if (px[c * HW] > px[best * HW])
                    best = (int)c;
            a->pred[best]++;
            a->label[label]++;
            a->inter[label] += best == label;
        }
    a->loss_sum += batch_loss * (double)b->n;
    a->n += b->n;
}

static double iou(const acc *a, int c)
{
    int64_t uni = a->pred[c] + a->label[c] - a->inter[c];
    return uni > 0 ? (double)a->inter[c] / (double)uni : NAN;
}

static void acc_values(void *p, double *v)
{
    acc *a = p;
    int64_t inter = 0, label = 0;
    double sum = 0;
    int counted = 0;
    for (int c = 0; c < a->nclasses; c++) {
        inter += a->inter[c];
        label += a->label[c];
        if (!isnan(iou(a, c))) {
            sum += iou(a, c);
            counted++;
        }
    }
    v[0] = a->n ? a->loss_sum / (double)a->n : NAN;
    v[1] = label ? (double)inter / (double)label : NAN;
    v[2] = counted ? sum / counted : NAN;
}

static void acc_detail(void *p, const lb_task_env *e, json_t *into)
{
    acc *a = p;
    json_t *per = json_object();
    for (int c = 0; c < a->nclasses; c++)
        json_object_set_new(per, e->ds->classes[c], isnan(iou(a, c)) ? json_null() : json_real(iou(a, c)));
    json_object_set_new(into, "iou", per);
}

const lb_task lb_task_segment = {
    .size = sizeof(lb_task),
    .name = "segment",
    .summary = "a class per pixel: cross-entropy with an ignore index; loss, pixel_acc, miou (test: IoU per class)",
    .loss_name = "cross_entropy",
    .monitor = "valid.miou",
    .metrics = metrics,
    .check = check,
    .loss = loss,
    .acc_new = acc_new,
    .acc_reset = acc_reset,
    .acc_add = acc_add,
    .acc_values = acc_values,
    .acc_detail = acc_detail,
    .acc_free = acc_free,
};
