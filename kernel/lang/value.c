/* value.c — refcounted labbook values (value.h): constructors, lists, insertion-ordered maps,
 * equality, truthiness, repr/str text forms and mime bundles. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/value.h"
#include "lang/interp.h"
#include "base/strbuf.h"
#include "base/utf8.h"

static lb_value none_value = {.refs = -1, .kind = LB_NONE};
static lb_value true_value = {.refs = -1, .kind = LB_BOOL, .u.b = true};
static lb_value false_value = {.refs = -1, .kind = LB_BOOL, .u.b = false};

lb_value *lb_none(void) { return &none_value; }
lb_value *lb_bool(bool b) { return b ? &true_value : &false_value; }

static lb_value *alloc_value(lb_kind kind)
{
    lb_value *v = calloc(1, sizeof *v);
    if (v) {
        v->refs = 1;
        v->kind = kind;
    }
    return v;
}

lb_value *lb_num(double x)
{
    lb_value *v = alloc_value(LB_NUM);
    if (v)
        v->u.num = x;
    return v;
}

lb_value *lb_strn(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    lb_value *v = alloc_value(LB_STR);
    if (!v) {
        free(copy);
        return NULL;
    }
    v->u.str.s = copy;
    v->u.str.len = len;
    return v;
}

lb_value *lb_str(const char *s)
{
    return lb_strn(s ? s : "", s ? strlen(s) : 0);
}

lb_value *lb_str_take(char *s)
{
    if (!s)
        return NULL;
    lb_value *v = alloc_value(LB_STR);
    if (!v) {
        free(s);
        return NULL;
    }
    v->u.str.s = s;
    v->u.str.len = strlen(s);
    return v;
}

lb_value *lb_list_new(void) { return alloc_value(LB_LIST); }
lb_value *lb_map_new(void) { return alloc_value(LB_MAP); }

lb_value *lb_func_new(const char *name, const char *signature, const char *doc, lb_builtin_fn fn,
                      void *data)
{
    lb_value *v = alloc_value(LB_FUNC);
    if (v) {
        v->u.func.name = name;
        v->u.func.signature = signature;
        v->u.func.doc = doc;
        v->u.func.fn = fn;
        v->u.func.data = data;
    }
    return v;
}

lb_value *lb_method_new(const char *name, const char *signature, const char *doc, lb_builtin_fn fn,
                        lb_value *self)
{
    lb_value *v = lb_func_new(name, signature, doc, fn, self);
    if (v)
        v->u.func.self = lb_incref(self);
    return v;
}

lb_value *lb_object_new(const lb_class *cls, void *data)
{
    lb_value *v = alloc_value(LB_OBJECT);
    if (!v) {
        if (cls && cls->free)
            cls->free(data);
        return NULL;
    }
    v->u.obj.cls = cls;
    v->u.obj.data = data;
    return v;
}

void *lb_object_data(const lb_value *v, const lb_class *cls)
{
    return v && v->kind == LB_OBJECT && v->u.obj.cls == cls ? v->u.obj.data : NULL;
}

lb_value *lb_incref(lb_value *v)
{
    if (v && v->refs >= 0)
        v->refs++;
    return v;
}

/* Frees v's own storage; children whose count drops to zero are pushed on *stack to be
 * freed by the caller's loop (iteratively, so that deeply nested values cannot overflow the C
 * stack). When the stack cannot grow, the child is freed recursively instead. */
typedef struct {
    lb_value **items;
    size_t len, cap;
} free_stack;

static void free_one(lb_value *v, free_stack *st);

static void release_child(lb_value *c, free_stack *st)
{
    if (!c || c->refs < 0 || --c->refs > 0)
        return;
    if (st->len == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        lb_value **items = realloc(st->items, cap * sizeof *items);
        if (!items) {
            free_stack local = {0};
            free_one(c, &local);
            while (local.len)
                free_one(local.items[--local.len], &local);
            free(local.items);
            return;
        }
        st->items = items;
        st->cap = cap;
    }
    st->items[st->len++] = c;
}

static void free_one(lb_value *v, free_stack *st)
{
    switch (v->kind) {
    case LB_STR:
        free(v->u.str.s);
        break;
    case LB_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            release_child(v->u.list.items[i], st);
        free(v->u.list.items);
        break;
    case LB_MAP:
        for (size_t i = 0; i < v->u.map.len; i++) {
            free(v->u.map.entries[i].key);
            release_child(v->u.map.entries[i].value, st);
        }
        free(v->u.map.entries);
        break;
    case LB_OBJECT:
        if (v->u.obj.cls && v->u.obj.cls->free)
            v->u.obj.cls->free(v->u.obj.data);
        break;
    case LB_FUNC:
        if (v->u.func.self)
            release_child(v->u.func.self, st);
        break;
    default:
        break;
    }
    free(v);
}

void lb_decref(lb_value *v)
{
    if (!v || v->refs < 0)
        return;
    if (--v->refs > 0)
        return;
    if (v->kind != LB_LIST && v->kind != LB_MAP) {
        free_one(v, NULL);
        return;
    }
    free_stack st = {0};
    free_one(v, &st);
    while (st.len)
        free_one(st.items[--st.len], &st);
    free(st.items);
}

/* ---- lists ----------------------------------------------------------------------------- */

int lb_list_reserve(lb_value *list, size_t n)
{
    if (!list || list->kind != LB_LIST)
        return -1;
    if (n <= list->u.list.cap)
        return 0;
    if (n > SIZE_MAX / sizeof(lb_value *))
        return -1;
    lb_value **items = realloc(list->u.list.items, n * sizeof *items);
    if (!items)
        return -1;
    list->u.list.items = items;
    list->u.list.cap = n;
    return 0;
}

int lb_list_append(lb_value *list, lb_value *item)
{
    if (!list || list->kind != LB_LIST || !item)
        return -1;
    if (list->u.list.len == list->u.list.cap &&
        lb_list_reserve(list, list->u.list.cap ? list->u.list.cap * 2 : 4) < 0)
        return -1;
    list->u.list.items[list->u.list.len++] = lb_incref(item);
    return 0;
}

int lb_list_append_take(lb_value *list, lb_value *item)
{
    int r = lb_list_append(list, item);
    lb_decref(item);
    return r;
}

size_t lb_list_len(const lb_value *list)
{
    return list && list->kind == LB_LIST ? list->u.list.len : 0;
}

lb_value *lb_list_get(const lb_value *list, size_t i)
{
    if (!list || list->kind != LB_LIST || i >= list->u.list.len)
        return NULL;
    return list->u.list.items[i];
}

/* ---- maps ------------------------------------------------------------------------------ */

static lb_map_entry *map_find(const lb_value *map, const char *key)
{
    for (size_t i = 0; i < map->u.map.len; i++)
        if (strcmp(map->u.map.entries[i].key, key) == 0)
            return &map->u.map.entries[i];
    return NULL;
}

int lb_map_set(lb_value *map, const char *key, lb_value *value)
{
    if (!map || map->kind != LB_MAP || !key || !value)
        return -1;
    lb_map_entry *e = map_find(map, key);
    if (e) {
        lb_value *old = e->value;
        e->value = lb_incref(value);
        lb_decref(old);
        return 0;
    }
    if (map->u.map.len == map->u.map.cap) {
        size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 8;
        lb_map_entry *entries = realloc(map->u.map.entries, cap * sizeof *entries);
        if (!entries)
            return -1;
        map->u.map.entries = entries;
        map->u.map.cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    map->u.map.entries[map->u.map.len].key = k;
    map->u.map.entries[map->u.map.len].value = lb_incref(value);
    map->u.map.len++;
    return 0;
}

int lb_map_set_take(lb_value *map, const char *key, lb_value *value)
{
    int r = lb_map_set(map, key, value);
    lb_decref(value);
    return r;
}

lb_value *lb_map_get(const lb_value *map, const char *key)
{
    if (!map || map->kind != LB_MAP || !key)
        return NULL;
    lb_map_entry *e = map_find(map, key);
    return e ? e->value : NULL;
}

bool lb_map_del(lb_value *map, const char *key)
{
    if (!map || map->kind != LB_MAP || !key)
        return false;
    lb_map_entry *e = map_find(map, key);
    if (!e)
        return false;
    size_t i = (size_t)(e - map->u.map.entries);
    free(e->key);
    lb_decref(e->value);
    memmove(&map->u.map.entries[i], &map->u.map.entries[i + 1],
            (map->u.map.len - i - 1) * sizeof *e);
    map->u.map.len--;
    return true;
}

size_t lb_map_len(const lb_value *map)
{
    return map && map->kind == LB_MAP ? map->u.map.len : 0;
}

/* ---- predicates ------------------------------------------------------------------------ */

const char *lb_type_name(const lb_value *v)
{
    if (!v)
        return "none";
    switch (v->kind) {
    case LB_NONE: return "none";
    case LB_BOOL: return "bool";
    case LB_NUM: return "number";
    case LB_STR: return "string";
    case LB_LIST: return "list";
    case LB_MAP: return "map";
    case LB_FUNC: return "function";
    case LB_OBJECT: return v->u.obj.cls && v->u.obj.cls->name ? v->u.obj.cls->name : "object";
    }
    return "value";
}

bool lb_truthy(const lb_value *v)
{
    if (!v)
        return false;
    switch (v->kind) {
    case LB_NONE: return false;
    case LB_BOOL: return v->u.b;
    case LB_NUM: return v->u.num != 0 && !isnan(v->u.num);
    case LB_STR: return v->u.str.len > 0;
    case LB_LIST: return v->u.list.len > 0;
    case LB_MAP: return v->u.map.len > 0;
    default: return true;
    }
}

/* Structural equality, bounded in work as well as in depth. Values share sublists
 * (`[a] * 1000` holds a thousand references to one list), so two values built apart can
 * stand for 10^9 elements each while holding a few thousand: every pair of shared lists or
 * maps found equal is remembered, and meeting it again costs one lookup. The walk polls for
 * interrupts, and nesting deeper than EQUAL_MAX_DEPTH is refused, never answered wrongly. */
enum { EQUAL_MAX_DEPTH = 10000, EQUAL_MEMO_MAX = 1 << 20 };

typedef struct {
    const lb_value **pairs; /* open addressing: [2*i], [2*i+1]; NULL = free slot */
    size_t cap, len;
    size_t steps;
    bool too_deep, interrupted, oom;
} equal_walk;

static size_t pair_hash(const lb_value *a, const lb_value *b, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15u ^ (uint64_t)(uintptr_t)b;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9u;
    h ^= h >> 32;
    return (size_t)h & (cap - 1);
}

static bool memo_has(const equal_walk *w, const lb_value *a, const lb_value *b)
{
    if (!w->len)
        return false;
    for (size_t i = pair_hash(a, b, w->cap);; i = (i + 1) & (w->cap - 1)) {
        if (!w->pairs[2 * i])
            return false;
        if (w->pairs[2 * i] == a && w->pairs[2 * i + 1] == b)
            return true;
    }
}

static void memo_put(equal_walk *w, const lb_value *a, const lb_value *b)
{
    if (w->len >= EQUAL_MEMO_MAX || w->oom)
        return; /* a full memo only makes later comparisons slower, never wrong */
    if (2 * (w->len + 1) > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        const lb_value **pairs = calloc(2 * cap, sizeof *pairs);
        if (!pairs) {
            w->oom = true;
            return;
        }
        for (size_t i = 0; i < w->cap; i++) {
            if (!w->pairs[2 * i])
                continue;
            size_t j = pair_hash(w->pairs[2 * i], w->pairs[2 * i + 1], cap);
            while (pairs[2 * j])
                j = (j + 1) & (cap - 1);
            pairs[2 * j] = w->pairs[2 * i];
            pairs[2 * j + 1] = w->pairs[2 * i + 1];
        }
        free(w->pairs);
        w->pairs = pairs;
        w->cap = cap;
    }
    size_t i = pair_hash(a, b, w->cap);
    while (w->pairs[2 * i])
        i = (i + 1) & (w->cap - 1);
    w->pairs[2 * i] = a;
    w->pairs[2 * i + 1] = b;
    w->len++;
}

static bool equal_at(equal_walk *w, const lb_value *a, const lb_value *b, int depth);

int lb_equal(const lb_value *a, const lb_value *b, lb_error *err)
{
    equal_walk w = {0};
    bool eq = equal_at(&w, a, b, 0);
    free(w.pairs);
    if (w.interrupted)
        return lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
    if (w.too_deep)
        return lb_error_set(err, "ValueError", 0, 0,
                            "values nested more than %d levels deep cannot be compared",
                            EQUAL_MAX_DEPTH);
    return eq;
}

/* Whether the walk must stop (an interrupt, polled, or too deep). */
static bool walk_stopped(equal_walk *w)
{
    if (++w->steps % LB_POLL_EVERY == 0 && lb_interrupt_pending())
        w->interrupted = true;
    return w->interrupted || w->too_deep;
}

static bool equal_at(equal_walk *w, const lb_value *a, const lb_value *b, int depth)
{
    if (depth > EQUAL_MAX_DEPTH) {
        w->too_deep = true;
        return false;
    }
    if (a == b)
        return !(a && a->kind == LB_NUM && isnan(a->u.num));
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case LB_NONE: return true;
    case LB_BOOL: return a->u.b == b->u.b;
    case LB_NUM: return a->u.num == b->u.num;
    case LB_STR:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case LB_LIST:
    case LB_MAP: {
        bool list = a->kind == LB_LIST;
        size_t n = list ? a->u.list.len : a->u.map.len;
        if (n != (list ? b->u.list.len : b->u.map.len))
            return false;
        /* only a pair of values both held in several places can be met again */
        bool shared = n > 0 && (a->refs > 1 || a->refs < 0) && (b->refs > 1 || b->refs < 0);
        if (shared && memo_has(w, a, b))
            return true;
        for (size_t i = 0; i < n; i++) {
            if (walk_stopped(w))
                return false;
            const lb_value *x = list ? a->u.list.items[i] : a->u.map.entries[i].value;
            const lb_value *y;
            if (list)
                y = b->u.list.items[i];
            else if (strcmp(b->u.map.entries[i].key, a->u.map.entries[i].key) == 0)
                y = b->u.map.entries[i].value; /* same order: no search */
            else
                y = lb_map_get(b, a->u.map.entries[i].key);
            if (!y || !equal_at(w, x, y, depth + 1))
                return false;
        }
        if (shared)
            memo_put(w, a, b);
        return true;
    }
    case LB_FUNC: return a->u.func.fn == b->u.func.fn && a->u.func.data == b->u.func.data;
    case LB_OBJECT: return a->u.obj.data == b->u.obj.data && a->u.obj.cls == b->u.obj.cls;
    }
    return false;
}

bool lb_is_int(const lb_value *v)
{
    return v && v->kind == LB_NUM && isfinite(v->u.num) && v->u.num == floor(v->u.num);
}

/* ---- text ------------------------------------------------------------------------------ */

size_t lb_str_codepoints(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

lb_value *lb_shape_list(int ndim, const int64_t *shape)
{
    lb_value *l = lb_list_new();
    for (int i = 0; l && i < ndim; i++)
        if (lb_list_append_take(l, lb_num((double)shape[i])) < 0) {
            lb_decref(l);
            return NULL;
        }
    return l;
}

/* ---- bounded text ----------------------------------------------------------------------
 * A value may stand for far more text than it holds: `c = [[[0] * 1000] * 1000] * 1000` is a
 * few thousand list slots, but its repr would be 10^9 numbers long. So the text of a value is
 * never built whole and cut afterwards: the builder appends only up to its budget (code
 * points and bytes), notes that more was left, and the walk stops there. Its cost is bounded
 * by the budget, not by the size of the value. */

typedef struct {
    lb_strbuf sb;
    size_t cps, max_cps, max_bytes; /* code points so far, and the budget */
    bool cut;                       /* more text was left when the budget ran out */
    bool interruptible, interrupted;
    size_t steps;                   /* items walked (interrupt polls) */
} text_builder;

/* Appends s[0..n) as far as the budget allows, never splitting a code point. */
static void tb_addn(text_builder *t, const char *s, size_t n)
{
    if (t->cut || t->interrupted || n == 0)
        return;
    size_t i = 0, cps = t->cps, room = t->max_bytes - t->sb.len;
    while (i < n) {
        size_t k = i + 1;
        while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
            k++;
        if (cps == t->max_cps || k > room) {
            t->cut = true;
            break;
        }
        cps++;
        i = k;
    }
    lb_sb_addn(&t->sb, s, i);
    t->cps = cps;
}

static void tb_add(text_builder *t, const char *s) { tb_addn(t, s, strlen(s)); }

/* True when the walk must stop: the budget is spent, or (polled) an interrupt. */
static bool tb_done(text_builder *t)
{
    if (t->cut || t->interrupted || t->sb.oom)
        return true;
    if (t->interruptible && ++t->steps % LB_POLL_EVERY == 0 && lb_interrupt_pending())
        t->interrupted = true;
    return t->interrupted;
}

static void repr_string(text_builder *t, const char *s, size_t len)
{
    tb_add(t, "\"");
    size_t run = 0; /* characters that need no escape are appended in runs */
    for (size_t i = 0; i < len && !t->cut; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\t': esc = "\\t"; break;
        case '\r': esc = "\\r"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (!esc)
            continue;
        tb_addn(t, s + run, i - run);
        tb_add(t, esc);
        run = i + 1;
    }
    tb_addn(t, s + run, len - run);
    tb_add(t, "\"");
}

static bool is_bare_key(const char *k)
{
    if (!k[0] || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_'))
        return false;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return strcmp(k, "true") && strcmp(k, "false") && strcmp(k, "none") && strcmp(k, "and") &&
           strcmp(k, "or") && strcmp(k, "not");
}

static void repr_into(text_builder *t, const lb_value *v, bool raw_string, int depth)
{
    char num[40];
    if (tb_done(t))
        return;
    if (depth > 64) {
        tb_add(t, "...");
        return;
    }
    switch (v->kind) {
    case LB_NONE: tb_add(t, "none"); break;
    case LB_BOOL: tb_add(t, v->u.b ? "true" : "false"); break;
    case LB_NUM:
        lb_format_number(v->u.num, num, sizeof num);
        tb_add(t, num);
        break;
    case LB_STR:
        if (raw_string)
            tb_addn(t, v->u.str.s, v->u.str.len);
        else
            repr_string(t, v->u.str.s, v->u.str.len);
        break;
    case LB_LIST:
        tb_add(t, "[");
        for (size_t i = 0; i < v->u.list.len && !tb_done(t); i++) {
            if (i)
                tb_add(t, ", ");
            repr_into(t, v->u.list.items[i], false, depth + 1);
        }
        tb_add(t, "]");
        break;
    case LB_MAP:
        tb_add(t, "{");
        for (size_t i = 0; i < v->u.map.len && !tb_done(t); i++) {
            if (i)
                tb_add(t, ", ");
            const char *k = v->u.map.entries[i].key;
            if (is_bare_key(k))
                tb_add(t, k);
            else
                repr_string(t, k, strlen(k));
            tb_add(t, ": ");
            repr_into(t, v->u.map.entries[i].value, false, depth + 1);
        }
        tb_add(t, "}");
        break;
    case LB_FUNC:
        tb_add(t, "<function ");
        tb_add(t, v->u.func.signature ? v->u.func.signature : v->u.func.name);
        tb_add(t, ">");
        break;
    case LB_OBJECT: {
        char *r = v->u.obj.cls && v->u.obj.cls->repr ? v->u.obj.cls->repr(v) : NULL;
        if (r) {
            tb_add(t, r);
            free(r);
        } else {
            tb_add(t, "<");
            tb_add(t, lb_type_name(v));
            tb_add(t, " object>");
        }
        break;
    }
    }
}

int lb_text_within(const lb_value *v, bool raw, size_t max_cps, size_t max_bytes,
                   bool interruptible, char **out, lb_error *err)
{
    *out = NULL;
    text_builder t = {.max_cps = max_cps, .max_bytes = max_bytes, .interruptible = interruptible};
    repr_into(&t, v ? v : lb_none(), raw, 0);
    if (t.interrupted) {
        free(t.sb.buf);
        return lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
    }
    if (t.sb.oom || !(*out = t.sb.buf ? t.sb.buf : strdup(""))) {
        free(t.sb.buf);
        return lb_oom(err);
    }
    return t.cut ? 0 : 1;
}

void lb_describe_size(const lb_value *v, char *buf, size_t size)
{
    char n[32];
    switch (v->kind) {
    case LB_STR:
        lb_format_count((int64_t)lb_str_codepoints(v->u.str.s, v->u.str.len), n, sizeof n);
        snprintf(buf, size, "a string of %s characters", n);
        break;
    case LB_LIST:
        lb_format_count((int64_t)v->u.list.len, n, sizeof n);
        snprintf(buf, size, "a list of %s items", n);
        break;
    case LB_MAP:
        lb_format_count((int64_t)v->u.map.len, n, sizeof n);
        snprintf(buf, size, "a map of %s entries", n);
        break;
    default:
        snprintf(buf, size, "a %s", lb_type_name(v));
    }
}

char *lb_text_shown(const lb_value *v, bool raw, bool interruptible, lb_error *err)
{
    if (!v)
        v = lb_none();
    char *text;
    int whole = lb_text_within(v, raw, LB_SHOW_MAX, SIZE_MAX, interruptible, &text, err);
    if (whole != 0)
        return whole > 0 ? text : NULL;
    char what[80], max[32];
    lb_describe_size(v, what, sizeof what);
    lb_format_count(LB_SHOW_MAX, max, sizeof max);
    char *shown = NULL;
    if (asprintf(&shown, "%s\xe2\x80\xa6 (cut at %s characters: %s)", text, max, what) < 0)
        shown = NULL;
    free(text);
    if (!shown)
        lb_oom(err);
    return shown;
}

char *lb_repr(const lb_value *v) { return lb_text_shown(v, false, false, NULL); }
char *lb_to_text(const lb_value *v) { return lb_text_shown(v, true, false, NULL); }

char *lb_text_cut(const lb_value *v, bool raw, size_t max_cp, const char *mark)
{
    size_t mark_cp = lb_str_codepoints(mark, strlen(mark));
    if (max_cp <= mark_cp)
        max_cp = mark_cp + 1;
    char *r;
    if (lb_text_within(v, raw, max_cp, SIZE_MAX, false, &r, NULL) != 0)
        return r; /* whole (or NULL: out of memory) */
    /* longer than max_cp: its first max_cp - mark_cp code points, then the mark */
    size_t n = 0, i = 0;
    for (; r[i]; i++)
        if (((unsigned char)r[i] & 0xC0) != 0x80 && n++ == max_cp - mark_cp)
            break;
    char *out = malloc(i + strlen(mark) + 1);
    if (out) {
        memcpy(out, r, i);
        strcpy(out + i, mark);
    }
    free(r);
    return out;
}

char *lb_repr_short(const lb_value *v, size_t max_cp) { return lb_text_cut(v, false, max_cp, "..."); }

json_t *lb_value_bundle(const lb_value *v, json_t **metadata_out, lb_error *err)
{
    if (metadata_out)
        *metadata_out = NULL;
    char *text = lb_text_shown(v, false, true, err);
    if (!text)
        return NULL;
    json_t *bundle = json_object();
    if (!bundle) {
        free(text);
        lb_oom(err);
        return NULL;
    }
    json_object_set_new(bundle, "text/plain", lb_json_text(text, strlen(text))); /* always there */
    free(text);
    if (v && v->kind == LB_OBJECT && v->u.obj.cls && v->u.obj.cls->display) {
        json_t *meta = json_object();
        if (v->u.obj.cls->display(v, bundle, meta, err) < 0) {
            json_decref(meta);
            json_decref(bundle);
            return NULL;
        }
        if (metadata_out && json_object_size(meta) > 0)
            *metadata_out = meta;
        else
            json_decref(meta);
    }
    return bundle;
}
