/* params.c — the parameter block of a model: one 64-byte aligned allocation holding every
 * parameter (and buffer such as running statistics), its gradient and the optimizer state, as
 * equal sections [data | grad | state 0 | state 1]; plus checkpoint save/load (one write). */
#include <stdio.h>
#include <stdlib.h>

#include "ops_impl.h"

struct lb_params {
    lb_tensor **t;
    int n, cap;
    float *block;
    size_t sec;  /* floats per section */
    int nstate;
    int64_t optim_step; /* steps the optimizer has taken (saved with the state) */
};

static size_t padded(int64_t numel) { return (size_t)((numel + 15) / 16 * 16); }
static size_t block_size(size_t sec, int nstate) { return (size_t)(2 + nstate) * sec * sizeof(float); }

lb_params *lb_params_new(void) { return calloc(1, sizeof(lb_params)); }

void lb_params_free(lb_params *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) { free((char *)p->t[i]->name); free(p->t[i]); }
    free(p->t);
    lb_block_free(p->block, block_size(p->sec, p->nstate));
    free(p);
}

static void relink(lb_params *p) {
    for (int i = 0; i < p->n; i++) {
        lb_tensor *t = p->t[i];
        t->data = p->block + t->poff;
        t->grad = t->trainable ? p->block + p->sec + t->poff : NULL;
    }
}

/* Grows to `sec` floats per section (not fewer than now) and `nstate` states (not fewer), keeping
 * what exists: the block is resized in place where it can be (a mapped block is remapped), then
 * each section moves up to its new offset, the last first, and everything new is zero. */
static int regrow(lb_params *p, size_t sec, int nstate) {
    size_t osec = p->sec, onsec = p->block ? (size_t)(2 + p->nstate) : 0, nsec = (size_t)(2 + nstate);
    float *nb = lb_block_realloc(p->block, block_size(osec, p->nstate), block_size(sec, nstate));
    if (!nb) return -1;
    for (size_t s = onsec < nsec ? onsec : nsec; s-- > 1;)
        memmove(nb + s * sec, nb + s * osec, osec * sizeof(float));
    for (size_t s = 0; s < nsec; s++) {
        size_t kept = s < onsec ? osec : 0;
        memset(nb + s * sec + kept, 0, (sec - kept) * sizeof(float));
    }
    p->block = nb;
    p->sec = sec;
    p->nstate = nstate;
    relink(p);
    return 0;
}

lb_tensor *lb_params_add(lb_params *p, const char *name, int ndim, const int64_t *shape, int trainable,
                         lb_status *st) {
    if (!name || !*name) { lb_status_set(st, LB_EVALUE, "params: a parameter needs a name"); return NULL; }
    if (ndim < 0 || ndim > LB_MAXDIM) { lb_status_set(st, LB_ESHAPE, "params: %s has %d dimensions (at most 4)", name, ndim); return NULL; }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) { lb_status_set(st, LB_ESHAPE, "params: %s has a negative dimension", name); return NULL; }
    if (lb_params_find(p, name)) { lb_status_set(st, LB_EVALUE, "params: duplicate name %s", name); return NULL; }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        lb_tensor **nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt) { lb_status_set(st, LB_ENOMEM, "params: out of memory"); return NULL; }
        p->t = nt;
        p->cap = cap;
    }
    lb_tensor *t = calloc(1, sizeof *t);
    char *nm = malloc(strlen(name) + 1);
    if (!t || !nm) { free(t); free(nm); lb_status_set(st, LB_ENOMEM, "params: out of memory"); return NULL; }
    strcpy(nm, name);
    t->name = nm;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    lb_contig_strides(ndim, t->shape, t->stride);
    t->numel = lb_numel_of(ndim, t->shape);
    t->trainable = trainable != 0;
    t->requires_grad = trainable != 0;
    t->poff = (int64_t)p->sec;
    p->t[p->n++] = t;
    if (regrow(p, p->sec + padded(t->numel), p->nstate)) {
        p->n--;
        free(nm);
        free(t);
        relink(p);
        lb_status_set(st, LB_ENOMEM, "params: out of memory");
        return NULL;
    }
    return t;
}

int lb_params_count(const lb_params *p) { return p->n; }
lb_tensor *lb_params_get(const lb_params *p, int i) { return i >= 0 && i < p->n ? p->t[i] : NULL; }

lb_tensor *lb_params_find(const lb_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i]->name, name) == 0) return p->t[i];
    return NULL;
}

int64_t lb_params_numel(const lb_params *p, int trainable_only) {
    int64_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (!trainable_only || p->t[i]->trainable) n += p->t[i]->numel;
    return n;
}

void lb_params_zero_grad(lb_params *p) {
    if (p->block) memset(p->block + p->sec, 0, p->sec * sizeof(float));
}

int lb_params_ensure_state(lb_params *p, int nstate, lb_status *st) {
    if (nstate <= p->nstate) return 0;
    if (regrow(p, p->sec, nstate)) return lb_status_set(st, LB_ENOMEM, "params: out of memory for optimizer state");
    return 0;
}

float *lb_params_state(lb_params *p, int k, const lb_tensor *t) {
    if (k < 0 || k >= p->nstate || t->poff < 0) return NULL;
    return p->block + (size_t)(2 + k) * p->sec + t->poff;
}

float *lb_params_block(lb_params *p, size_t *nfloats) {
    if (nfloats) *nfloats = (size_t)(2 + p->nstate) * p->sec;
    return p->block;
}

int lb_params_nstate(const lb_params *p) { return p->nstate; }

float *lb_params_values(lb_params *p, size_t *nfloats) {
    if (nfloats) *nfloats = p->sec;
    return p->block;
}

void lb_params_reset_state(lb_params *p) {
    if (p->block && p->nstate) memset(p->block + 2 * p->sec, 0, (size_t)p->nstate * p->sec * sizeof(float));
    p->optim_step = 0;
}
int64_t lb_params_optim_step(const lb_params *p) { return p->optim_step; }
void lb_params_set_optim_step(lb_params *p, int64_t t) { p->optim_step = t; }

/* File: "LBPARAM1", u32 count, u32 nstate, i64 optimizer step, then per tensor: u32 name length, name bytes,
 * u32 ndim, i64 shape[ndim], float data[numel], float state[nstate][numel]. Little-endian. */
int lb_params_save(const lb_params *p, const char *path, int with_state, lb_status *st) {
    FILE *f = fopen(path, "wb");
    if (!f) return lb_status_set(st, LB_EIO, "save: cannot open %s for writing", path);
    uint32_t n = (uint32_t)p->n, ns = with_state ? (uint32_t)p->nstate : 0;
    int64_t step = with_state ? p->optim_step : 0;
    int ok = fwrite("LBPARAM1", 1, 8, f) == 8 && fwrite(&n, 4, 1, f) == 1 && fwrite(&ns, 4, 1, f) == 1 &&
             fwrite(&step, 8, 1, f) == 1;
    for (int i = 0; ok && i < p->n; i++) {
        lb_tensor *t = p->t[i];
        uint32_t len = (uint32_t)strlen(t->name), nd = (uint32_t)t->ndim;
        ok = fwrite(&len, 4, 1, f) == 1 && fwrite(t->name, 1, len, f) == len && fwrite(&nd, 4, 1, f) == 1 &&
             fwrite(t->shape, 8, nd, f) == nd && fwrite(t->data, 4, (size_t)t->numel, f) == (size_t)t->numel;
        for (uint32_t k = 0; ok && k < ns; k++)
            ok = fwrite(p->block + (2 + k) * p->sec + t->poff, 4, (size_t)t->numel, f) == (size_t)t->numel;
    }
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : lb_status_set(st, LB_EIO, "save: write to %s failed", path);
}

int lb_params_load(lb_params *p, const char *path, lb_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) return lb_status_set(st, LB_EIO, "load: cannot open %s", path);
    char magic[8];
    uint32_t n, ns;
    int64_t step;
    int rc = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "LBPARAM1", 8) || fread(&n, 4, 1, f) != 1 || fread(&ns, 4, 1, f) != 1 ||
        fread(&step, 8, 1, f) != 1) {
        rc = lb_status_set(st, LB_EIO, "load: %s is not a labbook checkpoint", path);
        goto out;
    }
    if (ns && lb_params_ensure_state(p, (int)ns, st)) { rc = -1; goto out; }
    if (ns) p->optim_step = step;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len, nd;
        char name[256];
        int64_t shape[LB_MAXDIM];
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof name || fread(name, 1, len, f) != len || fread(&nd, 4, 1, f) != 1 ||
            nd > LB_MAXDIM || fread(shape, 8, nd, f) != nd) {
            rc = lb_status_set(st, LB_EIO, "load: %s is truncated or corrupt", path);
            goto out;
        }
        name[len] = 0;
        lb_tensor *t = lb_params_find(p, name);
        if (!t) { rc = lb_status_set(st, LB_EVALUE, "load: the model has no parameter %s", name); goto out; }
        int same = (int)nd == t->ndim;
        for (uint32_t d = 0; same && d < nd; d++) same = shape[d] == t->shape[d];
        if (!same) { rc = lb_status_set(st, LB_ESHAPE, "load: %s has a different shape in %s", name, path); goto out; }
        if (fread(t->data, 4, (size_t)t->numel, f) != (size_t)t->numel) {
            rc = lb_status_set(st, LB_EIO, "load: %s is truncated", path);
            goto out;
        }
        for (uint32_t k = 0; k < ns; k++)
            if (fread(p->block + (2 + k) * p->sec + t->poff, 4, (size_t)t->numel, f) != (size_t)t->numel) {
                rc = lb_status_set(st, LB_EIO, "load: %s is truncated", path);
                goto out;
            }
    }
out:
    fclose(f);
    return rc;
}
