/* generated.c — small data sets generated from a seed, for tasks beyond image classification
 * and for tests: `shapes` (segmentation: a class per pixel) and `pairs` (two inputs whose
 * classes only together give the label). Each sample is drawn from its own generator seeded
 * with (seed, index), so a data set of n samples is a prefix of one of more. The exact
 * definitions are in spec/language.md §"Generated data". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/interrupt.h"
#include "base/memory.h"
#include "data/dataset.h"
#include "ops.h"

/* The generator of sample i of a data set drawn with seed (SplitMix64 of both). */
static void sample_rng(lb_rng *r, uint64_t seed, int64_t i, uint64_t stream)
{
    lb_rng_seed(r, lb_epoch_seed(seed ^ stream, i));
}

static char **names_of(const char *const *names, int n)
{
    char **out = calloc((size_t)n, sizeof *out);
    for (int i = 0; out && i < n; i++)
        if (!(out[i] = strdup(names[i]))) {
            for (int k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    return out;
}

/* ---- shapes: segmentation ------------------------------------------------------------------ */

static const char *const shape_classes[] = {"background", "square", "disc"};

/* One image [S, S] and its labels: background 0; a filled square (class 1) and a filled disc
 * (class 2), each with side/diameter in [S/4, S/2] at a random place (the disc drawn second, on
 * top); pixel value 1 inside a shape, 0 outside, plus N(0, noise^2); pixels at a class
 * boundary (a 4-neighbour of another class) are labelled 255 (ignored), as VOC does. */
static int draw_shapes(lb_rng *r, int64_t S, double noise, float *img, float *lab)
{
    uint8_t *c = calloc((size_t)(S * S), 1);
    if (!c)
        return -1;
    int64_t lo = S / 4 > 2 ? S / 4 : 2, span = S / 2 - lo + 1 > 1 ? S / 2 - lo + 1 : 1;
    int64_t side = lo + lb_rng_below(r, (uint32_t)span);
    int64_t y0 = lb_rng_below(r, (uint32_t)(S - side + 1)), x0 = lb_rng_below(r, (uint32_t)(S - side + 1));
    for (int64_t y = y0; y < y0 + side; y++)
        for (int64_t x = x0; x < x0 + side; x++)
            c[y * S + x] = 1;
    int64_t d = lo + lb_rng_below(r, (uint32_t)span);
    int64_t cy = lb_rng_below(r, (uint32_t)(S - d + 1)), cx = lb_rng_below(r, (uint32_t)(S - d + 1));
    double rad = d / 2.0, my = cy + rad - 0.5, mx = cx + rad - 0.5;
    for (int64_t y = cy; y < cy + d; y++)
        for (int64_t x = cx; x < cx + d; x++)
            if ((y - my) * (y - my) + (x - mx) * (x - mx) <= rad * rad)
                c[y * S + x] = 2;
    for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++) {
            int v = c[y * S + x];
            bool edge = (y > 0 && c[(y - 1) * S + x] != v) || (y + 1 < S && c[(y + 1) * S + x] != v) ||
                        (x > 0 && c[y * S + x - 1] != v) || (x + 1 < S && c[y * S + x + 1] != v);
            img[y * S + x] = (float)((v ? 1.0 : 0.0) + noise * lb_rng_normal(r));
            lab[y * S + x] = edge ? 255.0f : (float)v;
        }
    free(c);
    return 0;
}

static int shapes_file(lb_fields_file *f, int64_t n, int64_t S, double noise, uint64_t seed, uint64_t stream,
                       lb_error *err)
{
    float *x = malloc((size_t)(n * S * S) * sizeof *x + 1), *t = malloc((size_t)(n * S * S) * sizeof *t + 1);
    if (!x || !t) {
        free(x);
        free(t);
        return lb_oom(err);
    }
    for (int64_t i = 0; i < n; i++) {
        lb_rng r;
        sample_rng(&r, seed, i, stream);
        if (draw_shapes(&r, S, noise, x + i * S * S, t + i * S * S) < 0 ||
            (i % LB_POLL_EVERY == LB_POLL_EVERY - 1 && lb_interrupt_check(err) < 0)) {
            free(x);
            free(t);
            return lb_error_is_set(err) ? -1 : lb_oom(err);
        }
    }
    *f = (lb_fields_file){.n = n, .x = x, .xndim = 3, .xshape = {1, S, S}, .t = t, .tnumel = S * S};
    return 0;
}

/* Generated data obey the limit of data read from files (LABBOOK_MAX_DATA, by default half of
 * this machine's memory), counting the samples drawn and the data set's copies of them (the peak
 * is 2 to 2.3 times the samples: pairs(n=10000000) 1.2 GB for 0.52): a typo such as
 * pairs(n=100000000) is refused at once instead of drawing 12 GB for minutes. */
static int check_size(const char *fn, int64_t samples, int64_t bytes_each, lb_error *err)
{
    double need = 2.5 * (double)samples * (double)bytes_each;
    int64_t max = lb_data_max_bytes();
    if (need <= (double)max)
        return 0;
    char a[32], b[32];
    lb_format_bytes(need > 9e18 ? (int64_t)9e18 : (int64_t)need, a, sizeof a);
    lb_format_bytes(max, b, sizeof b);
    return lb_error_set(err, "ValueError", 0, 0, "%s(): %lld samples take %s, more than the %s that "
                        "data may take (LABBOOK_MAX_DATA, by default half of this machine's memory)",
                        fn, (long long)samples, a, b);
}

lb_dataset *lb_shapes_load(int64_t n, int64_t ntest, int64_t size, double noise, const lb_data_options *o,
                           lb_error *err)
{
    if (n < 1 || ntest < 0 || size < 8 || size > 256 || !(noise >= 0) || !isfinite(noise))
        return lb_error_set(err, "ValueError", 0, 0, "shapes(): n >= 1, test >= 0, size in [8, 256] and a finite noise >= 0"),
               NULL;
    if (n + ntest > (int64_t)1 << 31 || (n + ntest) * size * size > (int64_t)1 << 31)
        return lb_error_set(err, "ValueError", 0, 0, "shapes(): %lld images of %lldx%lld are more than labbook holds "
                            "in memory (2^31 pixels)", (long long)(n + ntest), (long long)size, (long long)size),
               NULL;
    if (check_size("shapes", n + ntest, 8 * size * size, err) < 0) /* x float, y int32 a pixel */
        return NULL;
    lb_fields_file tr, te = {0};
    if (shapes_file(&tr, n, size, noise, o->seed, 0, err) < 0)
        return NULL;
    if (ntest && shapes_file(&te, ntest, size, noise, o->seed, 0x7E57, err) < 0) {
        free((void *)tr.x);
        free((void *)tr.t);
        return NULL;
    }
    lb_field fields[2] = {
        {.name = "x", .type = LB_FIELD_FLOAT, .ndim = 3, .shape = {1, size, size}, .block = LB_BLOCK_X},
        {.name = "y", .type = LB_FIELD_INT, .target = true, .ndim = 2, .shape = {size, size}, .pad = 255,
         .block = LB_BLOCK_T}};
    char *src = NULL;
    if (asprintf(&src, "generated: shapes(size=%lld, noise=%g, seed=%llu)", (long long)size, noise,
                 (unsigned long long)o->seed) < 0)
        src = NULL;
    lb_data_options opt = *o;
    opt.test = -1;
    lb_dataset *ds = lb_dataset_from_fields(strdup("shapes"), src, fields, 2, "segment", names_of(shape_classes, 3), 3,
                                            &tr, ntest ? &te : NULL, &opt, err);
    free((void *)tr.x);
    free((void *)tr.t);
    free((void *)te.x);
    free((void *)te.t);
    return ds;
}

/* ---- pairs: two inputs ----------------------------------------------------------------------- */

/* Sample i: classes ca, cb uniform in [0, K); a = A[ca] + N(0, noise^2) per value ([8]),
 * b = B[cb] + N(0, noise^2) ([4]), label (ca + cb) mod K: neither input alone tells it. The
 * centres A [K, 8] and B [K, 4] are N(0, 1), drawn first from the seed. */
static int pairs_file(lb_fields_file *f, int64_t n, int K, double noise, const float *A, const float *B,
                      uint64_t seed, uint64_t stream, lb_error *err)
{
    float *x = malloc((size_t)(n * 12) * sizeof *x + 1);
    int32_t *y = malloc((size_t)n * sizeof *y + 1);
    if (!x || !y) {
        free(x);
        free(y);
        return lb_oom(err);
    }
    for (int64_t i = 0; i < n; i++) {
        lb_rng r;
        sample_rng(&r, seed, i, stream);
        int ca = (int)lb_rng_below(&r, (uint32_t)K), cb = (int)lb_rng_below(&r, (uint32_t)K);
        for (int k = 0; k < 8; k++)
            x[i * 12 + k] = (float)(A[ca * 8 + k] + noise * lb_rng_normal(&r));
        for (int k = 0; k < 4; k++)
            x[i * 12 + 8 + k] = (float)(B[cb * 4 + k] + noise * lb_rng_normal(&r));
        y[i] = (ca + cb) % K;
    }
    *f = (lb_fields_file){.n = n, .x = x, .xndim = 1, .xshape = {12}, .labels = y};
    return 0;
}

lb_dataset *lb_pairs_load(int64_t n, int64_t ntest, int K, double noise, const lb_data_options *o, lb_error *err)
{
    if (n < 1 || ntest < 0 || K < 2 || K > 100 || !(noise >= 0) || !isfinite(noise))
        return lb_error_set(err, "ValueError", 0, 0, "pairs(): n >= 1, test >= 0, classes in [2, 100] and a finite "
                            "noise >= 0"),
               NULL;
    if (n + ntest > (int64_t)1 << 27)
        return lb_error_set(err, "ValueError", 0, 0, "pairs(): %lld samples are more than labbook holds in memory "
                            "(2^27)", (long long)(n + ntest)),
               NULL;
    if (check_size("pairs", n + ntest, 12 * 4 + 4, err) < 0) /* a [8], b [4] float, y int32 */
        return NULL;
    float A[100 * 8], B[100 * 4];
    lb_rng r;
    lb_rng_seed(&r, o->seed);
    for (int k = 0; k < K * 8; k++)
        A[k] = (float)lb_rng_normal(&r);
    for (int k = 0; k < K * 4; k++)
        B[k] = (float)lb_rng_normal(&r);
    lb_fields_file tr, te = {0};
    if (pairs_file(&tr, n, K, noise, A, B, o->seed, 0, err) < 0)
        return NULL;
    if (ntest && pairs_file(&te, ntest, K, noise, A, B, o->seed, 0x7E57, err) < 0) {
        free((void *)tr.x);
        free((void *)tr.labels);
        return NULL;
    }
    lb_field fields[3] = {{.name = "a", .type = LB_FIELD_FLOAT, .ndim = 1, .shape = {8}, .block = LB_BLOCK_X},
                          {.name = "b", .type = LB_FIELD_FLOAT, .ndim = 1, .shape = {4}, .block = LB_BLOCK_X},
                          {.name = "y", .type = LB_FIELD_INT, .target = true, .pad = -100, .block = LB_BLOCK_LABEL}};
    char **classes = calloc((size_t)K, sizeof *classes);
    for (int k = 0; classes && k < K; k++)
        if (asprintf(&classes[k], "%d", k) < 0)
            classes[k] = NULL;
    char *src = NULL;
    if (asprintf(&src, "generated: pairs(classes=%d, noise=%g, seed=%llu)", K, noise, (unsigned long long)o->seed) < 0)
        src = NULL;
    lb_data_options opt = *o;
    opt.test = -1;
    lb_dataset *ds = lb_dataset_from_fields(strdup("pairs"), src, fields, 3, "classify", classes, K, &tr,
                                            ntest ? &te : NULL, &opt, err);
    free((void *)tr.x);
    free((void *)tr.labels);
    free((void *)te.x);
    free((void *)te.labels);
    return ds;
}
