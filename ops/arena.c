/* arena.c — the step arena: a chunked bump allocator (64-byte aligned) whose reset keeps one
 * chunk as large as the peak use, so a training loop stops calling malloc after its first step;
 * and the large aligned blocks it and the parameter blocks (params.c) are made of. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "ops_impl.h"

/* Large blocks are mapped from the system and unmapped when freed, never taken from malloc.
 * Why: glibc raises its mmap threshold to the size of the largest mapped block freed so far
 * (up to 32 MB), so after the first one, arena chunks (4 MB and more) and parameter blocks
 * (1.9 MB for mlp()) came from the heap, where aligned_alloc requests of slightly different
 * sizes (a parameter block grows once per parameter) between small long-lived allocations left
 * holes just too small for the next request. The heap then only grew: a kernel alternating
 * "model a = mlp() and three plots, del" with "model k = cnn(), save, load, del" went from 105
 * MB of RSS after 250 cells to 585 MB after 2,000, nearly all of it free heap; with mapped
 * blocks it stays at 21 MB (tests/test_memory.py, bench/memory_soak). Under AddressSanitizer
 * the blocks stay in its allocator (no such fragmentation there), which catches overruns. */
#if defined(__SANITIZE_ADDRESS__)
#define LB_MAP_MIN SIZE_MAX
#else
#define LB_MAP_MIN ((size_t)128 << 10)
#endif

static size_t block_bytes(size_t bytes) { return bytes ? (bytes + 63) / 64 * 64 : 64; }

void *lb_block_alloc(size_t bytes) {
    size_t n = block_bytes(bytes);
    if (n < LB_MAP_MIN) return aligned_alloc(64, n);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p; /* page-aligned, zero-filled */
}

void *lb_block_realloc(void *p, size_t old_bytes, size_t bytes) {
    if (!p) return lb_block_alloc(bytes);
    size_t o = block_bytes(old_bytes), n = block_bytes(bytes);
    if (o >= LB_MAP_MIN && n >= LB_MAP_MIN) { /* the pages move, their contents are not copied */
        void *q = mremap(p, o, n, MREMAP_MAYMOVE);
        return q == MAP_FAILED ? NULL : q;
    }
    void *q = lb_block_alloc(bytes);
    if (!q) return NULL;
    memcpy(q, p, o < n ? o : n);
    lb_block_free(p, old_bytes);
    return q;
}

void lb_block_free(void *p, size_t bytes) {
    if (!p) return;
    size_t n = block_bytes(bytes);
    if (n < LB_MAP_MIN) free(p);
    else munmap(p, n);
}

struct lb_arena_chunk {
    lb_arena_chunk *next;
    size_t size, used;
    unsigned char *mem;
};

#define LB_ALIGN 64

static lb_arena_chunk *chunk_new(size_t size) {
    lb_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = lb_block_alloc(size);
    if (!c->mem) { free(c); return NULL; }
    c->size = size; c->used = 0; c->next = NULL;
    return c;
}

void lb_arena_init(lb_arena *a, size_t chunk_bytes) {
    a->head = NULL; a->used = 0; a->peak = 0; a->limit = 0;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : ((size_t)1 << 20);
}

void *lb_arena_alloc(lb_arena *a, size_t bytes) {
    size_t need = (bytes + LB_ALIGN - 1) / LB_ALIGN * LB_ALIGN;
    if (need == 0) need = LB_ALIGN;
    if (a->limit && a->used + need > a->limit) return NULL;
    lb_arena_chunk *c = a->head;
    if (!c || c->used + need > c->size) {
        size_t sz = a->chunk_bytes;
        if (c && c->size * 2 > sz) sz = c->size * 2;
        if (sz < need) sz = need;
        lb_arena_chunk *n = chunk_new(sz);
        if (!n) return NULL;
        n->next = c; a->head = n; c = n;
    }
    void *p = c->mem + c->used;
    c->used += need; a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void lb_arena_reset(lb_arena *a) {
    lb_arena_chunk *c = a->head;
    if (!c) return;
    if (c->next) { /* several chunks: replace all by one of peak size */
        while (c) { lb_arena_chunk *n = c->next; lb_block_free(c->mem, c->size); free(c); c = n; }
        a->head = chunk_new(a->peak > a->chunk_bytes ? a->peak : a->chunk_bytes);
    } else {
        c->used = 0;
    }
    a->used = 0;
}

void lb_arena_destroy(lb_arena *a) {
    lb_arena_chunk *c = a->head;
    while (c) { lb_arena_chunk *n = c->next; lb_block_free(c->mem, c->size); free(c); c = n; }
    a->head = NULL; a->used = 0;
}
