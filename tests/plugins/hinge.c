/* hinge.c — a test plugin that registers a task and a data source through the host table:
 * task "hinge" (multi-class hinge loss, as PyTorch's nn.MultiMarginLoss(): per sample
 * sum over j != y of max(0, 1 - x_y + x_j) / C, the mean over the batch; a custom op with its
 * own backward), with metrics loss, err (the error rate, measured on the training batches too)
 * and margin (the mean of x_y - max over j != y of x_j, over the whole split); and data source
 * "rings": points p [2] on two noisy rings, the class y the ring, a deterministic function of
 * (seed, test, i) that tests/test_tasks.py recomputes. The same loss on its own ("multi_margin",
 * for `train ... loss=`) and a metric of its own ("worst_err": the largest per-class error rate,
 * for `train ... metrics=`). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("hinge", "1.0.0", "a hinge-loss task and a rings data source (tests)");

/* ---- the loss: a custom op over logits [N, C] and classes [N] --------------------------------- */

static void margin_forward(const lbp_opcall *c)
{
    int64_t n = c->in_shape[0][0], k = c->in_shape[0][1];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = c->in[0] + i * k;
        int64_t y = (int64_t)c->in[1][i];
        for (int64_t j = 0; j < k; j++)
            if (j != y && 1 - x[y] + x[j] > 0)
                sum += 1 - x[y] + x[j];
    }
    c->out[0] = (float)(sum / (double)k / (double)n);
}

static void margin_backward(const lbp_opcall *c, const float *gout, float *const *gin)
{
    if (!gin[0])
        return;
    int64_t n = c->in_shape[0][0], k = c->in_shape[0][1];
    float s = gout[0] / (float)k / (float)n;
    for (int64_t i = 0; i < n; i++) {
        const float *x = c->in[0] + i * k;
        float *g = gin[0] + i * k;
        int64_t y = (int64_t)c->in[1][i];
        for (int64_t j = 0; j < k; j++)
            if (j != y && 1 - x[y] + x[j] > 0) {
                g[j] += s;
                g[y] -= s;
            }
    }
}

static const lbp_op margin_op = {.size = sizeof(lbp_op), .name = "multi_margin", .doc = "mean multi-class hinge loss",
                                 .nin = 2, .forward = margin_forward, .backward = margin_backward};

/* ---- the task ------------------------------------------------------------------------------------ */

static const lbp_metric hinge_metrics[] = {{"loss", -1, 1}, {"err", -1, 1}, {"margin", 1, 0}, {0}};

static int hinge_check(const lbp_host *h, const lbp_taskrun *r, char *err, size_t errlen)
{
    int64_t out[LBP_MAXDIM], ts[3];
    int nd = h->run_output(r, out);
    if (h->run_target(r, "y", ts, NULL) != 0 || h->run_classes(r) < 2) {
        snprintf(err, errlen, "task hinge needs a class per sample (target y)");
        return -1;
    }
    if (nd != 1 || out[0] != h->run_classes(r)) {
        snprintf(err, errlen, "task hinge needs a score per class: [%d]", h->run_classes(r));
        return -1;
    }
    return 0;
}

static lbp_tensor *hinge_loss(const lbp_host *h, const lbp_taskrun *r, lbp_graph *g, lbp_tensor *out,
                              const lbp_batch *b, int training)
{
    (void)r, (void)training;
    lbp_tensor *in[2] = {out, h->batch_field(b, "y")};
    return h->op(g, &margin_op, in, 2, 0, NULL, NULL, 0);
}

typedef struct acc {
    int k;
    int64_t n, wrong;
    double loss, margin;
    float *x, *y;
    int64_t cap;
} acc;

static void *acc_new(const lbp_host *h, const lbp_taskrun *r)
{
    acc *a = calloc(1, sizeof *a);
    if (a)
        a->k = h->run_classes(r);
    return a;
}

static void acc_reset(void *p)
{
    acc *a = p;
    a->n = a->wrong = 0;
    a->loss = a->margin = 0;
}

static void acc_add(const lbp_host *h, void *p, const lbp_tensor *out, const lbp_batch *b, double batch_loss)
{
    acc *a = p;
    int64_t n = h->batch_size(b);
    if (n * a->k > a->cap) {
        float *x = realloc(a->x, (size_t)(n * a->k) * sizeof *x), *y = realloc(a->y, (size_t)n * sizeof *y);
        if (x)
            a->x = x;
        if (y)
            a->y = y;
        if (!x || !y)
            return;
        a->cap = n * a->k;
    }
    h->read(out, a->x, n * a->k);
    h->read(h->batch_field(b, "y"), a->y, n);
    for (int64_t i = 0; i < n; i++) {
        const float *x = a->x + i * a->k;
        int y = (int)a->y[i];
        if (y < 0 || y >= a->k) /* an ignored (padding) label */
            continue;
        float other = -INFINITY;
        for (int j = 0; j < a->k; j++)
            if (j != y && x[j] > other)
                other = x[j];
        a->margin += (double)x[y] - (double)other;
        a->wrong += !(x[y] > other);
    }
    a->loss += batch_loss * (double)n;
    a->n += n;
}

static void acc_values(void *p, double *v)
{
    acc *a = p;
    v[0] = a->loss / (double)a->n;
    v[1] = (double)a->wrong / (double)a->n;
    v[2] = a->margin / (double)a->n;
}

static void acc_free(void *p)
{
    acc *a = p;
    if (a) {
        free(a->x);
        free(a->y);
    }
    free(a);
}

static const lbp_task hinge_task = {
    .size = sizeof(lbp_task), .name = "hinge", .summary = "multi-class hinge loss (nn.MultiMarginLoss)",
    .loss_name = "multi_margin", .monitor = "valid.err", .metrics = hinge_metrics, .check = hinge_check,
    .loss = hinge_loss, .acc_new = acc_new, .acc_reset = acc_reset, .acc_add = acc_add, .acc_values = acc_values,
    .acc_free = acc_free};

/* ---- a loss and a metric of their own (for any task with classes "y" and scores per class) ---- */

static lbp_tensor *margin_loss(const lbp_host *h, const lbp_taskrun *r, lbp_graph *g, lbp_tensor *out,
                               const lbp_batch *b, int training)
{
    return hinge_loss(h, r, g, out, b, training);
}

static const lbp_loss margin_loss_def = {.size = sizeof(lbp_loss), .name = "multi_margin",
                                         .summary = "multi-class hinge loss", .loss = margin_loss};

/* worst_err: the largest per-class error rate over the split (lower is better) */
typedef struct worst {
    int k;
    int64_t n[16], wrong[16];
    float *x, *y;
    int64_t cap;
} worst;

static void *worst_new(const lbp_host *h, const lbp_taskrun *r)
{
    worst *w = calloc(1, sizeof *w);
    if (w)
        w->k = h->run_classes(r) < 16 ? h->run_classes(r) : 16;
    return w;
}

static void worst_reset(void *p)
{
    worst *w = p;
    memset(w->n, 0, sizeof w->n);
    memset(w->wrong, 0, sizeof w->wrong);
}

static void worst_add(const lbp_host *h, void *p, const lbp_tensor *out, const lbp_batch *b)
{
    worst *w = p;
    int64_t n = h->batch_size(b), k = h->numel(out) / (n ? n : 1);
    if (n * k > w->cap) {
        float *x = realloc(w->x, (size_t)(n * k) * sizeof *x), *y = realloc(w->y, (size_t)n * sizeof *y);
        if (x)
            w->x = x;
        if (y)
            w->y = y;
        if (!x || !y)
            return;
        w->cap = n * k;
    }
    h->read(out, w->x, n * k);
    h->read(h->batch_field(b, "y"), w->y, n);
    for (int64_t i = 0; i < n; i++) {
        int y = (int)w->y[i], best = 0;
        for (int j = 1; j < k; j++)
            if (w->x[i * k + j] > w->x[i * k + best])
                best = j;
        if (y >= 0 && y < w->k) {
            w->n[y]++;
            w->wrong[y] += best != y;
        }
    }
}

static double worst_value(void *p)
{
    worst *w = p;
    double m = 0;
    for (int c = 0; c < w->k; c++)
        if (w->n[c] && (double)w->wrong[c] / (double)w->n[c] > m)
            m = (double)w->wrong[c] / (double)w->n[c];
    return m;
}

static void worst_free(void *p)
{
    worst *w = p;
    if (w) {
        free(w->x);
        free(w->y);
    }
    free(w);
}

static const lbp_metric_def worst_def = {.size = sizeof(lbp_metric_def), .name = "worst_err",
                                         .summary = "the largest per-class error rate", .better = -1,
                                         .acc_new = worst_new, .acc_reset = worst_reset, .acc_add = worst_add,
                                         .acc_value = worst_value, .acc_free = worst_free};

/* ---- the data source ------------------------------------------------------------------------------ */

static const lbp_param rings_params[] = {
    {"noise", LBP_T_NUM, "0.15", LBP_LO, 0, 0, NULL, "how far points stray from their ring"}, {0}};
static const lbp_field rings_fields[] = {
    {"p", LBP_FIELD_FLOAT, 0, 1, {2, 0, 0}, 0}, {"y", LBP_FIELD_INT, 1, 0, {0, 0, 0}, -100}, {0}};
static const char *const rings_classes[] = {"inner", "outer", NULL};

/* Sample i: class i % 2, angle 2.399963 (i + 100003 test + 7919 seed), radius 1 + class +
 * noise sin(17 i + 3 test + seed). */
static int rings_sample(const lbp_host *h, const lbp_args *a, uint64_t seed, int test, int64_t i, float *x, float *t)
{
    double k = (double)(i + 100003 * test + 7919 * (int64_t)seed), cls = (double)(i % 2);
    double rad = 1 + cls + h->arg_num(a, "noise") * sin(17.0 * (double)i + 3.0 * test + (double)seed);
    x[0] = (float)(rad * cos(2.399963 * k));
    x[1] = (float)(rad * sin(2.399963 * k));
    t[0] = (float)cls;
    return 0;
}

static const lbp_data rings = {
    .size = sizeof(lbp_data), .name = "rings", .summary = "points on two rings; the class is the ring",
    .params = rings_params, .task = "hinge", .fields = rings_fields, .classes = rings_classes,
    .sample = rings_sample};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    if (!LBP_HOST_HAS(h, register_task)) {
        snprintf(err, errlen, "this labbook cannot take tasks from plugins");
        return -1;
    }
    if (h->register_op(p, &margin_op) < 0 || h->register_task(p, &hinge_task) < 0 || h->register_data(p, &rings) < 0 ||
        h->register_loss(p, &margin_loss_def) < 0 || h->register_metric(p, &worst_def) < 0)
        return -1;
    return 0;
}
