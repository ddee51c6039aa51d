/* dataset.c — data sets (dataset.h): the loaders (Fashion-MNIST, any IDX pair, CSV), the
 * seeded valid split and subsets, normalisation with the training split's statistics, the
 * SHA-256 fingerprint and the epoch iterator. The algorithms are the ones spec/language.md
 * §"Data" documents, step for step. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/format.h"
#include "base/interrupt.h"
#include "base/sha256.h"
#include "base/suggest.h"
#include "data/dataset.h"
#include "ops.h"

const char *const lb_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};


/* ---- permutations --------------------------------------------------------------------------------- */

void lb_data_shuffle(int64_t *order, int64_t n, uint64_t seed) /* n < 2^32 */
{
    lb_rng r;
    lb_rng_seed(&r, seed);
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)lb_rng_below(&r, (uint32_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

uint64_t lb_epoch_seed(uint64_t seed, int64_t epoch)
{
    uint64_t z = seed + (uint64_t)(epoch + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- data sets ------------------------------------------------------------------------------------ */

static void split_clear(lb_split *s)
{
    free(s->x);
    free(s->y);
    free(s->src);
    free(s->counts);
    free(s->t);
    for (int f = 0; f < LB_MAX_FIELDS; f++)
        free(s->len[f]);
    memset(s, 0, sizeof *s);
}

void lb_dataset_free(lb_dataset *ds)
{
    if (!ds)
        return;
    for (int i = 0; i < ds->nsplits; i++)
        split_clear(&ds->splits[i]);
    free(ds->splits);
    for (int i = 0; i < ds->nclasses; i++)
        free(ds->classes ? ds->classes[i] : NULL);
    free(ds->classes);
    free(ds->mean);
    free(ds->std);
    free(ds->name);
    free(ds->source);
    free(ds);
}

const lb_split *lb_dataset_split(const lb_dataset *ds, const char *name)
{
    for (int i = 0; ds && name && i < ds->nsplits; i++)
        if (strcmp(ds->splits[i].name, name) == 0)
            return &ds->splits[i];
    return NULL;
}

const lb_field *lb_dataset_field(const lb_dataset *ds, const char *name, int *index)
{
    for (int i = 0; ds && name && i < ds->nfields; i++)
        if (strcmp(ds->fields[i].name, name) == 0) {
            if (index)
                *index = i;
            return &ds->fields[i];
        }
    return NULL;
}

/* One file's samples before splitting: values either in an IDX array (any dtype) or already
 * float32 (CSV, fields), labels already mapped to class numbers (or none); for data sets from
 * fields, float targets and the lengths of variable fields. */
typedef struct source {
    int64_t n;
    int ndim;
    int64_t shape[3];
    int64_t numel;
    const lb_idx *idx;  /* or */
    const float *f;
    const int32_t *labels;
    const float *t;
    int64_t tnumel;
    const int64_t *const *len; /* LB_MAX_FIELDS entries, or NULL */
} source;

static void fill_sample(const source *s, int64_t i, float *out)
{
    int64_t off = i * s->numel;
    if (s->f) {
        memcpy(out, s->f + off, (size_t)s->numel * sizeof *out);
        return;
    }
    const lb_idx *a = s->idx;
    switch (a->dtype) {
    case LB_IDX_UBYTE: {
        const uint8_t *p = (const uint8_t *)a->data + off;
        for (int64_t k = 0; k < s->numel; k++)
            out[k] = (float)p[k] / 255.0f;
        break;
    }
    case LB_IDX_BYTE: {
        const int8_t *p = (const int8_t *)a->data + off;
        for (int64_t k = 0; k < s->numel; k++)
            out[k] = (float)p[k];
        break;
    }
    case LB_IDX_SHORT: {
        const int16_t *p = (const int16_t *)a->data + off;
        for (int64_t k = 0; k < s->numel; k++)
            out[k] = (float)p[k];
        break;
    }
    case LB_IDX_INT: {
        const int32_t *p = (const int32_t *)a->data + off;
        for (int64_t k = 0; k < s->numel; k++)
            out[k] = (float)p[k];
        break;
    }
    case LB_IDX_FLOAT:
        memcpy(out, (const float *)a->data + off, (size_t)s->numel * sizeof *out);
        break;
    case LB_IDX_DOUBLE: {
        const double *p = (const double *)a->data + off;
        for (int64_t k = 0; k < s->numel; k++)
            out[k] = (float)p[k];
        break;
    }
    }
}

/* The normalisation applied while filling: per group g (ngroups groups of gsize consecutive
 * values of a sample) x = (v - mean[g]) / std[g] in float32; for byte sources a table of the
 * 256 results per group. */
typedef struct norm {
    int64_t ngroups, gsize;
    const float *mean, *std;
    float *lut; /* ngroups * 256, byte sources only */
} norm;

static void apply_norm(const norm *nm, float *x, int64_t numel)
{
    for (int64_t g = 0; g < nm->ngroups; g++) {
        const float m = nm->mean[g], sd = nm->std[g];
        float *p = x + g * nm->gsize;
        for (int64_t k = 0; k < nm->gsize; k++)
            p[k] = (p[k] - m) / sd;
    }
    (void)numel;
}

static int make_split(lb_split *sp, const char *name, const source *s, const int64_t *rows,
                      int64_t n, int nclasses, const norm *nm, lb_error *err)
{
    memset(sp, 0, sizeof *sp);
    sp->name = name;
    sp->n = n;
    sp->ndim = s->ndim;
    memcpy(sp->shape, s->shape, sizeof sp->shape);
    int64_t full[3] = {1, 1, 1};
    for (int d = 0; d < s->ndim; d++)
        full[3 - s->ndim + d] = s->shape[d];
    sp->c = full[0];
    sp->h = full[1];
    sp->w = full[2];
    sp->numel = s->numel;
    sp->x = malloc((size_t)(n * s->numel) * sizeof *sp->x + 1);
    sp->y = malloc((size_t)n * sizeof *sp->y + 1);
    sp->src = malloc((size_t)n * sizeof *sp->src + 1);
    sp->counts = calloc((size_t)nclasses + 1, sizeof *sp->counts);
    if (!s->labels) {
        free(sp->y);
        sp->y = NULL;
    }
    bool ok = sp->x && (sp->y || !s->labels) && sp->src && sp->counts;
    if (ok && s->t) {
        sp->tnumel = s->tnumel;
        ok = (sp->t = malloc((size_t)(n * s->tnumel) * sizeof *sp->t + 1)) != NULL;
    }
    for (int f = 0; ok && s->len && f < LB_MAX_FIELDS; f++)
        if (s->len[f])
            ok = (sp->len[f] = malloc((size_t)n * sizeof *sp->len[f] + 1)) != NULL;
    if (!ok) {
        split_clear(sp);
        return lb_oom(err);
    }
    const bool bytes = !s->f && s->idx->dtype == LB_IDX_UBYTE;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rows ? rows[i] : i;
        float *x = sp->x + i * s->numel;
        if (nm && nm->lut && bytes) {
            const uint8_t *p = (const uint8_t *)s->idx->data + r * s->numel;
            for (int64_t g = 0; g < nm->ngroups; g++) {
                const float *lut = nm->lut + 256 * g;
                const uint8_t *pg = p + g * nm->gsize;
                float *xg = x + g * nm->gsize;
                for (int64_t k = 0; k < nm->gsize; k++)
                    xg[k] = lut[pg[k]];
            }
        } else {
            fill_sample(s, r, x);
            if (nm)
                apply_norm(nm, x, s->numel);
        }
        if (s->labels) {
            sp->y[i] = s->labels[r];
            sp->counts[s->labels[r]]++;
        }
        if (s->t)
            memcpy(sp->t + i * s->tnumel, s->t + r * s->tnumel, (size_t)s->tnumel * sizeof *sp->t);
        for (int f = 0; s->len && f < LB_MAX_FIELDS; f++)
            if (s->len[f])
                sp->len[f][i] = s->len[f][r];
        sp->src[i] = r;
    }
    return 0;
}

/* Mean and standard deviation (population: divided by the count) per group of the training
 * rows' values v (after the byte scaling), in double precision (two passes: the mean, then
 * the mean squared deviation from it), rounded to float32; a group with std 0 gets std 1. */
static int train_stats(lb_dataset *ds, const source *s, const int64_t *rows, int64_t n, norm *nm,
                       lb_error *err)
{
    int64_t ngroups = s->ndim == 1 ? s->numel : s->shape[0];
    int64_t gsize = s->numel / ngroups;
    if (ngroups > INT32_MAX)
        return lb_error_set(err, "ValueError", 0, 0, "too many features to normalise");
    double *mean = calloc((size_t)ngroups, sizeof *mean);
    double *var = calloc((size_t)ngroups, sizeof *var);
    ds->mean = malloc((size_t)ngroups * sizeof *ds->mean);
    ds->std = malloc((size_t)ngroups * sizeof *ds->std);
    /* bytes: a histogram per group and a table of the 256 results (while they stay small) */
    const bool bytes = !s->f && s->idx->dtype == LB_IDX_UBYTE && ngroups <= 4096;
    int64_t *hist = bytes ? calloc((size_t)ngroups * 256, sizeof *hist) : NULL;
    float *tmp = bytes ? NULL : malloc((size_t)s->numel * sizeof *tmp);
    nm->lut = bytes ? malloc((size_t)ngroups * 256 * sizeof *nm->lut) : NULL;
    if (!mean || !var || !ds->mean || !ds->std || (bytes ? !hist || !nm->lut : !tmp)) {
        free(mean);
        free(var);
        free(hist);
        free(tmp);
        return lb_oom(err);
    }
    ds->ngroups = (int)ngroups;
    const double count = (double)n * (double)gsize;
    if (bytes) {
        /* a histogram of the bytes per group: exact, and one pass */
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *p = (const uint8_t *)s->idx->data + (rows ? rows[i] : i) * s->numel;
            for (int64_t g = 0; g < ngroups; g++) {
                int64_t *h = hist + 256 * g;
                for (int64_t k = 0; k < gsize; k++)
                    h[p[g * gsize + k]]++;
            }
        }
        for (int64_t g = 0; g < ngroups; g++) {
            double sum = 0, sq = 0;
            for (int b = 0; b < 256; b++)
                sum += (double)hist[256 * g + b] * (double)((float)b / 255.0f);
            mean[g] = sum / count;
            for (int b = 0; b < 256; b++) {
                double d = (double)((float)b / 255.0f) - mean[g];
                sq += (double)hist[256 * g + b] * d * d;
            }
            var[g] = sq / count;
        }
    } else {
        /* pass 0: sums -> mean; pass 1: squared deviations from the mean -> var */
        for (int pass = 0; pass < 2; pass++) {
            double *acc = pass == 0 ? mean : var;
            for (int64_t i = 0; i < n; i++) {
                fill_sample(s, rows ? rows[i] : i, tmp);
                for (int64_t g = 0; g < ngroups; g++) {
                    const float *v = tmp + g * gsize;
                    double a = 0;
                    if (pass == 0) {
                        for (int64_t k = 0; k < gsize; k++)
                            a += v[k];
                    } else {
                        for (int64_t k = 0; k < gsize; k++) {
                            double d = (double)v[k] - mean[g];
                            a += d * d;
                        }
                    }
                    acc[g] += a;
                }
            }
            for (int64_t g = 0; g < ngroups; g++)
                acc[g] /= count;
        }
    }
    for (int64_t g = 0; g < ngroups; g++) {
        double sd = sqrt(var[g]);
        ds->mean[g] = (float)mean[g];
        ds->std[g] = (float)sd > 0 ? (float)sd : 1.0f; /* a constant feature: only centred */
        if (bytes)
            for (int b = 0; b < 256; b++)
                nm->lut[256 * g + b] = ((float)b / 255.0f - ds->mean[g]) / ds->std[g];
    }
    nm->ngroups = ngroups;
    nm->gsize = gsize;
    nm->mean = ds->mean;
    nm->std = ds->std;
    free(mean);
    free(var);
    free(hist);
    free(tmp);
    return 0;
}

/* Picks the rows of the first `take` entries of a seeded permutation of [0, n) starting at
 * `skip`, sorted. */
static int64_t *pick_rows(const int64_t *perm, int64_t skip, int64_t take)
{
    int64_t *rows = malloc((size_t)take * sizeof *rows + 1);
    if (!rows)
        return NULL;
    memcpy(rows, perm + skip, (size_t)take * sizeof *rows);
    qsort(rows, (size_t)take, sizeof *rows, cmp_i64);
    return rows;
}

static int64_t *identity_perm(int64_t n, bool shuffle, uint64_t seed)
{
    int64_t *p = malloc((size_t)n * sizeof *p + 1);
    if (!p)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        p[i] = i;
    if (shuffle)
        lb_data_shuffle(p, n, seed);
    return p;
}

/* The sizes of the splits from the options, checked against the files: valid (a count, or a
 * fraction of the training file), train (the rest, or a subset of it) and test (the test
 * file, or a subset of it); what was asked is kept in ds. */
static int split_sizes(lb_dataset *ds, const source *train, const source *test,
                       const lb_data_options *o, int64_t *validp, int64_t *ntrainp,
                       int64_t *ntestp, lb_error *err)
{
    int64_t n = train->n;
    int64_t valid = o->valid;
    if (o->valid_fraction > 0) {
        if (!(o->valid_fraction < 1))
            return lb_error_set(err, "ValueError", 0, 0, "valid=%g: a fraction must be below 1",
                                o->valid_fraction);
        valid = (int64_t)llround(o->valid_fraction * (double)n);
    }
    if (n > (int64_t)UINT32_MAX)
        return lb_error_set(err, "ValueError", 0, 0, "%s: %lld samples; at most %lld are supported",
                            ds->name, (long long)n, (long long)UINT32_MAX);
    if (n == 0)
        return lb_error_set(err, "ValueError", 0, 0, "%s: no training samples", ds->name);
    if (valid < 0 || valid >= n)
        return lb_error_set(err, "ValueError", 0, 0,
                            "valid=%lld leaves no training samples: the training file has %lld",
                            (long long)valid, (long long)n);
    int64_t ntrain = o->train < 0 ? n - valid : o->train;
    if (o->train == 0 || ntrain > n - valid)
        return lb_error_set(err, "ValueError", 0, 0,
                            o->train == 0 ? "train=0: a training subset needs at least one sample"
                                          : "train=%lld is more than the %lld samples left for training "
                                            "(the training file has %lld, valid takes %lld)",
                            (long long)ntrain, (long long)(n - valid), (long long)n, (long long)valid);
    int64_t ntest = test ? test->n : 0;
    if (o->test >= 0 && !test)
        return lb_error_set(err, "ValueError", 0, 0, "test=%lld: %s has no test split",
                            (long long)o->test, ds->name);
    if (test && o->test >= 0) {
        if (o->test == 0 || o->test > test->n)
            return lb_error_set(err, "ValueError", 0, 0,
                                "test=%lld: the test subset must have between 1 and %lld samples",
                                (long long)o->test, (long long)test->n);
        ntest = o->test;
    }
    ds->valid = valid;
    ds->train_n = o->train < 0 ? -1 : o->train;
    ds->test_n = test && o->test >= 0 ? o->test : -1;
    *validp = valid;
    *ntrainp = ntrain;
    *ntestp = ntest;
    return 0;
}

/* The training file's splits: a seeded permutation, valid = its first `valid` rows, train =
 * the next ntrain (each sorted back into file order); with normalize, the statistics of the
 * training rows go to ds and the normalisation to *nmv, for every split. */
static int train_splits(lb_dataset *ds, const source *train, int64_t valid, int64_t ntrain,
                        const lb_data_options *o, norm *nmv, lb_error *err)
{
    int64_t n = train->n;
    bool pick = valid > 0 || ntrain < n;
    int64_t *perm = pick ? identity_perm(n, true, o->seed) : NULL;
    int64_t *trows = pick && perm ? pick_rows(perm, valid, ntrain) : NULL;
    int64_t *vrows = pick && perm && valid ? pick_rows(perm, 0, valid) : NULL;
    free(perm);
    if (pick && (!trows || (valid && !vrows))) {
        free(trows);
        free(vrows);
        return lb_oom(err);
    }
    norm *nm = NULL;
    int rc = 0;
    if (o->normalize) {
        rc = train_stats(ds, train, trows, ntrain, nmv, err);
        nm = nmv;
    }
    if (rc == 0)
        rc = make_split(&ds->splits[ds->nsplits], "train", train, trows, ntrain, ds->nclasses, nm, err);
    if (rc == 0)
        ds->nsplits++;
    if (rc == 0 && valid) {
        rc = make_split(&ds->splits[ds->nsplits], "valid", train, vrows, valid, ds->nclasses, nm, err);
        if (rc == 0)
            ds->nsplits++;
    }
    free(trows);
    free(vrows);
    return rc;
}

/* The test file's split: all of it, or the first ntest rows of a seeded permutation (sorted
 * back into file order); nm is the training rows' normalisation or NULL. */
static int test_split(lb_dataset *ds, const source *test, int64_t ntest, uint64_t seed,
                      const norm *nm, lb_error *err)
{
    int64_t *rows = NULL;
    if (ntest < test->n) {
        int64_t *tp = identity_perm(test->n, true, seed);
        rows = tp ? pick_rows(tp, 0, ntest) : NULL;
        free(tp);
        if (!rows)
            return lb_oom(err);
    }
    int rc = make_split(&ds->splits[ds->nsplits], "test", test, rows, ntest, ds->nclasses, nm, err);
    free(rows);
    if (rc < 0)
        return rc;
    ds->nsplits++;
    return 0;
}

/* Builds the data set from the training file's samples and optionally the test file's. Takes
 * ownership of classes (nclasses malloc'd names) and of name/source. */
static void classify_fields(lb_dataset *ds);
static int64_t shape_numel(int ndim, const int64_t *shape);

static lb_dataset *build(char *name, char *source_desc, const source *train, const source *test,
                         char **classes, int nclasses, const lb_data_options *o, lb_error *err)
{
    lb_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !name || !source_desc) {
        free(ds);
        free(name);
        free(source_desc);
        for (int i = 0; classes && i < nclasses; i++)
            free(classes[i]);
        free(classes);
        lb_oom(err);
        return NULL;
    }
    ds->name = name;
    ds->source = source_desc;
    ds->classes = classes;
    ds->nclasses = nclasses;
    ds->seed = o->seed;
    ds->normalize = o->normalize;
    ds->unit_scaled = train->idx && train->idx->dtype == LB_IDX_UBYTE;
    int64_t valid = 0, ntrain = 0, ntest = 0;
    if (split_sizes(ds, train, test, o, &valid, &ntrain, &ntest, err) < 0)
        goto fail;
    ds->splits = calloc(3, sizeof *ds->splits);
    if (!ds->splits) {
        lb_oom(err);
        goto fail;
    }
    norm nmv = {0};
    int rc = train_splits(ds, train, valid, ntrain, o, &nmv, err);
    if (rc == 0 && test)
        rc = test_split(ds, test, ntest, o->seed, o->normalize ? &nmv : NULL, err);
    free(nmv.lut);
    if (rc < 0)
        goto fail;
    classify_fields(ds);
    return ds;
fail:
    lb_dataset_free(ds);
    return NULL;
}

static int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

/* The fields of today's image and CSV data sets: "x" (the sample, float) and "y" (its class). */
static void classify_fields(lb_dataset *ds)
{
    const lb_split *s = &ds->splits[0];
    lb_field *x = &ds->fields[0], *y = &ds->fields[1];
    *x = (lb_field){.name = "x", .type = LB_FIELD_FLOAT, .ndim = s->ndim, .block = LB_BLOCK_X,
                    .numel = s->numel, .maxlen = s->ndim ? s->shape[0] : 1};
    memcpy(x->shape, s->shape, sizeof x->shape);
    *y = (lb_field){.name = "y", .type = LB_FIELD_INT, .target = true, .block = LB_BLOCK_LABEL,
                    .numel = 1, .maxlen = 1, .pad = -100};
    ds->nfields = 2;
    snprintf(ds->task, sizeof ds->task, "classify");
}

/* The longest length of variable field i over both files (0 when a file lacks the lengths). */
static int64_t longest(const lb_fields_file *tr, const lb_fields_file *te, int i)
{
    int64_t m = 0;
    for (int k = 0; k < 2; k++) {
        const lb_fields_file *f = k ? te : tr;
        if (!f)
            continue;
        if (!f->len[i])
            return 0;
        for (int64_t r = 0; r < f->n; r++)
            m = f->len[i][r] > m ? f->len[i][r] : m;
    }
    return m;
}

/* Whether the test file has the training file's blocks (shape of X, T's size, labels or none). */
static bool same_blocks(const lb_fields_file *a, const lb_fields_file *b)
{
    if (!b)
        return true;
    bool same = a->xndim == b->xndim && !a->t == !b->t && a->tnumel == b->tnumel && !a->labels == !b->labels;
    for (int d = 0; same && d < a->xndim; d++)
        same = a->xshape[d] == b->xshape[d];
    return same;
}

/* Places the fields in their blocks (offsets in declaration order) and checks them against
 * the files' blocks. */
static int place_fields(lb_dataset *ds, const lb_field *fields, int nfields, const lb_fields_file *f,
                        const lb_fields_file *test, lb_error *err)
{
    if (!same_blocks(f, test))
        return lb_error_set(err, "ValueError", 0, 0, "%s: the test samples are not made like the training ones",
                            ds->name);
    if (nfields < 1 || nfields > LB_MAX_FIELDS)
        return lb_error_set(err, "ValueError", 0, 0, "%s: between 1 and %d fields", ds->name, LB_MAX_FIELDS);
    int64_t used[3] = {0, 0, 0};
    for (int i = 0; i < nfields; i++) {
        lb_field *d = &ds->fields[i];
        *d = fields[i];
        int64_t inner = 1;
        for (int k = 1; k < d->ndim; k++)
            inner *= d->shape[k];
        bool var = d->ndim > 0 && d->shape[0] < 0;
        d->maxlen = d->ndim == 0 ? 1 : d->shape[0];
        if (var && (d->maxlen = longest(f, test, i)) < 1)
            return lb_error_set(err, "ValueError", 0, 0, "%s: field %s has a variable length but no lengths, or "
                                "only empty samples", ds->name, d->name);
        d->numel = (d->ndim ? d->maxlen : 1) * inner;
        d->offset = used[d->block];
        used[d->block] += d->block == LB_BLOCK_LABEL ? 1 : d->numel;
    }
    if (used[LB_BLOCK_X] != (f->x ? shape_numel(f->xndim, f->xshape) : 0) ||
        used[LB_BLOCK_T] != (f->t ? f->tnumel : 0) || used[LB_BLOCK_LABEL] > (f->labels ? 1 : 0))
        return lb_error_set(err, "ValueError", 0, 0, "%s: the fields do not cover the file's values", ds->name);
    ds->nfields = nfields;
    return 0;
}

lb_dataset *lb_dataset_from_fields(char *name, char *source_desc, const lb_field *fields, int nfields,
                                   const char *task, char **classes, int nclasses,
                                   const lb_fields_file *train, const lb_fields_file *test,
                                   const lb_data_options *o, lb_error *err)
{
    source s[2];
    for (int k = 0; k < 2; k++) {
        const lb_fields_file *f = k ? test : train;
        if (!f)
            continue;
        s[k] = (source){.n = f->n, .ndim = f->xndim, .numel = shape_numel(f->xndim, f->xshape), .f = f->x,
                        .labels = f->labels, .t = f->t, .tnumel = f->tnumel, .len = f->len};
        memcpy(s[k].shape, f->xshape, sizeof s[k].shape);
    }
    /* int inputs (token or category ids) are not standardised: normalisation is for data sets
     * whose inputs are all float */
    lb_data_options opt = *o;
    for (int i = 0; i < nfields; i++)
        if (!fields[i].target && fields[i].type == LB_FIELD_INT)
            opt.normalize = false;
    lb_dataset *ds = build(name, source_desc, &s[0], test ? &s[1] : NULL, classes, nclasses, &opt, err);
    if (!ds)
        return NULL;
    ds->from_fields = true;
    snprintf(ds->task, sizeof ds->task, "%s", task);
    if (place_fields(ds, fields, nfields, train, test, err) < 0) {
        lb_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* ---- labels --------------------------------------------------------------------------------------- */

/* Class numbers from an IDX label array: integral values >= 0 (and < limit when limit > 0).
 * *max_label receives the largest. */
static int32_t *idx_labels(const lb_idx *a, const char *path, int limit, int32_t *max_label,
                           lb_error *err)
{
    if (a->ndim != 1 && !(a->ndim == 2 && a->dims[1] == 1)) {
        lb_error_set(err, "DataError", 0, 0, "%s: a label file holds one number per sample (an IDX "
                                             "array of 1 dimension), not %d dimensions",
                     path, a->ndim);
        return NULL;
    }
    int32_t *y = malloc((size_t)a->count * sizeof *y + 1);
    if (!y) {
        lb_oom(err);
        return NULL;
    }
    int32_t mx = 0;
    for (int64_t i = 0; i < a->count; i++) {
        double v = lb_idx_get(a, i);
        if (!(v >= 0 && v <= 1000000 && v == floor(v)) || (limit > 0 && v >= limit)) {
            char num[32];
            lb_format_number(v, num, sizeof num);
            if (limit > 0 && v >= 0 && v == floor(v))
                lb_error_set(err, "DataError", 0, 0,
                             "%s: label %s of sample %lld is out of range for %d classes", path, num,
                             (long long)i, limit);
            else
                lb_error_set(err, "DataError", 0, 0,
                             "%s: label %s of sample %lld is not a class number (an integer from 0)",
                             path, num, (long long)i);
            free(y);
            return NULL;
        }
        y[i] = (int32_t)v;
        if (y[i] > mx)
            mx = y[i];
    }
    *max_label = mx;
    return y;
}

static int image_source(source *s, const lb_idx *a, const char *path, lb_error *err)
{
    memset(s, 0, sizeof *s);
    if (a->ndim < 2)
        return lb_error_set(err, "DataError", 0, 0,
                            "%s: an image file holds an array [N, ...] of at least 2 dimensions "
                            "(this one has 1)",
                            path);
    s->n = a->dims[0];
    if (a->ndim == 3) { /* [N, H, W]: one channel */
        s->ndim = 3;
        s->shape[0] = 1;
        s->shape[1] = a->dims[1];
        s->shape[2] = a->dims[2];
    } else {
        s->ndim = a->ndim - 1;
        for (int d = 1; d < a->ndim; d++)
            s->shape[d - 1] = a->dims[d];
    }
    s->numel = 1;
    for (int d = 0; d < s->ndim; d++)
        s->numel *= s->shape[d];
    if (s->numel == 0)
        return lb_error_set(err, "DataError", 0, 0, "%s: the samples are empty", path);
    s->idx = a;
    return 0;
}

static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return strdup(b ? b + 1 : path);
}

static char **number_classes(int n, const char *const *names)
{
    char **c = calloc((size_t)n + 1, sizeof *c);
    for (int i = 0; c && i < n; i++) {
        if (names)
            c[i] = strdup(names[i]);
        else if (asprintf(&c[i], "%d", i) < 0)
            c[i] = NULL;
        if (!c[i]) {
            for (int k = 0; k < i; k++)
                free(c[k]);
            free(c);
            return NULL;
        }
    }
    return c;
}

/* ---- IDX data sets -------------------------------------------------------------------------------- */

typedef struct test_reader {
    const char *images, *labels;
    lb_idx *si, *sl;
    lb_error err;
    int rc;
} test_reader;

static void *read_test_files(void *arg)
{
    test_reader *r = arg;
    r->rc = lb_idx_read(r->images, r->si, &r->err) < 0 || lb_idx_read(r->labels, r->sl, &r->err) < 0
                ? -1
                : 0;
    return NULL;
}

lb_dataset *lb_idx_dataset_load(const char *images, const char *labels, const char *test_images,
                                const char *test_labels, const char *const *classes, int nclasses,
                                const lb_data_options *o, lb_error *err)
{
    lb_idx ti = {0}, tl = {0}, si = {0}, sl = {0};
    int32_t *ty = NULL, *sy = NULL;
    lb_dataset *ds = NULL;
    source tr, te;
    int32_t mx = 0, mx2 = 0;
    if ((test_images == NULL) != (test_labels == NULL)) {
        lb_error_set(err, "ValueError", 0, 0, "give both test_images and test_labels, or neither");
        return NULL;
    }
    /* the test files are read by a second thread while this one reads the training files */
    test_reader rd = {.images = test_images, .labels = test_labels, .si = &si, .sl = &sl};
    pthread_t th;
    bool threaded = test_images && pthread_create(&th, NULL, read_test_files, &rd) == 0;
    if (test_images && !threaded)
        read_test_files(&rd);
    int rc1 = lb_idx_read(images, &ti, err) < 0 || lb_idx_read(labels, &tl, err) < 0 ? -1 : 0;
    if (threaded)
        pthread_join(th, NULL);
    if (rc1 < 0) {
        lb_error_clear(&rd.err);
        goto out;
    }
    if (test_images && rd.rc < 0) {
        if (err) {
            lb_error_clear(err);
            *err = rd.err; /* takes the message */
        } else {
            lb_error_clear(&rd.err);
        }
        goto out;
    }
    if (image_source(&tr, &ti, images, err) < 0)
        goto out;
    if (!(ty = idx_labels(&tl, labels, classes ? nclasses : 0, &mx, err)))
        goto out;
    if (tl.dims[0] != tr.n) {
        lb_error_set(err, "DataError", 0, 0, "%s has %lld samples but %s has %lld labels", images,
                     (long long)tr.n, labels, (long long)tl.dims[0]);
        goto out;
    }
    tr.labels = ty;
    if (test_images) {
        if (image_source(&te, &si, test_images, err) < 0)
            goto out;
        if (!(sy = idx_labels(&sl, test_labels, classes ? nclasses : 0, &mx2, err)))
            goto out;
        if (sl.dims[0] != te.n) {
            lb_error_set(err, "DataError", 0, 0, "%s has %lld samples but %s has %lld labels",
                         test_images, (long long)te.n, test_labels, (long long)sl.dims[0]);
            goto out;
        }
        if (te.ndim != tr.ndim || memcmp(te.shape, tr.shape, sizeof te.shape) != 0) {
            lb_error_set(err, "DataError", 0, 0,
                         "%s and %s hold samples of different shapes", images, test_images);
            goto out;
        }
        if (si.dtype != ti.dtype && (si.dtype == LB_IDX_UBYTE || ti.dtype == LB_IDX_UBYTE)) {
            lb_error_set(err, "DataError", 0, 0,
                         "%s holds %s values but %s holds %s: bytes are scaled to [0, 1], other "
                         "types are not, so both files must agree",
                         images, lb_idx_dtype_name(ti.dtype), test_images,
                         lb_idx_dtype_name(si.dtype));
            goto out;
        }
        te.labels = sy;
    }
    int k = classes ? nclasses : (mx2 > mx ? mx2 : mx) + 1;
    char **names = number_classes(k, classes);
    char *src = NULL;
    if (test_images) {
        if (asprintf(&src, "%s, %s, %s, %s", images, labels, test_images, test_labels) < 0)
            src = NULL;
    } else if (asprintf(&src, "%s, %s", images, labels) < 0) {
        src = NULL;
    }
    if (!names) {
        free(src);
        lb_oom(err);
        goto out;
    }
    ds = build(base_name(images), src, &tr, test_images ? &te : NULL, names, k, o, err);
out:
    free(ty);
    free(sy);
    lb_idx_free(&ti);
    lb_idx_free(&tl);
    lb_idx_free(&si);
    lb_idx_free(&sl);
    return ds;
}

static char *find_file(const char *dir, const char *stem)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s.gz", dir, stem) < 0)
        return NULL;
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    if (asprintf(&p, "%s/%s", dir, stem) < 0)
        return NULL;
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    return NULL;
}

lb_dataset *lb_fashion_mnist_load(const char *dir, const lb_data_options *o, lb_error *err)
{
    if (!dir)
        dir = LB_FASHION_MNIST_DIR;
    static const char *const stems[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char *paths[4] = {0};
    int missing = -1;
    for (int i = 0; i < 4; i++) {
        paths[i] = find_file(dir, stems[i]);
        if (!paths[i] && missing < 0)
            missing = i;
    }
    lb_dataset *ds = NULL;
    if (missing >= 0) {
        lb_error_set(err, "FileNotFoundError", 0, 0,
                     "Fashion-MNIST not found at %s (no %s.gz): install the Debian package "
                     "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
                     dir, stems[missing]);
    } else {
        ds = lb_idx_dataset_load(paths[0], paths[1], paths[2], paths[3], lb_fashion_mnist_classes,
                                 10, o, err);
        if (ds) {
            char *name = strdup("fashion_mnist"), *src = strdup(dir);
            if (!name || !src) {
                free(name);
                free(src);
                lb_dataset_free(ds);
                ds = NULL;
                lb_oom(err);
            } else {
                free(ds->name);
                free(ds->source);
                ds->name = name;
                ds->source = src;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        free(paths[i]);
    return ds;
}

/* ---- CSV data sets -------------------------------------------------------------------------------- */

typedef struct csv_data {
    float *x;
    char **labels;  /* one malloc'd text per row */
    int *lines;
    int64_t n, cap;
    size_t ncols;
    char **header;
} csv_data;

static void csv_data_free(csv_data *d)
{
    free(d->x);
    for (int64_t i = 0; i < d->n; i++)
        free(d->labels[i]);
    free(d->labels);
    free(d->lines);
    for (size_t i = 0; d->header && i < d->ncols; i++)
        free(d->header[i]);
    free(d->header);
    memset(d, 0, sizeof *d);
}

/* The header row c holds, copied into d; with `want` (the training file's) it must equal it. */
static int csv_header(const lb_csv *c, const char *path, const csv_data *want, csv_data *d,
                      lb_error *err)
{
    d->ncols = c->ncells;
    d->header = calloc(d->ncols, sizeof *d->header);
    if (!d->header)
        return lb_oom(err);
    for (size_t i = 0; i < d->ncols; i++)
        if (!(d->header[i] = strdup(c->cells[i])))
            return lb_oom(err);
    if (want) {
        bool same = want->ncols == d->ncols;
        size_t i = 0;
        for (; same && i < d->ncols; i++)
            same = strcmp(want->header[i], d->header[i]) == 0;
        if (!same) {
            if (want->ncols != d->ncols)
                lb_error_set(err, "DataError", 0, 0,
                             "%s: the header differs from the training file's: %zu columns, not %zu",
                             path, d->ncols, want->ncols);
            else
                lb_error_set(err, "DataError", 0, 0,
                             "%s: the header differs from the training file's: column %zu is '%s', "
                             "not '%s'",
                             path, i, d->header[i - 1], want->header[i - 1]);
            return -1;
        }
    }
    return 0;
}

/* The column named `label` (exactly one; a missing one is reported with the columns there are
 * and the nearest name), with at least one feature column besides it. */
static int csv_label_column(const csv_data *d, const char *path, const char *label,
                            size_t *label_col, lb_error *err)
{
    size_t lc = d->ncols;
    int found = 0;
    for (size_t i = 0; i < d->ncols; i++)
        if (strcmp(d->header[i], label) == 0) {
            lc = i;
            found++;
        }
    if (found != 1) {
        if (found > 1) {
            lb_error_set(err, "DataError", 0, 0, "%s: %d columns are named '%s'", path, found, label);
        } else {
            const char *s = lb_suggest(label, (const char *const *)d->header, d->ncols);
            char cols[256];
            size_t u = 0;
            cols[0] = '\0';
            for (size_t i = 0; i < d->ncols && u < sizeof cols - 40; i++)
                u += (size_t)snprintf(cols + u, sizeof cols - u, "%s%s", i ? ", " : "", d->header[i]);
            if (u >= sizeof cols - 40)
                snprintf(cols + u, sizeof cols - u, ", ...");
            lb_error_set(err, "DataError", 0, 0,
                         "%s has no column '%s' for the labels%s%s%s (columns: %s); name it with "
                         "label=\"COLUMN\" (classes) or target=\"COLUMN\" (a number to regress)",
                         path, label, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "", cols);
        }
        return -1;
    }
    if (d->ncols < 2)
        return lb_error_set(err, "DataError", 0, 0, "%s: no feature columns besides the label '%s'",
                            path, label);
    *label_col = lc;
    return 0;
}

/* Room for one more row (doubling, from 256 rows). */
static int csv_grow(csv_data *d, size_t nf, lb_error *err)
{
    if (d->n < d->cap)
        return 0;
    int64_t cap = d->cap ? 2 * d->cap : 256;
    float *nx = realloc(d->x, (size_t)cap * nf * sizeof *nx);
    if (nx)
        d->x = nx;
    char **nl = realloc(d->labels, (size_t)cap * sizeof *nl);
    if (nl)
        d->labels = nl;
    int *nli = realloc(d->lines, (size_t)cap * sizeof *nli);
    if (nli)
        d->lines = nli;
    if (!nx || !nl || !nli)
        return lb_oom(err);
    d->cap = cap;
    return 0;
}

/* The row c holds, appended to d: every cell but the label's a finite float32, the label not
 * empty. */
static int csv_row(const lb_csv *c, const char *path, const char *label, size_t lc, csv_data *d,
                   lb_error *err)
{
    size_t nf = d->ncols - 1;
    if (c->ncells != d->ncols)
        return lb_error_set(err, "DataError", 0, 0,
                            "%s, line %d: %zu value%s, but the header has %zu columns", path,
                            c->row_line, c->ncells, c->ncells == 1 ? "" : "s", d->ncols);
    if (csv_grow(d, nf, err) < 0)
        return -1;
    float *row = d->x + (size_t)d->n * nf;
    size_t k = 0;
    for (size_t i = 0; i < d->ncols; i++) {
        if (i == lc)
            continue;
        const char *t = c->cells[i];
        char *end = NULL;
        errno = 0;
        double v = *t ? strtod(t, &end) : 0;
        if (!*t || *end || !isfinite(v) || (float)v != (float)v || isinf((float)v))
            return lb_error_set(err, "DataError", 0, 0,
                                "%s, line %d, column %zu ('%s'): %s%s%s", path, c->row_line, i + 1,
                                d->header[i], *t ? "'" : "", *t ? t : "empty value",
                                *t ? (*end ? "' is not a number" : "' is not a finite float32")
                                   : "");
        row[k++] = (float)v;
    }
    if (!c->cells[lc][0])
        return lb_error_set(err, "DataError", 0, 0, "%s, line %d, column %zu ('%s'): empty label",
                            path, c->row_line, lc + 1, label);
    d->labels[d->n] = strdup(c->cells[lc]);
    d->lines[d->n] = c->row_line;
    if (!d->labels[d->n])
        return lb_oom(err);
    d->n++;
    return 0;
}

/* Reads a whole CSV file: the header, every row's numbers (all columns but the label) and
 * label text. With `want` (the training file's header), the header must equal it. */
static int csv_load_file(const char *path, const char *label, const csv_data *want, csv_data *d,
                         size_t *label_col, lb_error *err)
{
    memset(d, 0, sizeof *d);
    lb_csv c;
    if (lb_csv_open(&c, path, err) < 0)
        return -1;
    int rc = lb_csv_next(&c, err);
    if (rc <= 0) {
        if (rc == 0)
            lb_error_set(err, "DataError", 0, 0, "%s: empty file (a CSV file needs a header row)",
                         path);
        lb_csv_close(&c);
        return -1;
    }
    if (csv_header(&c, path, want, d, err) < 0 || csv_label_column(d, path, label, label_col, err) < 0)
        goto fail;
    for (int64_t row = 1; (rc = lb_csv_next(&c, err)) > 0; row++)
        if (csv_row(&c, path, label, *label_col, d, err) < 0 ||
            (row % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0))
            goto fail;
    if (rc < 0)
        goto fail;
    if (d->n == 0) {
        lb_error_set(err, "DataError", 0, 0, "%s: no rows after the header", path);
        goto fail;
    }
    lb_csv_close(&c);
    return 0;
fail:
    lb_csv_close(&c);
    csv_data_free(d);
    return -1;
}

typedef struct label_key {
    const char *text;
    double num;
} label_key;

static int cmp_label(const void *a, const void *b, void *numeric)
{
    const label_key *x = a, *y = b;
    if (*(const bool *)numeric)
        return (x->num > y->num) - (x->num < y->num);
    return strcmp(x->text, y->text);
}

static bool parse_num(const char *t, double *v)
{
    char *end = NULL;
    *v = strtod(t, &end);
    return *t && !*end && isfinite(*v);
}

/* The sorted distinct labels of d (numerically when every label is a number) as class names;
 * canonical texts for numbers ("1.0" and "1" are one class, named "1"). */
static char **csv_classes(const csv_data *d, int *nclasses, bool *numeric, lb_error *err)
{
    label_key *keys = malloc((size_t)d->n * sizeof *keys + 1);
    if (!keys) {
        lb_oom(err);
        return NULL;
    }
    bool num = true;
    for (int64_t i = 0; i < d->n; i++) {
        keys[i].text = d->labels[i];
        if (num && !parse_num(d->labels[i], &keys[i].num))
            num = false;
    }
    qsort_r(keys, (size_t)d->n, sizeof *keys, cmp_label, &num);
    int64_t k = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (i == 0 || cmp_label(&keys[i - 1], &keys[i], &num) != 0)
            keys[k++] = keys[i];
    if (k > 100000) {
        free(keys);
        lb_error_set(err, "DataError", 0, 0, "%lld different labels: too many classes (at most 100000)",
                     (long long)k);
        return NULL;
    }
    char **names = calloc((size_t)k + 1, sizeof *names);
    for (int64_t i = 0; names && i < k; i++) {
        if (num) {
            char buf[32];
            lb_format_number(keys[i].num, buf, sizeof buf);
            names[i] = strdup(buf);
        } else {
            names[i] = strdup(keys[i].text);
        }
        if (!names[i]) {
            for (int64_t j = 0; j < i; j++)
                free(names[j]);
            free(names);
            names = NULL;
        }
    }
    free(keys);
    if (!names) {
        lb_oom(err);
        return NULL;
    }
    *nclasses = (int)k;
    *numeric = num;
    return names;
}

/* Maps each row's label to its class number (binary search in the sorted names). */
static int32_t *csv_label_numbers(const csv_data *d, const char *path, char **names, int k,
                                  bool numeric, lb_error *err)
{
    int32_t *y = malloc((size_t)d->n * sizeof *y + 1);
    if (!y) {
        lb_oom(err);
        return NULL;
    }
    for (int64_t i = 0; i < d->n; i++) {
        double v = 0;
        bool isnum = numeric && parse_num(d->labels[i], &v);
        int lo = 0, hi = k - 1, at = -1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            int c;
            if (numeric) {
                double m = isnum ? strtod(names[mid], NULL) : 0;
                c = !isnum ? 1 : (v > m) - (v < m);
            } else {
                c = strcmp(d->labels[i], names[mid]);
            }
            if (c == 0) {
                at = mid;
                break;
            }
            if (c < 0)
                hi = mid - 1;
            else
                lo = mid + 1;
        }
        if (at < 0) {
            lb_error_set(err, "DataError", 0, 0,
                         "%s, line %d: the label '%s' is not a class of the training file", path,
                         d->lines[i], d->labels[i]);
            free(y);
            return NULL;
        }
        y[i] = at;
    }
    return y;
}

lb_dataset *lb_csv_dataset_load(const char *path, const char *label, const char *test_path,
                                int ndim, const int64_t *sample_shape, const char *const *classes,
                                int nclasses, const lb_data_options *o, lb_error *err)
{
    if (!label)
        label = "label";
    csv_data tr = {0}, te = {0};
    size_t lc = 0, lc2 = 0;
    int32_t *ty = NULL, *sy = NULL;
    char **names = NULL;
    int k = 0;
    bool numeric = false;
    lb_dataset *ds = NULL;
    if (csv_load_file(path, label, NULL, &tr, &lc, err) < 0)
        return NULL;
    if (test_path && csv_load_file(test_path, label, &tr, &te, &lc2, err) < 0)
        goto out;
    if (!(names = csv_classes(&tr, &k, &numeric, err)))
        goto out;
    if (!(ty = csv_label_numbers(&tr, path, names, k, numeric, err)))
        goto out;
    if (test_path && !(sy = csv_label_numbers(&te, test_path, names, k, numeric, err)))
        goto out;
    if (classes) {
        if (nclasses != k) {
            lb_error_set(err, "ValueError", 0, 0,
                         "classes= gives %d names but %s has %d classes (%s%s%s%s)", nclasses, path,
                         k, names[0], k > 1 ? ", " : "", k > 1 ? names[1] : "", k > 2 ? ", ..." : "");
            goto out;
        }
        for (int i = 0; i < k; i++) {
            char *c = strdup(classes[i]);
            if (!c) {
                lb_oom(err);
                goto out;
            }
            free(names[i]);
            names[i] = c;
        }
    }
    source s1 = {0}, s2 = {0};
    int64_t nf = (int64_t)tr.ncols - 1;
    if (ndim > 0) {
        int64_t prod = 1;
        for (int d = 0; d < ndim; d++)
            prod *= sample_shape[d];
        if (ndim > 3 || prod != nf) {
            lb_error_set(err, "ValueError", 0, 0,
                         "shape=: %s has %lld feature columns, the shape holds %lld values%s", path,
                         (long long)nf, (long long)prod, ndim > 3 ? " (and at most 3 dimensions)" : "");
            goto out;
        }
        s1.ndim = ndim;
        memcpy(s1.shape, sample_shape, (size_t)ndim * sizeof *sample_shape);
    } else {
        s1.ndim = 1;
        s1.shape[0] = nf;
    }
    s1.n = tr.n;
    s1.numel = nf;
    s1.f = tr.x;
    s1.labels = ty;
    s2 = s1;
    s2.n = te.n;
    s2.f = te.x;
    s2.labels = sy;
    char *src = NULL;
    if (test_path) {
        if (asprintf(&src, "%s, %s", path, test_path) < 0)
            src = NULL;
    } else {
        src = strdup(path);
    }
    ds = build(base_name(path), src, &s1, test_path ? &s2 : NULL, names, k, o, err);
    names = NULL; /* build took them */
out:
    if (names) {
        for (int i = 0; i < k; i++)
            free(names[i]);
        free(names);
    }
    free(ty);
    free(sy);
    (void)lc2;
    csv_data_free(&tr);
    csv_data_free(&te);
    return ds;
}

/* ---- fingerprint ---------------------------------------------------------------------------------- */

static void put_count(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, "all");
    else
        snprintf(buf, n, "%lld", (long long)v);
}

const char *lb_dataset_fingerprint(lb_dataset *ds)
{
    if (ds->fingerprint[0])
        return ds->fingerprint;
    lb_sha256 *ctx = lb_sha256_begin();
    if (!ctx)
        return "";
    char tr[32], te[32], line[512];
    put_count(tr, sizeof tr, ds->train_n);
    put_count(te, sizeof te, ds->test_n);
    int n = snprintf(line, sizeof line,
                     "labbook dataset 1\nname=%s\nvalid=%lld\ntrain=%s\ntest=%s\nseed=%llu\n"
                     "normalize=%s\n",
                     ds->name, (long long)ds->valid, tr, te, (unsigned long long)ds->seed,
                     ds->normalize ? "true" : "false");
    lb_sha256_add(ctx, line, (size_t)n);
    for (int i = 0; i < ds->nclasses; i++) {
        lb_sha256_add(ctx, "class=", 6);
        lb_sha256_add(ctx, ds->classes[i], strlen(ds->classes[i]));
        lb_sha256_add(ctx, "\n", 1);
    }
    for (int si = 0; si < ds->nsplits; si++) {
        const lb_split *s = &ds->splits[si];
        n = snprintf(line, sizeof line, "split=%s n=%lld shape=", s->name, (long long)s->n);
        for (int d = 0; d < s->ndim; d++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%lld", d ? "," : "",
                          (long long)s->shape[d]);
        n += snprintf(line + n, sizeof line - (size_t)n, "\n");
        lb_sha256_add(ctx, line, (size_t)n);
        /* int32 and float32 little-endian: the host order on every machine labbook runs on */
        _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fingerprint assumes little-endian");
        if (s->y)
            lb_sha256_add(ctx, s->y, (size_t)s->n * sizeof *s->y);
        lb_sha256_add(ctx, s->x, (size_t)(s->n * s->numel) * sizeof *s->x);
        /* data sets from fields: their declarations, targets and lengths too (today's image and
         * CSV sets hash as they always did) */
        for (int f = 0; ds->from_fields && f < ds->nfields; f++) {
            const lb_field *d = &ds->fields[f];
            n = snprintf(line, sizeof line, "field=%s type=%d target=%d ndim=%d shape=%lld,%lld,%lld pad=%.17g\n",
                         d->name, (int)d->type, (int)d->target, d->ndim, (long long)d->shape[0],
                         (long long)d->shape[1], (long long)d->shape[2], d->pad);
            lb_sha256_add(ctx, line, (size_t)n);
            if (s->len[f])
                lb_sha256_add(ctx, s->len[f], (size_t)s->n * sizeof *s->len[f]);
        }
        if (s->t)
            lb_sha256_add(ctx, s->t, (size_t)(s->n * s->tnumel) * sizeof *s->t);
    }
    lb_sha256_end(ctx, NULL, ds->fingerprint);
    return ds->fingerprint;
}

json_t *lb_dataset_record(lb_dataset *ds)
{
    json_t *o = json_object(), *classes = json_array(), *shape = json_array(), *splits = json_object();
    json_t *mean = ds->ngroups ? json_array() : json_null();
    json_t *std = ds->ngroups ? json_array() : json_null();
    if (!o || !classes || !shape || !splits || !mean || !std) {
        json_decref(o);
        json_decref(classes);
        json_decref(shape);
        json_decref(splits);
        json_decref(mean);
        json_decref(std);
        return NULL;
    }
    for (int i = 0; i < ds->nclasses; i++)
        json_array_append_new(classes, json_string(ds->classes[i]));
    for (int d = 0; d < ds->splits[0].ndim; d++)
        json_array_append_new(shape, json_integer(ds->splits[0].shape[d]));
    for (int i = 0; i < ds->nsplits; i++)
        json_object_set_new(splits, ds->splits[i].name, json_integer(ds->splits[i].n));
    for (int g = 0; g < ds->ngroups; g++) {
        json_array_append_new(mean, json_real(ds->mean[g]));
        json_array_append_new(std, json_real(ds->std[g]));
    }
    json_object_set_new(o, "name", json_string(ds->name));
    json_object_set_new(o, "source", json_string(ds->source));
    json_object_set_new(o, "fingerprint", json_string(lb_dataset_fingerprint(ds)));
    json_object_set_new(o, "seed", json_integer((json_int_t)ds->seed));
    json_object_set_new(o, "valid", json_integer(ds->valid));
    json_object_set_new(o, "train", ds->train_n < 0 ? json_null() : json_integer(ds->train_n));
    json_object_set_new(o, "test", ds->test_n < 0 ? json_null() : json_integer(ds->test_n));
    json_object_set_new(o, "normalize", json_boolean(ds->normalize));
    json_object_set_new(o, "mean", mean);
    json_object_set_new(o, "std", std);
    json_object_set_new(o, "classes", classes);
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "splits", splits);
    json_object_set_new(o, "task", json_string(ds->task));
    json_t *fields = json_array();
    for (int f = 0; fields && f < ds->nfields; f++) {
        const lb_field *d = &ds->fields[f];
        json_t *sh = json_array();
        for (int k = 0; k < d->ndim; k++)
            json_array_append_new(sh, d->shape[k] < 0 ? json_null() : json_integer(d->shape[k]));
        json_array_append_new(fields, json_pack("{s:s, s:s, s:s, s:o, s:f}", "name", d->name, "type",
                                                d->type == LB_FIELD_INT ? "int" : "float", "role",
                                                d->target ? "target" : "input", "shape", sh, "pad", d->pad));
    }
    json_object_set_new(o, "fields", fields ? fields : json_array());
    return o;
}

/* ---- epoch iterator ------------------------------------------------------------------------------- */

int lb_epoch_init(lb_epoch_iter *it, const lb_split *s, int64_t batch, bool shuffle,
                  bool drop_last, uint64_t seed, lb_error *err)
{
    memset(it, 0, sizeof *it);
    if (!s || s->n <= 0)
        return lb_error_set(err, "ValueError", 0, 0, "no samples to iterate over");
    if (batch < 1)
        return lb_error_set(err, "ValueError", 0, 0, "the batch size must be at least 1 (got %lld)",
                            (long long)batch);
    it->order = malloc((size_t)s->n * sizeof *it->order);
    it->idx = malloc((size_t)batch * sizeof *it->idx);
    if (!it->order || !it->idx) {
        free(it->order);
        free(it->idx);
        it->order = it->idx = NULL;
        return lb_oom(err);
    }
    it->split = s;
    it->batch = batch;
    it->shuffle = shuffle;
    it->drop_last = drop_last;
    it->seed = seed;
    it->rank = 0;
    it->nranks = 1;
    lb_epoch_start(it, 0);
    return 0;
}

void lb_epoch_share(lb_epoch_iter *it, int rank, int nranks)
{
    it->nranks = nranks < 1 ? 1 : nranks;
    it->rank = rank < 0 ? 0 : rank >= it->nranks ? it->nranks - 1 : rank;
}

void lb_epoch_free(lb_epoch_iter *it)
{
    if (!it)
        return;
    free(it->order);
    free(it->idx);
    memset(it, 0, sizeof *it);
}

void lb_epoch_start(lb_epoch_iter *it, int64_t epoch)
{
    const int64_t n = it->split->n;
    for (int64_t i = 0; i < n; i++)
        it->order[i] = i;
    if (it->shuffle)
        lb_data_shuffle(it->order, n, lb_epoch_seed(it->seed, epoch));
    it->epoch = epoch;
    it->pos = 0;
}

int64_t lb_epoch_batches(const lb_epoch_iter *it)
{
    const int64_t n = it->split->n;
    return it->drop_last ? n / it->batch : (n + it->batch - 1) / it->batch;
}

int64_t lb_epoch_next_idx(lb_epoch_iter *it, float *x, float *y, int32_t *yi, int64_t *idx)
{
    const lb_split *s = it->split;
    int64_t b = s->n - it->pos;
    if (b > it->batch)
        b = it->batch;
    if (b <= 0 || (it->drop_last && b < it->batch)) {
        it->pos = s->n;
        return 0;
    }
    /* this process's share of the global batch (all of it with one process) */
    int64_t lo = b * it->rank / it->nranks, hi = b * (it->rank + 1) / it->nranks;
    for (int64_t k = 0; k < hi - lo; k++) {
        int64_t i = it->order[it->pos + lo + k];
        if (x)
            memcpy(x + k * s->numel, s->x + i * s->numel, (size_t)s->numel * sizeof *x);
        if (y)
            y[k] = (float)s->y[i];
        if (yi)
            yi[k] = s->y[i];
        if (idx)
            idx[k] = i;
    }
    it->pos += b;
    it->global = b;
    return hi - lo;
}

int64_t lb_epoch_next(lb_epoch_iter *it, float *x, float *y, int32_t *yi)
{
    return lb_epoch_next_idx(it, x, y, yi, NULL);
}

int64_t lb_field_batch_numel(const lb_field *f, int64_t b) { return b * f->numel; }

struct lb_tensor *lb_batch_get(const lb_batch *b, const char *name)
{
    for (int i = 0; b && name && i < b->nfields; i++)
        if (strcmp(b->field[i]->name, name) == 0)
            return b->t[i];
    return NULL;
}

/* Sample i's values of field f (the start of its run in its block). */
static void field_values(const lb_split *s, const lb_field *f, int64_t i, float *out, int64_t nvals)
{
    if (f->block == LB_BLOCK_LABEL) {
        out[0] = (float)s->y[i];
        return;
    }
    const float *src = f->block == LB_BLOCK_X ? s->x + i * s->numel : s->t + i * s->tnumel;
    memcpy(out, src + f->offset, (size_t)nvals * sizeof *out);
}

int64_t lb_epoch_fields(lb_epoch_iter *it, const lb_dataset *ds, float *const *out, int64_t *lens)
{
    int64_t b = lb_epoch_next_idx(it, NULL, NULL, NULL, it->idx);
    const lb_split *s = it->split;
    for (int f = 0; f < ds->nfields && b > 0; f++) {
        const lb_field *d = &ds->fields[f];
        int64_t inner = d->ndim ? d->numel / d->maxlen : 1, L = d->ndim ? d->maxlen : 1;
        if (s->len[f]) { /* the batch's longest sample */
            L = 0;
            for (int64_t k = 0; k < b; k++)
                L = s->len[f][it->idx[k]] > L ? s->len[f][it->idx[k]] : L;
        }
        for (int64_t k = 0; k < b; k++) {
            float *o = out[f] + k * L * inner;
            int64_t have = s->len[f] ? s->len[f][it->idx[k]] * inner : L * inner;
            field_values(s, d, it->idx[k], o, have);
            for (int64_t q = have; q < L * inner; q++)
                o[q] = (float)d->pad;
        }
        if (lens)
            lens[f] = L;
    }
    return b;
}

/* ---- regression from CSV ------------------------------------------------------------------- */

/* The target column's texts as numbers; a DataError naming the file and line otherwise. */
static float *csv_targets(const csv_data *d, const char *path, const char *target, lb_error *err)
{
    float *t = malloc((size_t)d->n * sizeof *t + 1);
    if (!t) {
        lb_oom(err);
        return NULL;
    }
    for (int64_t i = 0; i < d->n; i++) {
        double v;
        if (!parse_num(d->labels[i], &v) || !isfinite(v) || isinf((float)v)) {
            lb_error_set(err, "DataError", 0, 0, "%s, line %d: the target column %s holds \"%.40s\", not a number",
                         path, d->lines[i], target, d->labels[i]);
            free(t);
            return NULL;
        }
        t[i] = (float)v;
    }
    return t;
}

lb_dataset *lb_csv_regression_load(const char *path, const char *target, const char *test_path,
                                   const lb_data_options *o, lb_error *err)
{
    csv_data tr = {0}, te = {0};
    size_t lc = 0, lc2 = 0;
    float *tt = NULL, *st = NULL;
    lb_dataset *ds = NULL;
    if (csv_load_file(path, target, NULL, &tr, &lc, err) < 0)
        return NULL;
    if (test_path && csv_load_file(test_path, target, &tr, &te, &lc2, err) < 0)
        goto out;
    if (!(tt = csv_targets(&tr, path, target, err)) || (test_path && !(st = csv_targets(&te, test_path, target, err))))
        goto out;
    int64_t nf = (int64_t)tr.ncols - 1;
    lb_fields_file f1 = {.n = tr.n, .x = tr.x, .xndim = 1, .xshape = {nf}, .t = tt, .tnumel = 1};
    lb_fields_file f2 = f1;
    f2.n = te.n;
    f2.x = te.x;
    f2.t = st;
    lb_field fields[2] = {{.name = "x", .type = LB_FIELD_FLOAT, .ndim = 1, .shape = {nf}, .block = LB_BLOCK_X},
                          {.name = "y", .type = LB_FIELD_FLOAT, .target = true, .block = LB_BLOCK_T}};
    char *src = NULL;
    if (test_path ? asprintf(&src, "%s, %s", path, test_path) < 0 : !(src = strdup(path)))
        src = NULL;
    ds = lb_dataset_from_fields(base_name(path), src, fields, 2, "regress", NULL, 0, &f1, test_path ? &f2 : NULL, o, err);
out:
    free(tt);
    free(st);
    csv_data_free(&tr);
    csv_data_free(&te);
    return ds;
}
