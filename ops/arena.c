/* arena.c — the step arena: a chunked bump allocator (64-byte aligned) whose reset keeps one
 * chunk as large as the peak use, so a training loop stops calling malloc after its first step. */
#include <stdlib.h>

#include "ops.h"

struct lb_arena_chunk {
    lb_arena_chunk *next;
    size_t size, used;
    unsigned char *mem;
};

#define LB_ALIGN 64

static lb_arena_chunk *chunk_new(size_t size) {
    lb_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->mem = aligned_alloc(LB_ALIGN, (size + LB_ALIGN - 1) / LB_ALIGN * LB_ALIGN);
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
        while (c) { lb_arena_chunk *n = c->next; free(c->mem); free(c); c = n; }
        a->head = chunk_new(a->peak > a->chunk_bytes ? a->peak : a->chunk_bytes);
    } else {
        c->used = 0;
    }
    a->used = 0;
}

void lb_arena_destroy(lb_arena *a) {
    lb_arena_chunk *c = a->head;
    while (c) { lb_arena_chunk *n = c->next; free(c->mem); free(c); c = n; }
    a->head = NULL; a->used = 0;
}
