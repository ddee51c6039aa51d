/* plot_commands.c — the plot vocabulary of the language (spec/language.md "Plots"): the
 * commands plot, heatmap, bars and images, which show a figure, the functions of the same
 * names, which return it as a value (`p = plot(...)`), and `save VALUE "file"` for any value
 * whose class has a save hook. Both forms share one schema per verb, so completion, help and
 * "unknown parameter" errors agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "lang/commands.h"
#include "lang/interp.h"
#include "modules/modules.h"
#include "modules/plot_values.h"


int lb_plot_show(lb_interp *in, lb_plot *p, const char *display_id, bool update, lb_error *err)
{
    json_t *meta = NULL;
    json_t *b = lb_plot_bundle(p, &meta, err);
    if (!b)
        return -1;
    lb_emit_display(in, b, meta, display_id, update);
    json_decref(b);
    json_decref(meta);
    return 0;
}

/* ---- the plot value ----------------------------------------------------------------------- */

static void pv_free(void *data) { lb_plot_free(data); }

static char *pv_repr(const lb_value *self)
{
    lb_plot *p = self->u.obj.data;
    char *s = NULL;
    if (asprintf(&s, "<plot: %s>", lb_plot_description(p)) < 0)
        return NULL;
    return s;
}

static int pv_display(const lb_value *self, json_t *bundle, json_t *metadata, lb_error *err)
{
    return lb_plot_add_png(self->u.obj.data, bundle, metadata, err);
}

static lb_value *pv_member(lb_value *self, const char *name, lb_error *err)
{
    lb_plot *p = self->u.obj.data;
    if (strcmp(name, "width") == 0)
        return lb_num(lb_plot_width(p));
    if (strcmp(name, "height") == 0)
        return lb_num(lb_plot_height(p));
    if (strcmp(name, "kind") == 0)
        return lb_str(lb_plot_kind(p));
    if (strcmp(name, "description") == 0)
        return lb_str(lb_plot_description(p));
    lb_error_set(err, "AttributeError", 0, 0,
                 "a plot has no member '%s' (members: description, height, kind, width)", name);
    return NULL;
}

static json_t *pv_members(const lb_value *self)
{
    (void)self;
    return json_pack("[ssss]", "description", "height", "kind", "width");
}

static int pv_save(const lb_value *self, const char *path, lb_error *err)
{
    return lb_plot_save(self->u.obj.data, path, err);
}

static const lb_class plot_class = {
    .name = "plot",
    .free = pv_free,
    .repr = pv_repr,
    .display = pv_display,
    .member = pv_member,
    .members = pv_members,
    .save = pv_save,
};

lb_value *lb_plot_value(lb_plot *p, lb_error *err)
{
    if (!p)
        return NULL;
    lb_value *v = lb_object_new(&plot_class, p);
    if (!v)
        return lb_oom_null(err);
    return v;
}

lb_plot *lb_plot_from_value(const lb_value *v)
{
    return lb_object_data(v, &plot_class);
}

/* ---- plot sources (plot.h) ------------------------------------------------------------------ */

static struct {
    const lb_class *cls;
    lb_plot_source_fn fn;
} sources[16];
static size_t nsources;

int lb_plot_register_source(const lb_class *cls, lb_plot_source_fn fn)
{
    for (size_t i = 0; i < nsources; i++)
        if (sources[i].cls == cls) {
            sources[i].fn = fn;
            return 0;
        }
    if (!cls || !fn || nsources == sizeof sources / sizeof *sources)
        return -1;
    sources[nsources].cls = cls;
    sources[nsources++].fn = fn;
    return 0;
}

/* ---- options: key=value of a command or a function call, checked against one schema ------- */

/* A function's kwargs (may be NULL) checked against params: a new map of the given ones. */
static lb_value *fn_options(const char *fname, const lb_param *params, lb_value *kwargs, lb_error *err)
{
    lb_value *m = lb_map_new();
    if (!m) {
        lb_oom(err);
        return NULL;
    }
    for (size_t i = 0; kwargs && i < lb_map_len(kwargs); i++) {
        const char *k = kwargs->u.map.entries[i].key;
        lb_value *v = kwargs->u.map.entries[i].value;
        const lb_param *p = NULL;
        size_t np = 0;
        for (; params[np].name; np++)
            if (strcmp(params[np].name, k) == 0)
                p = &params[np];
        if (!p) {
            const char *names[32];
            for (size_t j = 0; j < np && j < 32; j++)
                names[j] = params[j].name;
            const char *s = lb_suggest(k, names, np < 32 ? np : 32);
            lb_error_set(err, "TypeError", 0, 0, "unknown parameter '%s' for %s()%s%s%s", k, fname,
                         s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
            lb_decref(m);
            return NULL;
        }
        if (v->kind != LB_NONE && !lb_param_type_ok(p->type, v)) {
            lb_error_set(err, "TypeError", 0, 0, "parameter %s of %s() must be a %s, not a %s", k, fname,
                         lb_param_type_name(p->type), lb_type_name(v));
            lb_decref(m);
            return NULL;
        }
        if (lb_map_set(m, k, v) < 0) {
            lb_decref(m);
            lb_oom(err);
            return NULL;
        }
    }
    return m;
}

/* A command's given key=value parameters (type-checked by lb_call_param): a new map. */
static lb_value *cmd_options(lb_cmd_call *call, lb_error *err)
{
    lb_value *m = lb_map_new();
    if (!m) {
        lb_oom(err);
        return NULL;
    }
    for (const lb_param *p = call->cmd->params; p && p->name; p++) {
        if (!lb_call_keyword(call, p->name))
            continue;
        lb_value *v = lb_call_param(call, p->name, err);
        if (!v || lb_map_set_take(m, p->name, v) < 0) {
            if (v && !lb_error_is_set(err))
                lb_oom(err);
            lb_decref(m);
            return NULL;
        }
    }
    return m;
}

static const char *opt_str(lb_value *o, const char *k)
{
    lb_value *v = lb_map_get(o, k);
    return v && v->kind == LB_STR ? v->u.str.s : NULL;
}

/* -1 when not given (or none), else 0/1 */
static int opt_bool(lb_value *o, const char *k)
{
    lb_value *v = lb_map_get(o, k);
    return v && v->kind == LB_BOOL ? v->u.b : -1;
}

static int opt_int(lb_value *o, const char *k, int def)
{
    lb_value *v = lb_map_get(o, k);
    return v && v->kind == LB_NUM && fabs(v->u.num) < 1e6 ? (int)v->u.num : def;
}

/* Reads a [lo, hi] option; 1 given, 0 not, -1 error. */
static int opt_range(lb_value *o, const char *k, double *lo, double *hi, lb_error *err)
{
    lb_value *v = lb_map_get(o, k);
    if (!v || v->kind == LB_NONE)
        return 0;
    if (v->kind != LB_LIST || lb_list_len(v) != 2 || lb_list_get(v, 0)->kind != LB_NUM ||
        lb_list_get(v, 1)->kind != LB_NUM || !(lb_list_get(v, 1)->u.num > lb_list_get(v, 0)->u.num))
        return lb_error_set(err, "ValueError", 0, 0, "%s must be [low, high] with low < high", k);
    *lo = lb_list_get(v, 0)->u.num;
    *hi = lb_list_get(v, 1)->u.num;
    return 1;
}

/* A number of a data list: numbers as they are, none as NaN. */
static bool num_of(const lb_value *v, double *out)
{
    if (v->kind == LB_NUM)
        *out = v->u.num;
    else if (v->kind == LB_NONE)
        *out = NAN;
    else
        return false;
    return true;
}

/* A malloc'd array of a list's numbers, or NULL with *err (what names the list). */
static double *num_list(const lb_value *l, const char *what, size_t *n, lb_error *err)
{
    if (l->kind != LB_LIST) {
        lb_error_set(err, "TypeError", 0, 0, "%s must be a list of numbers, not a %s", what,
                     lb_type_name(l));
        return NULL;
    }
    *n = lb_list_len(l);
    double *a = malloc((*n ? *n : 1) * sizeof *a);
    if (!a) {
        lb_oom(err);
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        if (i % LB_POLL_EVERY == 0 && lb_interrupt_check(err) < 0) {
            free(a);
            return NULL;
        }
        if (!num_of(lb_list_get(l, i), &a[i])) {
            lb_error_set(err, "TypeError", 0, 0, "%s must be a list of numbers (or none for a gap); "
                         "item %zu is a %s", what, i + 1, lb_type_name(lb_list_get(l, i)));
            free(a);
            return NULL;
        }
    }
    return a;
}

/* Strings of a list option (borrowed from the list), NULL with *err when not all strings;
 * numbers become text in `store`. */
static const char **str_list(lb_value *l, const char *what, size_t want, char (*store)[32], lb_error *err)
{
    if (l->kind != LB_LIST || lb_list_len(l) != want) {
        lb_error_set(err, "ValueError", 0, 0, "%s must be a list of %zu labels (got %s%zu)", what, want,
                     l->kind == LB_LIST ? "" : "a non-list, ", l->kind == LB_LIST ? lb_list_len(l) : 0);
        return NULL;
    }
    const char **s = calloc(want + 1, sizeof *s);
    if (!s) {
        lb_oom(err);
        return NULL;
    }
    for (size_t i = 0; i < want; i++) {
        lb_value *v = lb_list_get(l, i);
        if (v->kind == LB_STR)
            s[i] = v->u.str.s;
        else if (v->kind == LB_NUM && store) {
            lb_format_number(v->u.num, store[i], 32);
            s[i] = store[i];
        } else {
            lb_error_set(err, "TypeError", 0, 0, "%s must hold strings; item %zu is a %s", what, i + 1,
                         lb_type_name(v));
            free(s);
            return NULL;
        }
    }
    return s;
}

/* ---- plot ------------------------------------------------------------------------------------ */

static const lb_param plot_params[] = {
    {"x", LB_PARAM_STRING, "\"\"", "label of the x axis, e.g. \"epoch\""},
    {"y", LB_PARAM_STRING, "\"\"", "label of the y axis, e.g. \"loss\""},
    {"title", LB_PARAM_STRING, "\"\"", "title above the figure"},
    {"logx", LB_PARAM_BOOL, "false", "log scale on x"},
    {"logy", LB_PARAM_BOOL, "false", "log scale on y"},
    {"ylim", LB_PARAM_LIST, "none", "fixed y range [low, high]"},
    {"width", LB_PARAM_INT, "640", "width of a panel in pixels"},
    {"height", LB_PARAM_INT, "400", "height of a panel in pixels"},
    {0}};

typedef struct pseries {
    lb_series s;
    double *x, *y;
    const char *panel;   /* borrowed */
    const char *ckey;    /* colour key: run, else name (borrowed or own_key) */
    char *own_name, *own_key;
    bool has_color;
} pseries;

static const char *const series_keys[] = {"name", "x", "y", "style", "color", "run", "panel", "markers"};

static int add_series_map(lb_value *m, pseries **arr, size_t *n, size_t *cap, lb_error *err)
{
    for (size_t i = 0; i < lb_map_len(m); i++) {
        const char *k = m->u.map.entries[i].key;
        bool known = false;
        for (size_t j = 0; j < sizeof series_keys / sizeof *series_keys; j++)
            known |= strcmp(k, series_keys[j]) == 0;
        if (!known) {
            const char *s = lb_suggest(k, series_keys, sizeof series_keys / sizeof *series_keys);
            return lb_error_set(err, "TypeError", 0, 0,
                                "unknown series key '%s'%s%s%s (a series is {name:, x:, y:, style:, "
                                "color:, run:, panel:, markers:})",
                                k, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        pseries *a = realloc(*arr, c * sizeof *a);
        if (!a)
            return lb_oom(err);
        *arr = a;
        *cap = c;
    }
    pseries *P = &(*arr)[*n];
    memset(P, 0, sizeof *P);
    P->s.color = -1;
    P->s.markers = -1;
    lb_value *y = lb_map_get(m, "y");
    if (!y)
        return lb_error_set(err, "ValueError", 0, 0, "a series map needs y: a list of numbers");
    size_t ny = 0, nx = 0;
    P->y = num_list(y, "y", &ny, err);
    if (!P->y)
        return -1;
    (*n)++; /* from here on, freed with the others */
    lb_value *x = lb_map_get(m, "x");
    if (x && x->kind != LB_NONE) {
        P->x = num_list(x, "x", &nx, err);
        if (!P->x)
            return -1;
        if (nx != ny)
            return lb_error_set(err, "ValueError", 0, 0, "x has %zu values but y has %zu", nx, ny);
    }
    P->s.x = P->x;
    P->s.y = P->y;
    P->s.n = ny;
    lb_value *v;
    if ((v = lb_map_get(m, "name")) && v->kind != LB_NONE) {
        P->own_name = lb_to_text(v);
        if (!P->own_name)
            return lb_oom(err);
        P->s.name = P->own_name;
    }
    if ((v = lb_map_get(m, "style")) && v->kind != LB_NONE) {
        if (v->kind == LB_STR && strcmp(v->u.str.s, "dashed") == 0)
            P->s.style = LB_LINE_DASHED;
        else if (!(v->kind == LB_STR && strcmp(v->u.str.s, "solid") == 0))
            return lb_error_set(err, "ValueError", 0, 0, "style must be \"solid\" or \"dashed\"");
    }
    if ((v = lb_map_get(m, "color")) && v->kind != LB_NONE) {
        if (!lb_is_int(v) || v->u.num < 0)
            return lb_error_set(err, "ValueError", 0, 0,
                                "color must be a non-negative integer (a tab10 colour index: 0 blue, "
                                "1 orange, 2 green, ...)");
        P->s.color = (int)fmod(v->u.num, 10);
        P->has_color = true;
    }
    if ((v = lb_map_get(m, "markers")) && v->kind != LB_NONE) {
        if (v->kind != LB_BOOL)
            return lb_error_set(err, "TypeError", 0, 0, "markers must be true or false");
        P->s.markers = v->u.b;
    }
    if ((v = lb_map_get(m, "panel")) && v->kind != LB_NONE) {
        if (v->kind != LB_STR)
            return lb_error_set(err, "TypeError", 0, 0, "panel must be a string (the panel's title)");
        P->panel = v->u.str.s;
    }
    if ((v = lb_map_get(m, "run")) && v->kind != LB_NONE) {
        P->own_key = lb_to_text(v);
        if (!P->own_key)
            return lb_oom(err);
        P->ckey = P->own_key;
    } else
        P->ckey = P->s.name;
    return 0;
}

static int add_series_list(lb_value *l, pseries **arr, size_t *n, size_t *cap, lb_error *err)
{
    lb_value *m = lb_map_new();
    if (!m || lb_map_set(m, "y", l) < 0) {
        lb_decref(m);
        return lb_oom(err);
    }
    int rc = add_series_map(m, arr, n, cap, err);
    lb_decref(m);
    return rc;
}

/* One positional argument: a list of numbers, a series map, or a list of those. */
static int add_series_arg(lb_value *v, pseries **arr, size_t *n, size_t *cap, lb_error *err)
{
    if (v->kind == LB_MAP)
        return add_series_map(v, arr, n, cap, err);
    if (v->kind == LB_LIST) {
        size_t len = lb_list_len(v);
        lb_value *first = len ? lb_list_get(v, 0) : NULL;
        if (first && (first->kind == LB_MAP || first->kind == LB_LIST)) {
            for (size_t i = 0; i < len; i++) {
                lb_value *it = lb_list_get(v, i);
                int rc = it->kind == LB_MAP    ? add_series_map(it, arr, n, cap, err)
                         : it->kind == LB_LIST ? add_series_list(it, arr, n, cap, err)
                                               : lb_error_set(err, "TypeError", 0, 0,
                                                              "a list of series holds maps or lists, "
                                                              "not a %s",
                                                              lb_type_name(it));
                if (rc < 0)
                    return -1;
            }
            return 0;
        }
        return add_series_list(v, arr, n, cap, err);
    }
    return lb_error_set(err, "TypeError", 0, 0,
                        "plot takes series: lists of numbers such as [0.9, 0.5, 0.3], or maps "
                        "{name: \"run 1\", x: [...], y: [...]}; got a %s",
                        lb_type_name(v));
}

static void free_series(pseries *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].x);
        free(a[i].y);
        free(a[i].own_name);
        free(a[i].own_key);
    }
    free(a);
}

/* Builds the line chart of evaluated arguments; *bad receives the index of a failing argument
 * (or -1). */
static lb_plot *build_plot(lb_value **args, size_t nargs, lb_value *o, long *bad, lb_error *err)
{
    pseries *S = NULL;
    size_t n = 0, cap = 0;
    lb_plot *plot = NULL;
    lb_panel *panels = NULL;
    lb_series *flat = NULL;
    char autonames[64][32];
    *bad = -1;
    for (size_t i = 0; i < nargs; i++)
        if (add_series_arg(args[i], &S, &n, &cap, err) < 0) {
            *bad = (long)i;
            goto done;
        }
    /* colours: explicit, else by distinct run (or name), in order of appearance */
    int next = 0;
    size_t unnamed = 0;
    for (size_t i = 0; i < n; i++)
        unnamed += !S[i].s.name || !*S[i].s.name;
    for (size_t i = 0, k = 0; i < n; i++) {
        if ((!S[i].s.name || !*S[i].s.name) && n > 1 && k < 64) {
            snprintf(autonames[k], sizeof autonames[k], "series %zu", i + 1);
            S[i].s.name = autonames[k++];
            if (!S[i].ckey)
                S[i].ckey = S[i].s.name;
        }
        if (S[i].has_color)
            continue;
        bool found = false;
        for (size_t j = 0; j < i && S[i].ckey; j++)
            if (S[j].ckey && strcmp(S[j].ckey, S[i].ckey) == 0) {
                S[i].s.color = S[j].s.color;
                found = true;
                break;
            }
        if (!found)
            S[i].s.color = next++;
    }
    (void)unnamed;
    /* panels, in order of first appearance; series without a panel go to the first */
    const char *pnames[8];
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (!S[i].panel)
            continue;
        bool seen = false;
        for (size_t j = 0; j < np; j++)
            seen |= strcmp(pnames[j], S[i].panel) == 0;
        if (!seen) {
            if (np == 8) {
                lb_error_set(err, "ValueError", 0, 0, "at most 8 panels");
                goto done;
            }
            pnames[np++] = S[i].panel;
        }
    }
    size_t npanels = np ? np : 1;
    panels = calloc(npanels, sizeof *panels);
    flat = calloc(n ? n : 1, sizeof *flat);
    if (!panels || !flat) {
        lb_oom(err);
        goto done;
    }
    double lo = 0, hi = 0;
    int r = opt_range(o, "ylim", &lo, &hi, err);
    if (r < 0)
        goto done;
    size_t used = 0;
    for (size_t p = 0; p < npanels; p++) {
        lb_panel *P = &panels[p];
        P->series = flat + used;
        for (size_t i = 0; i < n; i++) {
            bool mine = np ? (S[i].panel ? strcmp(S[i].panel, pnames[p]) == 0 : p == 0) : true;
            if (mine)
                flat[used++] = S[i].s;
        }
        P->nseries = (size_t)(flat + used - P->series);
        P->xlabel = opt_str(o, "x");
        P->ylabel = np ? pnames[p] : opt_str(o, "y");
        if (np && npanels > 1)
            P->title = pnames[p];
        else if (np && opt_str(o, "y"))
            P->ylabel = opt_str(o, "y");
        P->logx = opt_bool(o, "logx") == 1;
        P->logy = opt_bool(o, "logy") == 1;
        if (r == 1) {
            P->has_ylim = true;
            P->ymin = lo;
            P->ymax = hi;
        }
    }
    lb_plot_opts po = {.title = opt_str(o, "title"), .width = opt_int(o, "width", 0),
                       .height = opt_int(o, "height", 0)};
    plot = lb_plot_lines(panels, npanels, &po, err);
done:
    free(panels);
    free(flat);
    free_series(S, n);
    return plot;
}

/* ---- heatmap --------------------------------------------------------------------------------- */

static const lb_param heatmap_params[] = {
    {"rows", LB_PARAM_LIST, "none", "row labels (default 0, 1, ...)"},
    {"cols", LB_PARAM_LIST, "none", "column labels (default 0, 1, ...)"},
    {"x", LB_PARAM_STRING, "\"\"", "title of the x axis (columns), e.g. \"Predicted label\""},
    {"y", LB_PARAM_STRING, "\"\"", "title of the y axis (rows), e.g. \"True label\""},
    {"title", LB_PARAM_STRING, "\"\"", "title above the figure"},
    {"normalize", LB_PARAM_BOOL, "false", "divide each row by its sum (confusion matrix rates)"},
    {"values", LB_PARAM_BOOL, "none", "write the values in the cells (default: when they fit)"},
    {"decimals", LB_PARAM_INT, "none", "decimals of the cell values (default 0 for integers, else 2)"},
    {"rotate", LB_PARAM_BOOL, "none", "rotate the column labels (default: when they do not fit)"},
    {"range", LB_PARAM_LIST, "none", "colour scale [low, high] (default: the values' min..max)"},
    {"colorbar", LB_PARAM_BOOL, "true", "draw the colour bar"},
    {0}};

static lb_plot *build_heatmap(lb_value *mat, lb_value *o, long *bad, lb_error *err)
{
    *bad = 0;
    if (mat->kind != LB_LIST || lb_list_len(mat) == 0 || lb_list_get(mat, 0)->kind != LB_LIST) {
        lb_error_set(err, "TypeError", 0, 0,
                     "heatmap takes a matrix: a list of rows, each a list of numbers, as in "
                     "[[5, 1], [0, 7]]");
        return NULL;
    }
    size_t rows = lb_list_len(mat), cols = lb_list_len(lb_list_get(mat, 0));
    if (cols == 0 || rows > 500 || cols > 500) {
        lb_error_set(err, "ValueError", 0, 0, "a heatmap has 1 to 500 rows and columns (got %zux%zu)",
                     rows, cols);
        return NULL;
    }
    double *v = malloc(rows * cols * sizeof *v);
    if (!v) {
        lb_oom(err);
        return NULL;
    }
    lb_plot *plot = NULL;
    const char **rl = NULL, **cl = NULL;
    char (*rstore)[32] = NULL, (*cstore)[32] = NULL;
    for (size_t r = 0; r < rows; r++) {
        lb_value *row = lb_list_get(mat, r);
        if (row->kind != LB_LIST || lb_list_len(row) != cols) {
            lb_error_set(err, "ValueError", 0, 0, "row %zu of the matrix has %zu values; row 1 has %zu",
                         r + 1, row->kind == LB_LIST ? lb_list_len(row) : 0, cols);
            goto done;
        }
        for (size_t k = 0; k < cols; k++)
            if (!num_of(lb_list_get(row, k), &v[r * cols + k])) {
                lb_error_set(err, "TypeError", 0, 0, "the matrix holds numbers; row %zu, column %zu is a %s",
                             r + 1, k + 1, lb_type_name(lb_list_get(row, k)));
                goto done;
            }
    }
    *bad = -1;
    lb_value *L;
    rstore = calloc(rows, sizeof *rstore);
    cstore = calloc(cols, sizeof *cstore);
    if (!rstore || !cstore) {
        lb_oom(err);
        goto done;
    }
    if ((L = lb_map_get(o, "rows")) && L->kind != LB_NONE && !(rl = str_list(L, "rows", rows, rstore, err)))
        goto done;
    if ((L = lb_map_get(o, "cols")) && L->kind != LB_NONE && !(cl = str_list(L, "cols", cols, cstore, err)))
        goto done;
    if (opt_bool(o, "normalize") == 1)
        for (size_t r = 0; r < rows; r++) {
            double s = 0;
            for (size_t k = 0; k < cols; k++)
                s += isfinite(v[r * cols + k]) ? v[r * cols + k] : 0;
            for (size_t k = 0; k < cols; k++)
                v[r * cols + k] = s != 0 ? v[r * cols + k] / s : 0;
        }
    lb_heatmap h = {.values = v, .rows = rows, .cols = cols, .row_labels = rl, .col_labels = cl,
                    .xlabel = opt_str(o, "x"), .ylabel = opt_str(o, "y"),
                    .annotate = opt_bool(o, "values"), .rotate_xlabels = opt_bool(o, "rotate"),
                    .decimals = opt_int(o, "decimals", opt_bool(o, "normalize") == 1 ? 2 : -1),
                    .colorbar = opt_bool(o, "colorbar") != 0};
    int r = opt_range(o, "range", &h.vmin, &h.vmax, err);
    if (r < 0)
        goto done;
    h.has_range = r == 1;
    if (!h.has_range && opt_bool(o, "normalize") == 1) {
        h.has_range = true;
        h.vmin = 0;
        h.vmax = 1;
    }
    lb_plot_opts po = {.title = opt_str(o, "title")};
    plot = lb_plot_heatmap(&h, &po, err);
done:
    free(v);
    free(rl);
    free(cl);
    free(rstore);
    free(cstore);
    return plot;
}

/* ---- bars ------------------------------------------------------------------------------------ */

static const lb_param bars_params[] = {
    {"y", LB_PARAM_STRING, "\"\"", "label of the y axis (the metric)"},
    {"title", LB_PARAM_STRING, "\"\"", "title above the figure"},
    {"best", LB_PARAM_STRING, "\"max\"", "mark the best bar of each group: \"max\", \"min\" or \"none\""},
    {"labels", LB_PARAM_BOOL, "true", "write the values above the bars"},
    {"colors", LB_PARAM_LIST, "none", "tab10 colour index per run (default 0, 1, 2, ...)"},
    {"width", LB_PARAM_INT, "640", "width in pixels (grows with the number of bars)"},
    {"height", LB_PARAM_INT, "400", "height in pixels"},
    {0}};

/* A bar chart's data read from a value (malloc'd arrays; names borrowed from the value). */
typedef struct bars_data {
    size_t ng, ns;                /* groups, bars per group */
    const char **groups, **series;
    double *vals;                 /* ng*ns */
    int *colors;                  /* colors= as tab10 indices, or NULL */
    char (*numnames)[32];         /* the groups "1", "2", ... of a list */
} bars_data;

/* {run: {metric: value}}: groups are the metrics (in order of appearance), bars the runs. */
static int bars_of_runs(lb_value *data, bars_data *d, lb_error *err)
{
    size_t ns = d->ns = lb_map_len(data);
    d->groups = calloc(256, sizeof *d->groups);
    d->series = calloc(ns, sizeof *d->series);
    if (!d->groups || !d->series)
        return lb_oom(err);
    for (size_t s = 0; s < ns; s++) {
        lb_value *m = data->u.map.entries[s].value;
        d->series[s] = data->u.map.entries[s].key;
        if (m->kind != LB_MAP) {
            lb_error_set(err, "TypeError", 0, 0, "bars: every run maps metric names to numbers; "
                                                 "'%s' is a %s", d->series[s], lb_type_name(m));
            return -1;
        }
        for (size_t i = 0; i < lb_map_len(m); i++) {
            const char *k = m->u.map.entries[i].key;
            bool seen = false;
            for (size_t g = 0; g < d->ng; g++)
                seen |= strcmp(d->groups[g], k) == 0;
            if (!seen) {
                if (d->ng == 200) {
                    lb_error_set(err, "ValueError", 0, 0, "bars: at most 200 groups");
                    return -1;
                }
                d->groups[d->ng++] = k;
            }
        }
    }
    d->vals = malloc((d->ng ? d->ng : 1) * ns * sizeof *d->vals);
    if (!d->vals)
        return lb_oom(err);
    for (size_t g = 0; g < d->ng; g++)
        for (size_t s = 0; s < ns; s++) {
            lb_value *x = lb_map_get(data->u.map.entries[s].value, d->groups[g]);
            d->vals[g * ns + s] = NAN;
            if (x && !num_of(x, &d->vals[g * ns + s])) {
                lb_error_set(err, "TypeError", 0, 0, "bars: %s of %s is a %s, not a number",
                             d->groups[g], d->series[s], lb_type_name(x));
                return -1;
            }
        }
    return 0;
}

/* {run: value} or a list of numbers: one bar per group (the list's groups are 1, 2, ...). */
static int bars_of_values(lb_value *data, bars_data *d, lb_error *err)
{
    size_t ng = d->ng = data->kind == LB_MAP ? lb_map_len(data) : lb_list_len(data);
    d->groups = calloc(ng + 1, sizeof *d->groups);
    d->vals = malloc((ng ? ng : 1) * sizeof *d->vals);
    d->numnames = calloc(ng + 1, sizeof *d->numnames);
    if (!d->groups || !d->vals || !d->numnames)
        return lb_oom(err);
    for (size_t g = 0; g < ng; g++) {
        lb_value *x;
        if (data->kind == LB_MAP) {
            d->groups[g] = data->u.map.entries[g].key;
            x = data->u.map.entries[g].value;
        } else {
            snprintf(d->numnames[g], 32, "%zu", g + 1);
            d->groups[g] = d->numnames[g];
            x = lb_list_get(data, g);
        }
        if (!num_of(x, &d->vals[g])) {
            lb_error_set(err, "TypeError", 0, 0, "bars: %s is a %s, not a number", d->groups[g],
                         lb_type_name(x));
            return -1;
        }
    }
    return 0;
}

/* colors=: a tab10 index per series (several bars per group) or per group; the default
 * for the ones the list does not reach. */
static int bars_colors(lb_value *o, bars_data *d, lb_error *err)
{
    lb_value *cv = lb_map_get(o, "colors");
    size_t want = d->ns > 1 ? d->ns : d->ng;
    if (!cv || cv->kind != LB_LIST)
        return 0;
    d->colors = calloc(want + 1, sizeof *d->colors);
    if (!d->colors)
        return lb_oom(err);
    for (size_t i = 0; i < want; i++) {
        lb_value *c = i < lb_list_len(cv) ? lb_list_get(cv, i) : NULL;
        if (c && (!lb_is_int(c) || c->u.num < 0)) {
            lb_error_set(err, "ValueError", 0, 0, "colors holds tab10 indices (non-negative integers)");
            return -1;
        }
        d->colors[i] = c ? (int)fmod(c->u.num, 10) : (int)i;
    }
    return 0;
}

/* best=: "max" (the default), "min" or "none". */
static int bars_best(lb_value *o, lb_best *out, lb_error *err)
{
    const char *best = opt_str(o, "best");
    lb_best b = LB_BEST_MAX;
    if (best && strcmp(best, "min") == 0)
        b = LB_BEST_MIN;
    else if (best && strcmp(best, "none") == 0)
        b = LB_BEST_NONE;
    else if (best && strcmp(best, "max") != 0) {
        lb_error_set(err, "ValueError", 0, 0, "best must be \"max\", \"min\" or \"none\"");
        return -1;
    }
    *out = b;
    return 0;
}

static lb_plot *build_bars(lb_value *data, lb_value *o, long *bad, lb_error *err)
{
    *bad = 0;
    bars_data d = {.ns = 1};
    lb_plot *plot = NULL;
    int rc = -1;
    if (data->kind == LB_MAP && lb_map_len(data) && data->u.map.entries[0].value->kind == LB_MAP)
        rc = bars_of_runs(data, &d, err);
    else if (data->kind == LB_MAP || data->kind == LB_LIST)
        rc = bars_of_values(data, &d, err);
    else
        lb_error_set(err, "TypeError", 0, 0,
                     "bars takes a map {run: value} or {run: {metric: value}}, or a list of numbers; "
                     "got a %s", lb_type_name(data));
    if (rc < 0)
        goto done;
    *bad = -1;
    lb_best b;
    if (bars_colors(o, &d, err) < 0 || bars_best(o, &b, err) < 0)
        goto done;
    lb_bars B = {.groups = d.groups, .ngroups = d.ng, .series = d.series, .nseries = d.ns,
                 .values = d.vals, .colors = d.colors, .ylabel = opt_str(o, "y"), .best = b,
                 .labels = opt_bool(o, "labels") != 0};
    lb_plot_opts po = {.title = opt_str(o, "title"), .width = opt_int(o, "width", 0),
                       .height = opt_int(o, "height", 0)};
    plot = lb_plot_bars(&B, &po, err);
done:
    free(d.groups);
    free(d.series);
    free(d.vals);
    free(d.colors);
    free(d.numnames);
    return plot;
}

/* ---- images ---------------------------------------------------------------------------------- */

static const lb_param images_params[] = {
    {"captions", LB_PARAM_LIST, "none", "a caption per image"},
    {"wrong", LB_PARAM_LIST, "none", "per image, true to show its caption in red"},
    {"cols", LB_PARAM_INT, "8", "images per row"},
    {"title", LB_PARAM_STRING, "\"\"", "title above the grid"},
    {0}};

/* All the images of one grid hold at most this many values (pixels times channels): a list
 * can repeat one 2048x2048 image 400 times at no cost, which would take gigabytes to read. */
#define IMAGES_MAX_VALUES (1 << 24)

/* One image value: [[row], ...] (grayscale) or [[[row], ...] x3] (RGB, channels first).
 * *total counts the values of the images read so far. */
static int read_image(lb_value *v, lb_plot_image *im, float **pix, size_t idx, size_t *total,
                      lb_error *err)
{
    lb_value *planes[3] = {v, NULL, NULL};
    int ch = 1;
    if (v->kind == LB_LIST && lb_list_len(v) == 3 && lb_list_get(v, 0)->kind == LB_LIST &&
        lb_list_len(lb_list_get(v, 0)) && lb_list_get(lb_list_get(v, 0), 0)->kind == LB_LIST) {
        ch = 3;
        for (int c = 0; c < 3; c++)
            planes[c] = lb_list_get(v, (size_t)c);
    }
    if (v->kind != LB_LIST || lb_list_len(planes[0]) == 0 || lb_list_get(planes[0], 0)->kind != LB_LIST)
        return lb_error_set(err, "TypeError", 0, 0,
                            "image %zu must be a list of rows of numbers (grayscale) or 3 such planes "
                            "(RGB)", idx + 1);
    size_t h = lb_list_len(planes[0]), w = lb_list_len(lb_list_get(planes[0], 0));
    if (w == 0 || h > 2048 || w > 2048)
        return lb_error_set(err, "ValueError", 0, 0, "image %zu: 1x1 to 2048x2048 pixels", idx + 1);
    *total += (size_t)ch * h * w;
    if (*total > IMAGES_MAX_VALUES) {
        char max[32];
        lb_format_count(IMAGES_MAX_VALUES, max, sizeof max);
        return lb_error_set(err, "ValueError", 0, 0,
                            "images: image %zu brings the values (pixels times channels) of the "
                            "grid past the limit of %s",
                            idx + 1, max);
    }
    *pix = malloc((size_t)ch * h * w * sizeof **pix);
    if (!*pix)
        return lb_oom(err);
    for (int c = 0; c < ch; c++) {
        if (planes[c]->kind != LB_LIST || lb_list_len(planes[c]) != h)
            return lb_error_set(err, "ValueError", 0, 0, "image %zu: the planes differ in size", idx + 1);
        for (size_t y = 0; y < h; y++) {
            if (lb_interrupt_check(err) < 0)
                return -1;
            lb_value *row = lb_list_get(planes[c], y);
            if (row->kind != LB_LIST || lb_list_len(row) != w)
                return lb_error_set(err, "ValueError", 0, 0, "image %zu: row %zu has a different length",
                                    idx + 1, y + 1);
            for (size_t x = 0; x < w; x++) {
                double d;
                if (!num_of(lb_list_get(row, x), &d))
                    return lb_error_set(err, "TypeError", 0, 0, "image %zu holds numbers", idx + 1);
                (*pix)[((size_t)c * h + y) * w + x] = (float)d;
            }
        }
    }
    im->pixels = *pix;
    im->width = (int)w;
    im->height = (int)h;
    im->channels = ch;
    im->layout = LB_IMG_CHW;
    return 0;
}

static lb_plot *build_images(lb_value *list, lb_value *o, long *bad, lb_error *err)
{
    *bad = 0;
    if (list->kind != LB_LIST || lb_list_len(list) == 0 || lb_list_len(list) > 400) {
        lb_error_set(err, "TypeError", 0, 0, "images takes a list of 1 to 400 images");
        return NULL;
    }
    size_t n = lb_list_len(list);
    lb_plot_image *ims = calloc(n, sizeof *ims);
    float **pix = calloc(n, sizeof *pix);
    char **caps = calloc(n, sizeof *caps);
    lb_plot *plot = NULL;
    if (!ims || !pix || !caps) {
        lb_oom(err);
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (read_image(lb_list_get(list, i), &ims[i], &pix[i], i, &total, err) < 0)
            goto done;
    *bad = -1;
    lb_value *c = lb_map_get(o, "captions"), *w = lb_map_get(o, "wrong");
    for (size_t i = 0; c && c->kind == LB_LIST && i < n && i < lb_list_len(c); i++) {
        caps[i] = lb_to_text(lb_list_get(c, i));
        if (!caps[i]) {
            lb_oom(err);
            goto done;
        }
        ims[i].caption = caps[i];
    }
    for (size_t i = 0; w && w->kind == LB_LIST && i < n && i < lb_list_len(w); i++)
        ims[i].wrong = lb_truthy(lb_list_get(w, i));
    lb_plot_opts po = {.title = opt_str(o, "title")};
    plot = lb_plot_images(ims, n, opt_int(o, "cols", 0), &po, err);
done:
    for (size_t i = 0; i < n; i++) {
        if (pix)
            free(pix[i]);
        if (caps)
            free(caps[i]);
    }
    free(ims);
    free(pix);
    free(caps);
    return plot;
}

/* ---- command and function glue ------------------------------------------------------------- */

typedef enum { K_PLOT, K_HEATMAP, K_BARS, K_IMAGES } kind;

static lb_plot *build(kind k, lb_value **args, size_t nargs, lb_value *o, long *bad, lb_error *err)
{
    switch (k) {
    case K_PLOT: return build_plot(args, nargs, o, bad, err);
    case K_HEATMAP: return build_heatmap(args[0], o, bad, err);
    case K_BARS: return build_bars(args[0], o, bad, err);
    case K_IMAGES: return build_images(args[0], o, bad, err);
    }
    return NULL;
}

static int cmd_figure(lb_cmd_call *call, lb_error *err)
{
    kind k = (kind)(size_t)call->cmd->data;
    lb_value **args = calloc(call->nargs + 1, sizeof *args);
    if (!args)
        return lb_oom(err);
    size_t got = 0;
    int rc = -1;
    lb_value *o = NULL;
    for (; got < call->nargs; got++) {
        args[got] = lb_call_arg(call, got, err);
        if (!args[got])
            goto done;
        if (k == K_PLOT && got == 0 && args[0]->kind == LB_OBJECT) {
            for (size_t i = 0; i < nsources; i++)
                if (sources[i].cls == args[0]->u.obj.cls) {
                    rc = sources[i].fn(call, args[0], err);
                    got++;
                    goto done;
                }
        }
    }
    o = cmd_options(call, err);
    if (!o)
        goto done;
    long bad = -1;
    lb_plot *p = build(k, args, call->nargs, o, &bad, err);
    if (!p) {
        const lb_node *at = bad >= 0 && (size_t)bad < call->nargs ? call->args[bad] : call->node;
        lb_error_locate(err, at->line, at->col, at->span);
        goto done;
    }
    rc = lb_plot_show(call->in, p, NULL, false, err);
    lb_plot_free(p);
done:
    for (size_t i = 0; i < got; i++)
        lb_decref(args[i]);
    free(args);
    lb_decref(o);
    return rc;
}

static lb_value *fn_figure(kind k, const char *name, const lb_param *params, lb_value **args,
                           size_t nargs, lb_value *kwargs, lb_error *err)
{
    if (k != K_PLOT && nargs != 1) {
        lb_error_set(err, "TypeError", 0, 0, "%s() takes 1 positional argument (got %zu)", name, nargs);
        return NULL;
    }
    if (k == K_PLOT && nargs == 0) {
        lb_error_set(err, "TypeError", 0, 0, "plot() needs at least one series");
        return NULL;
    }
    lb_value *o = fn_options(name, params, kwargs, err);
    if (!o)
        return NULL;
    long bad;
    lb_plot *p = build(k, args, nargs, o, &bad, err);
    lb_decref(o);
    return p ? lb_plot_value(p, err) : NULL;
}

static lb_value *fn_plot(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return fn_figure(K_PLOT, "plot", plot_params, a, n, kw, err);
}
static lb_value *fn_heatmap(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return fn_figure(K_HEATMAP, "heatmap", heatmap_params, a, n, kw, err);
}
static lb_value *fn_bars(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return fn_figure(K_BARS, "bars", bars_params, a, n, kw, err);
}
static lb_value *fn_images(lb_interp *in, lb_value **a, size_t n, lb_value *kw, void *d, lb_error *err)
{
    (void)in, (void)d;
    return fn_figure(K_IMAGES, "images", images_params, a, n, kw, err);
}

/* ---- save ------------------------------------------------------------------------------------ */

static int cmd_save(lb_cmd_call *call, lb_error *err)
{
    lb_value *v = lb_call_arg(call, 0, err);
    if (!v)
        return -1;
    lb_value *path = lb_call_arg(call, 1, err);
    int rc = -1;
    if (!path)
        goto done;
    if (v->kind != LB_OBJECT || !v->u.obj.cls->save) {
        rc = lb_node_error(err, call->args[0], "TypeError",
                           "cannot save a %s (values that can be saved: plots, from "
                           "`p = plot(...)`, `heatmap(...)`, `bars(...)`, `images(...)`, and "
                           "models, as checkpoints that `load` reads back)",
                           lb_type_name(v));
        goto done;
    }
    if (path->kind != LB_STR || path->u.str.len == 0 || strlen(path->u.str.s) != path->u.str.len) {
        rc = lb_node_error(err, call->args[1], "TypeError", "save needs a file name, as in "
                                                            "`save p \"loss.png\"`");
        goto done;
    }
    rc = v->u.obj.cls->save(v, path->u.str.s, err);
    if (rc < 0)
        lb_error_locate(err, call->args[1]->line, call->args[1]->col, call->args[1]->span);
done:
    lb_decref(v);
    lb_decref(path);
    return rc;
}

/* ---- registration ---------------------------------------------------------------------------- */

static const lb_command plot_commands[] = {
    {.name = "plot", .synopsis = "plot SERIES... x=\"epoch\" y=\"loss\" title=\"...\" logy=false",
     .doc = "Draws a line chart (image/png): learning curves, metrics against epochs or steps.\n"
            "A SERIES is a list of numbers (y values at x = 1, 2, ...), a map {name: \"run 1\",\n"
            "x: [...], y: [...], style: \"dashed\", run: \"a\", color: 0, panel: \"loss\",\n"
            "markers: true}, or a list of those. none (or nan) in y leaves a gap. Series of the\n"
            "same run (or, without run, the same name) share a tab10 colour; color: N picks\n"
            "colour N (0 blue, 1 orange, 2 green, 3 red, ...). Use style: \"dashed\" for the\n"
            "validation curve. Series with a panel key go to panels side by side, titled by it.\n"
            "There is a legend whenever there are several series. logx/logy use log scales\n"
            "(values <= 0 are left out), ylim=[low, high] fixes the y range.\n"
            "As a function, `p = plot(...)` returns the figure as a value instead of showing it:\n"
            "show it again with `p`, write it with `save p \"loss.png\"`.",
     .example = "plot [2.3, 1.1, 0.7, 0.5] x=\"epoch\" y=\"loss\"\n"
                "plot {name: \"train\", y: [1.2, 0.8, 0.6]} {name: \"valid\", y: [1.3, 1.0, 0.9], "
                "style: \"dashed\"} x=\"epoch\" y=\"loss\"\n"
                "p = plot([1, 0.1, 0.01, 0.001], logy=true, title=\"loss\")\nsave p \"loss.png\"",
     .params = plot_params, .min_args = 1, .max_args = -1, .hint = LB_ARGS_VALUES,
     .handler = cmd_figure, .data = (void *)(size_t)K_PLOT},
    {.name = "heatmap", .synopsis = "heatmap MATRIX rows=[...] cols=[...] x=\"...\" y=\"...\"",
     .doc = "Draws a matrix (a list of rows of numbers) as coloured cells (viridis), with the\n"
            "values written in the cells when they fit (white on dark cells, black on light ones)\n"
            "and a colour bar. rows and cols label the rows and columns; column labels are\n"
            "rotated when they do not fit. For a confusion matrix, rows are the true classes and\n"
            "columns the predicted ones: y=\"True label\" x=\"Predicted label\"; normalize=true\n"
            "divides each row by its sum. none cells are grey. As a function it returns the figure.",
     .example = "heatmap [[50, 2], [5, 43]] rows=[\"cat\", \"dog\"] cols=[\"cat\", \"dog\"] "
                "y=\"True label\" x=\"Predicted label\"",
     .params = heatmap_params, .min_args = 1, .max_args = 1, .hint = LB_ARGS_VALUES,
     .handler = cmd_figure, .data = (void *)(size_t)K_HEATMAP},
    {.name = "bars", .synopsis = "bars DATA y=\"metric\" best=\"max\"",
     .doc = "Draws a bar chart comparing runs: DATA is a map {run: value} (one bar per run), a\n"
            "map {run: {metric: value}} (a group of bars per metric, one colour per run, with a\n"
            "legend) or a list of numbers. Values are written above the bars; the best bar of\n"
            "each group (best=\"max\", \"min\" for losses, or \"none\") is outlined and starred.\n"
            "colors=[...] gives each run its tab10 colour index. As a function it returns the figure.",
     .example = "bars {a: 0.91, b: 0.87, c: 0.89} y=\"valid.acc\"\n"
                "bars {a: {acc: 0.91, f1: 0.9}, b: {acc: 0.87, f1: 0.88}} title=\"runs\"",
     .params = bars_params, .min_args = 1, .max_args = 1, .hint = LB_ARGS_VALUES,
     .handler = cmd_figure, .data = (void *)(size_t)K_BARS},
    {.name = "images", .synopsis = "images LIST captions=[...] wrong=[...] cols=8",
     .doc = "Draws images in a grid, each enlarged (nearest neighbour) to about 112 pixels, with\n"
            "an optional caption below; captions of images marked wrong are red and bold. An\n"
            "image is a list of rows of numbers (grayscale) or three such planes (RGB, channels\n"
            "first); values in 0..1 are shown as they are, others stretched from min to max.\n"
            "As a function it returns the figure.",
     .example = "images [[[0, 1], [1, 0]], [[1, 0], [0, 1]]] captions=[\"a\", \"b\"] wrong=[false, true]",
     .params = images_params, .min_args = 1, .max_args = 1, .hint = LB_ARGS_VALUES,
     .handler = cmd_figure, .data = (void *)(size_t)K_IMAGES},
    {.name = "save", .synopsis = "save VALUE \"file\"",
     .doc = "Writes a value to a file: a plot as PNG (.png, or any other name) or PDF (.pdf); a\n"
            "model as a checkpoint (its weights, with what rebuilds it), read back with `load`.\n"
            "The file is written under a temporary name and renamed into place, so it is never\n"
            "seen half written; a folder that does not exist or cannot be written is\n"
            "an IOError. Relative names are relative to the kernel's working directory.",
     .example = "p = plot([3, 2, 1.5], x=\"epoch\", y=\"loss\")\nsave p \"loss.png\"\nsave p \"loss.pdf\"",
     .min_args = 2, .max_args = 2, .hint = LB_ARGS_VALUES, .handler = cmd_save},
};

static int register_plot_commands(lb_interp *in, lb_error *err)
{
    if (lb_interp_register_commands(in, plot_commands,
                                    sizeof plot_commands / sizeof plot_commands[0], err) < 0)
        return -1;
    if (lb_interp_register_function(in, "plot", "plot(series, ..., x=\"\", y=\"\", title=\"\", logy=false)",
                                     "A line chart as a value (see `help plot`).", fn_plot, NULL, err) < 0 ||
        lb_interp_register_function(in, "heatmap", "heatmap(matrix, rows=none, cols=none, ...)",
                                    "A heatmap as a value (see `help heatmap`).", fn_heatmap, NULL, err) < 0 ||
        lb_interp_register_function(in, "bars", "bars(data, y=\"\", best=\"max\", ...)",
                                    "A bar chart as a value (see `help bars`).", fn_bars, NULL, err) < 0 ||
        lb_interp_register_function(in, "images", "images(list, captions=none, wrong=none, cols=8)",
                                    "An image grid as a value (see `help images`).", fn_images, NULL, err) < 0)
        return -1;
    if (lb_interp_add_version(in, "cairo", cairo_version_string()) < 0)
        return lb_oom(err);
    return 0;
}

const lb_module lb_plots_module = {.name = "plots", .init = register_plot_commands};
