/* data_values.c — data sets in the language: the functions fashion_mnist(), idx() and csv(),
 * the `dataset` value (a summary table; members train/valid/test, classes, fingerprint...),
 * the `split` value (f.train, f.test: size, shape, counts...) and the command `samples`
 * (an image grid through plot.h). The data themselves are dataset.c's. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lang/commands.h"
#include "modules/modules.h"
#include "host/plugins.h"
#include "modules/data_values.h"
#include "modules/plot_values.h"
#include "modules/training.h"
#include "base/strbuf.h"
#include "render/table.h"

static lb_value *str_list(char *const *s, int n)
{
    lb_value *l = lb_list_new();
    for (int i = 0; l && i < n; i++)
        if (lb_list_append_take(l, lb_str(s[i])) < 0) {
            lb_decref(l);
            return NULL;
        }
    return l;
}

/* ---- the split value ---------------------------------------------------------------------------- */

typedef struct split_ref {
    lb_value *dsv; /* the dataset value (a reference: it owns the data) */
    int index;     /* into ds->splits */
} split_ref;

static lb_dataset *ds_of(const lb_value *v) { return v->u.obj.data; }

static void split_ref_free(void *data)
{
    split_ref *r = data;
    if (r)
        lb_decref(r->dsv);
    free(r);
}

static const lb_split *split_of(const lb_value *v, lb_dataset **ds)
{
    split_ref *r = v->u.obj.data;
    lb_dataset *d = ds_of(r->dsv);
    if (ds)
        *ds = d;
    return &d->splits[r->index];
}

static char *split_repr(const lb_value *self)
{
    lb_dataset *ds;
    const lb_split *s = split_of(self, &ds);
    char cnt[32], shp[96], *out = NULL;
    lb_format_count(s->n, cnt, sizeof cnt);
    lb_format_shape(s->ndim, s->shape, shp, sizeof shp);
    if (asprintf(&out, "<split %s.%s: %s samples %s, %d classes>", ds->name, s->name, cnt, shp,
                 ds->nclasses) < 0)
        return NULL;
    return out;
}

static lb_value *split_member(lb_value *self, const char *name, lb_error *err)
{
    lb_dataset *ds;
    const lb_split *s = split_of(self, &ds);
    lb_value *v = NULL;
    if (strcmp(name, "name") == 0)
        v = lb_str(s->name);
    else if (strcmp(name, "size") == 0)
        v = lb_num((double)s->n);
    else if (strcmp(name, "shape") == 0)
        v = lb_shape_list(s->ndim, s->shape);
    else if (strcmp(name, "classes") == 0)
        v = str_list(ds->classes, ds->nclasses);
    else if (strcmp(name, "dataset") == 0)
        v = lb_incref(((split_ref *)self->u.obj.data)->dsv);
    else if (strcmp(name, "counts") == 0) {
        v = lb_map_new();
        for (int i = 0; v && i < ds->nclasses; i++)
            if (lb_map_set_take(v, ds->classes[i], lb_num((double)s->counts[i])) < 0) {
                lb_decref(v);
                v = NULL;
            }
    } else if (strcmp(name, "labels") == 0 && !s->y) {
        lb_error_set(err, "AttributeError", 0, 0, "%s.%s has no class labels: its targets are field y of task %s",
                     ds->name, s->name, ds->task);
        return NULL;
    } else if (strcmp(name, "labels") == 0 || strcmp(name, "indices") == 0) {
        bool labels = name[0] == 'l';
        v = lb_list_new();
        if (v && s->n > 0) {
            /* one allocation for the items array instead of n doublings */
            lb_value **items = realloc(v->u.list.items, (size_t)s->n * sizeof *items);
            if (!items) {
                lb_decref(v);
                return lb_oom_null(err);
            }
            v->u.list.items = items;
            v->u.list.cap = (size_t)s->n;
        }
        for (int64_t i = 0; v && i < s->n; i++)
            if (lb_list_append_take(v, lb_num(labels ? (double)s->y[i] : (double)s->src[i])) < 0) {
                lb_decref(v);
                v = NULL;
            }
    } else {
        lb_error_set(err, "AttributeError", 0, 0,
                     "a split has no member '%s' (members: classes, counts, dataset, indices, "
                     "labels, name, shape, size)",
                     name);
        return NULL;
    }
    return v ? v : lb_oom_null(err);
}

static json_t *split_members(const lb_value *self)
{
    (void)self;
    return json_pack("[ssssssss]", "classes", "counts", "dataset", "indices", "labels", "name",
                     "shape", "size");
}

static const lb_class split_class = {
    .name = "split",
    .free = split_ref_free,
    .repr = split_repr,
    .member = split_member,
    .members = split_members,
};

/* ---- the dataset value -------------------------------------------------------------------------- */

static void dataset_free_data(void *data) { lb_dataset_free(data); }

static char *dataset_repr(const lb_value *self)
{
    lb_dataset *ds = ds_of(self);
    lb_strbuf b = {0};
    lb_sb_printf(&b, "<dataset %s:", ds->name);
    for (int i = 0; i < ds->nsplits; i++) {
        char cnt[32];
        lb_format_count(ds->splits[i].n, cnt, sizeof cnt);
        lb_sb_printf(&b, "%s %s %s", i ? "," : "", ds->splits[i].name, cnt);
    }
    char shp[96];
    if (!ds->from_fields) {
        lb_format_shape(ds->splits[0].ndim, ds->splits[0].shape, shp, sizeof shp);
        lb_sb_printf(&b, "; samples %s; %d classes>", shp, ds->nclasses);
        return lb_sb_take(&b);
    }
    /* fields: inputs -> targets, then the task */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0, k = 0; i < ds->nfields; i++) {
            const lb_field *f = &ds->fields[i];
            if (f->target != (pass == 1))
                continue;
            lb_format_shape(f->ndim, f->shape, shp, sizeof shp);
            lb_sb_printf(&b, "%s%s %s %s", k++ ? ", " : pass ? " -> " : "; ", f->name,
                         f->type == LB_FIELD_INT ? "int" : "float", shp);
        }
    if (ds->nclasses)
        lb_sb_printf(&b, "; %d classes", ds->nclasses);
    lb_sb_printf(&b, "; task %s>", ds->task);
    return lb_sb_take(&b);
}

/* The lines above the table (plain text). */
static char *summary_lines(lb_dataset *ds)
{
    const lb_split *tr = &ds->splits[0];
    lb_strbuf b = {0};
    char shp[96], cnt[32];
    lb_format_shape(tr->ndim, tr->shape, shp, sizeof shp);
    lb_sb_printf(&b, "dataset %s: %d classes, samples %s float32\n", ds->name, ds->nclasses, shp);
    lb_sb_add(&b, "splits:");
    for (int i = 0; i < ds->nsplits; i++) {
        const lb_split *s = &ds->splits[i];
        lb_format_count(s->n, cnt, sizeof cnt);
        lb_sb_printf(&b, "%s %s %s", i ? "," : "", s->name, cnt);
        if (strcmp(s->name, "train") == 0 && ds->train_n >= 0)
            lb_sb_add(&b, " (seeded subset)");
        if (strcmp(s->name, "test") == 0 && ds->test_n >= 0)
            lb_sb_add(&b, " (seeded subset)");
    }
    if (ds->valid > 0 || ds->train_n >= 0 || ds->test_n >= 0)
        lb_sb_printf(&b, "; split seed %" PRIu64, ds->seed);
    lb_sb_add(&b, "\n");
    if (ds->normalize) {
        if (ds->unit_scaled)
            lb_sb_add(&b, "normalised: bytes scaled to [0, 1] (x / 255), then ");
        else
            lb_sb_add(&b, "normalised: ");
        if (ds->ngroups == 1) {
            lb_sb_printf(&b, "(x - %.4f) / %.4f (mean and std of train)\n", ds->mean[0], ds->std[0]);
        } else {
            lb_sb_printf(&b, "standardised per %s with train's mean and std (%d pairs: .mean, .std)\n",
                         tr->ndim == 1 ? "feature" : "channel", ds->ngroups);
        }
    } else {
        lb_sb_add(&b, ds->unit_scaled ? "not normalised: bytes scaled to [0, 1] (x / 255)\n"
                                      : "not normalised: values as read\n");
    }
    lb_sb_printf(&b, "source: %s\n", ds->source);
    lb_sb_printf(&b, "fingerprint: %.16s...\n", lb_dataset_fingerprint(ds));
    return lb_sb_take(&b);
}

#define MAX_CLASS_ROWS 40

static lb_table *summary_table(const lb_dataset *ds)
{
    if (!ds->splits[0].y) /* no class per sample: nothing to count */
        return NULL;
    lb_table *t = lb_table_new();
    if (!t)
        return NULL;
    lb_table_set_header(t, 0, "class");
    lb_table_set_header(t, 1, "name");
    for (int i = 0; i < ds->nsplits; i++)
        lb_table_set_header(t, (size_t)i + 2, ds->splits[i].name);
    char cnt[32];
    int shown = ds->nclasses <= MAX_CLASS_ROWS ? ds->nclasses : MAX_CLASS_ROWS - 1;
    for (int c = 0; c < shown; c++) {
        long r = lb_table_add_row(t);
        if (r < 0)
            break;
        snprintf(cnt, sizeof cnt, "%d", c);
        lb_table_set(t, (size_t)r, 0, cnt, true);
        lb_table_set(t, (size_t)r, 1, ds->classes[c], false);
        for (int i = 0; i < ds->nsplits; i++) {
            lb_format_count(ds->splits[i].counts[c], cnt, sizeof cnt);
            lb_table_set(t, (size_t)r, (size_t)i + 2, cnt, true);
        }
    }
    if (shown < ds->nclasses) {
        long r = lb_table_add_row(t);
        if (r >= 0) {
            char more[64];
            snprintf(more, sizeof more, "... %d more classes", ds->nclasses - shown);
            lb_table_set(t, (size_t)r, 0, "", true);
            lb_table_set(t, (size_t)r, 1, more, false);
        }
    }
    long r = lb_table_add_row(t);
    if (r >= 0) {
        lb_table_set(t, (size_t)r, 0, "", true);
        lb_table_set(t, (size_t)r, 1, "total", false);
        for (int i = 0; i < ds->nsplits; i++) {
            lb_format_count(ds->splits[i].n, cnt, sizeof cnt);
            lb_table_set(t, (size_t)r, (size_t)i + 2, cnt, true);
        }
    }
    return t;
}

static void html_escape(lb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': lb_sb_add(b, "&lt;"); break;
        case '>': lb_sb_add(b, "&gt;"); break;
        case '&': lb_sb_add(b, "&amp;"); break;
        case '"': lb_sb_add(b, "&quot;"); break;
        default: lb_sb_addn(b, s, 1);
        }
    }
}

static void md_escape(lb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\`*_[]<>|#", *s))
            lb_sb_addn(b, "\\", 1);
        lb_sb_addn(b, s, 1);
    }
}

static int dataset_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    (void)metadata;
    lb_dataset *ds = ds_of(self);
    char *lines = summary_lines(ds);
    lb_table *t = summary_table(ds); /* NULL: no class per sample, no table of counts */
    char *plain = t ? lb_table_plain(t) : strdup("");
    char *html = t ? lb_table_html(t) : strdup("");
    char *md = t ? lb_table_markdown(t) : strdup("");
    lb_table_free(t);
    if (!lines || !plain || !html || !md) {
        free(lines);
        free(plain);
        free(html);
        free(md);
        lb_oom_null(err);
        return -1;
    }
    lb_strbuf p = {0}, h = {0}, m = {0};
    lb_sb_add(&p, lines);
    lb_sb_add(&p, plain);
    /* the same lines as a paragraph (HTML) and a list (markdown) above the table */
    lb_sb_add(&h, "<p>");
    lb_sb_add(&m, "");
    const char *s = lines;
    bool first = true;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *one = strndup(s, n);
        if (one) {
            if (!first)
                lb_sb_add(&h, "<br>\n");
            if (first) {
                lb_sb_add(&h, "<b>");
                html_escape(&h, one);
                lb_sb_add(&h, "</b>");
                lb_sb_add(&m, "**");
                md_escape(&m, one);
                lb_sb_add(&m, "**\n\n");
            } else {
                html_escape(&h, one);
                lb_sb_add(&m, "- ");
                md_escape(&m, one);
                lb_sb_add(&m, "\n");
            }
            free(one);
        }
        first = false;
        s += n + (e ? 1 : 0);
    }
    lb_sb_add(&h, "</p>\n");
    lb_sb_add(&h, html);
    lb_sb_add(&m, "\n");
    lb_sb_add(&m, md);
    free(lines);
    free(plain);
    free(html);
    free(md);
    char *ps = lb_sb_take(&p), *hs = lb_sb_take(&h), *ms = lb_sb_take(&m);
    if (!ps || !hs || !ms) {
        free(ps);
        free(hs);
        free(ms);
        lb_oom_null(err);
        return -1;
    }
    json_object_set_new(bundle, "text/plain", json_string(ps));
    json_object_set_new(bundle, "text/html", json_string(hs));
    json_object_set_new(bundle, "text/markdown", json_string(ms));
    free(ps);
    free(hs);
    free(ms);
    return 0;
}

static lb_value *split_value(lb_value *dsv, const char *name, lb_error *err)
{
    lb_dataset *ds = ds_of(dsv);
    for (int i = 0; i < ds->nsplits; i++) {
        if (strcmp(ds->splits[i].name, name) != 0)
            continue;
        split_ref *r = malloc(sizeof *r);
        if (!r)
            return lb_oom_null(err);
        r->dsv = lb_incref(dsv);
        r->index = i;
        lb_value *v = lb_object_new(&split_class, r);
        return v ? v : lb_oom_null(err);
    }
    if (strcmp(name, "valid") == 0)
        lb_error_set(err, "AttributeError", 0, 0,
                     "%s has no valid split (it was made with valid=0; valid=N holds N training "
                     "samples out)",
                     ds->name);
    else
        lb_error_set(err, "AttributeError", 0, 0, "%s has no %s split", ds->name, name);
    return NULL;
}

static lb_value *float_list_or_num(const float *v, int n)
{
    if (!v)
        return lb_none();
    if (n == 1)
        return lb_num(v[0]);
    lb_value *l = lb_list_new();
    for (int i = 0; l && i < n; i++)
        if (lb_list_append_take(l, lb_num(v[i])) < 0) {
            lb_decref(l);
            return NULL;
        }
    return l;
}

static lb_value *dataset_member(lb_value *self, const char *name, lb_error *err)
{
    lb_dataset *ds = ds_of(self);
    lb_value *v = NULL;
    if (strcmp(name, "train") == 0 || strcmp(name, "valid") == 0 || strcmp(name, "test") == 0)
        return split_value(self, name, err);
    if (strcmp(name, "name") == 0)
        v = lb_str(ds->name);
    else if (strcmp(name, "source") == 0)
        v = lb_str(ds->source);
    else if (strcmp(name, "classes") == 0)
        v = str_list(ds->classes, ds->nclasses);
    else if (strcmp(name, "splits") == 0) {
        v = lb_list_new();
        for (int i = 0; v && i < ds->nsplits; i++)
            if (lb_list_append_take(v, lb_str(ds->splits[i].name)) < 0) {
                lb_decref(v);
                v = NULL;
            }
    } else if (strcmp(name, "shape") == 0)
        v = lb_shape_list(ds->splits[0].ndim, ds->splits[0].shape);
    else if (strcmp(name, "size") == 0) {
        v = lb_map_new();
        for (int i = 0; v && i < ds->nsplits; i++)
            if (lb_map_set_take(v, ds->splits[i].name, lb_num((double)ds->splits[i].n)) < 0) {
                lb_decref(v);
                v = NULL;
            }
    } else if (strcmp(name, "mean") == 0)
        v = float_list_or_num(ds->mean, ds->ngroups);
    else if (strcmp(name, "std") == 0)
        v = float_list_or_num(ds->std, ds->ngroups);
    else if (strcmp(name, "seed") == 0)
        v = lb_num((double)ds->seed);
    else if (strcmp(name, "normalized") == 0)
        v = lb_bool(ds->normalize);
    else if (strcmp(name, "fingerprint") == 0)
        v = lb_str(lb_dataset_fingerprint(ds));
    else {
        lb_error_set(err, "AttributeError", 0, 0,
                     "a dataset has no member '%s' (members: classes, fingerprint, mean, name, "
                     "normalized, seed, shape, size, source, splits, std, test, train, valid)",
                     name);
        return NULL;
    }
    return v ? v : lb_oom_null(err);
}

static json_t *dataset_members(const lb_value *self)
{
    lb_dataset *ds = ds_of(self);
    json_t *a = json_pack("[sssssssssss]", "classes", "fingerprint", "mean", "name", "normalized",
                          "seed", "shape", "size", "source", "splits", "std");
    for (int i = 0; a && i < ds->nsplits; i++)
        json_array_append_new(a, json_string(ds->splits[i].name));
    return a;
}

static const lb_class dataset_class = {
    .name = "dataset",
    .free = dataset_free_data,
    .repr = dataset_repr,
    .display = dataset_display,
    .member = dataset_member,
    .members = dataset_members,
};

lb_value *lb_dataset_value_new(lb_dataset *ds, lb_error *err)
{
    if (!ds)
        return NULL;
    lb_value *v = lb_object_new(&dataset_class, ds);
    return v ? v : lb_oom_null(err);
}

bool lb_data_from_value(const lb_value *v, lb_dataset **ds, const lb_split **split)
{
    if (!v || v->kind != LB_OBJECT)
        return false;
    if (v->u.obj.cls == &dataset_class) {
        if (ds)
            *ds = ds_of(v);
        if (split)
            *split = NULL;
        return true;
    }
    if (v->u.obj.cls == &split_class) {
        lb_dataset *d;
        const lb_split *s = split_of(v, &d);
        if (ds)
            *ds = d;
        if (split)
            *split = s;
        return true;
    }
    return false;
}

/* ---- the loader functions ----------------------------------------------------------------------- */

typedef struct kw_reader {
    const char *fname;
    lb_value *kwargs;
    const char *const *allowed; /* NULL-terminated */
} kw_reader;

static int check_keywords(const kw_reader *k, lb_error *err)
{
    size_t na = 0;
    while (k->allowed[na])
        na++;
    for (size_t i = 0; k->kwargs && i < k->kwargs->u.map.len; i++) {
        const char *key = k->kwargs->u.map.entries[i].key;
        bool ok = false;
        for (size_t a = 0; a < na && !ok; a++)
            ok = strcmp(key, k->allowed[a]) == 0;
        if (!ok) {
            const char *s = lb_suggest(key, k->allowed, na);
            return lb_error_set(err, "TypeError", 0, 0, "%s() got an unexpected keyword argument "
                                                        "'%s'%s%s%s",
                                k->fname, key, s ? " (did you mean '" : "", s ? s : "",
                                s ? "'?)" : "");
        }
    }
    return 0;
}

static lb_value *kw(const kw_reader *k, const char *name)
{
    lb_value *v = k->kwargs ? lb_map_get(k->kwargs, name) : NULL;
    return v && v->kind != LB_NONE ? v : NULL;
}

/* A count >= min (or none: *out unchanged). */
static int kw_count(const kw_reader *k, const char *name, int64_t min, int64_t *out, lb_error *err)
{
    lb_value *v = kw(k, name);
    if (!v)
        return 0;
    if (v->kind != LB_NUM || !lb_is_int(v) || v->u.num < (double)min || v->u.num > 9007199254740992.0)
        return lb_error_set(err, "TypeError", 0, 0, "%s(): %s must be an integer >= %lld%s",
                            k->fname, name, (long long)min,
                            v->kind == LB_NUM ? "" : " or none");
    *out = (int64_t)v->u.num;
    return 0;
}

static int kw_string(const kw_reader *k, const char *name, const char **out, lb_error *err)
{
    lb_value *v = kw(k, name);
    if (!v)
        return 0;
    if (v->kind != LB_STR)
        return lb_error_set(err, "TypeError", 0, 0, "%s(): %s must be a string (a file name), not "
                                                    "a %s",
                            k->fname, name, lb_type_name(v));
    *out = v->u.str.s;
    return 0;
}

static int kw_bool(const kw_reader *k, const char *name, bool *out, lb_error *err)
{
    lb_value *v = kw(k, name);
    if (!v)
        return 0;
    if (v->kind != LB_BOOL)
        return lb_error_set(err, "TypeError", 0, 0, "%s(): %s must be true or false", k->fname,
                            name);
    *out = v->u.b;
    return 0;
}

/* valid, seed, train, test, normalize */
static int read_options(const kw_reader *k, lb_data_options *o, lb_error *err)
{
    lb_value *v = kw(k, "valid");
    if (v) {
        if (v->kind == LB_NUM && v->u.num > 0 && v->u.num < 1) {
            o->valid_fraction = v->u.num;
        } else if (v->kind == LB_NUM && lb_is_int(v) && v->u.num >= 0 && v->u.num < 9007199254740992.0) {
            o->valid = (int64_t)v->u.num;
        } else {
            return lb_error_set(err, "TypeError", 0, 0,
                                "%s(): valid must be a number of samples (an integer >= 0) or a "
                                "fraction between 0 and 1",
                                k->fname);
        }
    }
    int64_t seed = (int64_t)o->seed;
    if (kw_count(k, "seed", 0, &seed, err) < 0 || kw_count(k, "train", 1, &o->train, err) < 0 ||
        kw_count(k, "test", 1, &o->test, err) < 0 || kw_bool(k, "normalize", &o->normalize, err) < 0)
        return -1;
    o->seed = (uint64_t)seed;
    return 0;
}

/* classes=[...] as C strings (borrowed from the list); *n = -1 when not given. */
static int kw_classes(const kw_reader *k, const char ***out, int *n, lb_error *err)
{
    *out = NULL;
    *n = -1;
    lb_value *v = kw(k, "classes");
    if (!v)
        return 0;
    size_t len = v->kind == LB_LIST ? lb_list_len(v) : 0;
    if (len == 0 || len > 100000)
        return lb_error_set(err, "TypeError", 0, 0,
                            "%s(): classes must be a list of class names (strings)", k->fname);
    const char **names = malloc(len * sizeof *names);
    if (!names) {
        lb_oom_null(err);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        lb_value *it = lb_list_get(v, i);
        if (it->kind != LB_STR) {
            free(names);
            return lb_error_set(err, "TypeError", 0, 0,
                                "%s(): classes must be a list of strings; item %zu is a %s",
                                k->fname, i + 1, lb_type_name(it));
        }
        names[i] = it->u.str.s;
    }
    *out = names;
    *n = (int)len;
    return 0;
}

static int no_positional(const char *fname, size_t nargs, size_t max, lb_error *err)
{
    if (nargs <= max)
        return 0;
    if (max == 0)
        return lb_error_set(err, "TypeError", 0, 0,
                            "%s() takes only key=value arguments (got %zu positional)", fname, nargs);
    return lb_error_set(err, "TypeError", 0, 0,
                        "%s() takes at most %zu positional arguments (got %zu); the others are "
                        "key=value",
                        fname, max, nargs);
}

static lb_value *fn_fashion_mnist(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs,
                                  void *data, lb_error *err)
{
    (void)in;
    (void)args;
    (void)data;
    static const char *const allowed[] = {"valid", "seed", "train", "test", "normalize", "dir", NULL};
    kw_reader k = {"fashion_mnist", kwargs, allowed};
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid = 10000;
    const char *dir = NULL;
    if (no_positional(k.fname, nargs, 0, err) < 0 || check_keywords(&k, err) < 0 ||
        read_options(&k, &o, err) < 0 || kw_string(&k, "dir", &dir, err) < 0)
        return NULL;
    return lb_dataset_value_new(lb_fashion_mnist_load(dir, &o, err), err);
}

static int positional_string(const char *fname, lb_value **args, size_t nargs, size_t i,
                             const char *name, const kw_reader *k, const char **out, lb_error *err)
{
    if (i < nargs) {
        if (kw(k, name))
            return lb_error_set(err, "TypeError", 0, 0, "%s(): %s given twice", fname, name);
        if (args[i]->kind != LB_STR)
            return lb_error_set(err, "TypeError", 0, 0, "%s(): %s must be a file name (a string), "
                                                        "not a %s",
                                fname, name, lb_type_name(args[i]));
        *out = args[i]->u.str.s;
        return 0;
    }
    return kw_string(k, name, out, err);
}

static lb_value *fn_idx(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data,
                        lb_error *err)
{
    (void)in;
    (void)data;
    static const char *const allowed[] = {"images", "labels", "test_images", "test_labels",
                                          "classes", "valid", "seed", "train", "test", "normalize",
                                          NULL};
    kw_reader k = {"idx", kwargs, allowed};
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    const char *images = NULL, *labels = NULL, *ti = NULL, *tl = NULL;
    const char **classes = NULL;
    int nclasses = -1;
    if (no_positional(k.fname, nargs, 2, err) < 0 || check_keywords(&k, err) < 0 ||
        read_options(&k, &o, err) < 0 ||
        positional_string(k.fname, args, nargs, 0, "images", &k, &images, err) < 0 ||
        positional_string(k.fname, args, nargs, 1, "labels", &k, &labels, err) < 0 ||
        kw_string(&k, "test_images", &ti, err) < 0 || kw_string(&k, "test_labels", &tl, err) < 0)
        return NULL;
    if (!images || !labels) {
        lb_error_set(err, "TypeError", 0, 0,
                     "idx() needs images=\"FILE\" and labels=\"FILE\" (IDX files, gz or raw)");
        return NULL;
    }
    if (kw_classes(&k, &classes, &nclasses, err) < 0)
        return NULL;
    lb_dataset *ds = lb_idx_dataset_load(images, labels, ti, tl, classes, nclasses, &o, err);
    free(classes);
    return lb_dataset_value_new(ds, err);
}

static lb_value *fn_csv(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data,
                        lb_error *err)
{
    (void)in;
    (void)data;
    static const char *const allowed[] = {"file", "label", "target", "test_file", "shape", "classes", "valid",
                                          "seed", "train", "test", "normalize", NULL};
    kw_reader k = {"csv", kwargs, allowed};
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    const char *file = NULL, *label = "label", *test_file = NULL;
    if (no_positional(k.fname, nargs, 1, err) < 0 || check_keywords(&k, err) < 0 ||
        read_options(&k, &o, err) < 0 ||
        positional_string(k.fname, args, nargs, 0, "file", &k, &file, err) < 0 ||
        kw_string(&k, "test_file", &test_file, err) < 0)
        return NULL;
    const char *target = NULL;
    if (kw_string(&k, "target", &target, err) < 0)
        return NULL;
    if (target) { /* regression: a number per row */
        if (kw(&k, "label") || kw(&k, "classes") || kw(&k, "shape")) {
            lb_error_set(err, "TypeError", 0, 0, "csv(): target= (regression) takes no label=, classes= or shape=");
            return NULL;
        }
        if (!file) {
            lb_error_set(err, "TypeError", 0, 0, "csv() needs a file: csv(\"data.csv\", target=\"price\")");
            return NULL;
        }
        return lb_dataset_value_new(lb_csv_regression_load(file, target, test_file, &o, err), err);
    }
    lb_value *lv = kw(&k, "label");
    if (lv) {
        if (lv->kind != LB_STR) {
            lb_error_set(err, "TypeError", 0, 0, "csv(): label must be a column name (a string)");
            return NULL;
        }
        label = lv->u.str.s;
    }
    if (!file) {
        lb_error_set(err, "TypeError", 0, 0, "csv() needs a file: csv(\"data.csv\", label=\"class\")");
        return NULL;
    }
    int64_t shape[3] = {0};
    int ndim = 0;
    lb_value *sv = kw(&k, "shape");
    if (sv) {
        size_t len = sv->kind == LB_LIST ? lb_list_len(sv) : 0;
        bool ok = len >= 1 && len <= 3;
        for (size_t i = 0; ok && i < len; i++) {
            lb_value *it = lb_list_get(sv, i);
            ok = it->kind == LB_NUM && lb_is_int(it) && it->u.num >= 1 && it->u.num <= 1e9;
            if (ok)
                shape[i] = (int64_t)it->u.num;
        }
        if (!ok) {
            lb_error_set(err, "TypeError", 0, 0,
                         "csv(): shape must be the shape of one sample, 1 to 3 positive integers "
                         "such as [1, 28, 28]");
            return NULL;
        }
        ndim = (int)len;
    }
    const char **classes = NULL;
    int nclasses = -1;
    if (kw_classes(&k, &classes, &nclasses, err) < 0)
        return NULL;
    lb_dataset *ds = lb_csv_dataset_load(file, label, test_file, ndim, shape, classes, nclasses, &o,
                                         err);
    free(classes);
    return lb_dataset_value_new(ds, err);
}

/* A number (or none: *out unchanged). */
static int kw_number(const kw_reader *k, const char *name, double *out, lb_error *err)
{
    lb_value *v = kw(k, name);
    if (!v)
        return 0;
    if (v->kind != LB_NUM)
        return lb_error_set(err, "TypeError", 0, 0, "%s(): %s must be a number, not a %s", k->fname, name,
                            lb_type_name(v));
    *out = v->u.num;
    return 0;
}

/* n, test, valid, seed, normalize and noise of a generated data set. */
static int generated_options(const kw_reader *k, size_t nargs, int64_t *n, int64_t *ntest, double *noise,
                             lb_data_options *o, lb_error *err)
{
    int64_t seed = 0;
    if (no_positional(k->fname, nargs, 0, err) < 0 || check_keywords(k, err) < 0 || kw_count(k, "n", 1, n, err) < 0 ||
        kw_count(k, "test", 0, ntest, err) < 0 || kw_count(k, "seed", 0, &seed, err) < 0 ||
        kw_bool(k, "normalize", &o->normalize, err) < 0 || kw_number(k, "noise", noise, err) < 0)
        return -1;
    lb_value *v = kw(k, "valid"); /* a count or a fraction; given, it replaces the default fraction */
    if (v && v->kind == LB_NUM && v->u.num > 0 && v->u.num < 1) {
        o->valid_fraction = v->u.num;
    } else if (v) {
        o->valid_fraction = 0;
        if (kw_count(k, "valid", 0, &o->valid, err) < 0)
            return -1;
    }
    o->seed = (uint64_t)seed;
    return 0;
}

static lb_value *fn_shapes(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data, lb_error *err)
{
    (void)in;
    (void)args;
    (void)data;
    static const char *const allowed[] = {"n", "test", "size", "noise", "valid", "seed", "normalize", NULL};
    kw_reader k = {"shapes", kwargs, allowed};
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid_fraction = 0.2;
    int64_t n = 1000, ntest = 200, size = 16;
    double noise = 0.3;
    if (generated_options(&k, nargs, &n, &ntest, &noise, &o, err) < 0 || kw_count(&k, "size", 8, &size, err) < 0)
        return NULL;
    return lb_dataset_value_new(lb_shapes_load(n, ntest, size, noise, &o, err), err);
}

static lb_value *fn_pairs(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data, lb_error *err)
{
    (void)in;
    (void)args;
    (void)data;
    static const char *const allowed[] = {"n", "test", "classes", "noise", "valid", "seed", "normalize", NULL};
    kw_reader k = {"pairs", kwargs, allowed};
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    o.valid_fraction = 0.1;
    int64_t n = 4000, ntest = 1000, K = 4;
    double noise = 0.5;
    if (generated_options(&k, nargs, &n, &ntest, &noise, &o, err) < 0 || kw_count(&k, "classes", 2, &K, err) < 0)
        return NULL;
    if (K > 100) {
        lb_error_set(err, "ValueError", 0, 0, "pairs(): classes=%lld; at most 100", (long long)K);
        return NULL;
    }
    return lb_dataset_value_new(lb_pairs_load(n, ntest, (int)K, noise, &o, err), err);
}

static lb_value *fn_sample(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs,
                           void *data, lb_error *err)
{
    (void)in;
    (void)data;
    if (nargs != 2 || (kwargs && lb_map_len(kwargs))) {
        lb_error_set(err, "TypeError", 0, 0, "sample() takes a split and an index: sample(f.test, 0)");
        return NULL;
    }
    lb_dataset *ds = NULL;
    const lb_split *s = NULL;
    if (!lb_data_from_value(args[0], &ds, &s)) {
        lb_error_set(err, "TypeError", 0, 0, "sample() needs a dataset or a split, not a %s",
                     lb_type_name(args[0]));
        return NULL;
    }
    if (!s)
        s = &ds->splits[0];
    lb_value *iv = args[1];
    if (iv->kind != LB_NUM || !lb_is_int(iv) || iv->u.num < -(double)s->n || iv->u.num >= (double)s->n) {
        if (iv->kind != LB_NUM || !lb_is_int(iv)) {
            lb_error_set(err, "TypeError", 0, 0, "sample() needs an integer index, not %s",
                         iv->kind == LB_NUM ? "a fraction" : lb_type_name(iv));
        } else {
            char num[32];
            lb_format_number(iv->u.num, num, sizeof num);
            lb_error_set(err, "IndexError", 0, 0, "sample index %s out of range: %s.%s has %lld samples",
                         num, ds->name, s->name, (long long)s->n);
        }
        return NULL;
    }
    int64_t i = (int64_t)iv->u.num;
    if (i < 0)
        i += s->n;
    lb_value *m = lb_map_new(), *vals = lb_list_new();
    if (!m || !vals) {
        lb_decref(m);
        lb_decref(vals);
        return lb_oom_null(err);
    }
    const float *x = s->x + i * s->numel;
    for (int64_t k = 0; k < s->numel; k++)
        if (lb_list_append_take(vals, lb_num(x[k])) < 0) {
            lb_decref(m);
            lb_decref(vals);
            return lb_oom_null(err);
        }
    if (lb_map_set_take(m, "index", lb_num((double)i)) < 0 ||
        lb_map_set_take(m, "source", lb_num((double)s->src[i])) < 0 ||
        lb_map_set_take(m, "label", s->y ? lb_num(s->y[i]) : lb_none()) < 0 ||
        lb_map_set_take(m, "class", s->y ? lb_str(ds->classes[s->y[i]]) : lb_none()) < 0 ||
        lb_map_set_take(m, "shape", lb_shape_list(s->ndim, s->shape)) < 0 ||
        lb_map_set_take(m, "values", vals) < 0) {
        lb_decref(m);
        return lb_oom_null(err);
    }
    return m;
}

/* ---- samples ------------------------------------------------------------------------------------- */

#define MAX_SAMPLES 256

/* What `samples` was asked to show, read from its arguments. */
typedef struct samples_req {
    lb_dataset *ds;
    const lb_split *s;   /* the split the samples come from */
    int64_t n;           /* how many (at most the split's size) */
    int cols;            /* columns of the grid, 0 automatic */
    bool seeded;         /* a random pick (seed=), else the first ones */
    uint64_t seed;
    int64_t c, h, w;     /* the image geometry */
    lb_value *model;     /* predictions in the captions (model=), or NULL */
    bool only_wrong;     /* only the model's mistakes (wrong=true) */
} samples_req;

/* The count, the second positional argument (16 when absent). */
static int samples_count(lb_cmd_call *call, samples_req *r, lb_error *err)
{
    r->n = 16;
    if (call->nargs > 1) {
        lb_value *nv = lb_call_arg(call, 1, err);
        if (!nv)
            return -1;
        bool ok = nv->kind == LB_NUM && lb_is_int(nv) && nv->u.num >= 1 && nv->u.num <= MAX_SAMPLES;
        r->n = ok ? (int64_t)nv->u.num : 0;
        lb_decref(nv);
        if (!ok)
            return lb_node_error(err, call->args[1], "ValueError",
                                 "samples shows 1 to %d samples", MAX_SAMPLES);
    }
    if (r->n > r->s->n)
        r->n = r->s->n;
    return 0;
}

/* cols= and seed=. */
static int samples_grid(lb_cmd_call *call, samples_req *r, lb_error *err)
{
    lb_value *colsv = lb_call_param(call, "cols", err);
    lb_value *seedv = colsv ? lb_call_param(call, "seed", err) : NULL;
    if (!colsv || !seedv) {
        lb_decref(colsv);
        return -1;
    }
    double colsd = colsv->kind == LB_NUM ? colsv->u.num : 0;
    r->cols = colsd >= 0 && colsd <= 64 ? (int)colsd : -1;
    r->seeded = seedv->kind == LB_NUM;
    double seedd = r->seeded ? seedv->u.num : 0;
    r->seed = seedd >= 0 && seedd < 9007199254740992.0 ? (uint64_t)seedd : UINT64_MAX;
    lb_decref(colsv);
    lb_decref(seedv);
    if (r->cols < 0 || r->cols > 64)
        return lb_node_error(err, lb_call_keyword(call, "cols"), "ValueError",
                             "cols must be between 0 (automatic) and 64");
    if (r->seeded && r->seed == UINT64_MAX)
        return lb_node_error(err, lb_call_keyword(call, "seed"), "ValueError",
                             "seed must be a non-negative integer");
    return 0;
}

/* The image geometry: [C, H, W] as is; flat [F] samples when F is a square. */
static int samples_geometry(lb_cmd_call *call, samples_req *r, lb_error *err)
{
    const lb_split *s = r->s;
    r->c = s->c;
    r->h = s->h;
    r->w = s->w;
    if (s->ndim == 1) {
        int64_t q = (int64_t)llround(sqrt((double)s->numel));
        if (q * q != s->numel)
            return lb_node_error(err, call->args[0], "ValueError",
                                 "samples draws images; these samples are %" PRId64
                                 " features, not a square number",
                                 s->numel);
        r->c = 1;
        r->h = r->w = q;
    }
    if (r->h > 4096 || r->w > 4096)
        return lb_node_error(err, call->args[0], "ValueError", "the images are too large to show");
    return 0;
}

/* model= (none: no predictions) and wrong=. */
static int samples_model(lb_cmd_call *call, samples_req *r, lb_error *err)
{
    lb_value *mv = lb_call_param(call, "model", err);
    lb_value *wv = mv ? lb_call_param(call, "wrong", err) : NULL;
    if (!mv || !wv) {
        lb_decref(mv);
        return -1;
    }
    r->only_wrong = lb_truthy(wv);
    lb_decref(wv);
    if (mv->kind == LB_NONE) {
        lb_decref(mv);
        mv = NULL;
    }
    r->model = mv;
    if (mv && !r->s->y) {
        lb_decref(mv);
        r->model = NULL;
        const lb_node *mk = lb_call_keyword(call, "model");
        return lb_node_error(err, mk ? mk->kids[0] : call->node, "ValueError",
                             "samples model= shows predicted classes; %s is a %s data set with no class per sample",
                             r->ds->name, r->ds->task);
    }
    return 0;
}

/* The order of the split's samples to show from (shuffled when seeded) and, with a model, its
 * predictions of the whole split, so that wrong=true can pick among the mistakes (then r->n
 * shrinks to their number when there are fewer). who gets the model's name. */
static int samples_pick(lb_cmd_call *call, samples_req *r, int64_t *pick, int32_t *pred,
                        char *who, size_t whosize, lb_error *err)
{
    const lb_split *s = r->s;
    for (int64_t i = 0; i < s->n; i++)
        pick[i] = i;
    if (r->seeded)
        lb_data_shuffle(pick, s->n, r->seed);
    if (!r->model)
        return 0;
    if (lb_predict_split(call->in, r->model, r->ds, s, pred, who, whosize, err) < 0) {
        const lb_node *mk = lb_call_keyword(call, "model");
        if (mk)
            lb_error_locate(err, mk->kids[0]->line, mk->kids[0]->col, mk->kids[0]->span);
        return -1;
    }
    if (r->only_wrong) {
        int64_t k = 0;
        for (int64_t i = 0; i < s->n; i++)
            if (pred[pick[i]] != s->y[pick[i]])
                pick[k++] = pick[i];
        if (r->n > k)
            r->n = k;
    }
    return 0;
}

/* The first r->n picked samples as images in pix (the normalisation undone for the eye),
 * captioned with their class, or with the prediction and the true class in caps. */
static void samples_images(const samples_req *r, const int64_t *pick, const int32_t *pred,
                           float *pix, lb_plot_image *ims, char (*caps)[160])
{
    const lb_dataset *ds = r->ds;
    const lb_split *s = r->s;
    int64_t gsize = ds->ngroups ? s->numel / ds->ngroups : 0;
    for (int64_t k = 0; k < r->n; k++) {
        int64_t i = pick[k];
        float *dst = pix + k * s->numel;
        const float *src = s->x + i * s->numel;
        for (int64_t e = 0; e < s->numel; e++) /* undo the normalisation for the eye */
            dst[e] = ds->ngroups ? src[e] * ds->std[e / gsize] + ds->mean[e / gsize] : src[e];
        ims[k].pixels = dst;
        ims[k].width = (int)r->w;
        ims[k].height = (int)r->h;
        ims[k].channels = r->c == 3 ? 3 : 1; /* other channel counts: the first channel */
        ims[k].layout = LB_IMG_CHW;
        if (ds->unit_scaled) {
            ims[k].has_range = true;
            ims[k].lo = 0;
            ims[k].hi = 1;
        }
        ims[k].caption = s->y ? ds->classes[s->y[i]] : NULL;
        if (pred) {
            snprintf(caps[k], sizeof caps[k], "%s\n(%s)", ds->classes[pred[i]], ds->classes[s->y[i]]);
            ims[k].caption = caps[k];
            ims[k].wrong = pred[i] != s->y[i];
        }
    }
}

static int cmd_samples(lb_cmd_call *call, lb_error *err)
{
    lb_value *v = lb_call_arg(call, 0, err);
    if (!v)
        return -1;
    samples_req r = {0};
    if (!lb_data_from_value(v, &r.ds, &r.s)) {
        int rc = lb_node_error(err, call->args[0], "TypeError",
                               "samples needs a dataset or a split (f, f.test), not a %s",
                               lb_type_name(v));
        lb_decref(v);
        return rc;
    }
    if (!r.s)
        r.s = &r.ds->splits[0];
    if (samples_count(call, &r, err) < 0 || samples_grid(call, &r, err) < 0 ||
        samples_geometry(call, &r, err) < 0 || samples_model(call, &r, err) < 0) {
        lb_decref(v);
        return -1;
    }
    const lb_dataset *ds = r.ds;
    const lb_split *s = r.s;
    int64_t *pick = malloc((size_t)s->n * sizeof *pick);
    float *pix = malloc((size_t)(r.n * s->numel) * sizeof *pix + 1);
    lb_plot_image *ims = calloc((size_t)r.n, sizeof *ims);
    /* predictions: of the whole split */
    int32_t *pred = r.model ? malloc((size_t)s->n * sizeof *pred) : NULL;
    char (*caps)[160] = r.model ? calloc((size_t)r.n, sizeof *caps) : NULL;
    char who[300] = "";
    lb_plot *p = NULL;
    if (!pick || !pix || !ims || (r.model && (!pred || !caps))) {
        lb_oom_null(err);
        goto out;
    }
    if (samples_pick(call, &r, pick, pred, who, sizeof who, err) < 0)
        goto out;
    samples_images(&r, pick, pred, pix, ims, caps);
    char title[512], cnt[32];
    lb_format_count(s->n, cnt, sizeof cnt);
    if (pred)
        snprintf(title, sizeof title, "%s on %s.%s: %s%" PRId64 "%s of %s, predicted (true)", who,
                 ds->name, s->name, r.seeded ? "random " : "", r.n, r.only_wrong ? " mistakes" : "",
                 cnt);
    else
        snprintf(title, sizeof title, "%s.%s: %s%" PRId64 " of %s", ds->name, s->name,
                 r.seeded ? "random " : "", r.n, cnt);
    lb_plot_opts opts = {.title = title};
    p = lb_plot_images(ims, (size_t)r.n, r.cols, &opts, err);
out:
    free(pick);
    free(pix);
    free(ims);
    free(pred);
    free(caps);
    lb_decref(r.model);
    lb_decref(v);
    if (!p)
        return -1;
    int rc = lb_plot_show(call->in, p, NULL, false, err);
    lb_plot_free(p);
    return rc;
}

static const lb_param samples_params[] = {
    {"cols", LB_PARAM_INT, "0", "images per row (0: up to 8)"},
    {"seed", LB_PARAM_INT, NULL, "pick samples at random with this seed (default: the first N)"},
    {"model", LB_PARAM_ANY, NULL, "a model or run: caption each sample with its prediction (wrong ones in red)"},
    {"wrong", LB_PARAM_BOOL, "false", "with model: show only samples it gets wrong"},
    {0}};

static const lb_command samples_cmd = {
    .name = "samples",
    .synopsis = "samples DATA [N] cols=0 seed=S model=M wrong=false",
    .doc = "Shows N samples (default 16, at most 256) of a data set or split as an image grid,\n"
           "each captioned with its class name: the first N in file order, or N picked at\n"
           "random (Fisher-Yates with the seed, as the split) with seed=S. A dataset shows its\n"
           "train split. Normalised values are mapped back to the pixels they came from.\n"
           "With model=M (a model or a run), each caption gives the true and the predicted\n"
           "class, wrong predictions in red; wrong=true shows only the mistakes.",
    .example = "f = fashion_mnist()\nsamples f.test 16\nsamples f 32 cols=8 seed=1\n"
               "samples f.test 16 model=pool wrong=true",
    .params = samples_params,
    .min_args = 1,
    .max_args = 2,
    .hint = LB_ARGS_VALUES,
    .handler = cmd_samples,
};

static int register_data_commands(lb_interp *in, lb_error *err)
{
    if (lb_interp_add_version(in, "zlib", zlibVersion()) < 0)
        return lb_oom(err);
    if (lb_interp_register_function(
            in, "fashion_mnist",
            "fashion_mnist(valid=10000, seed=0, train=none, test=none, normalize=true, dir=none)",
            "Fashion-MNIST (Debian package dataset-fashion-mnist) as a dataset: train/valid split "
            "by seed, optional seeded subsets, standardised with train's mean and std.",
            fn_fashion_mnist, NULL, err) < 0 ||
        lb_interp_register_function(
            in, "idx",
            "idx(images=\"FILE\", labels=\"FILE\", test_images=none, test_labels=none, "
            "classes=none, valid=0, seed=0, train=none, test=none, normalize=true)",
            "A dataset from IDX files (gz or raw, any IDX type; bytes scaled to [0, 1]).", fn_idx,
            NULL, err) < 0 ||
        lb_interp_register_function(
            in, "csv",
            "csv(\"FILE\", label=\"label\", target=none, test_file=none, shape=none, classes=none, valid=0, "
            "seed=0, train=none, test=none, normalize=true)",
            "A dataset from a CSV file with a header row: the label column gives the classes, "
            "every other column a number. With target=\"COLUMN\" instead: regression, that column's "
            "number per row is the target (task regress).",
            fn_csv, NULL, err) < 0 ||
        lb_interp_register_function(
            in, "shapes", "shapes(n=1000, test=200, size=16, noise=0.3, valid=0.2, seed=0, normalize=true)",
            "A generated segmentation data set: images x [1, size, size] of a square and a disc on a noisy "
            "background, labels y [size, size] (0 background, 1 square, 2 disc; 255 marks the ignored "
            "boundary pixels). Task segment.",
            fn_shapes, NULL, err) < 0 ||
        lb_interp_register_function(
            in, "pairs", "pairs(n=4000, test=1000, classes=4, noise=0.5, valid=0.1, seed=0, normalize=true)",
            "A generated data set with two inputs: a [8] and b [4], each from a hidden class; the label "
            "y is the sum of the two classes mod classes, so only both inputs together tell it. Task "
            "classify, for models with inputs a and b.",
            fn_pairs, NULL, err) < 0 ||
        lb_interp_register_function(
            in, "sample", "sample(DATA, i)",
            "Sample i of a split (a dataset: its train split) as a map: index, source (its row "
            "in the file), label, class, shape and values (as stored: normalised).",
            fn_sample, NULL, err) < 0)
        return -1;
    /* plugin data sources give their data sets as values of this module */
    lb_plugins_set_dataset_maker(lb_dataset_value_new);
    return lb_interp_register_command(in, &samples_cmd, err);
}

const lb_module lb_data_module = {.name = "data", .init = register_data_commands};
