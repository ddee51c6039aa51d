/* metrics.h — classification metrics accumulated batch by batch over a split: mean loss,
 * accuracy, top-k accuracy, per-class accuracy and the confusion matrix (rows true class,
 * columns predicted). Definitions (spec/language.md §"Training"):
 *   loss      = sum over batches of (batch mean loss * batch size) / samples
 *   predicted = the index of the largest logit (the first one on a tie, as torch.argmax)
 *   accuracy  = samples whose predicted class is the true class / samples
 *   top-k     = samples whose true class's logit is beaten by fewer than k logits / samples
 *               (ties count in the sample's favour)
 *   per-class accuracy of c = confusion[c][c] / samples of class c (NaN when there are none)
 * Everything is counted in integers or summed in double, so the result does not depend on
 * how the split was cut into batches (except the loss's float rounding). */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lb_metrics {
    int nclasses;
    int k;               /* top-k's k (clamped to nclasses) */
    int64_t n;           /* samples seen */
    int64_t correct;     /* top-1 hits */
    int64_t topk;        /* top-k hits */
    double loss_sum;     /* sum of batch mean loss * batch size */
    int64_t *confusion;  /* nclasses * nclasses counts, [true * nclasses + predicted] */
} lb_metrics;

/* -1 when out of memory or nclasses < 1. */
int lb_metrics_init(lb_metrics *m, int nclasses, int k);
void lb_metrics_reset(lb_metrics *m);
void lb_metrics_free(lb_metrics *m);
/* One batch: b rows of nclasses logits (row i at logits + i * ld), true labels y, the batch's
 * mean loss. preds (may be NULL) receives the b predicted classes. Labels outside
 * [0, nclasses) are counted in n and loss but in no other count. */
void lb_metrics_add(lb_metrics *m, const float *logits, int64_t ld, const int32_t *y, int64_t b,
                    double batch_loss, int32_t *preds);
double lb_metrics_loss(const lb_metrics *m);
/* Rows of C logits of y [b, C]: y's data with its row stride in *ld, or a copy into scratch
 * (b * C floats) when its columns are strided. */
struct lb_tensor;
const float *lb_logit_rows(const struct lb_tensor *y, float *scratch, int64_t *ld);
double lb_metrics_accuracy(const lb_metrics *m);
double lb_metrics_topk(const lb_metrics *m);
double lb_metrics_class_accuracy(const lb_metrics *m, int c);
int64_t lb_metrics_class_count(const lb_metrics *m, int c);

/* Which way a metric is better. Nothing guesses it from a name: the task that computes a
 * metric declares it (train.h: a run record's "metrics"). */
typedef enum { LB_BETTER_LOWER = -1, LB_BETTER_NONE = 0, LB_BETTER_HIGHER = 1 } lb_better;

#endif
