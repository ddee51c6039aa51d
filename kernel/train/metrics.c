/* metrics.c — the classification metrics of metrics.h: integer counts per batch, ratios at
 * the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "train/metrics.h"

int lb_metrics_init(lb_metrics *m, int nclasses, int k)
{
    memset(m, 0, sizeof *m);
    if (nclasses < 1)
        return -1;
    m->nclasses = nclasses;
    m->k = k < 1 ? 1 : k > nclasses ? nclasses : k;
    m->confusion = calloc((size_t)nclasses * (size_t)nclasses, sizeof *m->confusion);
    return m->confusion ? 0 : -1;
}

void lb_metrics_reset(lb_metrics *m)
{
    m->n = m->correct = m->topk = 0;
    m->loss_sum = 0;
    if (m->confusion)
        memset(m->confusion, 0, (size_t)m->nclasses * (size_t)m->nclasses * sizeof *m->confusion);
}

void lb_metrics_free(lb_metrics *m)
{
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void lb_metrics_add(lb_metrics *m, const float *logits, int64_t ld, const int32_t *y, int64_t b,
                    double batch_loss, int32_t *preds)
{
    const int C = m->nclasses;
    for (int64_t i = 0; i < b; i++) {
        const float *row = logits + i * ld;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (row[c] > row[best]) /* strict: the first maximum wins, as torch.argmax */
                best = c;
        if (preds)
            preds[i] = best;
        int t = y[i];
        if (t < 0 || t >= C)
            continue;
        m->confusion[(size_t)t * (size_t)C + (size_t)best]++;
        if (best == t)
            m->correct++;
        int above = 0;
        for (int c = 0; c < C; c++)
            above += row[c] > row[t];
        if (above < m->k)
            m->topk++;
    }
    m->n += b;
    m->loss_sum += batch_loss * (double)b;
}

double lb_metrics_loss(const lb_metrics *m) { return m->n ? m->loss_sum / (double)m->n : NAN; }
double lb_metrics_accuracy(const lb_metrics *m) { return m->n ? (double)m->correct / (double)m->n : NAN; }
double lb_metrics_topk(const lb_metrics *m) { return m->n ? (double)m->topk / (double)m->n : NAN; }

int64_t lb_metrics_class_count(const lb_metrics *m, int c)
{
    int64_t n = 0;
    for (int p = 0; p < m->nclasses; p++)
        n += m->confusion[(size_t)c * (size_t)m->nclasses + (size_t)p];
    return n;
}

double lb_metrics_class_accuracy(const lb_metrics *m, int c)
{
    if (c < 0 || c >= m->nclasses)
        return NAN;
    int64_t n = lb_metrics_class_count(m, c);
    return n ? (double)m->confusion[(size_t)c * (size_t)m->nclasses + (size_t)c] / (double)n : NAN;
}

const float *lb_logit_rows(const lb_tensor *y, float *scratch, int64_t *ld)
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
