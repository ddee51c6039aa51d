/* value.h — the values of the labbook language: refcounted none, bool, number, string, list,
 * map (insertion-ordered), builtin function and the open "object" kind, whose class vtable
 * lets later code (models, datasets, runs, plots) add types without touching the evaluator.
 *
 * Ownership: every function returning lb_value* returns a NEW reference (release it with
 * lb_decref); arguments are borrowed unless the name says "take"/"steal". */
#ifndef LB_VALUE_H
#define LB_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "base/error.h"
#include "base/format.h"

typedef struct lb_interp lb_interp;

typedef enum {
    LB_NONE,
    LB_BOOL,
    LB_NUM,
    LB_STR,
    LB_LIST,
    LB_MAP,
    LB_FUNC,
    LB_OBJECT
} lb_kind;

typedef struct lb_value lb_value;

/* A builtin function: positional args (borrowed), keyword args as a map (borrowed, NULL when
 * none were given). Returns a new reference, or NULL with *err set (no position needed: the
 * evaluator adds the call's position). */
typedef lb_value *(*lb_builtin_fn)(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs,
                                   void *data, lb_error *err);

/* The class of an object value. Only name is required. */
typedef struct lb_class {
    const char *name;                       /* type name shown by type() and vars */
    void (*free)(void *data);               /* releases the object's data */
    /* malloc'd text repr; NULL = "<name object>" */
    char *(*repr)(const lb_value *self);
    /* optional rich display: adds mimes (text/html, image/png, ...) to bundle and optionally
     * to metadata; text/plain is set by the caller from repr. Returns 0 or -1 with *err. */
    int (*display)(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err);
    /* optional member lookup `obj.name`: new reference, or NULL with *err set */
    lb_value *(*member)(lb_value *self, const char *name, lb_error *err);
    /* optional: the member names (for completion), a new JSON array of strings */
    json_t *(*members)(const lb_value *self);
    /* optional `save VALUE "file"` (plot_commands.c): writes the value to path, in a format
     * the class chooses (e.g. by the extension), atomically (a temporary file renamed into
     * place). Returns 0, or -1 with *err set (IOError naming the path, ValueError...). */
    int (*save)(const lb_value *self, const char *path, lb_error *err);
} lb_class;

typedef struct lb_map_entry {
    char *key;
    lb_value *value;
} lb_map_entry;

struct lb_value {
    int refs;  /* < 0: immortal (none, true, false) */
    lb_kind kind;
    union {
        bool b;
        double num;
        struct {
            char *s;    /* NUL-terminated, UTF-8 */
            size_t len; /* bytes */
        } str;
        struct {
            lb_value **items;
            size_t len, cap;
        } list;
        struct {
            lb_map_entry *entries;
            size_t len, cap;
        } map;
        struct {
            const char *name;
            const char *signature; /* "len(x)" */
            const char *doc;       /* one-line doc */
            lb_builtin_fn fn;
            void *data;
            lb_value *self; /* a bound method's object (owned; fn receives it as data) */
        } func;
        struct {
            const lb_class *cls;
            void *data;
        } obj;
    } u;
};

/* Constructors (NULL only when out of memory). */
lb_value *lb_none(void);
lb_value *lb_bool(bool b);
lb_value *lb_num(double x);
lb_value *lb_str(const char *s);
lb_value *lb_strn(const char *s, size_t len);
lb_value *lb_str_take(char *s); /* takes ownership of a malloc'd NUL-terminated string */
lb_value *lb_list_new(void);
lb_value *lb_map_new(void);
lb_value *lb_func_new(const char *name, const char *signature, const char *doc, lb_builtin_fn fn,
                      void *data);
lb_value *lb_object_new(const lb_class *cls, void *data); /* on OOM, cls->free(data) is called */
/* A method bound to an object (what a class's member() returns for `runs.best`): fn is called
 * with data = self, which the function value keeps alive (a new reference is taken). */
lb_value *lb_method_new(const char *name, const char *signature, const char *doc, lb_builtin_fn fn,
                        lb_value *self);
/* The data of v when it is an object of class cls, else NULL (for lb_X_from_value). */
void *lb_object_data(const lb_value *v, const lb_class *cls);

lb_value *lb_incref(lb_value *v); /* returns v; NULL-safe */
void lb_decref(lb_value *v);      /* NULL-safe */

/* Lists. append/set take a new reference of item (the caller keeps its own). */
int lb_list_append(lb_value *list, lb_value *item);
int lb_list_append_take(lb_value *list, lb_value *item); /* steals item (also on failure) */
int lb_list_reserve(lb_value *list, size_t n); /* room for n items in all (-1 on OOM) */
size_t lb_list_len(const lb_value *list);
lb_value *lb_list_get(const lb_value *list, size_t i); /* borrowed */

/* Maps: string keys, insertion order kept; set replaces in place. */
int lb_map_set(lb_value *map, const char *key, lb_value *value);
int lb_map_set_take(lb_value *map, const char *key, lb_value *value); /* steals value */
lb_value *lb_map_get(const lb_value *map, const char *key); /* borrowed, NULL if absent */
bool lb_map_del(lb_value *map, const char *key);
size_t lb_map_len(const lb_value *map);

/* Names and conversions. */
const char *lb_type_name(const lb_value *v); /* "number", "string", "model", ... */
bool lb_truthy(const lb_value *v);
/* Structural equality: 1 equal, 0 not, -1 with *err set when the values are nested too
 * deeply to compare or an interrupt came (the walk polls; shared sublists are compared once). */
int lb_equal(const lb_value *a, const lb_value *b, lb_error *err);
bool lb_is_int(const lb_value *v); /* a number with an integral value */

/* ---- Limits (spec/language.md §7, Limits) ----
 * One operation builds at most LB_MAX_ITEMS list items or string bytes; print and a cell's
 * result show at most LB_SHOW_MAX characters of one value. */
#define LB_MAX_ITEMS 10000000
#define LB_SHOW_MAX 1000000

/* Text forms. A value may stand for far more text than it holds (shared sublists), so text
 * is only ever built up to a budget, at a cost bounded by the budget.
 *
 * lb_text_within: the repr of v (raw: a string at the top as it is, as str() and print show
 * it), at most max_cps code points and max_bytes bytes, never splitting a code point.
 * *out receives the malloc'd text. Returns 1 when it is whole, 0 when the text was longer
 * (*out is then its start, as much as fits), -1 with *err: MemoryError, or Interrupted when
 * `interruptible` and an interrupt is pending (polled as the walk goes). */
int lb_text_within(const lb_value *v, bool raw, size_t max_cps, size_t max_bytes,
                   bool interruptible, char **out, lb_error *err);
/* The text print and a cell's result show: whole up to LB_SHOW_MAX characters; beyond, its
 * first LB_SHOW_MAX characters then "… (cut at 1,000,000 characters: a list of 10,005
 * items)". NULL with *err as lb_text_within. */
char *lb_text_shown(const lb_value *v, bool raw, bool interruptible, lb_error *err);
/* What a cut text stood for: "a list of 10,005 items", "a string of 12 characters",
 * "a map of 3 entries", "a model". */
void lb_describe_size(const lb_value *v, char *buf, size_t size);
/* lb_text_shown, not interruptible (malloc'd; NULL only on OOM): repr quotes strings,
 * lb_to_text prints them raw. */
char *lb_repr(const lb_value *v);
char *lb_to_text(const lb_value *v);
/* A tensor shape as a list of numbers (new reference; NULL on OOM). */
lb_value *lb_shape_list(int ndim, const int64_t *shape);
/* The text of v in at most max_cp code points: whole when it fits, else its start followed
 * by `mark` (built only that far; malloc'd, NULL on OOM). */
char *lb_text_cut(const lb_value *v, bool raw, size_t max_cp, const char *mark);
/* A repr cut to at most max_cp code points with "..." (for summaries). */
char *lb_repr_short(const lb_value *v, size_t max_cp);

/* The mime bundle of a value (text/plain plus the object's rich display), a new JSON object.
 * metadata_out (optional) receives a new metadata object or NULL. NULL with *err on failure. */
json_t *lb_value_bundle(const lb_value *v, json_t **metadata_out, lb_error *err);

/* Utility: number of UTF-8 code points in s[0..len). */
size_t lb_str_codepoints(const char *s, size_t len);

#endif
