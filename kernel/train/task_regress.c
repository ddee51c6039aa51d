/* task_regress.c — the regression task: float targets (field "y", any shape) and a model output
 * of the same number of values per sample; mean squared error (PyTorch MSELoss, mean over every
 * value), and the metrics loss (the MSE), mae (mean absolute error) and r2 (the coefficient of
 * determination over the split, averaged over the outputs as sklearn's r2_score does). */
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
    out[1] = (lb_task_metric){"mae", LB_BETTER_LOWER, true};
    out[2] = (lb_task_metric){"r2", LB_BETTER_HIGHER, false};
    return 3;
}

static int64_t out_numel(lb_model *m)
{
    int64_t shape[LB_MAXDIM], n = 1;
    int nd = lb_model_output_shape(m, shape);
    for (int d = 0; d < nd; d++)
        n *= shape[d];
    return n;
}

static int check(const lb_task_env *e, lb_error *err)
{
    const lb_field *y = lb_task_target(e, "y", LB_FIELD_FLOAT, err);
    if (!y)
        return -1;
    if (y->ndim && y->shape[0] < 0)
        return lb_error_set(err, "ValueError", 0, 0, "task regress needs targets of a fixed shape; field y of %s "
                            "has a variable length", e->ds->name);
    if (out_numel(e->m) != y->numel) {
        int64_t shape[LB_MAXDIM];
        char got[96];
        lb_format_shape(lb_model_output_shape(e->m, shape), shape, got, sizeof got);
        return lb_error_set(err, "ValueError", 0, 0,
                            "model %s gives outputs of shape %s, but each sample has %lld target value%s",
                            lb_model_name(e->m), got, (long long)y->numel, y->numel == 1 ? "" : "s");
    }
    return 0;
}

static lb_tensor *loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    (void)e;
    (void)training;
    lb_tensor *y = lb_batch_get(b, "y");
    return y ? lb_mse_loss(g, out, lb_reshape(g, y, out->ndim, out->shape)) : NULL;
}

typedef struct acc {
    int64_t k;              /* values per sample */
    int64_t n;              /* samples */
    double loss_sum, abs_sum;
    double *sum, *sum2, *sse; /* per output: sum (y - c), sum (y - c)^2, sum (y - p)^2, with c
                                 the output's first target (shifted sums keep the variance exact
                                 when the mean is large against the spread) */
    double *shift;
    float *scratch;
    int64_t cap;
} acc;

static void *acc_new(const lb_task_env *e)
{
    acc *a = calloc(1, sizeof *a);
    const lb_field *y = lb_dataset_field(e->ds, "y", NULL);
    if (!a || !y)
        return free(a), NULL;
    a->k = y->numel;
    a->sum = calloc((size_t)a->k, sizeof *a->sum);
    a->sum2 = calloc((size_t)a->k, sizeof *a->sum2);
    a->sse = calloc((size_t)a->k, sizeof *a->sse);
    a->shift = calloc((size_t)a->k, sizeof *a->shift);
    if (!a->sum || !a->sum2 || !a->sse || !a->shift) {
        free(a->sum);
        free(a->sum2);
        free(a->sse);
        free(a->shift);
        free(a);
        return NULL;
    }
    return a;
}

static void acc_reset(void *p)
{
    acc *a = p;
    a->n = 0;
    a->loss_sum = a->abs_sum = 0;
    memset(a->sum, 0, (size_t)a->k * sizeof *a->sum);
    memset(a->sum2, 0, (size_t)a->k * sizeof *a->sum2);
    memset(a->sse, 0, (size_t)a->k * sizeof *a->sse);
}

static void acc_free(void *p)
{
    acc *a = p;
    if (!a)
        return;
    free(a->sum);
    free(a->sum2);
    free(a->sse);
    free(a->shift);
    free(a->scratch);
    free(a);
}

static void acc_add(void *p, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    acc *a = p;
    const float *pred = lb_task_rows(out, &a->scratch, &a->cap);
    if (!pred)
        return; /* out of memory: the batch is not counted */
    const float *y = lb_batch_get(b, "y")->data;
    if (a->n == 0)
        for (int64_t j = 0; j < a->k && b->n; j++)
            a->shift[j] = y[j];
    for (int64_t i = 0; i < b->n; i++)
        for (int64_t j = 0; j < a->k; j++) {
            double t = y[i * a->k + j], d = t - pred[i * a->k + j], u = t - a->shift[j];
            a->sum[j] += u;
            a->sum2[j] += u * u;
            a->sse[j] += d * d;
            a->abs_sum += fabs(d);
        }
    a->loss_sum += batch_loss * (double)b->n;
    a->n += b->n;
}

static void acc_values(void *p, double *v)
{
    acc *a = p;
    double n = (double)a->n, r2 = 0;
    for (int64_t j = 0; j < a->k; j++) {
        double sst = a->sum2[j] - a->sum[j] * a->sum[j] / n;
        /* sklearn: a constant target gives 1 when predicted exactly, else 0 */
        r2 += sst > 0 ? 1 - a->sse[j] / sst : a->sse[j] == 0 ? 1 : 0;
    }
    v[0] = a->n ? a->loss_sum / n : NAN;
    v[1] = a->n ? a->abs_sum / (n * (double)a->k) : NAN;
    v[2] = a->n ? r2 / (double)a->k : NAN;
}

const lb_task lb_task_regress = {
    .size = sizeof(lb_task),
    .name = "regress",
    .summary = "float targets: mean squared error; loss (MSE), mae, r2",
    .loss_name = "mse",
    .monitor = "valid.loss",
    .metrics = metrics,
    .check = check,
    .loss = loss,
    .acc_new = acc_new,
    .acc_reset = acc_reset,
    .acc_add = acc_add,
    .acc_values = acc_values,
    .acc_free = acc_free,
};
