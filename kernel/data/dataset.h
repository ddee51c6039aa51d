/* dataset.h — data sets for training: splits of float32 samples [N, C, H, W] with integer
 * labels and class names, read from IDX files (gz or raw; Fashion-MNIST from Debian's
 * dataset-fashion-mnist) or CSV; seeded train/valid splits and subsets; normalisation with
 * the training split's statistics; a SHA-256 fingerprint for run records; and a seeded epoch
 * iterator that fills the caller's batch buffers. spec/language.md §"Data" documents the
 * user side and the exact algorithms (a PyTorch script can reproduce every order).
 *
 * For the trainer:
 *     lb_dataset *ds; const lb_split *s;
 *     if (!lb_data_from_value(v, &ds, &s)) ...      // `f` (s = NULL) or `f.test`
 *     const lb_split *tr = lb_dataset_split(ds, "train"), *va = lb_dataset_split(ds, "valid");
 *     lb_epoch_iter it;
 *     lb_epoch_init(&it, tr, 64, true, false, seed, err);     // order buffer allocated once
 *     float *x = malloc(64 * tr->numel * sizeof *x), *y = malloc(64 * sizeof *y);
 *     for (int64_t e = 0; e < epochs; e++) {
 *         lb_epoch_start(&it, e);                              // epoch e's permutation
 *         int64_t b;
 *         while ((b = lb_epoch_next(&it, x, y, NULL)) > 0) ... // shape [b, C, H, W]
 *     }
 *     lb_epoch_free(&it);
 * Evaluation needs no copy: a split's samples are contiguous, so batch k of size B is
 * x + k * B * numel (labels y + k * B); or use an iterator with shuffle = false.
 * Hold a reference to the labbook value (v) while using ds: the value owns the data. */
#ifndef LB_DATASET_H
#define LB_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"

/* ---- fields ---------------------------------------------------------------------------------------
 * A data set declares its fields: what one sample is made of, by name. A model's inputs are
 * fed from the fields of the same names; a task reads its targets from them. Image and CSV
 * classification data sets have two: "x" (float, the sample's shape) and "y" (int, one class
 * per sample). The values sit in a split's blocks: X (float inputs, numel per sample), T
 * (float targets, tnumel per sample) or the class labels y; a field is a run of values at
 * `offset` in its sample's row of its block. A variable first dimension (shape[0] == -1) is
 * stored at its largest length with each sample's own length in split->len[field]; batches
 * are padded with `pad` to their longest sample (lb_epoch_fields). */
#define LB_MAX_FIELDS 6

typedef enum { LB_FIELD_FLOAT = 0, LB_FIELD_INT = 1 } lb_field_type;
typedef enum { LB_BLOCK_X = 0, LB_BLOCK_T = 1, LB_BLOCK_LABEL = 2 } lb_block;

typedef struct lb_field {
    char name[24];
    lb_field_type type;  /* int values are whole numbers (class ids, token ids), carried as floats */
    bool target;         /* false: a model input */
    int ndim;            /* 0 (one value per sample) to 3 */
    int64_t shape[3];    /* -1 first: a variable dimension */
    int64_t maxlen;      /* a variable dimension's largest length (else shape[0]) */
    double pad;          /* value of padded positions; for int targets the ignore index too */
    lb_block block;
    int64_t offset;      /* of the field's first value in its sample's row of the block */
    int64_t numel;       /* values per sample as stored (a variable dimension at maxlen) */
} lb_field;

/* ---- splits and data sets -------------------------------------------------------------------- */

typedef struct lb_split {
    const char *name;   /* "train", "valid" or "test" */
    int64_t n;          /* number of samples */
    int ndim;           /* sample dims as shown to the user: 1 ([F]) to 3 ([C, H, W]) */
    int64_t shape[3];   /* the sample shape, ndim entries */
    int64_t c, h, w;    /* the same shape as [C, H, W] (left-padded with 1: [F] is [1, 1, F]) */
    int64_t numel;      /* floats per sample, c * h * w */
    float *x;           /* n * numel floats, row-major [N, C, H, W]: sample i at x + i * numel */
    int32_t *y;         /* n labels, each in [0, nclasses) */
    int64_t *src;       /* sample i's 0-based position in its source file (ascending) */
    int64_t *counts;    /* samples per class, nclasses entries */
    float *t;           /* NULL, or n * tnumel float targets (block T) */
    int64_t tnumel;
    int64_t *len[LB_MAX_FIELDS]; /* variable fields: each sample's length; NULL for the others */
} lb_split;

typedef struct lb_dataset {
    char *name;         /* "fashion_mnist", or the file name for idx()/csv() */
    char *source;       /* where it came from (a directory or the file names) */
    int nclasses;
    char **classes;     /* class names, nclasses entries */
    lb_split *splits;   /* nsplits entries, in the order train, valid, test (absent ones left out) */
    int nsplits;
    /* settings (what the user asked for) */
    int64_t valid;      /* samples held out of the training file (0: no valid split) */
    int64_t train_n;    /* -1: all the rest of the training file; else a seeded subset */
    int64_t test_n;     /* -1: all of the test file; else a seeded subset */
    uint64_t seed;      /* of the split and the subsets */
    bool normalize;
    bool unit_scaled;   /* values were bytes scaled to [0, 1] (x / 255) */
    /* normalisation: x = (v - mean[g]) / std[g] in float32, per group g: per channel for
     * [C, H, W] samples (ngroups = C), per feature for flat [F] samples (ngroups = F).
     * ngroups = 0 when not normalised. */
    int ngroups;
    float *mean, *std;
    char fingerprint[65]; /* hex SHA-256, "" until lb_dataset_fingerprint computed it */
    lb_field fields[LB_MAX_FIELDS];
    int nfields;
    bool from_fields;   /* made by lb_dataset_from_fields */
    char task[24];      /* the task its data calls for by default: "classify", "regress", ... */
} lb_dataset;

void lb_dataset_free(lb_dataset *ds);
/* The split "train", "valid" or "test", or NULL when the data set has none. */
const lb_split *lb_dataset_split(const lb_dataset *ds, const char *name);
/* The field `name` (its index in *index, may be NULL), or NULL. */
const lb_field *lb_dataset_field(const lb_dataset *ds, const char *name, int *index);

/* The hex SHA-256 fingerprint (64 characters) over the settings and every split's labels
 * and values (spec/language.md §"Data"); computed on first use, then cached. */
const char *lb_dataset_fingerprint(lb_dataset *ds);

/* What a run record keeps of a data set: a new JSON object {"name", "source", "fingerprint",
 * "seed", "valid", "train" (subset size or null), "test" (subset size or null), "normalize",
 * "mean", "std" (arrays, one per group; null when not normalised), "classes", "shape",
 * "splits": {"train": N, ...}}. NULL on OOM. */
json_t *lb_dataset_record(lb_dataset *ds);

/* ---- loading ------------------------------------------------------------------------------------ */

typedef struct lb_data_options {
    int64_t valid;      /* samples of the training file held out as the valid split; 0: none */
    double valid_fraction; /* used instead when > 0: round(valid_fraction * N) samples */
    int64_t train;      /* -1: every remaining sample; else a seeded subset of this size */
    int64_t test;       /* -1: the whole test file; else a seeded subset of this size */
    uint64_t seed;
    bool normalize;     /* standardise with the training split's mean and std */
} lb_data_options;

#define LB_DATA_OPTIONS_INIT {.valid = 0, .valid_fraction = 0, .train = -1, .test = -1, .seed = 0, \
                              .normalize = true}

/* Where Fashion-MNIST is read from by default (the Debian package's directory). */
#define LB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
extern const char *const lb_fashion_mnist_classes[10];

/* Fashion-MNIST from dir (NULL: LB_FASHION_MNIST_DIR): {train,t10k}-{images-idx3,labels-idx1}-
 * ubyte.gz (or the same names without .gz). Missing files give a FileNotFoundError that names
 * the Debian package. */
lb_dataset *lb_fashion_mnist_load(const char *dir, const lb_data_options *o, lb_error *err);

/* Any IDX image + label files (test_* may be NULL). classes (may be NULL) names the labels
 * 0..nclasses-1; otherwise the names are "0", "1", ... up to the largest label. */
lb_dataset *lb_idx_dataset_load(const char *images, const char *labels, const char *test_images,
                                const char *test_labels, const char *const *classes, int nclasses,
                                const lb_data_options *o, lb_error *err);

/* A CSV file with a header row: the column `label` holds the classes, every other column a
 * number. test_path (may be NULL) is a second file with the same columns. sample_shape (may
 * be NULL, ndim 0) reshapes the features (their count must match). classes (may be NULL)
 * renames the classes found (sorted) one for one. */
lb_dataset *lb_csv_dataset_load(const char *path, const char *label, const char *test_path,
                                int ndim, const int64_t *sample_shape, const char *const *classes,
                                int nclasses, const lb_data_options *o, lb_error *err);

/* A data set from fields (for data sources beyond image/CSV classification): one file's samples
 * as blocks, each nfields field placed in a block (offset, numel filled in here; maxlen of a
 * variable field from its lengths, over both files). X is normalised per group as for CSV (flat
 * samples) or images ([C, H, W]: per channel) when o->normalize and every input is float. labels (may be NULL) are classes in
 * [0, nclasses). Takes name, source and classes. */
typedef struct lb_fields_file {
    int64_t n;
    const float *x;      /* n * xnumel */
    int xndim;           /* X's sample shape as shown ([F] or [C, H, W]) */
    int64_t xshape[3];
    const float *t;      /* n * tnumel, or NULL */
    int64_t tnumel;
    const int32_t *labels;
    const int64_t *len[LB_MAX_FIELDS]; /* variable fields: per-sample lengths */
} lb_fields_file;
lb_dataset *lb_dataset_from_fields(char *name, char *source, const lb_field *fields, int nfields,
                                   const char *task, char **classes, int nclasses,
                                   const lb_fields_file *train, const lb_fields_file *test,
                                   const lb_data_options *o, lb_error *err);

/* Regression from a CSV file with a header row: the column `target` holds a number per row
 * (field "y", float), every other column a feature (field "x", float [F]); task "regress".
 * test_path (may be NULL) is a second file with the same columns. */
lb_dataset *lb_csv_regression_load(const char *path, const char *target, const char *test_path,
                                   const lb_data_options *o, lb_error *err);

/* Generated data (generated.c; spec/language.md §"Generated data"): n training samples (valid
 * held out of them as for files) and ntest test samples, from o->seed.
 * shapes: images "x" [1, size, size] of a square and a disc on a noisy background, labels "y"
 * [size, size] (0 background, 1 square, 2 disc, 255 ignored boundary); task "segment".
 * pairs: inputs "a" [8] and "b" [4] from two hidden classes, label "y" their sum mod classes;
 * task "classify". */
lb_dataset *lb_shapes_load(int64_t n, int64_t ntest, int64_t size, double noise, const lb_data_options *o,
                           lb_error *err);
lb_dataset *lb_pairs_load(int64_t n, int64_t ntest, int classes, double noise, const lb_data_options *o,
                          lb_error *err);

/* ---- epoch iterator ---------------------------------------------------------------------------- */

typedef struct lb_epoch_iter {
    const lb_split *split;
    int64_t batch;      /* batch size */
    bool shuffle;       /* false: file order every epoch (evaluation) */
    bool drop_last;     /* drop the last partial batch */
    uint64_t seed;
    int64_t epoch;      /* the epoch lb_epoch_start set */
    int64_t pos;        /* next position in order */
    int64_t *order;     /* split->n sample indices */
    int rank, nranks;   /* this process's share of every batch (lb_epoch_share); 0 of 1 */
    int64_t global;     /* the size of the last global batch (all processes' shares) */
    int64_t *idx;       /* the last batch's sample indices (batch entries) */
} lb_epoch_iter;

/* Allocates the order buffer (the only allocation) and starts epoch 0. -1 with *err on a bad
 * batch size or out of memory. */
int lb_epoch_init(lb_epoch_iter *it, const lb_split *s, int64_t batch, bool shuffle,
                  bool drop_last, uint64_t seed, lb_error *err);
void lb_epoch_free(lb_epoch_iter *it);
/* Starts epoch `epoch` (0-based; any order of calls): sets its permutation and rewinds. */
void lb_epoch_start(lb_epoch_iter *it, int64_t epoch);
/* Batches in one epoch. */
int64_t lb_epoch_batches(const lb_epoch_iter *it);
/* Data-parallel training (room for it; nothing distributed is built yet, spec/architecture.md):
 * process `rank` of `nranks` takes its share of every global batch, the samples
 * [B rank / nranks, B (rank + 1) / nranks) of it in the same order, so that the shares of all
 * processes together are the one-process batch and every process sees the same number of
 * batches. lb_epoch_next then returns the share's size (0 for a process whose share of a
 * short last batch is empty: test it->pos < split->n for the end of the epoch, not the
 * return value). */
void lb_epoch_share(lb_epoch_iter *it, int rank, int nranks);
/* Fills the next batch: x (batch * numel floats), labels as floats (y, ops' convention) and/or
 * as int32 (yi); any of the three may be NULL. Returns the batch's size, 0 at the end of the
 * epoch. `idx` variant: also the split indices of the batch's samples (may be NULL). */
int64_t lb_epoch_next(lb_epoch_iter *it, float *x, float *y, int32_t *yi);
int64_t lb_epoch_next_idx(lb_epoch_iter *it, float *x, float *y, int32_t *yi, int64_t *idx);

/* A batch: the data set's fields as tensors [n, *shape] (variable dimensions at the batch's
 * longest sample), by name. The trainer wraps the buffers lb_epoch_fields filled; tasks read
 * their targets from it (plugin tasks through the host table's batch_field). */
struct lb_tensor;
typedef struct lb_batch {
    int64_t n;
    int nfields;
    const lb_field *field[LB_MAX_FIELDS];
    struct lb_tensor *t[LB_MAX_FIELDS];
} lb_batch;

/* The tensor of field `name`, or NULL. */
struct lb_tensor *lb_batch_get(const lb_batch *b, const char *name);

/* Values of field f in a batch of b samples at most (a variable dimension at its longest). */
int64_t lb_field_batch_numel(const lb_field *f, int64_t b);
/* The next batch, every field of ds: out[f] (lb_field_batch_numel floats) receives field f's
 * values [b, *shape], int values as exact floats; a variable first dimension is padded with
 * the field's pad to the batch's longest sample, whose length goes to lens[f] (lens may be
 * NULL; fixed fields get shape[0], or 1 for ndim 0). Returns the batch's size, 0 at the end. */
int64_t lb_epoch_fields(lb_epoch_iter *it, const lb_dataset *ds, float *const *out, int64_t *lens);

/* The documented permutations (spec/language.md §"Data"):
 * lb_data_shuffle: Fisher–Yates on order[0..n) with PCG32 seeded with seed: for i = n-1 down
 * to 1, j = lb_rng_below(rng, i + 1), swap order[i] and order[j].
 * lb_epoch_seed: the seed of epoch e's shuffle, SplitMix64 output number e+1 from seed:
 * z = seed + (e + 1) * 0x9E3779B97F4A7C15, z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9,
 * z = (z ^ z >> 27) * 0x94D049BB133111EB, z ^ z >> 31 (all mod 2^64). */
void lb_data_shuffle(int64_t *order, int64_t n, uint64_t seed);
uint64_t lb_epoch_seed(uint64_t seed, int64_t epoch);

/* ---- file readers (for the loaders and the tests) --------------------------------------------- */

enum {
    LB_IDX_UBYTE = 0x08,
    LB_IDX_BYTE = 0x09,
    LB_IDX_SHORT = 0x0B,
    LB_IDX_INT = 0x0C,
    LB_IDX_FLOAT = 0x0D,
    LB_IDX_DOUBLE = 0x0E
};

/* An IDX array (http://yann.lecun.com/exdb/mnist/ format: 0 0 dtype ndim, big-endian u32 dims,
 * big-endian data), read whole from a gz or raw file. */
typedef struct lb_idx {
    int dtype;          /* LB_IDX_* */
    int ndim;           /* 1..4 */
    int64_t dims[4];
    int64_t count;      /* product of dims */
    void *data;         /* count elements of the dtype, in host byte order */
} lb_idx;

/* The most bytes a data file may hold (on disk, and unpacked): LABBOOK_MAX_DATA (a number of
 * bytes, or with K, M or G), else half of this machine's memory. Data files must also be regular
 * files: a device (/dev/zero), a pipe or a directory is refused before it is opened. */
int64_t lb_data_max_bytes(void);

int lb_idx_read(const char *path, lb_idx *a, lb_error *err);
void lb_idx_free(lb_idx *a);
size_t lb_idx_dtype_size(int dtype); /* 0 for an unknown dtype */
const char *lb_idx_dtype_name(int dtype);
double lb_idx_get(const lb_idx *a, int64_t i); /* element i as a double */

/* A CSV file read row by row (gz or plain). Quoted cells ("a, b", "say ""hi""", also across
 * lines) are unquoted; blank lines are skipped; cells are trimmed of spaces and tabs. */
typedef struct lb_csv {
    char *text;         /* the whole file; cells are unquoted and ended in place */
    size_t len, pos;
    int line;           /* 1-based line where the next row starts */
    char *name;         /* file name for messages */
    char **cells;       /* the current row's cells, valid until the next lb_csv_next */
    size_t ncells, cap;
    int row_line;       /* line of the current row */
} lb_csv;

int lb_csv_open(lb_csv *c, const char *path, lb_error *err);
int lb_csv_open_text(lb_csv *c, const char *text, size_t len, const char *name, lb_error *err);
/* The next row: 1 with cells/ncells/row_line set, 0 at the end, -1 with *err. */
int lb_csv_next(lb_csv *c, lb_error *err);
void lb_csv_close(lb_csv *c);

#endif
