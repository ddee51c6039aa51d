/* checkpoint.c — model checkpoints: `save MODEL "file"` (the model class's save hook) writes a
 * versioned, checksummed file atomically; `load NAME "file"` reads one back into the model
 * NAME, or rebuilds the model from the spec in the file's header. The byte format is in
 * spec/language.md §12 (tests/lbckpt.py reads it with numpy). The header is checked before the
 * body is read, and every check is made before any weight is written, so a refused file leaves
 * the model as it was. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/sha256.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "base/fileio.h"
#include "base/memory.h"
#include "lang/parser.h"
#include "host/plugins.h"

#define CKPT_MAGIC "\x89LBCKPT\n"
#define CKPT_MAGIC_LEN 8
#define CKPT_VERSION 1u
#define CKPT_PREFIX 16 /* magic, format version, header length */
#define CKPT_SUM 32    /* the trailing SHA-256 */
#define CKPT_FORMAT "labbook-checkpoint"
#define CKPT_MAX_HEADER (16 << 20) /* bytes: about 100 a tensor, so 160,000 tensors */


/* ---- little-endian encoding ------------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_floats(unsigned char *p, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        put_u32(p + 4 * i, u);
    }
}

static void get_floats(float *x, const unsigned char *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = get_u32(p + 4 * i);
        memcpy(&x[i], &u, 4);
    }
}

static int sha256(const unsigned char *d, size_t n, unsigned char out[CKPT_SUM])
{
    lb_sha256 *h = lb_sha256_begin();
    lb_sha256_add(h, d, n);
    return lb_sha256_end(h, out, NULL) ? 0 : -1;
}

/* ---- writing ----------------------------------------------------------------------------------- */

static json_t *shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int i = 0; a && i < ndim; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

/* [{"name": "a", "shape": [8]}, ...]: the model's named inputs, in order. */
static json_t *inputs_json(const lb_model *m)
{
    json_t *a = json_array();
    for (int i = 0; a && i < lb_model_ninputs(m); i++) {
        int64_t shape[LB_MAXDIM];
        int nd = lb_model_input_shape_at(m, i, shape);
        json_t *e = json_pack("{s:s, s:o}", "name", lb_model_input_name(m, i), "shape",
                              shape_json(nd, shape));
        if (!e || json_array_append_new(a, e) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The header of model m, with tensor offsets; *total receives the number of floats. */
static json_t *make_header(lb_model *m, int64_t *total)
{
    lb_params *p = lb_model_params(m);
    int64_t in[LB_MAXDIM], out[LB_MAXDIM];
    int in_nd = lb_model_input_shape(m, in), out_nd = lb_model_output_shape(m, out);
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(created, sizeof created, "1970-01-01T00:00:00Z");
    json_t *tensors = json_array(), *plugins = lb_model_plugins(m), *inputs = inputs_json(m);
    if (!inputs) {
        json_decref(tensors);
        json_decref(plugins);
        return NULL;
    }
    json_t *h = json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:o, s:I, s:s, s:s, s:o, s:o, s:s}", "format",
                          CKPT_FORMAT, "version", (int)CKPT_VERSION, "model", lb_model_name(m),
                          "spec", lb_model_spec_text(m), "input", shape_json(in_nd, in), "inputs",
                          inputs, "output", shape_json(out_nd, out), "seed", (json_int_t)lb_model_seed(m), "labbook",
                          LB_VERSION, "dtype", "float32", "plugins",
                          plugins ? plugins : json_null(), "tensors",
                          tensors ? json_incref(tensors) : json_null(), "created", created);
    if (!h || !tensors || !plugins) {
        json_decref(h);
        json_decref(tensors);
        return NULL;
    }
    int64_t off = 0;
    for (int i = 0; i < lb_params_count(p); i++) {
        const lb_tensor *t = lb_params_get(p, i);
        json_t *e = json_pack("{s:s, s:o, s:b, s:I, s:I}", "name", t->name ? t->name : "",
                              "shape", shape_json(t->ndim, t->shape), "trainable", t->trainable,
                              "offset", (json_int_t)off, "numel", (json_int_t)t->numel);
        if (!e || json_array_append_new(tensors, e) < 0) {
            json_decref(tensors);
            json_decref(h);
            return NULL;
        }
        off += t->numel;
    }
    json_decref(tensors);
    *total = off;
    return h;
}

int lb_checkpoint_save(lb_model *m, const char *path, lb_error *err)
{
    if (!m || !path || !*path)
        return lb_error_set(err, "ValueError", 0, 0, "save needs a model and a file name");
    int64_t total = 0;
    json_t *h = make_header(m, &total);
    char *text = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    if (!text)
        return lb_oom(err);
    size_t hlen = strlen(text);
    size_t pad = (8 - (CKPT_PREFIX + hlen) % 8) % 8; /* spaces: the data starts 8-aligned */
    size_t size = CKPT_PREFIX + hlen + pad + (size_t)total * 4 + CKPT_SUM;
    unsigned char *buf = malloc(size);
    if (!buf || hlen + pad > CKPT_MAX_HEADER) {
        free(text);
        free(buf);
        return buf ? lb_error_set(err, "ValueError", 0, 0, "cannot save %s: the header is too long "
                                  "(%zu bytes; at most %d MiB)", path, hlen + pad, CKPT_MAX_HEADER >> 20)
                   : lb_oom(err);
    }
    memcpy(buf, CKPT_MAGIC, CKPT_MAGIC_LEN);
    put_u32(buf + 8, CKPT_VERSION);
    put_u32(buf + 12, (uint32_t)(hlen + pad));
    memcpy(buf + CKPT_PREFIX, text, hlen);
    memset(buf + CKPT_PREFIX + hlen, ' ', pad);
    free(text);
    unsigned char *data = buf + CKPT_PREFIX + hlen + pad;
    lb_params *p = lb_model_params(m);
    for (int i = 0; i < lb_params_count(p); i++) {
        const lb_tensor *t = lb_params_get(p, i);
        put_floats(data, t->data, t->numel);
        data += 4 * t->numel;
    }
    if (sha256(buf, size - CKPT_SUM, buf + size - CKPT_SUM) < 0) {
        free(buf);
        return lb_error_set(err, "IOError", 0, 0, "cannot save %s: SHA-256 is unavailable", path);
    }
    int rc = lb_write_file_atomic(path, buf, size, err); /* temp file, fsync, rename */
    free(buf);
    return rc;
}

int lb_checkpoint_save_value(const lb_value *self, const char *path, lb_error *err)
{
    lb_model *m = lb_model_from_value(self);
    if (!m)
        return lb_error_set(err, "TypeError", 0, 0, "cannot save a %s as a checkpoint",
                            lb_type_name(self));
    return lb_checkpoint_save(m, path, err);
}

/* ---- reading ----------------------------------------------------------------------------------- */

typedef struct ck_tensor {
    const char *name;       /* borrowed from the header */
    int ndim;
    int64_t shape[LB_MAXDIM];
    int64_t offset, numel;  /* in floats */
} ck_tensor;

typedef struct ckpt {
    unsigned char *bytes;   /* the whole file */
    size_t size;
    json_t *header;
    const unsigned char *data;
    ck_tensor *t;
    size_t nt;
    int64_t total;          /* floats */
    int in_ndim;
    int64_t in_shape[LB_MAXDIM];
    int nin;                /* "inputs" (0: a file written before named inputs) */
    const char *in_names[LB_MODEL_MAXINPUTS]; /* borrowed from the header */
    int in_ndims[LB_MODEL_MAXINPUTS];
    int64_t in_shapes[LB_MODEL_MAXINPUTS][LB_MAXDIM];
} ckpt;

static void ckpt_free(ckpt *c)
{
    free(c->bytes);
    json_decref(c->header);
    free(c->t);
    memset(c, 0, sizeof *c);
}

static int ck_error(lb_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ck_error(lb_error *err, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lb_error_set(err, "CheckpointError", 0, 0, "%s %s", path, msg);
}

/* A shape from a JSON array of non-negative integers: ndim, or -1. */
static int json_shape(const json_t *a, int64_t shape[LB_MAXDIM], int64_t *numel, bool positive)
{
    if (!json_is_array(a) || json_array_size(a) > LB_MAXDIM)
        return -1;
    int64_t n = 1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *d = json_array_get(a, i);
        if (!json_is_integer(d) || json_integer_value(d) < (positive ? 1 : 0) ||
            json_integer_value(d) > ((int64_t)1 << 31))
            return -1;
        shape[i] = json_integer_value(d);
        n *= shape[i];
        if (n > ((int64_t)1 << 40))
            return -1;
    }
    if (numel)
        *numel = n;
    return (int)json_array_size(a);
}

static bool is_identifier(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* "inputs" (optional: files written before named inputs have "input" only): 1 to
 * LB_MODEL_MAXINPUTS objects {"name": identifier, "shape": [...]}, unique names. */
static int check_inputs(ckpt *c, const json_t *a, char *why, size_t n)
{
    c->nin = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > LB_MODEL_MAXINPUTS) {
        snprintf(why, n, "\"inputs\" is not a list of 1 to %d inputs", LB_MODEL_MAXINPUTS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        int nd = json_shape(json_object_get(e, "shape"), c->in_shapes[i], NULL, true);
        if (!is_identifier(name) || nd < 1 || nd > LB_MAXDIM - 1) {
            snprintf(why, n, "input %zu of \"inputs\" needs a name (an identifier) and a shape (1 "
                     "to %d positive integers)", i + 1, LB_MAXDIM - 1);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->in_names[j], name) == 0) {
                snprintf(why, n, "input %s appears twice in \"inputs\"", name);
                return -1;
            }
        c->in_names[i] = name;
        c->in_ndims[i] = nd;
    }
    c->nin = (int)json_array_size(a);
    return 0;
}

/* Checks the header against the format (§12); fills c->t and c->total (the data length is the
 * caller's to compare). */
static int check_header(ckpt *c, const char *path, lb_error *err)
{
    json_t *h = c->header;
    char err_reason[200];
#define BAD(...) ck_error(err, path, "has an invalid header: " __VA_ARGS__)
    if (!json_is_object(h))
        return BAD("it is not a JSON object");
    const char *fmt = json_string_value(json_object_get(h, "format"));
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        return BAD("\"format\" is not \"%s\"", CKPT_FORMAT);
    const json_t *ver = json_object_get(h, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != (json_int_t)CKPT_VERSION)
        return BAD("\"version\" is not %u, the format version of the file", CKPT_VERSION);
    const char *dtype = json_string_value(json_object_get(h, "dtype"));
    if (dtype && strcmp(dtype, "float32") != 0)
        return BAD("\"dtype\" is \"%s\", not \"float32\"", dtype);
    if (!json_is_string(json_object_get(h, "spec")) || !json_is_string(json_object_get(h, "model")))
        return BAD("\"model\" and \"spec\" must be strings");
    c->in_ndim = json_shape(json_object_get(h, "input"), c->in_shape, NULL, true);
    if (c->in_ndim < 1 || c->in_ndim > LB_MAXDIM - 1)
        return BAD("\"input\" is not the shape of one example (1 to %d positive integers)",
                   LB_MAXDIM - 1);
    if (check_inputs(c, json_object_get(h, "inputs"), err_reason, sizeof err_reason) < 0)
        return BAD("%s", err_reason);
    const json_t *seed = json_object_get(h, "seed");
    if (!json_is_integer(seed) || json_integer_value(seed) < 0)
        return BAD("\"seed\" is not a non-negative integer");
    const json_t *plugins = json_object_get(h, "plugins");
    if (!json_is_array(plugins))
        return BAD("\"plugins\" is not a list");
    for (size_t i = 0; i < json_array_size(plugins); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(plugins, i), "name"));
        if (!n || !*n)
            return BAD("plugin %zu has no name", i + 1);
        /* rebuilding loads it as `use NAME` would: a path ("../x") must not pick the file */
        if (!is_identifier(n))
            return BAD("plugin %zu's name is not an identifier", i + 1);
    }
    const json_t *ts = json_object_get(h, "tensors");
    if (!json_is_array(ts))
        return BAD("\"tensors\" is not a list");
    c->nt = json_array_size(ts);
    c->t = calloc(c->nt ? c->nt : 1, sizeof *c->t);
    json_t *seen = json_object(); /* the names so far: a header may list many tensors */
    if (!c->t || !seen) {
        json_decref(seen);
        return lb_oom(err);
    }
#define BAD_T(...) (json_decref(seen), BAD(__VA_ARGS__))
    int64_t off = 0;
    for (size_t i = 0; i < c->nt; i++) {
        const json_t *e = json_array_get(ts, i);
        ck_tensor *t = &c->t[i];
        t->name = json_string_value(json_object_get(e, "name"));
        if (!t->name || !*t->name)
            return BAD_T("tensor %zu has no name", i + 1);
        if (json_object_get(seen, t->name))
            return BAD_T("tensor %s appears twice", t->name);
        if (json_object_set(seen, t->name, json_true()) < 0) {
            json_decref(seen);
            return lb_oom(err);
        }
        int64_t n = 0;
        t->ndim = json_shape(json_object_get(e, "shape"), t->shape, &n, false);
        if (t->ndim < 0)
            return BAD_T("tensor %s has no valid shape", t->name);
        const json_t *jo = json_object_get(e, "offset"), *jn = json_object_get(e, "numel");
        if (!json_is_integer(jn) || json_integer_value(jn) != n)
            return BAD_T("tensor %s: \"numel\" is not the product of its shape", t->name);
        if (!json_is_integer(jo) || json_integer_value(jo) != off)
            return BAD_T("tensor %s: \"offset\" is not %" PRId64 " (tensors are stored one after "
                         "the other)", t->name, off);
        if (off + n > ((int64_t)1 << 60)) /* no file is that big; 4 * off stays in range */
            return BAD_T("its tensors hold more than 2^60 floats");
        t->numel = n;
        t->offset = off;
        off += n;
    }
    json_decref(seen);
#undef BAD_T
#undef BAD
    c->total = off;
    return 0;
}

/* ---- reading: the header before the body --------------------------------------------------------
 * The file is read in the order of its parts, each checked before the next is touched: the 16-byte
 * prefix (signature, format version, header length H), then the H bytes of the header, which must
 * lie inside the file and stay under CKPT_MAX_HEADER, then, only when the header is valid and its
 * tensors account for exactly the bytes left, the data (after a check that this much memory is
 * available), hashed as it is read, and the checksum. So a damaged or hostile header never makes
 * the reader allocate or read more than the file holds, and a huge file that is not a checkpoint
 * costs 16 bytes. When the header is unusable, the rest of the file is hashed through a small
 * buffer to tell damage (the checksum fails: "corrupted") from a file written that way. */

typedef struct ck_reader {
    FILE *f;
    const char *path;
    lb_interp *in;          /* for interrupts during long reads (NULL: none) */
    lb_sha256 *sum;         /* of every byte read so far */
    uint64_t pos;           /* bytes read so far */
} ck_reader;

#define CK_CHUNK ((size_t)8 << 20) /* bytes read (and hashed) between two interrupt checks */

/* Reads exactly n bytes into buf (hashing them); -1 with an IOError (or Interrupted). */
static int ck_read(ck_reader *r, void *buf, size_t n, lb_error *err)
{
    for (size_t done = 0; done < n;) {
        if (r->in && lb_safe_point(r->in, err) < 0)
            return -1;
        size_t want = n - done < CK_CHUNK ? n - done : CK_CHUNK;
        size_t got = fread((unsigned char *)buf + done, 1, want, r->f);
        lb_sha256_add(r->sum, (unsigned char *)buf + done, got);
        done += got;
        r->pos += got;
        if (got != want)
            return lb_error_set(err, "IOError", 0, 0, "cannot read %s: %s", r->path,
                                ferror(r->f) ? strerror(errno) : "the file changed while it was read");
    }
    return 0;
}

/* Hashes the next n bytes of the file without keeping them (a 64 KiB buffer). */
static int ck_skip(ck_reader *r, uint64_t n, lb_error *err)
{
    unsigned char buf[65536];
    while (n) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        if (ck_read(r, buf, k, err) < 0)
            return -1;
        n -= k;
    }
    return 0;
}

/* Reads the trailing checksum and compares it with the hash of everything before it: 0 when
 * they match, 1 when not, -1 on a read error. Ends r->sum. */
static int ck_verify(ck_reader *r, lb_error *err)
{
    unsigned char stored[CKPT_SUM], md[CKPT_SUM];
    lb_sha256 *h = r->sum;
    r->sum = NULL; /* the checksum's own bytes are not hashed */
    int rc = ck_read(r, stored, CKPT_SUM, err);
    bool ok = lb_sha256_end(h, md, NULL);
    if (rc < 0)
        return -1;
    if (!ok)
        return lb_error_set(err, "IOError", 0, 0, "cannot check %s: SHA-256 is unavailable", r->path);
    return memcmp(md, stored, CKPT_SUM) != 0;
}

/* Reads and checks the file (the order is in spec/language.md §12). */
static int ckpt_read(lb_interp *in, const char *path, ckpt *c, lb_error *err)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return lb_error_set(err, "FileNotFoundError", 0, 0, "cannot load %s: no such file", path);
        return lb_error_set(err, "IOError", 0, 0, "cannot read %s: %s", path, strerror(errno));
    }
    struct stat st;
    int e = fstat(fileno(f), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lb_error_set(err, "IOError", 0, 0, "cannot read %s: %s", path,
                            e ? strerror(e) : "not a regular file");
    }
    uint64_t size = (uint64_t)st.st_size;
    ck_reader r = {f, path, in, lb_sha256_begin(), 0};
    unsigned char prefix[CKPT_PREFIX];
    size_t np = size < CKPT_PREFIX ? (size_t)size : CKPT_PREFIX;
    char *htext = NULL;
    lb_error why = {0}; /* what is wrong with the header, when anything is */
    int rc = -1;
    if (!r.sum) {
        lb_oom(err);
        goto done;
    }
    if (ck_read(&r, prefix, np, err) < 0)
        goto done;
    if (memcmp(prefix, CKPT_MAGIC, np < CKPT_MAGIC_LEN ? np : CKPT_MAGIC_LEN) != 0) {
        ck_error(err, path, "is not a labbook checkpoint (it does not start with the checkpoint "
                            "signature; write one with `save MODEL \"file\"`)");
        goto done;
    }
    if (size < CKPT_PREFIX + CKPT_SUM) {
        ck_error(err, path, "is truncated (%" PRIu64 " bytes; a checkpoint has at least %d)", size,
                 CKPT_PREFIX + CKPT_SUM);
        goto done;
    }
    uint32_t version = get_u32(prefix + 8);
    if (version > CKPT_VERSION || version == 0) {
        if (version == 0)
            ck_error(err, path, "has checkpoint format 0, which does not exist");
        else
            ck_error(err, path, "was written by checkpoint format %" PRIu32 "; this labbook "
                     "(%s) reads format %u", version, LB_VERSION, CKPT_VERSION);
        goto done;
    }
    uint32_t hlen = get_u32(prefix + 12);
    uint64_t least = (uint64_t)CKPT_PREFIX + hlen + CKPT_SUM;
    if (least > size) {
        ck_error(err, path, "is truncated (%" PRIu64 " bytes where its header announces at least "
                 "%" PRIu64 ")", size, least);
        goto done;
    }
    uint64_t data_len = size - least;
    if (hlen > CKPT_MAX_HEADER) {
        ck_error(&why, path, "has an invalid header: its length (%" PRIu32 " bytes) is over the "
                 "limit of %d MiB", hlen, CKPT_MAX_HEADER >> 20);
        goto unusable;
    }
    if (!(htext = malloc(hlen ? hlen : 1))) {
        lb_oom(err);
        goto done;
    }
    if (ck_read(&r, htext, hlen, err) < 0)
        goto done;
    json_error_t je;
    c->header = json_loadb(htext, hlen, 0, &je);
    if (!c->header) {
        ck_error(&why, path, "has an invalid header: not JSON (%s)", je.text);
        goto unusable;
    }
    if (check_header(c, path, &why) < 0) {
        if (strcmp(why.ename, "MemoryError") == 0) {
            lb_error_set(err, why.ename, 0, 0, "%s", why.evalue);
            goto done;
        }
        goto unusable;
    }
    uint64_t need = 4 * (uint64_t)c->total;
    if (need > data_len) {
        /* a valid header cannot announce another size after one damaged byte (numel is the
         * product of the shape, offsets follow each other): the file was cut short */
        ck_error(err, path, "is truncated (%" PRIu64 " bytes where its header announces %" PRIu64 ")",
                 size, least + need);
        goto done;
    }
    if (need < data_len) {
        ck_error(&why, path, "has an invalid header: its tensors hold %" PRIu64 " bytes of data but "
                 "the file has %" PRIu64, need, data_len);
        goto unusable;
    }
    int64_t avail = lb_mem_available();
    if (need > (uint64_t)(avail > 0 ? avail : 0)) {
        char a[32], b[32];
        lb_format_bytes((int64_t)need, a, sizeof a);
        lb_format_bytes(avail, b, sizeof b);
        ck_error(err, path, "is too big to load: its weights take %s, more than the %s of memory "
                 "this machine has available", a, b);
        goto done;
    }
    c->bytes = malloc(need ? (size_t)need : 1);
    if (!c->bytes) {
        lb_oom(err);
        goto done;
    }
    if (ck_read(&r, c->bytes, (size_t)need, err) < 0)
        goto done;
    c->data = c->bytes;
    int bad = ck_verify(&r, err);
    if (bad > 0)
        ck_error(err, path, "is corrupted: its SHA-256 does not match (the file was changed or "
                            "damaged after it was written)");
    rc = bad == 0 ? 0 : -1;
    goto done;

unusable: /* the header is wrong: damage (the checksum fails) or written so */
    {
        int bad = ck_skip(&r, size - CKPT_SUM - r.pos, err) < 0 ? -1 : ck_verify(&r, err);
        if (bad > 0)
            ck_error(err, path, "is corrupted: its SHA-256 does not match (the file was changed "
                                "or damaged after it was written)");
        else if (bad == 0)
            lb_error_set(err, why.ename, 0, 0, "%s", why.evalue ? why.evalue : "?");
    }
done:
    lb_sha256_end(r.sum, NULL, NULL);
    fclose(f);
    free(htext);
    lb_error_clear(&why);
    if (rc < 0)
        ckpt_free(c);
    return rc;
}

/* ---- loading into a model ---------------------------------------------------------------------- */

static const ck_tensor *ck_find(const ckpt *c, const char *name)
{
    for (size_t i = 0; i < c->nt; i++)
        if (strcmp(c->t[i].name, name) == 0)
            return &c->t[i];
    return NULL;
}

/* Appends ", name" (or the first "name") to a list being built in buf. */
static void list_add(char *buf, size_t size, int *count, const char *name)
{
    size_t used = strlen(buf);
    if (*count < 8)
        snprintf(buf + used, size - used, "%s%s", *count ? ", " : "", name);
    else if (*count == 8)
        snprintf(buf + used, size - used, ", ...");
    (*count)++;
}

/* Whether the file's tensors are exactly the model's (names and shapes); a CheckpointError
 * naming the first difference otherwise. */
static int check_fit(const ckpt *c, lb_model *m, const char *path, lb_error *err)
{
    lb_params *p = lb_model_params(m);
    char missing[384] = "", extra[384] = "";
    int nmissing = 0, nextra = 0;
    for (int i = 0; i < lb_params_count(p); i++) {
        const lb_tensor *t = lb_params_get(p, i);
        const char *name = t->name ? t->name : "";
        const ck_tensor *k = ck_find(c, name);
        if (!k) {
            list_add(missing, sizeof missing, &nmissing, name);
            continue;
        }
        bool same = k->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = k->shape[d] == t->shape[d];
        if (!same) {
            char a[96], b[96];
            lb_format_shape(k->ndim, k->shape, a, sizeof a);
            lb_format_shape(t->ndim, t->shape, b, sizeof b);
            return ck_error(err, path, "does not fit model %s: tensor %s is %s in the file but %s "
                            "in the model", lb_model_name(m), name, a, b);
        }
    }
    for (size_t i = 0; i < c->nt; i++)
        if (!lb_params_find(p, c->t[i].name))
            list_add(extra, sizeof extra, &nextra, c->t[i].name);
    if (nmissing || nextra) {
        char msg[900];
        int k = 0;
        if (nmissing)
            k = snprintf(msg, sizeof msg, "the model's %s %s %s not in the file",
                         nmissing == 1 ? "tensor" : "tensors", missing, nmissing == 1 ? "is" : "are");
        if (nextra)
            snprintf(msg + k, sizeof msg - (size_t)k, "%sthe file's %s %s %s not in the model",
                     nmissing ? "; " : "", nextra == 1 ? "tensor" : "tensors", extra,
                     nextra == 1 ? "is" : "are");
        return ck_error(err, path, "does not fit model %s: %s", lb_model_name(m), msg);
    }
    return 0;
}

static void warn(lb_interp *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(lb_interp *in, const char *fmt, ...)
{
    if (!in)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(msg);
    lb_emit_stream(in, LB_STDERR, "warning: ", 9);
    lb_emit_stream(in, LB_STDERR, msg, len);
    lb_emit_stream(in, LB_STDERR, "\n", 1);
}

/* Warnings, not errors: a plugin of another version, a model of another spec. */
static void warn_differences(lb_interp *in, const ckpt *c, lb_model *m, const char *path)
{
    const char *spec = json_string_value(json_object_get(c->header, "spec"));
    if (spec && strcmp(spec, lb_model_spec_text(m)) != 0)
        warn(in, "%s was saved from %s; model %s is %s (the tensors fit, so the weights are "
                 "loaded)", path, spec, lb_model_name(m), lb_model_spec_text(m));
    json_t *now = lb_model_plugins(m);
    const json_t *then = json_object_get(c->header, "plugins");
    for (size_t i = 0; i < json_array_size(then); i++) {
        const json_t *a = json_array_get(then, i);
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *va = json_string_value(json_object_get(a, "version"));
        for (size_t j = 0; name && j < json_array_size(now); j++) {
            const json_t *b = json_array_get(now, j);
            const char *vb = json_string_value(json_object_get(b, "version"));
            if (strcmp(name, json_string_value(json_object_get(b, "name"))) == 0 && vb &&
                strcmp(va ? va : "", vb) != 0)
                warn(in, "%s was saved with plugin %s %s; model %s uses %s %s", path, name,
                     va && *va ? va : "(no version)", lb_model_name(m), name, vb);
        }
    }
    json_decref(now);
}

/* Copies the (checked) tensors into m; resets gradients and optimizer state. */
static void copy_weights(const ckpt *c, lb_model *m)
{
    lb_params *p = lb_model_params(m);
    for (size_t i = 0; i < c->nt; i++) {
        lb_tensor *t = lb_params_find(p, c->t[i].name);
        get_floats(t->data, c->data + 4 * c->t[i].offset, c->t[i].numel);
    }
    lb_params_zero_grad(p);
    lb_params_reset_state(p);
}

/* ---- rebuilding a model from the header ---------------------------------------------------------- */

/* Whether the spec expression holds only literals and calls of layer types (so that loading a
 * file never runs anything else); the offending name in *bad otherwise. */
static bool spec_safe(lb_interp *in, const lb_node *n, const char **bad)
{
    switch (n->kind) {
    case LB_N_NUM:
    case LB_N_STR:
    case LB_N_BOOL:
    case LB_N_NONE:
        return true;
    case LB_N_UNARY:
    case LB_N_LIST:
    case LB_N_MAP:
    case LB_N_KEYWORD:
        for (size_t i = 0; i < n->nkids; i++)
            if (!spec_safe(in, n->kids[i], bad))
                return false;
        return true;
    case LB_N_CALL: {
        const lb_node *f = n->kids[0];
        if (f->kind != LB_N_NAME) {
            *bad = "(an expression)";
            return false;
        }
        if (strcmp(f->text, "sequential") != 0 && !lb_registry_type(in, f->text)) {
            *bad = f->text;
            return false;
        }
        for (size_t i = 1; i < n->nkids; i++)
            if (!spec_safe(in, n->kids[i], bad))
                return false;
        return true;
    }
    default:
        *bad = n->kind == LB_N_NAME ? n->text : "(an expression)";
        return false;
    }
}

/* input= of the rebuilt model: "[1, 28, 28]", or with several named inputs
 * {"a": [8], "b": [4]}. */
static void rebuild_input_text(const ckpt *c, char *buf, size_t n)
{
    if (c->nin <= 1) {
        lb_format_shape(c->in_ndim, c->in_shape, buf, n);
        return;
    }
    size_t used = (size_t)snprintf(buf, n, "{");
    for (int i = 0; i < c->nin && used < n; i++) {
        char shp[96];
        lb_format_shape(c->in_ndims[i], c->in_shapes[i], shp, sizeof shp);
        used += (size_t)snprintf(buf + used, n - used, "%s\"%s\": %s", i ? ", " : "", c->in_names[i], shp);
    }
    if (used < n)
        snprintf(buf + used, n - used, "}");
}

/* Builds the model of the file's header as `model NAME = SPEC input=[...] seed=N` would, with
 * none of the user's variables in sight and without its summary line. */
static lb_value *rebuild(lb_interp *in, const ckpt *c, const char *name, const char *path,
                         lb_error *err)
{
    const json_t *h = c->header;
    const char *spec = json_string_value(json_object_get(h, "spec"));
    const json_t *plugins = json_object_get(h, "plugins");
    for (size_t i = 0; i < json_array_size(plugins); i++) {
        const json_t *pl = json_array_get(plugins, i);
        const char *pn = json_string_value(json_object_get(pl, "name"));
        const char *pv = json_string_value(json_object_get(pl, "version"));
        lb_error e = {0};
        if (lb_plugin_use(in, pn, NULL, &e) < 0) {
            ck_error(err, path, "needs plugin %s%s%s to rebuild its model, which cannot be loaded: %s",
                     pn, pv && *pv ? " " : "", pv && *pv ? pv : "", e.evalue ? e.evalue : "?");
            lb_error_clear(&e);
            return NULL;
        }
    }
    lb_error e = {0};
    lb_node *expr = lb_parse_expression(spec, &e);
    const char *bad = NULL;
    if (!expr || !spec_safe(in, expr, &bad)) {
        if (expr)
            ck_error(err, path, "cannot rebuild its model: the spec `%s` uses `%s`, which is not a "
                     "layer type of a loaded plugin", spec, bad);
        else
            ck_error(err, path, "cannot rebuild its model: the spec `%s` does not parse (%s)", spec,
                     e.evalue ? e.evalue : "?");
        lb_node_free(expr);
        lb_error_clear(&e);
        return NULL;
    }
    /* evaluated and built among no user variables: `cnn = 3` must not hide the layer type,
     * and `model` must not assign before the weights are in */
    lb_value *scratch = lb_map_new(), *user = in->globals, *mv = NULL;
    lb_output out = *lb_interp_output(in);
    char *src = NULL;
    if (!scratch) {
        lb_node_free(expr);
        lb_oom(err);
        return NULL;
    }
    in->globals = scratch;
    lb_interp_set_output(in, NULL);
    lb_value *layers = lb_eval(in, expr, &e);
    lb_node_free(expr);
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(h, "seed"));
    if (layers && lb_map_set_take(scratch, "layers", layers) == 0) {
        char shape[600];
        rebuild_input_text(c, shape, sizeof shape);
        if (asprintf(&src, "model %s = layers input=%s seed=%" PRIu64, name, shape,
                     seed < (1ULL << 53) ? seed : 0) < 0)
            src = NULL;
    }
    lb_node *prog = src ? lb_parse(src, in->cmds, &e, NULL) : NULL;
    if (prog && prog->nkids == 1 && lb_exec(in, prog->kids[0], NULL, &e) == 0)
        mv = lb_incref(lb_map_get(scratch, name));
    lb_node_free(prog);
    free(src);
    in->globals = user;
    lb_interp_set_output(in, &out);
    lb_decref(scratch);
    if (!lb_model_from_value(mv)) {
        if (e.evalue && strcmp(e.ename, "Interrupted") == 0) /* not the file's fault */
            lb_error_set(err, e.ename, 0, 0, "%s", e.evalue);
        else
            ck_error(err, path, "cannot rebuild its model %s: %s%s%s", spec, e.evalue ? e.ename : "",
                     e.evalue ? ": " : "", e.evalue ? e.evalue : "out of memory");
        lb_error_clear(&e);
        lb_decref(mv);
        return NULL;
    }
    lb_error_clear(&e);
    return mv;
}

int lb_checkpoint_load(lb_interp *in, const char *name, const char *path, lb_value **model,
                       lb_error *err)
{
    if (model)
        *model = NULL;
    ckpt c;
    if (ckpt_read(in, path, &c, err) < 0)
        return -1;
    lb_value *mv = lb_interp_get(in, name);
    lb_model *m = lb_model_from_value(mv);
    if (m) {
        lb_incref(mv);
    } else {
        mv = rebuild(in, &c, name, path, err);
        m = lb_model_from_value(mv);
        if (!m) {
            ckpt_free(&c);
            return -1;
        }
    }
    if (check_fit(&c, m, path, err) < 0) {
        ckpt_free(&c);
        lb_decref(mv);
        return -1;
    }
    warn_differences(in, &c, m, path);
    copy_weights(&c, m);
    ckpt_free(&c);
    if (lb_interp_get(in, name) != mv && lb_interp_set(in, name, mv) < 0) {
        lb_decref(mv);
        return lb_oom(err);
    }
    if (model)
        *model = mv;
    else
        lb_decref(mv);
    return 0;
}

/* ---- the `load` command ---------------------------------------------------------------------------- */

static int cmd_load(lb_cmd_call *call, lb_error *err)
{
    const char *name = lb_call_arg_name(call, 0, err);
    if (!name)
        return -1;
    lb_value *path = lb_call_arg(call, 1, err);
    if (!path)
        return -1;
    if (path->kind != LB_STR || path->u.str.len == 0 || strlen(path->u.str.s) != path->u.str.len) {
        lb_decref(path);
        return lb_node_error(err, call->args[1], "TypeError",
                             "load needs a file name, as in `load %s \"model.lbc\"`", name);
    }
    lb_value *mv = NULL;
    int rc = lb_checkpoint_load(call->in, name, path->u.str.s, &mv, err);
    if (rc < 0) {
        lb_error_locate(err, call->args[1]->line, call->args[1]->col, call->args[1]->span);
    } else {
        char *r = lb_repr(mv); /* "<model a = cnn(...): 8 layers, ...>" */
        size_t n = r ? strlen(r) : 0;
        char *line = NULL;
        if (n > 8 && strncmp(r, "<model ", 7) == 0 &&
            asprintf(&line, "%.*s, loaded from %s\n", (int)(n - 8), r + 7, path->u.str.s) >= 0) {
            lb_emit_stream(call->in, LB_STDOUT, line, strlen(line));
            free(line);
        }
        free(r);
        lb_decref(mv);
    }
    lb_decref(path);
    return rc;
}

static const lb_command checkpoint_commands[] = {
    {.name = "load", .synopsis = "load NAME \"file\"",
     .doc = "Reads a checkpoint written by `save MODEL \"file\"`. When the variable NAME holds a\n"
            "model, the file's weights are loaded into it: every tensor's name and shape must\n"
            "match the model's. Otherwise the model is rebuilt from the file (its layers, input\n"
            "shape and seed; the plugins it needs are loaded with `use`) and stored in NAME.\n"
            "A file that is not a checkpoint, truncated, corrupted (its SHA-256 does not match),\n"
            "of a newer format or too big for the memory available, and a model it does not\n"
            "fit, are a CheckpointError that leaves the model untouched; a missing file is a\n"
            "FileNotFoundError. Gradients and optimizer state are reset.",
     .example = "save a \"a.lbc\"\nload a \"a.lbc\"\nload b \"a.lbc\"",
     .min_args = 2, .max_args = 2, .hint = LB_ARGS_VARIABLES, .handler = cmd_load},
};

int lb_register_checkpoint_commands(lb_interp *in, lb_error *err)
{
    return lb_interp_register_commands(in, checkpoint_commands,
                                       sizeof checkpoint_commands / sizeof checkpoint_commands[0],
                                       err);
}
