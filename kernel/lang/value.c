/* value.c — refcounted labbook values (value.h): constructors, lists, insertion-ordered maps,
 * equality, truthiness, repr/str text forms and mime bundles. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/value.h"
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

int lb_list_append(lb_value *list, lb_value *item)
{
    if (!list || list->kind != LB_LIST || !item)
        return -1;
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        lb_value **items = realloc(list->u.list.items, cap * sizeof *items);
        if (!items)
            return -1;
        list->u.list.items = items;
        list->u.list.cap = cap;
    }
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

enum { EQUAL_MAX_DEPTH = 10000 };
static bool equal_at(const lb_value *a, const lb_value *b, int depth, bool *too_deep);

int lb_equal(const lb_value *a, const lb_value *b, lb_error *err)
{
    bool too_deep = false;
    bool eq = equal_at(a, b, 0, &too_deep);
    if (too_deep)
        return lb_error_set(err, "ValueError", 0, 0,
                            "values nested more than %d levels deep cannot be compared",
                            EQUAL_MAX_DEPTH);
    return eq;
}

/* Structural equality. Recursion is bounded (the stack is finite): past EQUAL_MAX_DEPTH
 * levels the comparison gives up and says so through *too_deep, never a wrong answer. */
static bool equal_at(const lb_value *a, const lb_value *b, int depth, bool *too_deep)
{
    if (depth > EQUAL_MAX_DEPTH) {
        *too_deep = true;
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
        if (a->u.list.len != b->u.list.len)
            return false;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!equal_at(a->u.list.items[i], b->u.list.items[i], depth + 1, too_deep))
                return false;
        return true;
    case LB_MAP:
        if (a->u.map.len != b->u.map.len)
            return false;
        for (size_t i = 0; i < a->u.map.len; i++) {
            lb_value *o = lb_map_get(b, a->u.map.entries[i].key);
            if (!o || !equal_at(a->u.map.entries[i].value, o, depth + 1, too_deep))
                return false;
        }
        return true;
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

static void repr_string(lb_strbuf *b, const char *s, size_t len)
{
    lb_sb_add(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"': lb_sb_add(b, "\\\""); break;
        case '\\': lb_sb_add(b, "\\\\"); break;
        case '\n': lb_sb_add(b, "\\n"); break;
        case '\t': lb_sb_add(b, "\\t"); break;
        case '\r': lb_sb_add(b, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                lb_sb_add(b, esc);
            } else {
                lb_sb_addn(b, (const char *)&s[i], 1);
            }
        }
    }
    lb_sb_add(b, "\"");
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

static void repr_into(lb_strbuf *b, const lb_value *v, bool raw_string, int depth)
{
    char num[40];
    if (depth > 64) {
        lb_sb_add(b, "...");
        return;
    }
    switch (v->kind) {
    case LB_NONE: lb_sb_add(b, "none"); break;
    case LB_BOOL: lb_sb_add(b, v->u.b ? "true" : "false"); break;
    case LB_NUM:
        lb_format_number(v->u.num, num, sizeof num);
        lb_sb_add(b, num);
        break;
    case LB_STR:
        if (raw_string)
            lb_sb_addn(b, v->u.str.s, v->u.str.len);
        else
            repr_string(b, v->u.str.s, v->u.str.len);
        break;
    case LB_LIST:
        lb_sb_add(b, "[");
        for (size_t i = 0; i < v->u.list.len; i++) {
            if (i)
                lb_sb_add(b, ", ");
            repr_into(b, v->u.list.items[i], false, depth + 1);
        }
        lb_sb_add(b, "]");
        break;
    case LB_MAP:
        lb_sb_add(b, "{");
        for (size_t i = 0; i < v->u.map.len; i++) {
            if (i)
                lb_sb_add(b, ", ");
            const char *k = v->u.map.entries[i].key;
            if (is_bare_key(k))
                lb_sb_add(b, k);
            else
                repr_string(b, k, strlen(k));
            lb_sb_add(b, ": ");
            repr_into(b, v->u.map.entries[i].value, false, depth + 1);
        }
        lb_sb_add(b, "}");
        break;
    case LB_FUNC:
        lb_sb_add(b, "<function ");
        lb_sb_add(b, v->u.func.signature ? v->u.func.signature : v->u.func.name);
        lb_sb_add(b, ">");
        break;
    case LB_OBJECT: {
        char *r = v->u.obj.cls && v->u.obj.cls->repr ? v->u.obj.cls->repr(v) : NULL;
        if (r) {
            lb_sb_add(b, r);
            free(r);
        } else {
            lb_sb_add(b, "<");
            lb_sb_add(b, lb_type_name(v));
            lb_sb_add(b, " object>");
        }
        break;
    }
    }
}

static char *text_of(const lb_value *v, bool raw)
{
    lb_strbuf b = {0};
    if (!v)
        v = lb_none();
    repr_into(&b, v, raw, 0);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : strdup("");
}

char *lb_repr(const lb_value *v) { return text_of(v, false); }
char *lb_to_text(const lb_value *v) { return text_of(v, true); }

char *lb_repr_short(const lb_value *v, size_t max_cp)
{
    char *r = lb_repr(v);
    if (!r || max_cp < 4)
        return r;
    size_t n = 0, i = 0;
    for (; r[i]; i++) {
        if (((unsigned char)r[i] & 0xC0) != 0x80) {
            if (n == max_cp - 3)
                break;
            n++;
        }
    }
    if (!r[i])
        return r;
    /* i sits on the start of code point number max_cp-3; cut only when the rest is long */
    if (lb_str_codepoints(r + i, strlen(r + i)) <= 3)
        return r;
    r[i] = '\0';
    char *out = malloc(i + 4);
    if (!out) {
        free(r);
        return NULL;
    }
    memcpy(out, r, i);
    memcpy(out + i, "...", 4);
    free(r);
    return out;
}

json_t *lb_value_bundle(const lb_value *v, json_t **metadata_out, lb_error *err)
{
    if (metadata_out)
        *metadata_out = NULL;
    char *text = lb_repr(v);
    json_t *bundle = json_object();
    if (!text || !bundle) {
        free(text);
        json_decref(bundle);
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
