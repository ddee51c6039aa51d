/* test_data.c — unit tests of the data sets (kernel/data/dataset.c, kernel/data/data_io.c): IDX files of
 * every dtype (gz and raw) and their errors, CSV parsing and its errors, seeded splits and
 * subsets, normalisation statistics, the epoch iterator (every sample once per epoch, the
 * documented Fisher-Yates order), the fingerprint, and the real Fashion-MNIST (sizes, time). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "data/dataset.h"

static char dir[64];

static char *path_of(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *name, const void *data, size_t n, bool gz)
{
    if (gz) {
        gzFile f = gzopen(path_of(name), "wb");
        CHECK(f != NULL);
        if (n)
            CHECK(gzwrite(f, data, (unsigned)n) == (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path_of(name), "wb");
        CHECK(f != NULL);
        if (n)
            CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static void write_text(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text), false);
}

/* An IDX file: header + values converted to the dtype, big-endian. */
static size_t make_idx(unsigned char *out, int dtype, int ndim, const uint32_t *dims,
                       const double *values)
{
    size_t o = 0;
    out[o++] = 0;
    out[o++] = 0;
    out[o++] = (unsigned char)dtype;
    out[o++] = (unsigned char)ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        out[o++] = (unsigned char)(dims[d] >> 24);
        out[o++] = (unsigned char)(dims[d] >> 16);
        out[o++] = (unsigned char)(dims[d] >> 8);
        out[o++] = (unsigned char)dims[d];
        count *= dims[d];
    }
    for (size_t i = 0; i < count; i++) {
        unsigned char b[8];
        size_t n = lb_idx_dtype_size(dtype);
        switch (dtype) {
        case LB_IDX_UBYTE: b[0] = (unsigned char)values[i]; break;
        case LB_IDX_BYTE: b[0] = (unsigned char)(int8_t)values[i]; break;
        case LB_IDX_SHORT: {
            uint16_t v = (uint16_t)(int16_t)values[i];
            b[0] = (unsigned char)(v >> 8);
            b[1] = (unsigned char)v;
            break;
        }
        case LB_IDX_INT: {
            uint32_t v = (uint32_t)(int32_t)values[i];
            for (int k = 0; k < 4; k++)
                b[k] = (unsigned char)(v >> (24 - 8 * k));
            break;
        }
        case LB_IDX_FLOAT: {
            float f = (float)values[i];
            uint32_t v;
            memcpy(&v, &f, 4);
            for (int k = 0; k < 4; k++)
                b[k] = (unsigned char)(v >> (24 - 8 * k));
            break;
        }
        case LB_IDX_DOUBLE: {
            uint64_t v;
            memcpy(&v, &values[i], 8);
            for (int k = 0; k < 8; k++)
                b[k] = (unsigned char)(v >> (56 - 8 * k));
            break;
        }
        }
        memcpy(out + o, b, n);
        o += n;
    }
    return o;
}

static void test_idx_dtypes(void)
{
    static const int dtypes[] = {LB_IDX_UBYTE, LB_IDX_BYTE, LB_IDX_SHORT, LB_IDX_INT, LB_IDX_FLOAT,
                                 LB_IDX_DOUBLE};
    const double ub[6] = {0, 1, 127, 128, 200, 255};
    const double sb[6] = {-128, -1, 0, 1, 100, 127};
    const double sh[6] = {-32768, -300, 0, 1, 258, 32767};
    const double in[6] = {-2147483648.0, -70000, 0, 1, 65537, 2147483647.0};
    const double fl[6] = {-1.5, 0.25, 0, 3.0e10, 1e-20, 7};
    const double db[6] = {-1.0 / 3, 1e300, 0, 2.5, -0.0, 123456789.123};
    const double *vals[] = {ub, sb, sh, in, fl, db};
    uint32_t dims[2] = {2, 3};
    unsigned char buf[128];
    for (int t = 0; t < 6; t++) {
        for (int gz = 0; gz < 2; gz++) {
            size_t n = make_idx(buf, dtypes[t], 2, dims, vals[t]);
            write_bytes(gz ? "a.idx.gz" : "a.idx", buf, n, gz);
            lb_idx a;
            lb_error err = {0};
            CHECK_INT(lb_idx_read(path_of(gz ? "a.idx.gz" : "a.idx"), &a, &err), 0);
            CHECK(!lb_error_is_set(&err));
            CHECK_INT(a.dtype, dtypes[t]);
            CHECK_INT(a.ndim, 2);
            CHECK_INT(a.dims[0], 2);
            CHECK_INT(a.dims[1], 3);
            CHECK_INT(a.count, 6);
            for (int i = 0; i < 6; i++) {
                double want = dtypes[t] == LB_IDX_FLOAT ? (double)(float)vals[t][i] : vals[t][i];
                CHECK(lb_idx_get(&a, i) == want);
            }
            lb_idx_free(&a);
        }
    }
}

static void expect_idx_error(const char *file, const char *ename, const char *needle)
{
    lb_idx a;
    lb_error err = {0};
    CHECK_INT(lb_idx_read(path_of(file), &a, &err), -1);
    CHECK_STR(err.ename, ename);
    if (!err.evalue || !strstr(err.evalue, needle))
        fprintf(stderr, "  message lacks '%s': %s\n", needle, err.evalue ? err.evalue : "(none)");
    CHECK(err.evalue && strstr(err.evalue, needle));
    CHECK(a.data == NULL);
    lb_error_clear(&err);
}

static void test_idx_errors(void)
{
    unsigned char buf[256];
    uint32_t dims[3] = {4, 2, 2};
    double v[16] = {0};
    size_t n = make_idx(buf, LB_IDX_UBYTE, 3, dims, v);
    /* bad magic: a gzip header read raw, an unknown type, zero dimensions */
    unsigned char bad[20];
    memcpy(bad, buf, n < 20 ? n : 20);
    bad[0] = 1;
    write_bytes("bad1", bad, 20, false);
    expect_idx_error("bad1", "DataError", "not an IDX file: the magic number is 01 00 08 03");
    memcpy(bad, buf, 20);
    bad[2] = 0x0A;
    write_bytes("bad2", bad, 20, true);
    expect_idx_error("bad2", "DataError", "not an IDX file");
    memcpy(bad, buf, 20);
    bad[3] = 0;
    write_bytes("bad3", bad, 20, false);
    expect_idx_error("bad3", "DataError", "not an IDX file");
    write_bytes("empty", buf, 0, false);
    expect_idx_error("empty", "DataError", "(empty)");
    /* truncated: data cut short (raw and gz), header cut short */
    write_bytes("cut", buf, n - 3, false);
    expect_idx_error("cut", "DataError", "truncated IDX file: the header announces ubyte [4, 2, 2] (16 bytes of data), the file holds 13");
    write_bytes("cut.gz", buf, n - 3, true);
    expect_idx_error("cut.gz", "DataError", "the file holds 13");
    write_bytes("cuthead", buf, 9, false);
    expect_idx_error("cuthead", "DataError", "the header is cut short");
    /* a gz file cut in the middle of its stream */
    unsigned char big[4096 + 16];
    uint32_t bd[1] = {4096};
    double *bv = calloc(4096, sizeof *bv);
    for (int i = 0; i < 4096; i++)
        bv[i] = (i * 7919) % 251;
    size_t bn = make_idx(big, LB_IDX_UBYTE, 1, bd, bv);
    free(bv);
    write_bytes("whole.gz", big, bn, true);
    FILE *f = fopen(path_of("whole.gz"), "rb");
    unsigned char gzb[8192];
    size_t gn = fread(gzb, 1, sizeof gzb, f);
    fclose(f);
    CHECK(gn > 100);
    write_bytes("broken.gz", gzb, gn / 2, false);
    expect_idx_error("broken.gz", "DataError", "broken.gz");
    expect_idx_error("does-not-exist.gz", "FileNotFoundError", "no such file");
}

/* Images [n, 2, 3] ubyte with sample i's pixels i*6+k (mod 256) and labels i % 3. */
static void write_small_idx(int n, bool gz)
{
    unsigned char *buf = malloc(16 + (size_t)n * 6 + 64);
    double *v = malloc((size_t)n * 6 * sizeof *v);
    for (int i = 0; i < n * 6; i++)
        v[i] = (double)(i % 256);
    uint32_t dims[3] = {(uint32_t)n, 2, 3};
    size_t len = make_idx(buf, LB_IDX_UBYTE, 3, dims, v);
    write_bytes(gz ? "img.gz" : "img", buf, len, gz);
    for (int i = 0; i < n; i++)
        v[i] = i % 3;
    uint32_t ld[1] = {(uint32_t)n};
    len = make_idx(buf, LB_IDX_UBYTE, 1, ld, v);
    write_bytes(gz ? "lab.gz" : "lab", buf, len, gz);
    free(buf);
    free(v);
}

static lb_dataset *load_small(const lb_data_options *o, bool test)
{
    lb_error err = {0};
    lb_dataset *ds = lb_idx_dataset_load(path_of("img.gz"), path_of("lab.gz"),
                                         test ? path_of("img") : NULL, test ? path_of("lab") : NULL,
                                         NULL, 0, o, &err);
    if (!ds)
        fprintf(stderr, "  load: %s: %s\n", err.ename, err.evalue);
    lb_error_clear(&err);
    return ds;
}

static void test_split_and_subset(void)
{
    write_small_idx(40, true);
    write_small_idx(40, false);
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid = 10;
    o.seed = 3;
    o.normalize = false;
    lb_dataset *a = load_small(&o, true), *b = load_small(&o, true);
    CHECK(a && b);
    if (!a || !b)
        return;
    CHECK_INT(a->nsplits, 3);
    const lb_split *tr = lb_dataset_split(a, "train"), *va = lb_dataset_split(a, "valid"),
                   *te = lb_dataset_split(a, "test");
    CHECK_INT(tr->n, 30);
    CHECK_INT(va->n, 10);
    CHECK_INT(te->n, 40);
    CHECK_INT(tr->ndim, 3);
    CHECK_INT(tr->shape[0], 1);
    CHECK_INT(tr->shape[1], 2);
    CHECK_INT(tr->shape[2], 3);
    CHECK_INT(tr->numel, 6);
    CHECK_INT(a->nclasses, 3);
    CHECK_STR(a->classes[2], "2");
    /* the documented selection: valid = first 10 of Fisher-Yates(seed 3), sorted */
    int64_t perm[40];
    for (int i = 0; i < 40; i++)
        perm[i] = i;
    lb_data_shuffle(perm, 40, 3);
    bool seen[40] = {0};
    for (int i = 0; i < 10; i++)
        seen[perm[i]] = true;
    int64_t prev = -1;
    for (int64_t i = 0; i < va->n; i++) {
        CHECK(seen[va->src[i]]);
        CHECK(va->src[i] > prev);
        prev = va->src[i];
    }
    prev = -1;
    for (int64_t i = 0; i < tr->n; i++) {
        CHECK(!seen[tr->src[i]]);
        CHECK(tr->src[i] > prev);
        prev = tr->src[i];
        /* labels and values follow their source row; bytes scaled by 1/255 */
        CHECK_INT(tr->y[i], tr->src[i] % 3);
        for (int k = 0; k < 6; k++)
            CHECK(tr->x[i * 6 + k] == (float)((tr->src[i] * 6 + k) % 256) / 255.0f);
    }
    int64_t cnt = 0;
    for (int c = 0; c < 3; c++)
        cnt += tr->counts[c];
    CHECK_INT(cnt, 30);
    /* same seed, same split; another seed, another */
    CHECK(memcmp(a->splits[1].src, b->splits[1].src, 10 * sizeof(int64_t)) == 0);
    CHECK_STR(lb_dataset_fingerprint(a), lb_dataset_fingerprint(b));
    lb_dataset_free(b);
    o.seed = 4;
    b = load_small(&o, true);
    CHECK(memcmp(a->splits[1].src, b->splits[1].src, 10 * sizeof(int64_t)) != 0);
    CHECK(strcmp(lb_dataset_fingerprint(a), lb_dataset_fingerprint(b)) != 0);
    lb_dataset_free(b);
    /* subsets: train = the next 12 of the permutation after valid; test = first 5 of a shuffle */
    o.seed = 3;
    o.train = 12;
    o.test = 5;
    b = load_small(&o, true);
    CHECK_INT(b->splits[0].n, 12);
    CHECK_INT(b->splits[2].n, 5);
    CHECK(memcmp(a->splits[1].src, b->splits[1].src, 10 * sizeof(int64_t)) == 0);
    bool in_sub[40] = {0};
    for (int i = 10; i < 22; i++)
        in_sub[perm[i]] = true;
    for (int64_t i = 0; i < 12; i++)
        CHECK(in_sub[b->splits[0].src[i]]);
    int64_t tp[40];
    for (int i = 0; i < 40; i++)
        tp[i] = i;
    lb_data_shuffle(tp, 40, 3);
    bool in_test[40] = {0};
    for (int i = 0; i < 5; i++)
        in_test[tp[i]] = true;
    for (int64_t i = 0; i < 5; i++)
        CHECK(in_test[b->splits[2].src[i]]);
    lb_dataset_free(b);
    /* a fraction; no valid split; errors */
    lb_data_options f = LB_DATA_OPTIONS_INIT;
    f.valid_fraction = 0.25;
    b = load_small(&f, false);
    CHECK_INT(b->splits[1].n, 10);
    CHECK_INT(b->nsplits, 2);
    lb_dataset_free(b);
    f = (lb_data_options)LB_DATA_OPTIONS_INIT;
    b = load_small(&f, false);
    CHECK_INT(b->nsplits, 1);
    CHECK(lb_dataset_split(b, "valid") == NULL);
    CHECK_INT(b->splits[0].n, 40);
    for (int64_t i = 0; i < 40; i++)
        CHECK_INT(b->splits[0].src[i], i);
    lb_dataset_free(b);
    lb_error err = {0};
    f.valid = 40;
    CHECK(lb_idx_dataset_load(path_of("img"), path_of("lab"), NULL, NULL, NULL, 0, &f, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "valid=40 leaves no training samples"));
    lb_error_clear(&err);
    f.valid = 10;
    f.train = 31;
    CHECK(lb_idx_dataset_load(path_of("img"), path_of("lab"), NULL, NULL, NULL, 0, &f, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "train=31 is more than the 30 samples left"));
    lb_error_clear(&err);
    /* labels: count mismatch, out of range for the given classes */
    f = (lb_data_options)LB_DATA_OPTIONS_INIT;
    const char *two[2] = {"a", "b"};
    CHECK(lb_idx_dataset_load(path_of("img"), path_of("lab"), NULL, NULL, two, 2, &f, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "label 2 of sample 2 is out of range for 2 classes"));
    lb_error_clear(&err);
    CHECK(lb_idx_dataset_load(path_of("img"), path_of("img"), NULL, NULL, NULL, 0, &f, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "one number per sample"));
    lb_error_clear(&err);
    lb_dataset_free(a);
}

static void test_normalisation(void)
{
    write_small_idx(40, true);
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid = 8;
    lb_dataset *ds = load_small(&o, false);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_INT(ds->ngroups, 1);
    const lb_split *tr = &ds->splits[0];
    /* the statistics are those of the training split's [0, 1] values */
    double s = 0, q = 0;
    for (int64_t i = 0; i < tr->n; i++)
        for (int k = 0; k < 6; k++) {
            double v = (float)((tr->src[i] * 6 + k) % 256) / 255.0f;
            s += v;
            q += v * v;
        }
    double cnt = (double)tr->n * 6, m = s / cnt, sd = sqrt(q / cnt - m * m);
    CHECK_NEAR(ds->mean[0], m, 1e-6);
    CHECK_NEAR(ds->std[0], sd, 1e-6);
    /* x = (v - mean) / std in float32, for every split */
    for (int si = 0; si < 2; si++) {
        const lb_split *sp = &ds->splits[si];
        for (int64_t i = 0; i < sp->n; i++)
            for (int k = 0; k < 6; k++) {
                float v = (float)((sp->src[i] * 6 + k) % 256) / 255.0f;
                CHECK(sp->x[i * 6 + k] == (v - ds->mean[0]) / ds->std[0]);
            }
    }
    /* the normalised training split has mean 0 and std 1 */
    s = q = 0;
    for (int64_t i = 0; i < tr->n * 6; i++) {
        s += tr->x[i];
        q += (double)tr->x[i] * tr->x[i];
    }
    CHECK_NEAR(s / cnt, 0, 1e-5);
    CHECK_NEAR(sqrt(q / cnt - (s / cnt) * (s / cnt)), 1, 1e-5);
    lb_dataset_free(ds);

    /* per channel for [C, H, W]: two channels with different ranges; a constant channel */
    uint32_t dims[4] = {4, 2, 1, 2};
    double v[16];
    for (int i = 0; i < 4; i++) {
        v[i * 4 + 0] = 10 + i;
        v[i * 4 + 1] = 10 - i;
        v[i * 4 + 2] = 5; /* channel 1 is constant */
        v[i * 4 + 3] = 5;
    }
    unsigned char buf[128];
    size_t n = make_idx(buf, LB_IDX_SHORT, 4, dims, v);
    write_bytes("c2", buf, n, false);
    double lab[4] = {0, 1, 0, 1};
    uint32_t ld[1] = {4};
    n = make_idx(buf, LB_IDX_INT, 1, ld, lab);
    write_bytes("c2lab", buf, n, false);
    lb_data_options d = LB_DATA_OPTIONS_INIT;
    lb_error err = {0};
    ds = lb_idx_dataset_load(path_of("c2"), path_of("c2lab"), NULL, NULL, NULL, 0, &d, &err);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_INT(ds->ngroups, 2);
    CHECK(!ds->unit_scaled);
    CHECK_INT(ds->splits[0].c, 2);
    CHECK_NEAR(ds->mean[0], 10, 1e-6);
    CHECK_NEAR(ds->std[0], sqrt(3.5), 1e-6); /* 10,10,11,9,12,8,13,7: population variance 3.5 */
    CHECK_NEAR(ds->mean[1], 5, 1e-6);
    CHECK_NEAR(ds->std[1], 1, 0); /* constant: only centred */
    CHECK(ds->splits[0].x[2] == 0.0f);
    lb_dataset_free(ds);
    /* flat byte samples [F]: per feature, through the byte table (F = 10) and without it
     * (F = 5000 groups): both give x = ((float)b / 255 - mean) / std */
    for (int big = 0; big < 2; big++) {
        uint32_t F = big ? 5000 : 10, fd[2] = {3, F};
        double *fv = malloc(3 * F * sizeof *fv);
        unsigned char *fb = malloc(3 * F + 64);
        for (uint32_t i = 0; i < 3 * F; i++)
            fv[i] = (i * 131) % 256;
        size_t fl = make_idx(fb, LB_IDX_UBYTE, 2, fd, fv);
        write_bytes("flat", fb, fl, false);
        double fl3[3] = {0, 1, 1};
        uint32_t fld[1] = {3};
        fl = make_idx(fb, LB_IDX_UBYTE, 1, fld, fl3);
        write_bytes("flatlab", fb, fl, false);
        lb_data_options fo = LB_DATA_OPTIONS_INIT;
        ds = lb_idx_dataset_load(path_of("flat"), path_of("flatlab"), NULL, NULL, NULL, 0, &fo, &err);
        CHECK(ds != NULL);
        if (ds) {
            CHECK_INT(ds->ngroups, F);
            CHECK_INT(ds->splits[0].ndim, 1);
            int bad = 0;
            for (uint32_t g = 0; g < F; g++) {
                double m = 0, q = 0;
                for (int i = 0; i < 3; i++)
                    m += (float)fv[i * F + g] / 255.0f;
                m /= 3;
                for (int i = 0; i < 3; i++)
                    q += ((float)fv[i * F + g] / 255.0f - m) * ((float)fv[i * F + g] / 255.0f - m);
                float sd = (float)sqrt(q / 3);
                bad += ds->mean[g] != (float)m || ds->std[g] != (sd > 0 ? sd : 1.0f);
                for (int i = 0; i < 3; i++)
                    bad += ds->splits[0].x[i * F + g] !=
                           ((float)fv[i * F + g] / 255.0f - ds->mean[g]) / ds->std[g];
            }
            CHECK_INT(bad, 0);
            lb_dataset_free(ds);
        }
        free(fv);
        free(fb);
    }
    /* normalize=false keeps the values (shorts as they are) */
    d.normalize = false;
    ds = lb_idx_dataset_load(path_of("c2"), path_of("c2lab"), NULL, NULL, NULL, 0, &d, &err);
    CHECK(ds && ds->ngroups == 0 && ds->mean == NULL);
    CHECK(ds && ds->splits[0].x[4] == 11.0f);
    lb_dataset_free(ds);
}

static void test_csv_parse(void)
{
    const char *text = "\xEF\xBB\xBF" "a, \"b, c\" ,label\r\n"
                       "\n"
                       "1,\"x \"\"y\"\"\",cat\r\n"
                       "  2 ,\"multi\nline\",\n"
                       "\n";
    lb_csv c;
    lb_error err = {0};
    CHECK_INT(lb_csv_open_text(&c, text, strlen(text), "t.csv", &err), 0);
    CHECK_INT(lb_csv_next(&c, &err), 1);
    CHECK_INT(c.ncells, 3);
    CHECK_STR(c.cells[0], "a");
    CHECK_STR(c.cells[1], "b, c");
    CHECK_STR(c.cells[2], "label");
    CHECK_INT(c.row_line, 1);
    CHECK_INT(lb_csv_next(&c, &err), 1);
    CHECK_INT(c.row_line, 3);
    CHECK_STR(c.cells[1], "x \"y\"");
    CHECK_STR(c.cells[2], "cat");
    CHECK_INT(lb_csv_next(&c, &err), 1);
    CHECK_INT(c.row_line, 4);
    CHECK_STR(c.cells[0], "2");
    CHECK_STR(c.cells[1], "multi\nline");
    CHECK_STR(c.cells[2], "");
    CHECK_INT(lb_csv_next(&c, &err), 0);
    CHECK_INT(lb_csv_next(&c, &err), 0);
    lb_csv_close(&c);

    const char *bad = "a,b\n1,\"open\n2,3\n";
    CHECK_INT(lb_csv_open_text(&c, bad, strlen(bad), "bad.csv", &err), 0);
    CHECK_INT(lb_csv_next(&c, &err), 1);
    CHECK_INT(lb_csv_next(&c, &err), -1);
    CHECK_STR(err.evalue, "bad.csv, line 2, column 2: a quoted value is not closed");
    lb_error_clear(&err);
    lb_csv_close(&c);
    bad = "a,b\n1,\"x\" y\n";
    CHECK_INT(lb_csv_open_text(&c, bad, strlen(bad), "bad.csv", &err), 0);
    CHECK_INT(lb_csv_next(&c, &err), 1);
    CHECK_INT(lb_csv_next(&c, &err), -1);
    CHECK_STR(err.evalue, "bad.csv, line 2, column 2: unexpected text after a closing quote");
    lb_error_clear(&err);
    lb_csv_close(&c);
}

static lb_dataset *csv_load(const char *file, const char *label, const char *test,
                            const lb_data_options *o, lb_error *err)
{
    return lb_csv_dataset_load(path_of(file), label, test ? path_of(test) : NULL, 0, NULL, NULL, 0,
                               o, err);
}

static void expect_csv_error(const char *text, const char *label, const char *needle)
{
    write_text("e.csv", text);
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    lb_error err = {0};
    CHECK(csv_load("e.csv", label, NULL, &o, &err) == NULL);
    CHECK_STR(err.ename, "DataError");
    if (!err.evalue || !strstr(err.evalue, needle))
        fprintf(stderr, "  message lacks '%s': %s\n", needle, err.evalue ? err.evalue : "(none)");
    CHECK(err.evalue && strstr(err.evalue, needle));
    lb_error_clear(&err);
}

static void test_csv_dataset(void)
{
    write_text("iris.csv", "sepal,petal,species\n"
                           "1,10,virginica\n"
                           "2,20,setosa\n"
                           "3,30,versicolor\n"
                           "4,40,setosa\n");
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.normalize = false;
    lb_error err = {0};
    lb_dataset *ds = csv_load("iris.csv", "species", NULL, &o, &err);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_STR(ds->name, "iris.csv");
    CHECK_INT(ds->nclasses, 3); /* sorted: setosa, versicolor, virginica */
    CHECK_STR(ds->classes[0], "setosa");
    CHECK_STR(ds->classes[2], "virginica");
    const lb_split *s = &ds->splits[0];
    CHECK_INT(s->n, 4);
    CHECK_INT(s->ndim, 1);
    CHECK_INT(s->shape[0], 2);
    CHECK_INT(s->c, 1);
    CHECK_INT(s->w, 2);
    CHECK_INT(s->y[0], 2);
    CHECK_INT(s->y[1], 0);
    CHECK_INT(s->y[2], 1);
    CHECK(s->x[0] == 1.0f && s->x[1] == 10.0f && s->x[6] == 4.0f && s->x[7] == 40.0f);
    CHECK_INT(s->counts[0], 2);
    lb_dataset_free(ds);
    /* normalised per feature */
    o.normalize = true;
    ds = csv_load("iris.csv", "species", NULL, &o, &err);
    CHECK(ds && ds->ngroups == 2);
    CHECK_NEAR(ds->mean[0], 2.5, 1e-6);
    CHECK_NEAR(ds->mean[1], 25, 1e-6);
    CHECK_NEAR(ds->std[1], sqrt(125.0), 1e-4);
    lb_dataset_free(ds);
    /* numeric labels: numeric order, "1.0" and "1" one class; a test file; a shape */
    write_text("n.csv", "label,p0,p1,p2,p3\n10,0,1,2,3\n9,1,1,1,1\n1.0,0,0,0,0\n1,5,5,5,5\n");
    write_text("nt.csv", "label,p0,p1,p2,p3\n9,0,0,0,0\n");
    int64_t shape[3] = {1, 2, 2};
    ds = lb_csv_dataset_load(path_of("n.csv"), NULL, path_of("nt.csv"), 3, shape, NULL, 0, &o, &err);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_INT(ds->nclasses, 3);
        CHECK_STR(ds->classes[0], "1");
        CHECK_STR(ds->classes[1], "9");
        CHECK_STR(ds->classes[2], "10");
        CHECK_INT(ds->splits[0].y[0], 2);
        CHECK_INT(ds->splits[0].y[2], 0);
        CHECK_INT(ds->splits[0].y[3], 0);
        CHECK_INT(ds->splits[0].ndim, 3);
        CHECK_INT(ds->splits[0].h, 2);
        CHECK_INT(ds->ngroups, 1); /* one channel */
        CHECK_STR(ds->splits[1].name, "test");
        CHECK_INT(ds->splits[1].y[0], 1);
        lb_dataset_free(ds);
    }
    const char *names[3] = {"one", "nine", "ten"};
    ds = lb_csv_dataset_load(path_of("n.csv"), "label", NULL, 0, NULL, names, 3, &o, &err);
    CHECK(ds && strcmp(ds->classes[2], "ten") == 0);
    lb_dataset_free(ds);
    write_text("nt2.csv", "label,p0,p1,p2,p3\n\n7,0,0,0,0\n");
    CHECK(csv_load("n.csv", "label", "nt2.csv", &o, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "nt2.csv, line 3: the label '7' is not a class of the training file"));
    lb_error_clear(&err);
    write_text("nt3.csv", "label,p0,p1,p3,p2\n9,0,0,0,0\n");
    CHECK(csv_load("n.csv", "label", "nt3.csv", &o, &err) == NULL);
    CHECK(err.evalue && strstr(err.evalue, "column 4 is 'p3', not 'p2'"));
    lb_error_clear(&err);
    /* errors with file, line and column */
    expect_csv_error("a,b,label\n1,2,x\n3,4\n", "label", "e.csv, line 3: 2 values, but the header has 3 columns");
    expect_csv_error("a,b,label\n1,2,x\n\n3,abc,y\n", "label", "e.csv, line 4, column 2 ('b'): 'abc' is not a number");
    expect_csv_error("a,b,label\n1,,x\n", "label", "e.csv, line 2, column 2 ('b'): empty value");
    expect_csv_error("a,b,label\n1,1e999,x\n", "label", "'1e999' is not a finite float32");
    expect_csv_error("a,b,label\n1,2,\n", "label", "e.csv, line 2, column 3 ('label'): empty label");
    expect_csv_error("a,b,labels\n1,2,x\n", "label", "has no column 'label' for the labels (did you mean 'labels'?) (columns: a, b, labels)");
    expect_csv_error("a,b,label\n", "label", "no rows after the header");
    expect_csv_error("", "label", "empty file");
    /* another encoding than UTF-8 (Latin-1 "é" in a column name, then in a label) */
    expect_csv_error("caf\xe9,label\n1,x\n", "label", "e.csv, line 1: not UTF-8 text (byte 0xE9, "
                     "character 4 of the line): CSV files are read as UTF-8");
    expect_csv_error("a,label\n1,x\n2,\xc3\xa9t\xe9\n", "label", "e.csv, line 3: not UTF-8 text "
                     "(byte 0xE9, character 5 of the line)");
    CHECK(csv_load("nope.csv", "label", NULL, &o, &err) == NULL);
    CHECK_STR(err.ename, "FileNotFoundError");
    lb_error_clear(&err);
}

static lb_split fake_split(int64_t n, int64_t numel, float *x, int32_t *y)
{
    lb_split s = {0};
    s.name = "train";
    s.n = n;
    s.ndim = 1;
    s.shape[0] = numel;
    s.c = s.h = 1;
    s.w = numel;
    s.numel = numel;
    s.x = x;
    s.y = y;
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 7);
        for (int64_t k = 0; k < numel; k++)
            x[i * numel + k] = (float)(i * 100 + k);
    }
    return s;
}

/* Data-parallel shares (lb_epoch_share): the shares of 3 processes, side by side, are each
 * one-process batch, the same samples in the same order, the last short batch included. */
static void test_epoch_shares(void)
{
    float x[103 * 2], bx[10 * 2];
    int32_t y[103];
    int64_t whole[103], got[103], idx[10];
    lb_split s = fake_split(103, 2, x, y);
    lb_error err = {0};
    lb_epoch_iter one, part[3];
    CHECK_INT(lb_epoch_init(&one, &s, 10, true, false, 5, &err), 0);
    int64_t n1 = 0, b;
    lb_epoch_start(&one, 2);
    while ((b = lb_epoch_next_idx(&one, NULL, NULL, NULL, whole + n1)) > 0)
        n1 += b;
    CHECK_INT(n1, 103);
    for (int r = 0; r < 3; r++) {
        CHECK_INT(lb_epoch_init(&part[r], &s, 10, true, false, 5, &err), 0);
        lb_epoch_share(&part[r], r, 3);
        lb_epoch_start(&part[r], 2);
    }
    int64_t n = 0, batches = 0;
    while (part[0].pos < s.n) {
        int64_t g = -1;
        for (int r = 0; r < 3; r++) {
            b = lb_epoch_next_idx(&part[r], bx, NULL, NULL, idx);
            CHECK(g < 0 || part[r].global == g); /* every process on the same global batch */
            g = part[r].global;
            CHECK(b == g * (r + 1) / 3 - g * r / 3);
            for (int64_t k = 0; k < b; k++) {
                got[n + k] = idx[k];
                CHECK(bx[2 * k] == (float)(idx[k] * 100));
            }
            n += b;
        }
        batches++;
    }
    CHECK_INT(batches, 11);
    CHECK_INT(n, 103);
    CHECK(memcmp(got, whole, sizeof whole) == 0);
    lb_epoch_free(&one);
    for (int r = 0; r < 3; r++)
        lb_epoch_free(&part[r]);
}

/* Fields (lb_dataset_from_fields, lb_epoch_fields): a variable-length int field padded per
 * batch to its longest sample, a fixed float field placed after it in block X... here: inputs
 * "ids" (int tokens, variable [L]) in block T, "v" (float [2]) in block X, target "y" (class). */
static void test_fields_and_padding(void)
{
    enum { N = 7, MAXL = 5 };
    float x[N * 2], t[N * MAXL];
    int32_t y[N];
    int64_t len[N] = {3, 1, 5, 2, 4, 5, 1};
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(10 * i);
        y[i] = i % 3;
        for (int k = 0; k < MAXL; k++)
            t[i * MAXL + k] = k < len[i] ? (float)(100 * i + k + 1) : -7; /* stored past its length: never read */
    }
    lb_field f[3] = {{.name = "ids", .type = LB_FIELD_INT, .ndim = 1, .shape = {-1}, .pad = 0, .block = LB_BLOCK_T},
                     {.name = "v", .type = LB_FIELD_FLOAT, .ndim = 1, .shape = {2}, .block = LB_BLOCK_X},
                     {.name = "y", .type = LB_FIELD_INT, .target = true, .pad = -100, .block = LB_BLOCK_LABEL}};
    lb_fields_file ff = {.n = N, .x = x, .xndim = 1, .xshape = {2}, .t = t, .tnumel = MAXL, .labels = y, .len = {len}};
    char **cls = calloc(3, sizeof *cls);
    for (int c = 0; c < 3; c++)
        cls[c] = strdup(c == 0 ? "a" : c == 1 ? "b" : "c");
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.normalize = false;
    lb_error err = {0};
    lb_dataset *ds = lb_dataset_from_fields(strdup("toy"), strdup("memory"), f, 3, "classify", cls, 3, &ff, NULL, &o, &err);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_INT(ds->fields[0].maxlen, 5);
    CHECK_INT(ds->fields[0].numel, 5);
    CHECK_INT(lb_field_batch_numel(&ds->fields[0], 3), 15);
    CHECK(lb_dataset_field(ds, "v", NULL) == &ds->fields[1]);
    CHECK(lb_dataset_field(ds, "nope", NULL) == NULL);
    const lb_split *s = lb_dataset_split(ds, "train");
    lb_epoch_iter it;
    CHECK_INT(lb_epoch_init(&it, s, 3, false, false, 0, &err), 0);
    float ids[15], v[6], yy[3];
    float *bufs[3] = {ids, v, yy};
    int64_t lens[3];
    /* batch 1: samples 0..2, lengths 3, 1, 5: padded to 5 */
    CHECK_INT(lb_epoch_fields(&it, ds, bufs, lens), 3);
    CHECK_INT(lens[0], 5);
    CHECK_INT(lens[1], 2);
    float want1[15] = {1, 2, 3, 0, 0, 101, 0, 0, 0, 0, 201, 202, 203, 204, 205};
    CHECK(memcmp(ids, want1, sizeof want1) == 0);
    CHECK(v[2] == 1 && v[3] == 10 && yy[2] == 2);
    /* batch 2: samples 3..5, lengths 2, 4, 5 */
    CHECK_INT(lb_epoch_fields(&it, ds, bufs, lens), 3);
    CHECK_INT(lens[0], 5);
    CHECK(ids[0] == 301 && ids[1] == 302 && ids[2] == 0 && ids[5] == 401 && ids[9] == 0);
    /* batch 3: sample 6 alone, length 1: the batch is as long as its longest sample */
    CHECK_INT(lb_epoch_fields(&it, ds, bufs, lens), 1);
    CHECK_INT(lens[0], 1);
    CHECK(ids[0] == 601 && yy[0] == 0);
    CHECK_INT(lb_epoch_fields(&it, ds, bufs, lens), 0);
    lb_epoch_free(&it);
    /* the fingerprint covers the lengths: another length, another fingerprint */
    char fp[65];
    snprintf(fp, sizeof fp, "%s", lb_dataset_fingerprint(ds));
    lb_dataset_free(ds);
    len[6] = 2;
    cls = calloc(3, sizeof *cls);
    for (int c = 0; c < 3; c++)
        cls[c] = strdup(c == 0 ? "a" : c == 1 ? "b" : "c");
    ds = lb_dataset_from_fields(strdup("toy"), strdup("memory"), f, 3, "classify", cls, 3, &ff, NULL, &o, &err);
    CHECK(ds && strcmp(fp, lb_dataset_fingerprint(ds)) != 0);
    lb_dataset_free(ds);
    /* fields that do not cover the file's values are refused */
    cls = calloc(3, sizeof *cls);
    for (int c = 0; c < 3; c++)
        cls[c] = strdup("k");
    ds = lb_dataset_from_fields(strdup("toy"), strdup("memory"), f + 1, 2, "classify", cls, 3, &ff, NULL, &o, &err);
    CHECK(ds == NULL);
    CHECK(strstr(err.evalue, "do not cover") != NULL);
    lb_error_clear(&err);
}

static void test_epoch_iterator(void)
{
    /* the documented order, computed by the Python reference in tests/test_data.py */
    static const int64_t seed7[20] = {5, 3, 17, 18, 4, 2, 10, 13, 16, 0, 14, 6, 9, 15, 7, 11, 19, 1, 8, 12};
    static const int64_t e0[20] = {1, 5, 3, 6, 4, 14, 11, 16, 15, 9, 19, 18, 17, 7, 8, 0, 10, 2, 12, 13};
    static const int64_t e3[20] = {7, 10, 16, 18, 8, 6, 4, 19, 15, 14, 2, 17, 3, 1, 13, 5, 12, 11, 0, 9};
    int64_t p[20];
    for (int i = 0; i < 20; i++)
        p[i] = i;
    lb_data_shuffle(p, 20, 7);
    CHECK(memcmp(p, seed7, sizeof p) == 0);
    CHECK(lb_epoch_seed(0, 0) == 0xe220a8397b1dcdafULL); /* SplitMix64's first output from 0 */
    CHECK(lb_epoch_seed(7, 0) == 0x63cbe1e459320dd7ULL);

    float x[103 * 2], bx[10 * 2], by[10];
    int32_t y[103], byi[10];
    int64_t bidx[10];
    lb_split s = fake_split(103, 2, x, y);
    lb_epoch_iter it;
    lb_error err = {0};
    CHECK_INT(lb_epoch_init(&it, &s, 10, true, false, 7, &err), 0);
    CHECK_INT(lb_epoch_batches(&it), 11);
    int64_t first_epoch[103];
    for (int e = 0; e < 3; e++) {
        lb_epoch_start(&it, e);
        int seen[103] = {0};
        int64_t total = 0, b, nb = 0, order[103];
        while ((b = lb_epoch_next_idx(&it, bx, by, byi, bidx)) > 0) {
            CHECK(b == 10 || (nb == 10 && b == 3));
            for (int64_t k = 0; k < b; k++) {
                int64_t i = bidx[k];
                seen[i]++;
                order[total + k] = i;
                CHECK(bx[2 * k] == (float)(i * 100) && bx[2 * k + 1] == (float)(i * 100 + 1));
                CHECK(by[k] == (float)(i % 7));
                CHECK_INT(byi[k], i % 7);
            }
            total += b;
            nb++;
        }
        CHECK_INT(nb, 11);
        CHECK_INT(total, 103);
        for (int i = 0; i < 103; i++)
            CHECK_INT(seen[i], 1);
        CHECK_INT(lb_epoch_next(&it, bx, by, NULL), 0); /* stays at the end */
        if (e == 0)
            memcpy(first_epoch, order, sizeof order);
        else
            CHECK(memcmp(first_epoch, order, sizeof order) != 0); /* a new order each epoch */
    }
    /* an epoch's order depends only on (seed, epoch) */
    lb_epoch_start(&it, 0);
    for (int k = 0; k < 11; k++)
        lb_epoch_next_idx(&it, NULL, NULL, NULL, bidx);
    lb_epoch_start(&it, 0);
    lb_epoch_next_idx(&it, NULL, NULL, NULL, bidx);
    CHECK(memcmp(bidx, first_epoch, sizeof bidx) == 0);
    lb_epoch_free(&it);

    /* the documented epoch order on 20 samples */
    float x20[20];
    int32_t y20[20];
    lb_split s20 = fake_split(20, 1, x20, y20);
    int64_t got[20];
    CHECK_INT(lb_epoch_init(&it, &s20, 20, true, false, 7, &err), 0);
    CHECK_INT(lb_epoch_next_idx(&it, NULL, NULL, NULL, got), 20);
    CHECK(memcmp(got, e0, sizeof got) == 0);
    lb_epoch_start(&it, 3);
    CHECK_INT(lb_epoch_next_idx(&it, NULL, NULL, NULL, got), 20);
    CHECK(memcmp(got, e3, sizeof got) == 0);
    lb_epoch_free(&it);

    /* drop_last; no shuffle: file order */
    CHECK_INT(lb_epoch_init(&it, &s, 10, false, true, 7, &err), 0);
    CHECK_INT(lb_epoch_batches(&it), 10);
    int64_t b, total = 0;
    while ((b = lb_epoch_next_idx(&it, NULL, NULL, NULL, bidx)) > 0) {
        CHECK_INT(b, 10);
        for (int k = 0; k < 10; k++)
            CHECK_INT(bidx[k], total + k);
        total += b;
    }
    CHECK_INT(total, 100);
    lb_epoch_free(&it);
    /* the same seed in a second iterator gives the same batches */
    lb_epoch_iter a2, b2;
    int64_t ia[10], ib[10];
    CHECK_INT(lb_epoch_init(&a2, &s, 10, true, false, 11, &err), 0);
    CHECK_INT(lb_epoch_init(&b2, &s, 10, true, false, 11, &err), 0);
    lb_epoch_start(&a2, 5);
    lb_epoch_start(&b2, 5);
    lb_epoch_next_idx(&a2, NULL, NULL, NULL, ia);
    lb_epoch_next_idx(&b2, NULL, NULL, NULL, ib);
    CHECK(memcmp(ia, ib, sizeof ia) == 0);
    lb_epoch_free(&a2);
    lb_epoch_free(&b2);
    CHECK_INT(lb_epoch_init(&it, &s, 0, true, false, 7, &err), -1);
    CHECK(err.evalue && strstr(err.evalue, "batch size must be at least 1"));
    lb_error_clear(&err);
}

static void test_fingerprint(void)
{
    write_small_idx(40, true);
    write_small_idx(40, false);
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid = 10;
    lb_dataset *a = load_small(&o, true), *b = load_small(&o, true);
    const char *fa = lb_dataset_fingerprint(a);
    CHECK_INT(strlen(fa), 64);
    CHECK_STR(fa, lb_dataset_fingerprint(b));
    CHECK_STR(fa, lb_dataset_fingerprint(a)); /* cached */
    lb_dataset_free(b);
    o.normalize = false;
    b = load_small(&o, true);
    CHECK(strcmp(fa, lb_dataset_fingerprint(b)) != 0);
    lb_dataset_free(b);
    o.normalize = true;
    o.test = 39;
    b = load_small(&o, true);
    CHECK(strcmp(fa, lb_dataset_fingerprint(b)) != 0);
    lb_dataset_free(b);
    /* the run record */
    json_t *r = lb_dataset_record(a);
    CHECK(r != NULL);
    CHECK_STR(json_string_value(json_object_get(r, "fingerprint")), fa);
    CHECK_STR(json_string_value(json_object_get(r, "name")), "img.gz");
    CHECK_INT(json_integer_value(json_object_get(r, "valid")), 10);
    CHECK(json_is_null(json_object_get(r, "train")));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "splits"), "test")), 40);
    CHECK_INT(json_array_size(json_object_get(r, "mean")), 1);
    CHECK_INT(json_array_size(json_object_get(r, "classes")), 3);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(r, "shape"), 2)), 3);
    json_decref(r);
    /* a different value in one sample */
    o.test = -1;
    b = load_small(&o, true);
    b->splits[2].x[5] += 1;
    CHECK(strcmp(fa, lb_dataset_fingerprint(b)) != 0);
    lb_dataset_free(b);
    lb_dataset_free(a);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void test_fashion_mnist(void)
{
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid = 10000;
    lb_error err = {0};
    /* a missing package names it */
    CHECK(lb_fashion_mnist_load("/nonexistent/fmnist", &o, &err) == NULL);
    CHECK_STR(err.ename, "FileNotFoundError");
    CHECK_STR(err.evalue, "Fashion-MNIST not found at /nonexistent/fmnist (no "
                          "train-images-idx3-ubyte.gz): install the Debian package "
                          "dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
    lb_error_clear(&err);
    if (access(LB_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        fprintf(stderr, "  %s is missing: install dataset-fashion-mnist\n", LB_FASHION_MNIST_DIR);
        CHECK(0);
        return;
    }
    double t0 = now();
    lb_dataset *ds = lb_fashion_mnist_load(NULL, &o, &err);
    double t1 = now();
    CHECK(ds != NULL);
    if (!ds)
        return;
    const char *fp = lb_dataset_fingerprint(ds);
    double t2 = now();
    printf("     fashion_mnist(): load %.3f s, fingerprint %.3f s\n", t1 - t0, t2 - t1);
    CHECK_INT(ds->nsplits, 3);
    CHECK_INT(ds->splits[0].n + ds->splits[1].n, 60000);
    CHECK_INT(ds->splits[1].n, 10000);
    CHECK_INT(ds->splits[2].n, 10000);
    CHECK_INT(ds->splits[0].numel, 784);
    CHECK_INT(ds->splits[0].c, 1);
    CHECK_INT(ds->splits[0].h, 28);
    CHECK_STR(ds->classes[0], "T-shirt/top");
    CHECK_STR(ds->classes[9], "Ankle boot");
    for (int c = 0; c < 10; c++)
        CHECK_INT(ds->splits[2].counts[c], 1000);
    CHECK_NEAR(ds->mean[0], 0.2860, 0.002); /* the well-known statistics of the whole set */
    CHECK_NEAR(ds->std[0], 0.3530, 0.002);
    CHECK_INT(ds->splits[2].y[0], 9); /* t10k starts with an ankle boot */
    CHECK_INT(strlen(fp), 64);
    lb_dataset_free(ds);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/lb-data-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_idx_dtypes);
    RUN(test_idx_errors);
    RUN(test_split_and_subset);
    RUN(test_normalisation);
    RUN(test_csv_parse);
    RUN(test_csv_dataset);
    RUN(test_epoch_iterator);
    RUN(test_epoch_shares);
    RUN(test_fields_and_padding);
    RUN(test_fingerprint);
    RUN(test_fashion_mnist);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_SUMMARY();
}
