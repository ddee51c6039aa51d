/* runs.c — run records as language values: a `run` (one training: its JSON record, the model
 * it trained and the weights it ended with) and `runs` (several, as `train` gives them), their
 * fields reachable with `.` (run.test.acc, runs.best("valid.acc")), the comparison table, the
 * session's list of runs, learning curves of runs, and the commands `runs` and `export`
 * (CSV and JSON, written atomically). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/commands.h"
#include "lang/interp_state.h"
#include "base/fileio.h"
#include "lang/interp.h"
#include "lang/module.h"
#include "modules/plot_values.h"
#include "base/strbuf.h"
#include "render/table.h"
#include "modules/training.h"


/* ---- JSON <-> values ------------------------------------------------------------------------ */

static lb_value *from_json(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lb_value *m = lb_map_new();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (m && lb_map_set_take(m, k, from_json(v)) < 0) {
                lb_decref(m);
                return NULL;
            }
        }
        return m;
    }
    case JSON_ARRAY: {
        lb_value *l = lb_list_new();
        for (size_t i = 0; l && i < json_array_size(j); i++)
            if (lb_list_append_take(l, from_json(json_array_get(j, i))) < 0) {
                lb_decref(l);
                return NULL;
            }
        return l;
    }
    case JSON_STRING: return lb_str(json_string_value(j));
    case JSON_INTEGER:
    case JSON_REAL: return lb_num(json_number_value(j));
    case JSON_TRUE: return lb_bool(true);
    case JSON_FALSE: return lb_bool(false);
    default: return lb_none();
    }
}

/* ---- metrics of a run ------------------------------------------------------------------------ */

double lb_run_metric(const lb_run *r, const char *name)
{
    const json_t *rec = r->record;
    const char *dot = strchr(name, '.');
    if (dot) {
        char split[16];
        size_t n = (size_t)(dot - name);
        if (n >= sizeof split)
            return NAN;
        memcpy(split, name, n);
        split[n] = 0;
        json_t *v = json_object_get(json_object_get(json_object_get(rec, "final"), split), dot + 1);
        return json_is_number(v) ? json_number_value(v) : NAN;
    }
    if (strcmp(name, "epochs") == 0)
        name = "epochs_run";
    json_t *v = json_object_get(rec, name);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

double *lb_run_series(const lb_run *r, const char *name, size_t *n)
{
    json_t *h = json_object_get(r->record, "history");
    size_t ne = json_array_size(h);
    *n = 0;
    if (ne == 0)
        return NULL;
    double *out = malloc(ne * sizeof *out);
    if (!out)
        return NULL;
    bool any = false;
    for (size_t i = 0; i < ne; i++) {
        json_t *v = json_object_get(json_array_get(h, i), name);
        out[i] = json_is_number(v) ? json_number_value(v) : NAN;
        any |= json_is_number(v);
    }
    if (!any) {
        free(out);
        return NULL;
    }
    *n = ne;
    return out;
}

/* Whether the run has per-epoch train.M (then its valid.M line needs no legend entry of its
 * own: the train line names the run). */
static bool has_train_series(const lb_run *r, const char *m)
{
    char name[64];
    snprintf(name, sizeof name, "train.%s", m);
    size_t n = 0;
    double *y = lb_run_series(r, name, &n);
    bool has = y != NULL;
    free(y);
    return has;
}

static const char *run_name(const lb_run *r)
{
    const char *s = json_string_value(json_object_get(r->record, "name"));
    return s ? s : "?";
}

static const char *run_status(const lb_run *r)
{
    const char *s = json_string_value(json_object_get(r->record, "status"));
    return s ? s : "?";
}

/* ---- the run value ------------------------------------------------------------------------- */

static void run_free(void *data)
{
    lb_run *r = data;
    if (!r)
        return;
    json_decref(r->record);
    lb_decref(r->model);
    free(r->weights);
    free(r);
}

void lb_format_metric(double v, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.4f", v);
}

const char *lb_run_key_metric(const lb_run *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r->record, "settings"), "monitor"));
    const char *dot = m ? strchr(m, '.') : NULL;
    return dot ? dot + 1 : "acc";
}

static char *run_repr(const lb_value *self)
{
    const lb_run *r = self->u.obj.data;
    char va[32], te[32], kv[48], kt[48], *s = NULL;
    snprintf(kv, sizeof kv, "valid.%s", lb_run_key_metric(r));
    snprintf(kt, sizeof kt, "test.%s", lb_run_key_metric(r));
    lb_format_metric(lb_run_metric(r, kv), va, sizeof va);
    lb_format_metric(lb_run_metric(r, kt), te, sizeof te);
    if (asprintf(&s, "<run %d: %s, %s, %d epoch%s, %s %s, %s %s>", r->id, run_name(r), run_status(r),
                 (int)lb_run_metric(r, "epochs"), lb_run_metric(r, "epochs") == 1 ? "" : "s", kv, va, kt, te) < 0)
        return NULL;
    return s;
}

static const char *const run_members_list[] = {
    "best_epoch", "blas", "config_sha256", "data", "epochs", "history", "host", "id", "init_sha256", "metrics",
    "labbook", "model", "model_seed", "name", "params", "plugins", "record", "reproducible",
    "samples_per_s", "seconds", "seconds_per_epoch", "seed", "settings", "spec", "started",
    "status", "swept", "test", "threads", "train", "valid", "weights_sha256"};

static lb_value *run_member(lb_value *self, const char *name, lb_error *err)
{
    lb_run *r = self->u.obj.data;
    if (strcmp(name, "model") == 0)
        return lb_incref(r->model);
    if (strcmp(name, "record") == 0)
        return from_json(r->record);
    if (strcmp(name, "epochs") == 0)
        return from_json(json_object_get(r->record, "epochs_run"));
    if (strcmp(name, "train") == 0 || strcmp(name, "valid") == 0 || strcmp(name, "test") == 0) {
        json_t *v = json_object_get(json_object_get(r->record, "final"), name);
        if (!v) {
            lb_error_set(err, "AttributeError", 0, 0, "run %d has no %s metrics%s", r->id, name,
                         strcmp(name, "test") == 0 ? " (the data has no test split, test=false, or "
                                                     "the run did not finish)"
                                                   : "");
            return NULL;
        }
        return from_json(v);
    }
    json_t *v = json_object_get(r->record, name);
    if (v)
        return from_json(v);
    const char *s = lb_suggest(name, run_members_list, sizeof run_members_list / sizeof run_members_list[0]);
    lb_error_set(err, "AttributeError", 0, 0, "a run has no member '%s'%s%s%s", name,
                 s ? " (did you mean '" : " (see `help train` for the record's fields)", s ? s : "",
                 s ? "'?)" : "");
    return NULL;
}

static json_t *run_members(const lb_value *self)
{
    (void)self;
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof run_members_list / sizeof run_members_list[0]; i++)
        json_array_append_new(a, json_string(run_members_list[i]));
    return a;
}

/* A table of one run's epochs. */
lb_table *lb_run_history_table(const lb_run *r)
{
    json_t *h = json_object_get(r->record, "history");
    lb_table *t = lb_table_new();
    if (!t)
        return NULL;
    const char *cols[16];
    size_t nc = 0;
    json_t *first = json_array_get(h, 0);
    const char *k;
    json_t *v;
    json_object_foreach(first, k, v)
    {
        if (nc < 16)
            cols[nc++] = k;
    }
    for (size_t c = 0; c < nc; c++)
        lb_table_set_header(t, c, strcmp(cols[c], "samples_per_s") == 0 ? "samples/s" : cols[c]);
    for (size_t i = 0; i < json_array_size(h); i++) {
        json_t *ep = json_array_get(h, i);
        long row = lb_table_add_row(t);
        if (row < 0)
            break;
        for (size_t c = 0; c < nc; c++) {
            json_t *x = json_object_get(ep, cols[c]);
            double d = json_number_value(x);
            char buf[64];
            if (strcmp(cols[c], "epoch") == 0)
                snprintf(buf, sizeof buf, "%d", (int)d);
            else if (strcmp(cols[c], "samples_per_s") == 0)
                lb_format_count((int64_t)llround(d), buf, sizeof buf);
            else if (strcmp(cols[c], "seconds") == 0)
                snprintf(buf, sizeof buf, "%.1f", d);
            else if (strcmp(cols[c], "lr") == 0)
                lb_table_format_number(d, buf, sizeof buf);
            else
                lb_format_metric(d, buf, sizeof buf);
            lb_table_set(t, (size_t)row, c, x ? buf : "-", true);
        }
    }
    return t;
}

static int merge_table(lb_table *t, json_t *bundle, const char *heading)
{
    json_t *b = t ? lb_table_bundle(t) : NULL;
    lb_table_free(t);
    if (!b)
        return -1;
    const char *html = json_string_value(json_object_get(b, "text/html"));
    const char *md = json_string_value(json_object_get(b, "text/markdown"));
    char *h = NULL, *m = NULL;
    if (asprintf(&h, "<p><b>%s</b></p>%s", heading, html ? html : "") < 0)
        h = NULL;
    if (asprintf(&m, "**%s**\n\n%s", heading, md ? md : "") < 0)
        m = NULL;
    if (h)
        json_object_set_new(bundle, "text/html", json_string(h));
    if (m)
        json_object_set_new(bundle, "text/markdown", json_string(m));
    free(h);
    free(m);
    json_decref(b);
    return 0;
}

static int run_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    (void)metadata;
    const lb_run *r = self->u.obj.data;
    char *head = run_repr(self);
    if (!head)
        return lb_oom(err);
    /* drop the angle brackets for the heading */
    size_t n = strlen(head);
    if (n > 2) {
        memmove(head, head + 1, n - 2);
        head[n - 2] = 0;
    }
    int rc = merge_table(lb_run_history_table(r), bundle, head);
    free(head);
    return rc < 0 ? lb_oom(err) : 0;
}

static const lb_class run_class = {
    .name = "run",
    .free = run_free,
    .repr = run_repr,
    .display = run_display,
    .member = run_member,
    .members = run_members,
};

lb_value *lb_run_value_new(lb_run *r) { return lb_object_new(&run_class, r); }

lb_run *lb_run_from_value(const lb_value *v) { return lb_object_data(v, &run_class); }

/* ---- the comparison table -------------------------------------------------------------------- */

typedef struct col {
    char title[40];
    char metric[40]; /* lb_run_metric name, or "" for text columns */
    int kind;        /* 0 metric 4 decimals, 1 count, 2 seconds, 3 samples/s, 4 text */
} col;

static int cmp_sort_metric;
static const char *cmp_metric;
static int cmp_runs(const void *a, const void *b)
{
    const lb_run *x = lb_run_from_value(*(lb_value *const *)a), *y = lb_run_from_value(*(lb_value *const *)b);
    double u = lb_run_metric(x, cmp_metric), v = lb_run_metric(y, cmp_metric);
    if (isnan(u) != isnan(v))
        return isnan(u) ? 1 : -1;
    if (!isnan(u) && u != v)
        return (cmp_sort_metric ? u < v : u > v) ? -1 : 1;
    return x->id - y->id;
}

/* Which way metric is better, as the runs' records declare it (the first that does). */
static lb_better better_of(const lb_value *list, const char *metric)
{
    for (size_t i = 0; i < lb_list_len(list); i++) {
        lb_better b = lb_record_better(lb_run_from_value(lb_list_get(list, i))->record, metric);
        if (b != LB_BETTER_NONE)
            return b;
    }
    return LB_BETTER_NONE;
}

#define MAX_COLS 48
#define MAX_SWEPT 16

/* The table being made: the runs in display order, the columns, and per column whether any
 * run has it and its best value. */
typedef struct runs_view {
    const lb_value *list;
    lb_value **order;
    size_t n;
    col cols[MAX_COLS];
    size_t ncols;
    bool present[MAX_COLS];
    double best[MAX_COLS];
    const char *swept[MAX_SWEPT];
    size_t nswept;
} runs_view;

static void add_col(runs_view *v, const char *title, const char *metric, int kind)
{
    if (v->ncols == MAX_COLS)
        return;
    col *c = &v->cols[v->ncols++];
    snprintf(c->title, sizeof c->title, "%s", title);
    snprintf(c->metric, sizeof c->metric, "%s", metric ? metric : "");
    c->kind = kind;
}

/* The split metrics of a run's task, in the task's order ("loss", "acc", "top5"): the record's
 * task.metrics (records older than tasks: loss, acc and the top-k of the valid split). */
static size_t task_metrics(const json_t *rec, const char *out[], size_t max)
{
    json_t *m = json_object_get(json_object_get(rec, "task"), "metrics");
    size_t n = 0;
    if (json_is_array(m)) {
        for (size_t i = 0; i < json_array_size(m) && n < max; i++)
            if (json_string_value(json_array_get(m, i)))
                out[n++] = json_string_value(json_array_get(m, i));
        return n;
    }
    out[n++] = "loss";
    out[n++] = "acc";
    const char *k;
    json_t *x;
    json_object_foreach(json_object_get(json_object_get(rec, "final"), "valid"), k, x)
    {
        if (strncmp(k, "top", 3) == 0 && n < max)
            out[n++] = k;
    }
    return n;
}

/* The metric columns from the runs' tasks: train.loss, valid.<each metric>, test.<each but the
 * loss>, in the order of first appearance over the runs, then the timings. */
static void metric_columns(runs_view *v)
{
    const char *names[MAX_COLS];
    size_t nn = 0;
    for (size_t i = 0; i < v->n; i++) {
        const char *m[16];
        size_t k = task_metrics(lb_run_from_value(v->order[i])->record, m, 16);
        for (size_t j = 0; j < k; j++) {
            bool seen = false;
            for (size_t q = 0; q < nn; q++)
                seen |= strcmp(names[q], m[j]) == 0;
            if (!seen && nn < MAX_COLS)
                names[nn++] = m[j];
        }
    }
    add_col(v, "train.loss", "train.loss", 0);
    char buf[40];
    for (size_t q = 0; q < nn; q++) {
        snprintf(buf, sizeof buf, "valid.%s", names[q]);
        add_col(v, buf, buf, 0);
    }
    for (size_t q = 0; q < nn; q++)
        if (strcmp(names[q], "loss") != 0) {
            snprintf(buf, sizeof buf, "test.%s", names[q]);
            add_col(v, buf, buf, 0);
        }
    add_col(v, "s/epoch", "seconds_per_epoch", 2);
    add_col(v, "samples/s", "samples_per_s", 3);
}

/* Swept settings columns, from the union of the runs' "swept" keys. */
static void swept_columns(runs_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *k;
        json_t *x;
        json_object_foreach(json_object_get(lb_run_from_value(v->order[i])->record, "swept"), k, x)
        {
            bool seen = false;
            for (size_t s = 0; s < v->nswept; s++)
                seen |= strcmp(v->swept[s], k) == 0;
            if (!seen && v->nswept < MAX_SWEPT)
                v->swept[v->nswept++] = k;
        }
    }
}

/* Which columns any run has, and each metric column's best value in the direction the records
 * declare (none: unmarked). */
static void column_stats(runs_view *v)
{
    for (size_t c = 0; c < v->ncols; c++) {
        const char *metric = v->cols[c].metric;
        v->present[c] = !*metric;
        v->best[c] = NAN;
        for (size_t i = 0; i < v->n && !v->present[c]; i++)
            v->present[c] = !isnan(lb_run_metric(lb_run_from_value(v->order[i]), metric));
        lb_better dir = *metric ? better_of(v->list, metric) : LB_BETTER_NONE;
        if (dir == LB_BETTER_NONE)
            continue;
        bool low = dir == LB_BETTER_LOWER;
        for (size_t i = 0; i < v->n; i++) {
            double w = lb_run_metric(lb_run_from_value(v->order[i]), metric);
            if (!isnan(w) && (isnan(v->best[c]) || (low ? w < v->best[c] : w > v->best[c])))
                v->best[c] = w;
        }
    }
}

/* The text cells of run r for column c (the model column is followed by the swept settings);
 * the next column index. */
static size_t text_cells(const runs_view *v, lb_table *t, size_t row, size_t cc, size_t c, const lb_run *r)
{
    if (c == 0) {
        lb_table_set(t, row, cc++, run_name(r), false);
    } else if (c == 1) {
        const char *m = json_string_value(json_object_get(r->record, "model"));
        lb_table_set(t, row, cc++, m ? m : "", false);
        for (size_t s = 0; s < v->nswept; s++) {
            json_t *x = json_object_get(json_object_get(r->record, "swept"), v->swept[s]);
            lb_value *val = x ? from_json(x) : NULL;
            if (val)
                lb_table_set_value(t, row, cc, val);
            else
                lb_table_set(t, row, cc, "", false);
            lb_decref(val);
            cc++;
        }
    } else {
        lb_table_set(t, row, cc++, run_status(r), false);
    }
    return cc;
}

static void metric_cell(const runs_view *v, lb_table *t, size_t row, size_t cc, size_t c, const lb_run *r)
{
    char buf[64];
    double x = lb_run_metric(r, v->cols[c].metric);
    if (isnan(x))
        snprintf(buf, sizeof buf, "-");
    else if (v->cols[c].kind == 1 || v->cols[c].kind == 3)
        lb_format_count((int64_t)llround(x), buf, sizeof buf);
    else if (v->cols[c].kind == 2)
        snprintf(buf, sizeof buf, "%.2f", x);
    else
        lb_format_metric(x, buf, sizeof buf);
    lb_table_set(t, row, cc, buf, true);
    /* the best value of the column among the runs, marked */
    if (v->n > 1 && !isnan(x) && v->cols[c].kind != 1 && x == v->best[c])
        lb_table_emphasize(t, row, cc, true);
}

static void fill_rows(const runs_view *v, lb_table *t)
{
    size_t cc = 0;
    lb_table_set_header(t, cc++, "#");
    for (size_t c = 0; c < v->ncols; c++) {
        if (!v->present[c])
            continue;
        lb_table_set_header(t, cc++, v->cols[c].title);
        if (c == 1)
            for (size_t s = 0; s < v->nswept; s++)
                lb_table_set_header(t, cc++, v->swept[s]);
    }
    for (size_t i = 0; i < v->n; i++) {
        const lb_run *r = lb_run_from_value(v->order[i]);
        long row = lb_table_add_row(t);
        if (row < 0)
            break;
        char buf[32];
        cc = 0;
        snprintf(buf, sizeof buf, "%d", r->id);
        lb_table_set(t, (size_t)row, cc++, buf, true);
        for (size_t c = 0; c < v->ncols; c++) {
            if (!v->present[c])
                continue;
            if (v->cols[c].kind == 4) {
                cc = text_cells(v, t, (size_t)row, cc, c, r);
                continue;
            }
            metric_cell(v, t, (size_t)row, cc++, c, r);
        }
    }
}

lb_table *lb_runs_table(const lb_value *list, const char *sort)
{
    runs_view *v = calloc(1, sizeof *v);
    size_t n = lb_list_len(list);
    lb_table *t = lb_table_new();
    if (v)
        v->order = malloc((n ? n : 1) * sizeof *v->order);
    if (!v || !v->order || !t) {
        if (v)
            free(v->order);
        free(v);
        lb_table_free(t);
        return NULL;
    }
    v->list = list;
    v->n = n;
    for (size_t i = 0; i < n; i++)
        v->order[i] = lb_list_get(list, i);
    if (sort) {
        cmp_metric = sort;
        cmp_sort_metric = better_of(list, sort) == LB_BETTER_LOWER;
        qsort(v->order, n, sizeof *v->order, cmp_runs);
    }
    add_col(v, "run", NULL, 4);
    add_col(v, "model", NULL, 4);
    add_col(v, "status", NULL, 4);
    add_col(v, "epochs", "epochs", 1);
    add_col(v, "params", "params", 1);
    metric_columns(v);
    swept_columns(v);
    column_stats(v);
    fill_rows(v, t);
    free(v->order);
    free(v);
    return t;
}

/* ---- the runs value ------------------------------------------------------------------------------ */

typedef struct runs_data {
    lb_value *list;
} runs_data;

static void runs_free(void *data)
{
    runs_data *d = data;
    if (d)
        lb_decref(d->list);
    free(d);
}

/* The run with the best final value of metric, or NULL when none has it. */
lb_value *lb_runs_best(const lb_value *list, const char *metric, const lb_value *model)
{
    lb_value *best = NULL;
    double bv = NAN;
    lb_better dir = better_of(list, metric);
    if (dir == LB_BETTER_NONE)
        return NULL;
    bool low = dir == LB_BETTER_LOWER;
    for (size_t i = 0; i < lb_list_len(list); i++) {
        lb_value *rv = lb_list_get(list, i);
        const lb_run *r = lb_run_from_value(rv);
        double v = lb_run_metric(r, metric);
        if (isnan(v) || (model && r->model != model))
            continue;
        if (!best || (low ? v < bv : v > bv)) {
            best = rv;
            bv = v;
        }
    }
    return best;
}

static const char *sort_metric(const lb_value *list);

static char *runs_repr(const lb_value *self)
{
    const runs_data *d = self->u.obj.data;
    size_t n = lb_list_len(d->list);
    const char *m = sort_metric(d->list);
    lb_value *b = lb_runs_best(d->list, m, NULL);
    char *s = NULL;
    if (b) {
        const lb_run *r = lb_run_from_value(b);
        if (asprintf(&s, "<runs: %zu run%s, best %s %.4f (run %d: %s)>", n, n == 1 ? "" : "s", m,
                     lb_run_metric(r, m), r->id, run_name(r)) < 0)
            s = NULL;
    } else if (asprintf(&s, "<runs: %zu run%s>", n, n == 1 ? "" : "s") < 0) {
        s = NULL;
    }
    return s;
}

static const char *sort_metric(const lb_value *list)
{
    /* the monitor the runs were ranked by (the first run's), else valid.acc */
    const lb_run *r = lb_list_len(list) ? lb_run_from_value(lb_list_get(list, 0)) : NULL;
    const char *m = r ? json_string_value(json_object_get(json_object_get(r->record, "settings"), "monitor")) : NULL;
    return m ? m : "valid.acc";
}

static int runs_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    (void)metadata;
    const runs_data *d = self->u.obj.data;
    const char *m = sort_metric(d->list);
    char head[96];
    snprintf(head, sizeof head, "%zu run%s, sorted by %s", lb_list_len(d->list),
             lb_list_len(d->list) == 1 ? "" : "s", m);
    lb_table *t = lb_runs_table(d->list, m);
    json_t *b = t ? lb_table_bundle(t) : NULL;
    if (b) {
        /* the plain text is the table too (a runs value shown in a console) */
        json_object_set(bundle, "text/plain", json_object_get(b, "text/plain"));
        json_decref(b);
    }
    return merge_table(t, bundle, head) < 0 ? lb_oom(err) : 0;
}

static lb_value *metric_arg(lb_value **args, size_t nargs, const char *fn, const char **metric,
                            lb_error *err)
{
    *metric = "valid.acc";
    if (nargs > 1) {
        lb_error_set(err, "TypeError", 0, 0, "%s takes one metric name, as in %s(\"valid.acc\")", fn, fn);
        return NULL;
    }
    if (nargs == 1) {
        if (args[0]->kind != LB_STR) {
            lb_error_set(err, "TypeError", 0, 0, "%s needs a metric name (a string such as \"valid.acc\"), not a %s",
                         fn, lb_type_name(args[0]));
            return NULL;
        }
        *metric = args[0]->u.str.s;
    }
    return lb_none();
}

static lb_value *m_best(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data,
                        lb_error *err)
{
    (void)in;
    (void)kwargs;
    const runs_data *d = ((lb_value *)data)->u.obj.data;
    const char *metric;
    lb_value *ok = metric_arg(args, nargs, "best", &metric, err);
    if (!ok)
        return NULL;
    lb_decref(ok);
    if (nargs == 0) /* the metric the runs were ranked by */
        metric = sort_metric(d->list);
    lb_value *b = lb_runs_best(d->list, metric, NULL);
    if (!b) {
        /* the metrics the records declare a direction for, each split's and the run's own */
        char list[512] = "";
        const json_t *decl = lb_list_len(d->list) ? json_object_get(
                                                         lb_run_from_value(lb_list_get(d->list, 0))->record, "metrics")
                                                   : NULL;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)decl, k, x)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s %s", list[0] ? ", " : "", k,
                 json_string_value(x));
        lb_error_set(err, "ValueError", 0, 0, "no run has a ranked metric \"%s\"%s%s%s", metric,
                     list[0] ? " (ranked, with a split's metrics named train., valid. or test. + name: " : "", list,
                     list[0] ? ")" : "");
        return NULL;
    }
    return lb_incref(b);
}

static lb_value *m_get(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data,
                       lb_error *err)
{
    (void)in;
    (void)kwargs;
    const runs_data *d = ((lb_value *)data)->u.obj.data;
    if (nargs != 1 || args[0]->kind != LB_NUM) {
        lb_error_set(err, "TypeError", 0, 0, "get takes a run id, as in runs.get(3)");
        return NULL;
    }
    for (size_t i = 0; i < lb_list_len(d->list); i++) {
        lb_value *rv = lb_list_get(d->list, i);
        if (lb_run_from_value(rv)->id == args[0]->u.num)
            return lb_incref(rv);
    }
    lb_error_set(err, "KeyError", 0, 0, "no run with id %g here", args[0]->u.num);
    return NULL;
}

static const char *const runs_members_list[] = {"best", "count", "first", "get", "ids", "last", "list"};

static lb_value *runs_member(lb_value *self, const char *name, lb_error *err)
{
    runs_data *d = self->u.obj.data;
    size_t n = lb_list_len(d->list);
    if (strcmp(name, "best") == 0)
        return lb_method_new("best", "best(metric)",
                             "The run with the best final value of a metric (lowest for losses; default: the monitor the runs were ranked by).",
                             m_best, self);
    if (strcmp(name, "get") == 0)
        return lb_method_new("get", "get(id)", "The run with that id.", m_get, self);
    if (strcmp(name, "list") == 0)
        return lb_incref(d->list);
    if (strcmp(name, "count") == 0)
        return lb_num((double)n);
    if (strcmp(name, "ids") == 0) {
        lb_value *l = lb_list_new();
        for (size_t i = 0; l && i < n; i++)
            lb_list_append_take(l, lb_num(lb_run_from_value(lb_list_get(d->list, i))->id));
        return l;
    }
    if (strcmp(name, "first") == 0 || strcmp(name, "last") == 0) {
        if (n == 0) {
            lb_error_set(err, "ValueError", 0, 0, "there are no runs");
            return NULL;
        }
        return lb_incref(lb_list_get(d->list, name[0] == 'f' ? 0 : n - 1));
    }
    const char *s = lb_suggest(name, runs_members_list, sizeof runs_members_list / sizeof runs_members_list[0]);
    lb_error_set(err, "AttributeError", 0, 0, "runs have no member '%s' (%s%s%s)", name,
                 s ? "did you mean '" : "members: best, count, first, get, ids, last, list",
                 s ? s : "", s ? "'?" : "");
    return NULL;
}

static json_t *runs_members(const lb_value *self)
{
    (void)self;
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof runs_members_list / sizeof runs_members_list[0]; i++)
        json_array_append_new(a, json_string(runs_members_list[i]));
    return a;
}

static const lb_class runs_class = {
    .name = "runs",
    .free = runs_free,
    .repr = runs_repr,
    .display = runs_display,
    .member = runs_member,
    .members = runs_members,
};

lb_value *lb_runs_value_new(lb_value *list)
{
    runs_data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->list = lb_incref(list);
    return lb_object_new(&runs_class, d);
}

lb_value *lb_runs_list(const lb_value *v)
{
    runs_data *d = lb_object_data(v, &runs_class);
    return d ? d->list : NULL;
}

/* The run values of v: a runs value, one run, or a list of runs. A new list, or NULL. */
static lb_value *as_run_list(const lb_value *v)
{
    lb_value *l = lb_runs_list(v);
    if (l)
        return lb_incref(l);
    if (lb_run_from_value(v)) {
        l = lb_list_new();
        if (l)
            lb_list_append(l, (lb_value *)v);
        return l;
    }
    if (v->kind == LB_LIST) {
        for (size_t i = 0; i < lb_list_len(v); i++)
            if (!lb_run_from_value(lb_list_get(v, i)))
                return NULL;
        return lb_incref((lb_value *)v);
    }
    return NULL;
}

/* ---- the session ---------------------------------------------------------------------------- */

/* The training module's state (lang/module.h): the list of every run of the session. */
static void session_runs_free(void *list) { lb_decref(list); }

lb_value *lb_session_runs(lb_interp *in)
{
    lb_value *l = lb_interp_state(in, "training.runs");
    if (l)
        return l;
    if (!(l = lb_list_new()))
        return NULL;
    if (lb_interp_set_state(in, "training.runs", l, session_runs_free) < 0) {
        lb_decref(l);
        return NULL;
    }
    return l;
}

int lb_session_add_run(lb_interp *in, lb_value *run)
{
    lb_value *l = lb_session_runs(in);
    return l ? lb_list_append(l, run) : -1;
}

/* ---- curves --------------------------------------------------------------------------------- */

lb_plot *lb_runs_curves(const lb_value *list, const char *const *metrics, size_t nmetrics,
                        bool logy, lb_error *err)
{
    size_t n = lb_list_len(list);
    lb_panel *panels = calloc(nmetrics ? nmetrics : 1, sizeof *panels);
    lb_series *series = calloc(nmetrics * n * 2 + 1, sizeof *series);
    double **data = calloc(nmetrics * n * 2 + 1, sizeof *data);
    char **labels = calloc(nmetrics * n * 2 + 1, sizeof *labels);
    char **titles = calloc(nmetrics + 1, sizeof *titles);
    lb_plot *p = NULL;
    size_t ns = 0;
    if (!panels || !series || !data || !labels || !titles) {
        lb_oom(err);
        goto out;
    }
    for (size_t k = 0; k < nmetrics; k++) {
        const char *m = metrics[k];
        bool split = strchr(m, '.') != NULL;
        size_t first = ns;
        for (size_t i = 0; i < n; i++) {
            const lb_run *r = lb_run_from_value(lb_list_get(list, i));
            for (int s = 0; s < (split ? 1 : 2); s++) {
                char name[64];
                if (split)
                    snprintf(name, sizeof name, "%s", m);
                else
                    snprintf(name, sizeof name, "%s.%s", s == 0 ? "train" : "valid", m);
                size_t len = 0;
                double *y = lb_run_series(r, name, &len);
                if (!y)
                    continue;
                bool valid = strncmp(name, "valid.", 6) == 0;
                /* each run once in the legend (its colour); without a split the title says
                 * which line style is which */
                if (asprintf(&labels[ns], "%s", !split && s == 1 && has_train_series(r, m) ? "" : run_name(r)) < 0)
                    labels[ns] = NULL;
                data[ns] = y;
                series[ns] = (lb_series){.name = labels[ns], .y = y, .n = len, .color = r->id - 1,
                                         .style = valid && !split ? LB_LINE_DASHED : LB_LINE_SOLID,
                                         .markers = -1};
                ns++;
            }
        }
        if (ns == first) {
            lb_error_set(err, "ValueError", 0, 0,
                         "no run has the metric \"%s\" per epoch (known: loss, acc, train.loss, "
                         "train.acc, valid.loss, valid.acc, valid.top5, lr, seconds, samples_per_s)",
                         m);
            goto out;
        }
        if (!split && asprintf(&titles[k], "%s (solid: train, dashed: valid)", m) < 0)
            titles[k] = NULL;
        panels[k] = (lb_panel){.title = titles[k], .xlabel = "epoch", .ylabel = m, .series = series + first,
                               .nseries = ns - first, .logy = logy};
    }
    p = lb_plot_lines(panels, nmetrics, NULL, err);
out:
    for (size_t i = 0; i < ns; i++) {
        free(data[i]);
        free(labels[i]);
    }
    for (size_t k = 0; titles && k < nmetrics; k++)
        free(titles[k]);
    free(titles);
    free(panels);
    free(series);
    free(data);
    free(labels);
    return p;
}

/* `plot runs loss valid.acc logy=true`: the plot source of runs values (plot.h). */
static int plot_runs(lb_cmd_call *call, lb_value *first, lb_error *err)
{
    lb_value *list = as_run_list(first);
    if (!list)
        return lb_node_error(err, call->args[0], "TypeError", "plot needs runs here");
    const char *metrics[16];
    size_t nm = 0;
    char texts[16][64];
    for (size_t i = 1; i < call->nargs; i++) {
        const lb_node *a = call->args[i];
        char buf[64] = "";
        if (a->kind == LB_N_NAME) {
            snprintf(buf, sizeof buf, "%s", a->text);
        } else if (a->kind == LB_N_MEMBER && a->kids[0]->kind == LB_N_NAME) {
            snprintf(buf, sizeof buf, "%s.%s", a->kids[0]->text, a->text);
        } else if (a->kind == LB_N_STR) {
            snprintf(buf, sizeof buf, "%.*s", (int)a->text_len, a->text);
        } else {
            lb_decref(list);
            return lb_node_error(err, a, "SyntaxError",
                                 "after the runs, name the metrics to plot: `plot runs loss valid.acc`");
        }
        if (nm == 16) {
            lb_decref(list);
            return lb_node_error(err, a, "ValueError", "at most 16 metrics in one figure");
        }
        snprintf(texts[nm], sizeof texts[nm], "%s", buf);
        metrics[nm] = texts[nm];
        nm++;
    }
    if (nm == 0) {
        metrics[nm++] = "loss";
        metrics[nm++] = "acc";
    }
    bool logy = false;
    const lb_node *lk = lb_call_keyword(call, "logy");
    if (lk) {
        lb_value *v = lb_call_eval(call, lk->kids[0], err);
        if (!v) {
            lb_decref(list);
            return -1;
        }
        logy = lb_truthy(v);
        lb_decref(v);
    }
    lb_plot *p = lb_runs_curves(list, metrics, nm, logy, err);
    lb_decref(list);
    if (!p) {
        lb_error_locate(err, call->args[0]->line, call->args[0]->col, call->args[0]->span);
        return -1;
    }
    int rc = lb_plot_show(call->in, p, NULL, false, err);
    lb_plot_free(p);
    return rc;
}

/* ---- export --------------------------------------------------------------------------------- */

static void csv_cell(lb_strbuf *b, const char *s)
{
    bool quote = strpbrk(s, ",\"\n\r") != NULL;
    if (!quote) {
        lb_sb_add(b, s);
        return;
    }
    lb_sb_add(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            lb_sb_add(b, "\"");
        lb_sb_addn(b, p, 1);
    }
    lb_sb_add(b, "\"");
}

static void json_cell(lb_strbuf *b, const json_t *v)
{
    char buf[64];
    if (!v || json_is_null(v))
        return;
    if (json_is_string(v)) {
        csv_cell(b, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        lb_sb_add(b, buf);
    } else if (json_is_real(v)) {
        lb_format_number(json_real_value(v), buf, sizeof buf); /* shortest that reads back exactly */
        lb_sb_add(b, buf);
    } else if (json_is_boolean(v)) {
        lb_sb_add(b, json_is_true(v) ? "true" : "false");
    } else {
        char *s = json_dumps(v, JSON_COMPACT);
        csv_cell(b, s ? s : "");
        free(s);
    }
}

static void add_key(json_t *keys, const char *k)
{
    for (size_t i = 0; i < json_array_size(keys); i++)
        if (strcmp(json_string_value(json_array_get(keys, i)), k) == 0)
            return;
    json_array_append_new(keys, json_string(k));
}

/* One row per run (settings and final metrics), or per run and epoch. */
static char *runs_csv(const lb_value *list, bool epochs)
{
    lb_strbuf b = {0};
    json_t *skeys = json_array(), *mkeys = json_array();
    size_t n = lb_list_len(list);
    const char *finals[] = {"train", "valid", "test"};
    for (size_t i = 0; i < n; i++) {
        const json_t *rec = lb_run_from_value(lb_list_get(list, i))->record;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(rec, "settings"), k, v) add_key(skeys, k);
        if (epochs) {
            json_t *h = json_object_get(rec, "history");
            for (size_t e = 0; e < json_array_size(h); e++)
                json_object_foreach(json_array_get(h, e), k, v) add_key(mkeys, k);
        } else {
            for (int f = 0; f < 3; f++) {
                json_object_foreach(json_object_get(json_object_get(rec, "final"), finals[f]), k, v)
                {
                    if (json_is_number(v)) {
                        char name[64];
                        snprintf(name, sizeof name, "%s.%s", finals[f], k);
                        add_key(mkeys, name);
                    }
                }
            }
        }
    }
    const char *fixed[] = {"id", "name", "model", "status", "spec", "params", "epochs_run",
                           "seconds", "samples_per_s", "threads", "labbook", "config_sha256"};
    size_t nf = sizeof fixed / sizeof fixed[0];
    for (size_t f = 0; f < nf; f++) {
        if (f)
            lb_sb_add(&b, ",");
        lb_sb_add(&b, fixed[f]);
    }
    lb_sb_add(&b, ",data_fingerprint");
    for (size_t k = 0; k < json_array_size(skeys); k++) {
        lb_sb_add(&b, ",");
        csv_cell(&b, json_string_value(json_array_get(skeys, k)));
    }
    for (size_t k = 0; k < json_array_size(mkeys); k++) {
        lb_sb_add(&b, ",");
        csv_cell(&b, json_string_value(json_array_get(mkeys, k)));
    }
    lb_sb_add(&b, "\n");
    for (size_t i = 0; i < n; i++) {
        const json_t *rec = lb_run_from_value(lb_list_get(list, i))->record;
        json_t *h = json_object_get(rec, "history");
        size_t rows = epochs ? json_array_size(h) : 1;
        for (size_t e = 0; e < rows; e++) {
            for (size_t f = 0; f < nf; f++) {
                if (f)
                    lb_sb_add(&b, ",");
                json_cell(&b, json_object_get(rec, fixed[f]));
            }
            lb_sb_add(&b, ",");
            json_cell(&b, json_object_get(json_object_get(rec, "data"), "fingerprint"));
            for (size_t k = 0; k < json_array_size(skeys); k++) {
                lb_sb_add(&b, ",");
                json_cell(&b, json_object_get(json_object_get(rec, "settings"),
                                              json_string_value(json_array_get(skeys, k))));
            }
            for (size_t k = 0; k < json_array_size(mkeys); k++) {
                const char *key = json_string_value(json_array_get(mkeys, k));
                lb_sb_add(&b, ",");
                if (epochs) {
                    json_cell(&b, json_object_get(json_array_get(h, e), key));
                } else {
                    const char *dot = strchr(key, '.');
                    char split[16];
                    snprintf(split, sizeof split, "%.*s", (int)(dot - key), key);
                    json_cell(&b, json_object_get(json_object_get(json_object_get(rec, "final"), split), dot + 1));
                }
            }
            lb_sb_add(&b, "\n");
        }
    }
    json_decref(skeys);
    json_decref(mkeys);
    return lb_sb_take(&b);
}

static int cmd_export(lb_cmd_call *call, lb_error *err)
{
    lb_value *v = lb_call_arg(call, 0, err);
    if (!v)
        return -1;
    lb_value *list = as_run_list(v);
    lb_decref(v);
    if (!list)
        return lb_node_error(err, call->args[0], "TypeError",
                             "export writes runs (what `train` gives, a run, or a list of runs)");
    lb_value *pv = lb_call_arg(call, 1, err);
    lb_value *ev = pv ? lb_call_param(call, "epochs", err) : NULL;
    int rc = -1;
    if (!pv || !ev)
        goto out;
    if (pv->kind != LB_STR || pv->u.str.len == 0) {
        lb_node_error(err, call->args[1], "TypeError", "export needs a file name ending in .csv or .json");
        goto out;
    }
    const char *path = pv->u.str.s;
    const char *ext = strrchr(path, '.');
    char *text = NULL;
    if (ext && strcasecmp(ext, ".json") == 0) {
        json_t *all = json_array();
        for (size_t i = 0; all && i < lb_list_len(list); i++)
            json_array_append(all, lb_run_from_value(lb_list_get(list, i))->record);
        json_t *doc = json_pack("{s:s, s:i, s:o}", "format", "labbook-runs", "version", 1, "runs", all);
        text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        json_decref(doc);
    } else if (ext && strcasecmp(ext, ".csv") == 0) {
        text = runs_csv(list, lb_truthy(ev));
    } else {
        lb_node_error(err, call->args[1], "ValueError",
                      "export writes .csv (one row per run; epochs=true: per epoch) or .json (the "
                      "full records), not %s", ext ? ext : "a file without an extension");
        goto out;
    }
    if (!text) {
        lb_oom(err);
        goto out;
    }
    size_t len = strlen(text);
    rc = lb_write_file_atomic(path, text, len, err);
    free(text);
    if (rc < 0) {
        lb_error_locate(err, call->args[1]->line, call->args[1]->col, call->args[1]->span);
    } else {
        char msg[4200];
        snprintf(msg, sizeof msg, "wrote %zu run%s to %s\n", lb_list_len(list),
                 lb_list_len(list) == 1 ? "" : "s", path);
        lb_emit_stream(call->in, LB_STDOUT, msg, strlen(msg));
    }
out:
    lb_decref(pv);
    lb_decref(ev);
    lb_decref(list);
    return rc;
}

/* ---- `runs` ----------------------------------------------------------------------------------- */

static int cmd_runs(lb_cmd_call *call, lb_error *err)
{
    lb_value *sv = lb_call_param(call, "sort", err);
    if (!sv)
        return -1;
    lb_value *l = lb_session_runs(call->in);
    if (!l) {
        lb_decref(sv);
        return lb_oom(err);
    }
    if (lb_list_len(l) == 0) {
        lb_decref(sv);
        const char *msg = "no runs yet (train a model with `train MODEL on DATA`)\n";
        lb_emit_stream(call->in, LB_STDOUT, msg, strlen(msg));
        call->result = lb_runs_value_new(l);
        return 0;
    }
    lb_table *t = lb_runs_table(l, sv->kind == LB_STR ? sv->u.str.s : NULL);
    lb_decref(sv);
    if (!t || lb_emit_table(call->in, t, err) < 0)
        return lb_error_is_set(err) ? -1 : lb_oom(err);
    call->result = lb_runs_value_new(l);
    return 0;
}

static const lb_param runs_params[] = {
    {"sort", LB_PARAM_ANY, "none", "a metric to sort by, best first (default: in order)"},
    {0}};
static const lb_param export_params[] = {
    {"epochs", LB_PARAM_BOOL, "false", "CSV: one row per epoch instead of one per run"},
    {0}};

static const lb_command run_commands[] = {
    {.name = "runs", .synopsis = "runs sort=\"valid.acc\"",
     .doc = "Lists every run of the session (each `train` adds its runs) in one table: settings\n"
            "swept, status, epochs, final train/valid/test metrics, time per epoch and samples per\n"
            "second; with sort=METRIC, best first. `all = runs sort=\"valid.acc\"` keeps them as a\n"
            "runs value.",
     .example = "runs\nruns sort=\"valid.acc\"",
     .params = runs_params, .min_args = 0, .max_args = 0, .hint = LB_ARGS_NONE,
     .flags = LB_CMD_RESULT, .handler = cmd_runs},
    {.name = "export", .synopsis = "export RUNS \"file.csv\" epochs=false",
     .doc = "Writes runs to a file (atomically): .json holds the full run records (settings,\n"
            "seed, data fingerprint, plugins, versions, host, per-epoch and final metrics); .csv\n"
            "one row per run with its settings and final metrics, or with epochs=true one row per\n"
            "run and epoch.",
     .example = "export runs \"runs.csv\"\nexport runs \"curves.csv\" epochs=true\nexport runs \"runs.json\"",
     .params = export_params, .min_args = 2, .max_args = 2, .hint = LB_ARGS_VALUES,
     .handler = cmd_export},
};

int lb_register_run_commands(lb_interp *in, lb_error *err)
{
    if (lb_plot_register_source(&runs_class, plot_runs) < 0 ||
        lb_plot_register_source(&run_class, plot_runs) < 0) {
        /* already registered by an earlier interpreter of this process: fine */
    }
    return lb_interp_register_commands(in, run_commands, sizeof run_commands / sizeof run_commands[0],
                                       err);
}
