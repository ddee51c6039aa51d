/* test_metrics.c — kernel/train/metrics.c against values computed by hand: loss as the
 * sample-weighted mean of batch losses, accuracy with the first maximum winning a tie, top-k
 * counting ties in the sample's favour, per-class accuracy (NaN for an absent class), the
 * confusion matrix (rows true, columns predicted), and independence from the batching. */
#include <math.h>

#include "check.h"
#include "train/metrics.h"

/* 4 samples, 3 classes. Predicted (argmax): 0: class 2, 1: class 0 (tie 0/1: first wins),
 * 2: class 1, 3: class 2. True: 2, 1, 1, 0. */
static const float L[4][3] = {{0.1f, 0.2f, 0.9f}, {0.5f, 0.5f, 0.1f}, {0.0f, 3.0f, 1.0f}, {0.2f, 0.1f, 0.3f}};
static const int32_t Y[4] = {2, 1, 1, 0};

static void test_hand_values(void)
{
    lb_metrics m;
    CHECK(lb_metrics_init(&m, 3, 2) == 0);
    int32_t pred[4];
    lb_metrics_add(&m, &L[0][0], 3, Y, 4, 0.75, pred);
    CHECK_INT(pred[0], 2);
    CHECK_INT(pred[1], 0);
    CHECK_INT(pred[2], 1);
    CHECK_INT(pred[3], 2);
    CHECK_INT(m.n, 4);
    /* right: samples 0 and 2 */
    CHECK_NEAR(lb_metrics_accuracy(&m), 0.5, 0);
    /* top-2: s0 (true logit best), s1 (true 0.5: nothing above it), s2 (best), s3 (true 0.2,
     * only 0.3 above: rank 2) -> all 4 */
    CHECK_NEAR(lb_metrics_topk(&m), 1.0, 0);
    CHECK_NEAR(lb_metrics_loss(&m), 0.75, 1e-15);
    /* confusion rows true: t0 -> p2; t1 -> p0, p1; t2 -> p2 */
    const int64_t want[9] = {0, 0, 1, 1, 1, 0, 0, 0, 1};
    for (int i = 0; i < 9; i++)
        CHECK_INT(m.confusion[i], want[i]);
    CHECK_NEAR(lb_metrics_class_accuracy(&m, 0), 0.0, 0);
    CHECK_NEAR(lb_metrics_class_accuracy(&m, 1), 0.5, 0);
    CHECK_NEAR(lb_metrics_class_accuracy(&m, 2), 1.0, 0);
    CHECK_INT(lb_metrics_class_count(&m, 1), 2);
    lb_metrics_free(&m);
}

static void test_top1_is_accuracy_and_ties(void)
{
    lb_metrics m;
    CHECK(lb_metrics_init(&m, 3, 1) == 0);
    lb_metrics_add(&m, &L[0][0], 3, Y, 4, 1.0, NULL);
    /* top-1 counts a tie for the true class as a hit (s1: 0.5 vs 0.5), argmax does not */
    CHECK_NEAR(lb_metrics_topk(&m), 0.75, 0);
    CHECK_NEAR(lb_metrics_accuracy(&m), 0.5, 0);
    lb_metrics_free(&m);
    /* k above the class count is clamped */
    CHECK(lb_metrics_init(&m, 3, 10) == 0);
    CHECK_INT(m.k, 3);
    lb_metrics_free(&m);
    CHECK(lb_metrics_init(&m, 0, 1) < 0);
}

static void test_batching_and_weighting(void)
{
    lb_metrics a, b;
    CHECK(lb_metrics_init(&a, 3, 2) == 0);
    CHECK(lb_metrics_init(&b, 3, 2) == 0);
    lb_metrics_add(&a, &L[0][0], 3, Y, 4, 0.5, NULL);
    /* batches of 3 and 1 whose mean losses are 0.4 and 0.8: the sample-weighted mean is
     * (0.4 * 3 + 0.8 * 1) / 4 = 0.5, not the mean of batch means (0.6) */
    lb_metrics_add(&b, &L[0][0], 3, Y, 3, 0.4, NULL);
    lb_metrics_add(&b, &L[3][0], 3, Y + 3, 1, 0.8, NULL);
    CHECK_NEAR(lb_metrics_loss(&b), 0.5, 1e-15);
    CHECK_NEAR(lb_metrics_accuracy(&a), lb_metrics_accuracy(&b), 0);
    CHECK_NEAR(lb_metrics_topk(&a), lb_metrics_topk(&b), 0);
    for (int i = 0; i < 9; i++)
        CHECK_INT(a.confusion[i], b.confusion[i]);
    /* a row stride larger than the class count (logits inside a wider buffer) */
    float wide[2][5] = {{0, 9, 1, -1, -1}, {5, 1, 2, -1, -1}};
    int32_t y[2] = {1, 2};
    lb_metrics_reset(&b);
    CHECK_INT(b.n, 0);
    lb_metrics_add(&b, &wide[0][0], 5, y, 2, 1.0, NULL);
    CHECK_NEAR(lb_metrics_accuracy(&b), 0.5, 0);
    lb_metrics_free(&a);
    lb_metrics_free(&b);
}

static void test_empty_and_absent(void)
{
    lb_metrics m;
    CHECK(lb_metrics_init(&m, 4, 1) == 0);
    CHECK(isnan(lb_metrics_loss(&m)));
    CHECK(isnan(lb_metrics_accuracy(&m)));
    float l[2][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}};
    int32_t y[2] = {0, 7}; /* a label out of range counts in n only */
    lb_metrics_add(&m, &l[0][0], 4, y, 2, 2.0, NULL);
    CHECK_INT(m.n, 2);
    CHECK_NEAR(lb_metrics_accuracy(&m), 0.5, 0);
    CHECK(isnan(lb_metrics_class_accuracy(&m, 3))); /* no samples of class 3 */
    CHECK(isnan(lb_metrics_class_accuracy(&m, 9)));
    lb_metrics_free(&m);
}

int main(void)
{
    RUN(test_hand_values);
    RUN(test_top1_is_accuracy_and_ties);
    RUN(test_batching_and_weighting);
    RUN(test_empty_and_absent);
    return CHECK_SUMMARY();
}
