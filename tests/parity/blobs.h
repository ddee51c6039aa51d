/* blobs.h — the blob files ("LBT1") the parity drivers read and write, and their failure exit
 * (drivers are test programs: they may exit). A file: "LBT1", u32 count, then per tensor u32 name
 * length, the name, u32 ndim, ndim i64 dims, the float32 values. Include once, after defining
 * DRIVER (the program's name for messages). Also put_params, for the model drivers. */
#ifndef LB_PARITY_BLOBS_H
#define LB_PARITY_BLOBS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct { char name[96]; int ndim; int64_t shape[4]; int64_t n; float *data; } blob;

static blob ins[16], outs[512];
static int nins, nouts;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, DRIVER ": %s: %s\n", what, msg ? msg : "?");
    exit(1);
}

static void read_blobs(const char *path)
{
    FILE *f = fopen(path, "rb");
    char m[4];
    uint32_t n;
    if (!f || fread(m, 1, 4, f) != 4 || memcmp(m, "LBT1", 4) || fread(&n, 4, 1, f) != 1 || n > 16)
        die(path, "not a blob file");
    for (uint32_t i = 0; i < n; i++) {
        blob *b = &ins[nins++];
        uint32_t len, nd;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof b->name || fread(b->name, 1, len, f) != len ||
            fread(&nd, 4, 1, f) != 1 || nd > 4 || fread(b->shape, 8, nd, f) != nd)
            die(path, "bad header");
        b->name[len] = 0;
        b->ndim = (int)nd;
        b->n = 1;
        for (uint32_t d = 0; d < nd; d++)
            b->n *= b->shape[d];
        b->data = malloc((size_t)(b->n ? b->n : 1) * sizeof(float));
        if (!b->data || fread(b->data, sizeof(float), (size_t)b->n, f) != (size_t)b->n)
            die(path, "short data");
    }
    fclose(f);
}

static const blob *input(const char *name)
{
    for (int i = 0; i < nins; i++)
        if (strcmp(ins[i].name, name) == 0)
            return &ins[i];
    die("missing input", name);
    return NULL;
}

static void put(const char *prefix, const char *name, int ndim, const int64_t *shape, const float *data)
{
    if (nouts >= (int)(sizeof outs / sizeof outs[0]))
        die("output", "too many tensors");
    blob *b = &outs[nouts++];
    snprintf(b->name, sizeof b->name, "%s%s", prefix, name);
    b->ndim = ndim;
    b->n = 1;
    for (int d = 0; d < ndim; d++) {
        b->shape[d] = shape[d];
        b->n *= shape[d];
    }
    b->data = malloc((size_t)(b->n ? b->n : 1) * sizeof(float));
    if (!b->data)
        die("output", "out of memory");
    memcpy(b->data, data, (size_t)b->n * sizeof(float));
}

static void write_blobs(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die(path, "cannot write");
    uint32_t n = (uint32_t)nouts;
    fwrite("LBT1", 1, 4, f);
    fwrite(&n, 4, 1, f);
    for (int i = 0; i < nouts; i++) {
        blob *b = &outs[i];
        uint32_t len = (uint32_t)strlen(b->name), nd = (uint32_t)b->ndim;
        fwrite(&len, 4, 1, f);
        fwrite(b->name, 1, len, f);
        fwrite(&nd, 4, 1, f);
        fwrite(b->shape, 8, nd, f);
        fwrite(b->data, sizeof(float), (size_t)b->n, f);
    }
    if (fclose(f))
        die(path, "cannot write");
}

/* Every parameter and buffer of P (grads: the gradients of the trainable ones) as "PREFIXNAME". */
static inline void put_params(const char *prefix, lb_params *P, int grads)
{
    for (int i = 0; i < lb_params_count(P); i++) {
        lb_tensor *t = lb_params_get(P, i);
        if (grads && !t->trainable)
            continue;
        put(prefix, t->name, t->ndim, t->shape, grads ? t->grad : t->data);
    }
}

#endif
