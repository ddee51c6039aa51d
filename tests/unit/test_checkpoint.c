/* test_checkpoint.c — model checkpoints (kernel/host/checkpoint.c, spec/language.md §12) through a
 * whole interpreter with the real cnn plugin: `save MODEL "file"` then `load` gives
 * bit-identical parameters (also odd floats: -0, denormals, NaN payloads, and batchnorm's
 * buffers); `load` into an unbound name rebuilds the model (plugins loaded, user variables
 * ignored); every flipped byte, a truncated file, a foreign file, a newer format, an invalid
 * header, a spec that calls anything but layer types and a model the file does not fit are
 * refused with their own message and leave the target as it was; a header that claims more than
 * the file or the memory holds is refused before the body is read; a missing file, no temp file
 * left behind, an unwritable folder; a plugin version difference is only a warning. */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "interp_harness.h"
#include "ops.h"
#include "host/plugins.h"

static char DIR_[256];   /* this run's scratch folder */
static char FILE_[512];  /* DIR_/a.lbc */

static void setup(void)
{
    harness_start((lb_output){.stream = rec_stream});
}

static void teardown(void) { harness_stop(); }

static int runf(const char *fmt, const char *arg)
{
    char code[1024];
    snprintf(code, sizeof code, fmt, arg);
    return run(code);
}

static lb_model *model(const char *name) { return lb_model_from_value(lb_interp_get(IN, name)); }

/* A malloc'd copy of a model's whole values section (every parameter and buffer). */
static float *values(const char *name, size_t *n)
{
    lb_model *m = model(name);
    if (!m)
        return NULL;
    const float *v = lb_params_values(lb_model_params(m), n);
    float *c = malloc(*n * sizeof *c + 1);
    if (c)
        memcpy(c, v, *n * sizeof *c);
    return c;
}

/* Whether model `name` holds exactly the bytes `want` (n floats). */
static bool same_values(const char *name, const float *want, size_t n)
{
    size_t k = 0;
    float *v = values(name, &k);
    bool same = v && want && k == n && memcmp(v, want, n * sizeof *v) == 0;
    free(v);
    return same;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static bool spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(b, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

static uint32_t u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Rewrites a checkpoint with header `h` (its JSON replaced, the data kept) and a valid checksum:
 * how a test makes a well-formed file that says something else. version: the u32 field. */
static bool rewrite(const char *src, const char *dst, json_t *h, uint32_t version)
{
    size_t n = 0;
    unsigned char *b = slurp(src, &n);
    if (!b)
        return false;
    uint32_t hl = u32(b + 12);
    char *text = json_dumps(h, JSON_COMPACT);
    size_t tl = strlen(text), dl = n - 16 - hl - 32;
    size_t size = 16 + tl + dl + 32;
    unsigned char *o = malloc(size);
    memcpy(o, b, 8);
    put32(o + 8, version);
    put32(o + 12, (uint32_t)tl);
    memcpy(o + 16, text, tl);
    memcpy(o + 16 + tl, b + 16 + hl, dl);
    unsigned int ml = 0;
    EVP_Digest(o, size - 32, o + size - 32, &ml, EVP_sha256(), NULL);
    bool ok = spit(dst, o, size);
    free(o);
    free(text);
    free(b);
    return ok;
}

/* The header of a checkpoint file, parsed (new reference). */
static json_t *header_of(const char *path)
{
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    json_t *h = b && n > 16 ? json_loadb((const char *)b + 16, u32(b + 12), 0, NULL) : NULL;
    free(b);
    return h;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void clean_dir(void)
{
    DIR *d = opendir(DIR_);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", DIR_, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
}

/* `use cnn`, a model a (seed 1) saved to FILE_, and model b of the same layers (seed 2). */
static void two_models(void)
{
    CHECK(run("use cnn\nmodel a = cnn(channels=[4, 8]) seed=1\n"
              "model b = cnn(channels=[4, 8]) seed=2") == 0);
    CHECK(runf("save a \"%s\"", FILE_) == 0);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_round_trip_bit_identical(void)
{
    setup();
    CHECK(run("use cnn\nmodel a = cnn(channels=[4, 8]) seed=1\n"
              "model b = cnn(channels=[4, 8]) seed=2") == 0);
    /* odd floats must survive too */
    lb_params *pa = lb_model_params(model("a"));
    float *w = lb_params_get(pa, 0)->data;
    uint32_t nan_payload = 0x7fc12345u, denormal = 0x00000003u;
    w[0] = -0.0f;
    memcpy(&w[1], &nan_payload, 4);
    memcpy(&w[2], &denormal, 4);
    w[3] = 1e38f;
    size_t n = 0, nb = 0;
    float *va = values("a", &n), *vb = values("b", &nb);
    CHECK(n == nb && n > 4000);
    CHECK(memcmp(va, vb, n * sizeof *va) != 0); /* different seeds: different weights */
    CHECK(runf("save a \"%s\"", FILE_) == 0);
    lb_params_set_optim_step(lb_model_params(model("b")), 5);
    OUT[0] = '\0';
    CHECK(runf("load b \"%s\"", FILE_) == 0);
    CHECK(same_values("b", va, n));
    CHECK(lb_params_optim_step(lb_model_params(model("b"))) == 0); /* optimizer state reset */
    CHECK(strstr(OUT, "b = cnn(channels=[4, 8]): 8 layers, 4,266 parameters, [1, 28, 28] -> [10], "
                      "loaded from ") != NULL);
    /* tensor by tensor, and the model keeps its own name and seed */
    lb_params *pb = lb_model_params(model("b"));
    CHECK_INT(lb_params_count(pb), lb_params_count(pa));
    for (int i = 0; i < lb_params_count(pa); i++)
        CHECK(memcmp(lb_params_get(pa, i)->data, lb_params_get(pb, i)->data,
                     (size_t)lb_params_get(pa, i)->numel * 4) == 0);
    CHECK_STR(lb_model_name(model("b")), "b");
    CHECK(lb_model_seed(model("b")) == 2);
    /* saving b gives the same data section as a's file (only "model", "seed", "created" differ) */
    char f2[600];
    snprintf(f2, sizeof f2, "%s/b.lbc", DIR_);
    CHECK(runf("save b \"%s\"", f2) == 0);
    size_t s1 = 0, s2 = 0;
    unsigned char *b1 = slurp(FILE_, &s1), *b2 = slurp(f2, &s2);
    size_t d1 = b1 ? s1 - 16 - u32(b1 + 12) : 0, d2 = b2 ? s2 - 16 - u32(b2 + 12) : 1;
    CHECK(d1 == d2 && d1 == 4266 * 4 + 32);
    if (d1 == d2) /* data and checksum: the checksum covers the headers too, so it differs */
        CHECK(memcmp(b1 + 16 + u32(b1 + 12), b2 + 16 + u32(b2 + 12), d1 - 32) == 0);
    CHECK((16 + u32(b1 + 12)) % 8 == 0); /* the data starts 8-aligned */
    free(b1);
    free(b2);
    /* the header */
    json_t *h = header_of(FILE_);
    CHECK_STR(json_string_value(json_object_get(h, "format")), "labbook-checkpoint");
    CHECK_INT(json_integer_value(json_object_get(h, "version")), 1);
    CHECK_STR(json_string_value(json_object_get(h, "model")), "a");
    CHECK_STR(json_string_value(json_object_get(h, "spec")), "cnn(channels=[4, 8])");
    CHECK_INT(json_integer_value(json_object_get(h, "seed")), 1);
    CHECK_STR(json_string_value(json_object_get(h, "labbook")), LB_VERSION);
    CHECK_INT(json_array_size(json_object_get(h, "input")), 3);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(h, "output"), 0)), 10);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(h, "plugins"), 0),
                                                "name")), "cnn");
    json_t *t0 = json_array_get(json_object_get(h, "tensors"), 0);
    CHECK_STR(json_string_value(json_object_get(t0, "name")), "0.weight");
    CHECK_INT(json_integer_value(json_object_get(t0, "numel")), 36);
    CHECK_INT(json_integer_value(json_object_get(t0, "offset")), 0);
    CHECK(strlen(json_string_value(json_object_get(h, "created"))) == 20);
    json_decref(h);
    free(va);
    free(vb);
    teardown();
}

static void test_round_trip_buffers(void)
{
    setup();
    /* batchnorm: running statistics (not trainable) are saved and loaded too */
    CHECK(run("use cnn\nmodel a = cnn(channels=[4], batchnorm=true, hidden=[16]) seed=3\n"
              "model b = cnn(channels=[4], batchnorm=true, hidden=[16]) seed=4") == 0);
    lb_params *pa = lb_model_params(model("a"));
    int buffers = 0;
    for (int i = 0; i < lb_params_count(pa); i++) {
        lb_tensor *t = lb_params_get(pa, i);
        if (!t->trainable) {
            buffers++;
            for (int64_t j = 0; j < t->numel; j++)
                t->data[j] = 0.25f * (float)(j + 1) + (float)i;
        }
    }
    CHECK(buffers >= 2);
    size_t n = 0;
    float *va = values("a", &n);
    CHECK(runf("save a \"%s\"", FILE_) == 0);
    CHECK(runf("load b \"%s\"", FILE_) == 0);
    CHECK(same_values("b", va, n));
    json_t *h = header_of(FILE_);
    bool untrainable = false;
    json_t *ts = json_object_get(h, "tensors");
    for (size_t i = 0; i < json_array_size(ts); i++)
        untrainable |= json_is_false(json_object_get(json_array_get(ts, i), "trainable"));
    CHECK(untrainable);
    json_decref(h);
    free(va);
    teardown();
}

static void test_load_rebuilds_unbound_name(void)
{
    setup();
    CHECK(run("use cnn\nmodel a = cnn(channels=[4, 8], pool=\"avg\") input=[1, 20, 20] seed=11") == 0);
    CHECK(runf("save a \"%s\"", FILE_) == 0);
    size_t n = 0;
    float *va = values("a", &n);
    /* unbound */
    CHECK(runf("load c \"%s\"", FILE_) == 0);
    CHECK(model("c") != NULL);
    CHECK(model("c") != model("a"));
    CHECK(same_values("c", va, n));
    CHECK_STR(lb_model_name(model("c")), "c");
    CHECK_STR(lb_model_spec_text(model("c")), "cnn(channels=[4, 8], pool=\"avg\")");
    CHECK(lb_model_seed(model("c")) == 11);
    int64_t shape[LB_MAXDIM];
    CHECK_INT(lb_model_input_shape(model("c"), shape), 3);
    CHECK(shape[1] == 20 && shape[2] == 20);
    /* a name that holds something else is replaced by the model */
    CHECK(runf("x = 3\nload x \"%s\"", FILE_) == 0);
    CHECK(same_values("x", va, n));
    /* a fresh kernel: the plugins are loaded, and user variables cannot hide the layer types */
    setup();
    CHECK(run("cnn = 5\nconv2d = \"not a layer\"\nlayers = 7") == 0);
    CHECK(runf("load layers \"%s\"", FILE_) == 0);
    CHECK(same_values("layers", va, n));
    CHECK(lb_registry_type(IN, "cnn") != NULL);
    lb_error e = {0};
    json_t *b = lb_interp_eval_bundle(IN, "cnn + 1", &e);
    CHECK_STR(b ? json_string_value(json_object_get(b, "text/plain")) : NULL, "6");
    json_decref(b);
    lb_error_clear(&e);
    free(va);
    teardown();
}

/* ---- refused files ------------------------------------------------------------------------ */

static void test_flipped_bytes_refused(void)
{
    setup();
    two_models();
    size_t n = 0, size = 0;
    float *vb = values("b", &n);
    unsigned char *orig = slurp(FILE_, &size);
    CHECK(orig && size > 16000);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.lbc", DIR_);
    uint32_t hl = orig ? u32(orig + 12) : 0;
    int tried = 0, refused = 0;
    for (size_t off = 12; orig && off < size; off++) {
        /* the length field's low byte, every header byte, data bytes spread over the whole
         * section (each float's four bytes in turn), and every checksum byte */
        bool pick = off == 12 || (off >= 16 && off < 16 + hl) || off >= size - 32 || off % 61 == 0;
        if (!pick || (off > 12 && off < 16))
            continue;
        for (int bit = 0; bit < 8; bit += 7) {
            orig[off] ^= (unsigned char)(1u << bit);
            spit(bad, orig, size);
            orig[off] ^= (unsigned char)(1u << bit);
            tried++;
            if (runf("load b \"%s\"", bad) < 0 && strcmp(ERR.ename, "CheckpointError") == 0 &&
                strstr(ERR.evalue, "bad.lbc is corrupted: its SHA-256 does not match"))
                refused++;
            else
                fprintf(stderr, "    offset %zu bit %d: %s: %s\n", off, bit, ERR.ename,
                        ERR.evalue ? ERR.evalue : "(accepted)");
            if (runf("load z \"%s\"", bad) == 0)
                refused--;
        }
    }
    CHECK(tried > 1000);
    CHECK_INT(refused, tried);
    CHECK(same_values("b", vb, n)); /* b never changed */
    CHECK(lb_interp_get(IN, "z") == NULL);
    /* the error points at the file name */
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(ERR.line == 1 && ERR.col == 8);
    /* the intact file still loads */
    CHECK(runf("load b \"%s\"", FILE_) == 0);
    CHECK(!same_values("b", vb, n));
    free(orig);
    free(vb);
    teardown();
}

static void test_truncated_refused(void)
{
    setup();
    two_models();
    size_t n = 0, size = 0;
    float *vb = values("b", &n);
    unsigned char *orig = slurp(FILE_, &size);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/cut.lbc", DIR_);
    size_t hl = orig ? u32(orig + 12) : 0;
    size_t cuts[] = {size - 1, size - 32, size - 33, size / 2, 16 + hl + 4, 16 + hl, 100, 47, 16, 10, 3, 0};
    for (size_t i = 0; orig && i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(bad, orig, cuts[i]);
        CHECK(runf("load b \"%s\"", bad) < 0);
        CHECK(err_has("CheckpointError", "cut.lbc is truncated"));
        CHECK(runf("load y \"%s\"", bad) < 0);
    }
    /* the message says how long it should be, when the header is intact */
    spit(bad, orig, size - 1);
    CHECK(runf("load b \"%s\"", bad) < 0);
    char want[128];
    snprintf(want, sizeof want, "is truncated (%zu bytes where its header announces %zu)", size - 1,
             size);
    CHECK(err_has("CheckpointError", want));
    CHECK(same_values("b", vb, n));
    CHECK(lb_interp_get(IN, "y") == NULL);
    free(orig);
    free(vb);
    teardown();
}

static void test_foreign_file_refused(void)
{
    setup();
    two_models();
    char bad[600];
    snprintf(bad, sizeof bad, "%s/notes.txt", DIR_);
    const char *text = "these are not the weights you are looking for, but they are long enough\n";
    spit(bad, (const unsigned char *)text, strlen(text));
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "notes.txt is not a labbook checkpoint (it does not start "
                                     "with the checkpoint signature"));
    /* a plot saved as PNG is not one either */
    snprintf(bad, sizeof bad, "%s/p.png", DIR_);
    CHECK(runf("p = plot([1, 2, 3])\nsave p \"%s\"", bad) == 0);
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "p.png is not a labbook checkpoint"));
    /* a folder */
    CHECK(runf("load b \"%s\"", DIR_) < 0);
    CHECK(err_has("IOError", "Is a directory"));
    teardown();
}

static void test_future_version_refused(void)
{
    setup();
    two_models();
    size_t n = 0;
    float *vb = values("b", &n);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/v2.lbc", DIR_);
    json_t *h = header_of(FILE_);
    json_object_set_new(h, "version", json_integer(2));
    CHECK(rewrite(FILE_, bad, h, 2));
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "v2.lbc was written by checkpoint format 2; this labbook "
                                     "(" LB_VERSION ") reads format 1"));
    CHECK(rewrite(FILE_, bad, h, 0));
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "has checkpoint format 0, which does not exist"));
    CHECK(same_values("b", vb, n));
    json_decref(h);
    free(vb);
    teardown();
}

static void test_invalid_header_refused(void)
{
    setup();
    two_models();
    size_t n = 0;
    float *vb = values("b", &n);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/h.lbc", DIR_);
    struct {
        const char *key;
        json_t *value;
        const char *want;
    } cases[] = {
        {"format", json_string("something-else"), "h.lbc has an invalid header: \"format\" is not"},
        {"input", json_pack("[i, i]", 0, 3), "\"input\" is not the shape of one example"},
        {"tensors", json_string("none"), "\"tensors\" is not a list"},
        {"seed", json_integer(-1), "\"seed\" is not a non-negative integer"},
        {"dtype", json_string("float16"), "\"dtype\" is \"float16\", not \"float32\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *h = header_of(FILE_);
        json_object_set_new(h, cases[i].key, cases[i].value);
        CHECK(rewrite(FILE_, bad, h, 1));
        json_decref(h);
        CHECK(runf("load b \"%s\"", bad) < 0);
        CHECK(err_has("CheckpointError", cases[i].want));
    }
    /* a tensor that claims more data than the file holds */
    json_t *h = header_of(FILE_);
    json_t *t0 = json_array_get(json_object_get(h, "tensors"), 0);
    json_object_set_new(t0, "shape", json_pack("[i, i, i, i]", 5, 1, 3, 3));
    json_object_set_new(t0, "numel", json_integer(45));
    CHECK(rewrite(FILE_, bad, h, 1));
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "tensor 0.bias: \"offset\" is not 45"));
    json_decref(h);
    /* not JSON at all (with a valid checksum) */
    size_t size = 0;
    unsigned char *b = slurp(FILE_, &size);
    if (b) {
        b[16] = '[';
        unsigned int ml = 0;
        EVP_Digest(b, size - 32, b + size - 32, &ml, EVP_sha256(), NULL);
        spit(bad, b, size);
    }
    free(b);
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "h.lbc has an invalid header: not JSON"));
    CHECK(same_values("b", vb, n));
    free(vb);
    teardown();
}

static void test_spec_only_calls_layer_types(void)
{
    setup();
    two_models();
    char bad[600];
    snprintf(bad, sizeof bad, "%s/s.lbc", DIR_);
    const char *specs[] = {"print(1)", "cnn(channels=[4, 8], classes=len([1]))", "secret",
                           "cnn(channels=x)"};
    const char *wants[] = {"uses `print`", "uses `len`", "uses `secret`", "uses `x`"};
    CHECK(run("secret = 1\nx = [4, 8]") == 0);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        json_t *h = header_of(FILE_);
        json_object_set_new(h, "spec", json_string(specs[i]));
        CHECK(rewrite(FILE_, bad, h, 1));
        json_decref(h);
        CHECK(runf("load fresh \"%s\"", bad) < 0);
        CHECK(err_has("CheckpointError", "cannot rebuild its model: the spec"));
        CHECK(err_has("CheckpointError", wants[i]));
        CHECK(lb_interp_get(IN, "fresh") == NULL);
    }
    /* a spec that builds something else than the tensors: refused, nothing assigned */
    json_t *h = header_of(FILE_);
    json_object_set_new(h, "spec", json_string("cnn(channels=[4, 16])"));
    CHECK(rewrite(FILE_, bad, h, 1));
    json_decref(h);
    CHECK(runf("load fresh \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "s.lbc does not fit model fresh: tensor 3.weight is [8, 4, 3, 3] "
                                     "in the file but [16, 4, 3, 3] in the model"));
    CHECK(lb_interp_get(IN, "fresh") == NULL);
    /* a spec that cannot be built on the header's input shape */
    h = header_of(FILE_);
    json_object_set_new(h, "input", json_pack("[i, i, i]", 1, 2, 2));
    CHECK(rewrite(FILE_, bad, h, 1));
    json_decref(h);
    CHECK(runf("load fresh \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "s.lbc cannot rebuild its model cnn(channels=[4, 8]): ModelError: "));
    CHECK(lb_interp_get(IN, "fresh") == NULL);
    /* a plugin that cannot be found */
    h = header_of(FILE_);
    json_array_append_new(json_object_get(h, "plugins"),
                          json_pack("{s:s, s:s}", "name", "no_such_plugin_xyz", "version", "9.9"));
    CHECK(rewrite(FILE_, bad, h, 1));
    json_decref(h);
    CHECK(runf("load fresh \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "s.lbc needs plugin no_such_plugin_xyz 9.9 to rebuild its "
                                     "model, which cannot be loaded"));
    /* ...but loading into an existing model does not need it */
    CHECK(runf("load b \"%s\"", bad) == 0);
    teardown();
}

static void test_mismatched_model_refused(void)
{
    setup();
    two_models();
    CHECK(run("model c = cnn(channels=[8, 8]) seed=5\nmodel d = cnn(channels=[4, 8, 16]) seed=6") == 0);
    size_t nc = 0, nd = 0;
    float *vc = values("c", &nc), *vd = values("d", &nd);
    CHECK(runf("load c \"%s\"", FILE_) < 0);
    CHECK(err_has("CheckpointError", "a.lbc does not fit model c: tensor 0.weight is [4, 1, 3, 3] in "
                                     "the file but [8, 1, 3, 3] in the model"));
    CHECK(ERR.line == 1 && ERR.col == 8);
    CHECK(same_values("c", vc, nc));
    CHECK(runf("load d \"%s\"", FILE_) < 0);
    CHECK(err_has("CheckpointError", "a.lbc does not fit model d: the model's tensors 6.weight, "
                                     "6.bias, 10.weight, 10.bias are not in the file; the file's "
                                     "tensors 7.weight, 7.bias are not in the model"));
    CHECK(same_values("d", vd, nd));
    /* a layer value is not a model: the model is rebuilt in its place */
    CHECK(runf("l = linear(3, 4)\nload l \"%s\"", FILE_) == 0);
    CHECK(model("l") != NULL);
    /* the wrong argument types */
    CHECK(run("load c 42") < 0);
    CHECK(err_has("TypeError", "load needs a file name, as in `load c \"model.lbc\"`"));
    CHECK(runf("load c.x \"%s\"", FILE_) < 0);
    CHECK(err_has("SyntaxError", "load expects a variable name here"));
    CHECK(run("save 3 \"x.lbc\"") < 0);
    CHECK(err_has("TypeError", "and models, as checkpoints"));
    free(vc);
    free(vd);
    teardown();
}

static void test_plugin_version_is_a_warning(void)
{
    setup();
    two_models();
    size_t n = 0;
    float *va = values("a", &n);
    char other[600];
    snprintf(other, sizeof other, "%s/old.lbc", DIR_);
    json_t *h = header_of(FILE_);
    json_object_set_new(json_array_get(json_object_get(h, "plugins"), 0), "version",
                        json_string("0.0.1"));
    CHECK(rewrite(FILE_, other, h, 1));
    json_decref(h);
    OUT[0] = '\0';
    CHECK(runf("load b \"%s\"", other) == 0);
    CHECK(same_values("b", va, n));
    CHECK(strstr(OUT, "warning: ") != NULL);
    CHECK(strstr(OUT, "old.lbc was saved with plugin cnn 0.0.1; model b uses cnn 0.1.0") != NULL);
    OUT[0] = '\0';
    CHECK(runf("load e \"%s\"", other) == 0); /* rebuilt: the same warning */
    CHECK(strstr(OUT, "was saved with plugin cnn 0.0.1; model e uses cnn 0.1.0") != NULL);
    /* no warning when nothing differs */
    OUT[0] = '\0';
    CHECK(runf("load b \"%s\"", FILE_) == 0);
    CHECK(strstr(OUT, "warning") == NULL);
    free(va);
    teardown();
}

/* ---- files ------------------------------------------------------------------------------------ */

/* ---- the header is checked before the body -------------------------------------------------- */

/* Writes DIR_/NAME: the prefix, header h (padded to 8), then a hole up to `size` bytes in all
 * (a sparse file: a terabyte costs nothing on disk). version 1, H as given or the real length. */
static bool write_sparse(const char *path, json_t *h, uint32_t hl_field, bool real_hl, uint64_t size)
{
    char *text = json_dumps(h, JSON_COMPACT);
    size_t tl = text ? strlen(text) : 0, pad = (8 - (16 + tl) % 8) % 8;
    FILE *f = fopen(path, "wb");
    unsigned char pre[16];
    memcpy(pre, "\x89LBCKPT\n", 8);
    put32(pre + 8, 1);
    put32(pre + 12, real_hl ? (uint32_t)(tl + pad) : hl_field);
    bool ok = f && text && fwrite(pre, 1, 16, f) == 16 && fwrite(text, 1, tl, f) == tl &&
              fwrite("        ", 1, pad, f) == pad && ftruncate(fileno(f), (off_t)size) == 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(text);
    return ok;
}

/* A header or a size that announces more than the file holds or than memory can take is refused
 * from the first bytes: nothing of the size it claims is allocated or read (a terabyte read would
 * not end), the message names the file and what is wrong, and the session keeps its state. */
static void test_hostile_header_refused_before_the_body(void)
{
    setup();
    two_models();
    CHECK(run("x = 41") == 0);
    size_t n = 0;
    float *vb = values("b", &n);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/huge.lbc", DIR_);
    const int64_t tb = (int64_t)1 << 38; /* floats: 1 TB of data */
    json_t *h = header_of(FILE_);
    json_object_set_new(h, "tensors", json_pack("[{s:s, s:[I, I], s:b, s:i, s:I}]", "name", "w",
                                                 "shape", (json_int_t)1 << 18, (json_int_t)1 << 20,
                                                 "trainable", 1, "offset", 0, "numel", (json_int_t)tb));
    /* a whole 1 TB file (sparse) whose header is valid: more than memory, refused unread */
    char *text = json_dumps(h, JSON_COMPACT);
    size_t hl = text ? strlen(text) : 0;
    hl += (8 - (16 + hl) % 8) % 8;
    free(text);
    uint64_t whole = 16 + hl + 4 * (uint64_t)tb + 32;
    CHECK(write_sparse(bad, h, 0, true, whole));
    CHECK(runf("load b \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "huge.lbc is too big to load: its weights take 1.0 TB, more "
                                     "than the "));
    CHECK(err_has("CheckpointError", "of memory this machine has available"));
    CHECK(runf("load z \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "huge.lbc is too big to load"));
    /* the same header in a small file: truncated, with the size it announces */
    CHECK(write_sparse(bad, h, 0, true, 4096));
    CHECK(runf("load b \"%s\"", bad) < 0);
    char want[200];
    snprintf(want, sizeof want, "huge.lbc is truncated (4096 bytes where its header announces %llu)",
             (unsigned long long)whole);
    CHECK(err_has("CheckpointError", want));
    /* a header length past the end of the file */
    CHECK(write_sparse(bad, h, 0xfffffff0u, false, 4096));
    CHECK(runf("load b \"%s\"", bad) < 0);
    snprintf(want, sizeof want, "huge.lbc is truncated (4096 bytes where its header announces at "
             "least %llu)", 16ULL + 0xfffffff0u + 32);
    CHECK(err_has("CheckpointError", want));
    /* a header length over the limit (20 MiB of a 24 MiB file whose checksum holds) */
    {
        size_t size = (size_t)24 << 20;
        unsigned char *b = calloc(size, 1);
        if (b) {
            memcpy(b, "\x89LBCKPT\n", 8);
            put32(b + 8, 1);
            put32(b + 12, 20u << 20);
            unsigned int ml = 0;
            EVP_Digest(b, size - 32, b + size - 32, &ml, EVP_sha256(), NULL);
            CHECK(spit(bad, b, size));
        }
        free(b);
        CHECK(runf("load b \"%s\"", bad) < 0);
        CHECK(err_has("CheckpointError", "huge.lbc has an invalid header: its length (20971520 "
                                         "bytes) is over the limit of 16 MiB"));
    }
    /* a 1 TB file that is not a checkpoint: its first bytes are enough */
    {
        FILE *f = fopen(bad, "wb");
        CHECK(f && fputs("PK\x03\x04 an archive, or a disk image", f) >= 0 &&
              ftruncate(fileno(f), (off_t)1 << 40) == 0);
        if (f)
            fclose(f);
        CHECK(runf("load b \"%s\"", bad) < 0);
        CHECK(err_has("CheckpointError", "huge.lbc is not a labbook checkpoint"));
    }
    /* a plugin "name" that is a path: rebuilding would load that file */
    json_decref(h);
    h = header_of(FILE_);
    json_object_set_new(json_array_get(json_object_get(h, "plugins"), 0), "name",
                        json_string("../../tmp/evil"));
    CHECK(rewrite(FILE_, bad, h, 1));
    CHECK(runf("load z \"%s\"", bad) < 0);
    CHECK(err_has("CheckpointError", "huge.lbc has an invalid header: plugin 1's name is not an "
                                     "identifier"));
    json_decref(h);
    unlink(bad);
    /* state intact: variables, b's weights, nothing bound to z; the real file still loads */
    CHECK(run("expect x + 1 == 42") == 0);
    CHECK(same_values("b", vb, n));
    CHECK(lb_interp_get(IN, "z") == NULL);
    CHECK(runf("load z \"%s\"", FILE_) == 0);
    free(vb);
    teardown();
}

static void test_missing_file(void)
{
    setup();
    CHECK(run("use cnn\nmodel b = cnn(channels=[4, 8])") == 0);
    char path[600];
    snprintf(path, sizeof path, "%s/nope.lbc", DIR_);
    CHECK(runf("load b \"%s\"", path) < 0);
    CHECK(err_has("FileNotFoundError", "cannot load "));
    CHECK(err_has("FileNotFoundError", "nope.lbc: no such file"));
    CHECK(runf("load q \"%s\"", path) < 0);
    CHECK(lb_interp_get(IN, "q") == NULL);
    teardown();
}

static void test_atomic_write_leaves_no_temp(void)
{
    setup();
    clean_dir();
    two_models();
    CHECK_INT(count_entries(DIR_), 1); /* a.lbc only */
    /* saving over an existing checkpoint replaces it whole */
    CHECK(runf("save b \"%s\"", FILE_) == 0);
    CHECK_INT(count_entries(DIR_), 1);
    json_t *h = header_of(FILE_);
    CHECK_STR(json_string_value(json_object_get(h, "model")), "b");
    json_decref(h);
    /* an unwritable target: a folder that does not exist, a "folder" that is a file */
    char path[700];
    snprintf(path, sizeof path, "%s/no/such/folder/a.lbc", DIR_);
    CHECK(runf("save a \"%s\"", path) < 0);
    CHECK(err_has("IOError", "cannot write "));
    CHECK(err_has("IOError", "no/such/folder/a.lbc"));
    CHECK(ERR.line == 1 && ERR.col == 8);
    snprintf(path, sizeof path, "%s/a.lbc/inside.lbc", DIR_);
    CHECK(runf("save a \"%s\"", path) < 0);
    CHECK(err_has("IOError", "a.lbc/inside.lbc: Not a directory"));
    /* a folder where the file should go: the temp file is removed again */
    snprintf(path, sizeof path, "%s/sub", DIR_);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(runf("save a \"%s\"", path) < 0);
    CHECK(err_has("IOError", "sub: Is a directory"));
    CHECK_INT(count_entries(DIR_), 2); /* a.lbc and sub, no temp file */
    /* a read-only folder (root may write anyway: then the save succeeds) */
    CHECK(chmod(path, 0555) == 0);
    char inside[800];
    snprintf(inside, sizeof inside, "%s/ro.lbc", path);
    int rc = runf("save a \"%s\"", inside);
    if (geteuid() != 0) {
        CHECK(rc < 0);
        CHECK(err_has("IOError", "ro.lbc: Permission denied"));
        CHECK_INT(count_entries(path), 0);
    }
    chmod(path, 0755);
    unlink(inside);
    clean_dir();
    teardown();
}

int main(void)
{
#ifdef LB_BUILD_PLUGIN_DIR
    setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1);
#endif
    snprintf(DIR_, sizeof DIR_, "%s/lbckpt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(DIR_)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(FILE_, sizeof FILE_, "%s/a.lbc", DIR_);
    RUN(test_round_trip_bit_identical);
    RUN(test_round_trip_buffers);
    RUN(test_load_rebuilds_unbound_name);
    RUN(test_flipped_bytes_refused);
    RUN(test_truncated_refused);
    RUN(test_foreign_file_refused);
    RUN(test_future_version_refused);
    RUN(test_invalid_header_refused);
    RUN(test_spec_only_calls_layer_types);
    RUN(test_mismatched_model_refused);
    RUN(test_plugin_version_is_a_warning);
    RUN(test_hostile_header_refused_before_the_body);
    RUN(test_missing_file);
    RUN(test_atomic_write_leaves_no_temp);
    clean_dir();
    rmdir(DIR_);
    return CHECK_SUMMARY();
}
