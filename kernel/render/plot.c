/* plot.c — the figures of plot.h drawn with cairo: fonts (DejaVu Sans through FreeType),
 * colours (tab10, viridis), nice ticks, line charts, heatmaps, image grids, bar charts; each
 * figure is drawn once into a cairo recording surface and replayed to PNG (kept) or PDF;
 * the "plot" value class. The language commands are in plot_commands.c. */
#include "base/fileio.h"
#include "render/plot.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairo.h>
#include <cairo-ft.h>
#include <cairo-pdf.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include "base/format.h"
#include "base/strbuf.h"

struct lb_plot {
    cairo_surface_t *rec; /* the recorded drawing (unbounded recording surface) */
    int w, h;
    const char *kind;     /* "line chart", "heatmap", "image grid", "bar chart" */
    char *desc;
    unsigned char *png;   /* rendered on first use */
    size_t png_len;
};

/* ---- colours ------------------------------------------------------------------------------ */

static const unsigned char tab10[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

/* matplotlib's viridis (van der Walt & Smith, CC0), 256 entries rounded to bytes */
static const unsigned char viridis[256][3] = {
    {68,1,84}, {68,2,86}, {69,4,87}, {69,5,89}, {70,7,90}, {70,8,92}, {70,10,93}, {70,11,94},
    {71,13,96}, {71,14,97}, {71,16,99}, {71,17,100}, {71,19,101}, {72,20,103}, {72,22,104}, {72,23,105},
    {72,24,106}, {72,26,108}, {72,27,109}, {72,28,110}, {72,29,111}, {72,31,112}, {72,32,113}, {72,33,115},
    {72,35,116}, {72,36,117}, {72,37,118}, {72,38,119}, {72,40,120}, {72,41,121}, {71,42,122}, {71,44,122},
    {71,45,123}, {71,46,124}, {71,47,125}, {70,48,126}, {70,50,126}, {70,51,127}, {70,52,128}, {69,53,129},
    {69,55,129}, {69,56,130}, {68,57,131}, {68,58,131}, {68,59,132}, {67,61,132}, {67,62,133}, {66,63,133},
    {66,64,134}, {66,65,134}, {65,66,135}, {65,68,135}, {64,69,136}, {64,70,136}, {63,71,136}, {63,72,137},
    {62,73,137}, {62,74,137}, {62,76,138}, {61,77,138}, {61,78,138}, {60,79,138}, {60,80,139}, {59,81,139},
    {59,82,139}, {58,83,139}, {58,84,140}, {57,85,140}, {57,86,140}, {56,88,140}, {56,89,140}, {55,90,140},
    {55,91,141}, {54,92,141}, {54,93,141}, {53,94,141}, {53,95,141}, {52,96,141}, {52,97,141}, {51,98,141},
    {51,99,141}, {50,100,142}, {50,101,142}, {49,102,142}, {49,103,142}, {49,104,142}, {48,105,142}, {48,106,142},
    {47,107,142}, {47,108,142}, {46,109,142}, {46,110,142}, {46,111,142}, {45,112,142}, {45,113,142}, {44,113,142},
    {44,114,142}, {44,115,142}, {43,116,142}, {43,117,142}, {42,118,142}, {42,119,142}, {42,120,142}, {41,121,142},
    {41,122,142}, {41,123,142}, {40,124,142}, {40,125,142}, {39,126,142}, {39,127,142}, {39,128,142}, {38,129,142},
    {38,130,142}, {38,130,142}, {37,131,142}, {37,132,142}, {37,133,142}, {36,134,142}, {36,135,142}, {35,136,142},
    {35,137,142}, {35,138,141}, {34,139,141}, {34,140,141}, {34,141,141}, {33,142,141}, {33,143,141}, {33,144,141},
    {33,145,140}, {32,146,140}, {32,146,140}, {32,147,140}, {31,148,140}, {31,149,139}, {31,150,139}, {31,151,139},
    {31,152,139}, {31,153,138}, {31,154,138}, {30,155,138}, {30,156,137}, {30,157,137}, {31,158,137}, {31,159,136},
    {31,160,136}, {31,161,136}, {31,161,135}, {31,162,135}, {32,163,134}, {32,164,134}, {33,165,133}, {33,166,133},
    {34,167,133}, {34,168,132}, {35,169,131}, {36,170,131}, {37,171,130}, {37,172,130}, {38,173,129}, {39,173,129},
    {40,174,128}, {41,175,127}, {42,176,127}, {44,177,126}, {45,178,125}, {46,179,124}, {47,180,124}, {49,181,123},
    {50,182,122}, {52,182,121}, {53,183,121}, {55,184,120}, {56,185,119}, {58,186,118}, {59,187,117}, {61,188,116},
    {63,188,115}, {64,189,114}, {66,190,113}, {68,191,112}, {70,192,111}, {72,193,110}, {74,193,109}, {76,194,108},
    {78,195,107}, {80,196,106}, {82,197,105}, {84,197,104}, {86,198,103}, {88,199,101}, {90,200,100}, {92,200,99},
    {94,201,98}, {96,202,96}, {99,203,95}, {101,203,94}, {103,204,92}, {105,205,91}, {108,205,90}, {110,206,88},
    {112,207,87}, {115,208,86}, {117,208,84}, {119,209,83}, {122,209,81}, {124,210,80}, {127,211,78}, {129,211,77},
    {132,212,75}, {134,213,73}, {137,213,72}, {139,214,70}, {142,214,69}, {144,215,67}, {147,215,65}, {149,216,64},
    {152,216,62}, {155,217,60}, {157,217,59}, {160,218,57}, {162,218,55}, {165,219,54}, {168,219,52}, {170,220,50},
    {173,220,48}, {176,221,47}, {178,221,45}, {181,222,43}, {184,222,41}, {186,222,40}, {189,223,38}, {192,223,37},
    {194,223,35}, {197,224,33}, {200,224,32}, {202,225,31}, {205,225,29}, {208,225,28}, {210,226,27}, {213,226,26},
    {216,226,25}, {218,227,25}, {221,227,24}, {223,227,24}, {226,228,24}, {229,228,25}, {231,228,25}, {234,229,26},
    {236,229,27}, {239,229,28}, {241,229,29}, {244,230,30}, {246,230,32}, {248,230,33}, {251,231,35}, {253,231,37},
};

lb_rgb lb_plot_tab10(int i)
{
    if (i < 0)
        i = 0;
    i %= 10;
    return (lb_rgb){tab10[i][0], tab10[i][1], tab10[i][2]};
}

lb_rgb lb_plot_viridis(double t)
{
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    int i = (int)floor(t * 255 + 0.5);
    return (lb_rgb){viridis[i][0], viridis[i][1], viridis[i][2]};
}

static void set_rgb(cairo_t *cr, lb_rgb c) { cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0); }
static void set_gray(cairo_t *cr, double v) { cairo_set_source_rgb(cr, v, v, v); }

/* ---- fonts -------------------------------------------------------------------------------- */

static pthread_once_t font_once = PTHREAD_ONCE_INIT;
static FT_Library ft_lib;
static cairo_font_face_t *face_regular, *face_bold;
static cairo_user_data_key_t face_key;

static void done_face(void *f) { FT_Done_Face(f); }

static cairo_font_face_t *load_face(const char *file)
{
    static const char *const dirs[] = {"/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
                                       "/usr/share/fonts/TTF", "/usr/local/share/fonts"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dirs[i], file);
        if (access(path, R_OK) != 0)
            continue;
        FT_Face f;
        if (FT_New_Face(ft_lib, path, 0, &f) != 0)
            continue;
        cairo_font_face_t *cf = cairo_ft_font_face_create_for_ft_face(f, 0);
        if (cairo_font_face_status(cf) != CAIRO_STATUS_SUCCESS ||
            cairo_font_face_set_user_data(cf, &face_key, f, done_face) !=
                CAIRO_STATUS_SUCCESS) {
            cairo_font_face_destroy(cf);
            FT_Done_Face(f);
            continue;
        }
        return cf;
    }
    return NULL;
}

static void font_init(void)
{
    if (FT_Init_FreeType(&ft_lib) != 0)
        return;
    face_regular = load_face("DejaVuSans.ttf");
    face_bold = load_face("DejaVuSans-Bold.ttf");
}

/* The file's face, else (no DejaVu file found) cairo's toy font through fontconfig. */
static void set_font(cairo_t *cr, bool bold, double size)
{
    pthread_once(&font_once, font_init);
    cairo_font_face_t *f = bold && face_bold ? face_bold : face_regular;
    if (f)
        cairo_set_font_face(cr, f);
    else
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s ? s : "", &e);
    return e.x_advance;
}

/* Draws s with (x, y) at horizontal fraction ha (0 left, .5 centre, 1 right) and vertical
 * fraction va of the font's ascent+descent box (0 top, .5 middle, 1 bottom). */
static void text_at(cairo_t *cr, double x, double y, const char *s, double ha, double va)
{
    if (!s || !*s)
        return;
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_w(cr, s);
    cairo_move_to(cr, x - ha * w, y - va * (fe.ascent + fe.descent) + fe.ascent);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
}

/* s cut (at a code point) with "…" to at most maxw wide: malloc'd. */
static char *fit_text(cairo_t *cr, const char *s, double maxw)
{
    if (!s)
        s = "";
    if (text_w(cr, s) <= maxw)
        return strdup(s);
    size_t n = strlen(s);
    char *buf = malloc(n + 4);
    if (!buf)
        return NULL;
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf, s, n);
        memcpy(buf + n, "\xe2\x80\xa6", 4);
        if (text_w(cr, buf) <= maxw)
            return buf;
    }
    memcpy(buf, "\xe2\x80\xa6", 4);
    return buf;
}

static void font_options(cairo_t *cr)
{
    cairo_font_options_t *o = cairo_font_options_create();
    cairo_font_options_set_antialias(o, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(o, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(o, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(cr, o);
    cairo_font_options_destroy(o);
}

/* ---- figures ------------------------------------------------------------------------------ */

/* The figure's title, centred at height y across the width w. */
static void title_band(cairo_t *cr, const char *title, double w, double y)
{
    set_font(cr, true, 15);
    set_gray(cr, 0.1);
    char *t = fit_text(cr, title, w - 20);
    text_at(cr, w / 2, y, t, 0.5, 0.5);
    free(t);
}

/* A new figure and a context drawing into its recording, the background painted white and the
 * title (unless NULL) centred at the top. */
static lb_plot *figure_begin(const char *kind, int w, int h, const char *title, cairo_t **crp,
                             lb_error *err)
{
    lb_plot *p = calloc(1, sizeof *p);
    if (!p)
        return lb_oom_null(err);
    p->kind = kind;
    p->w = w;
    p->h = h;
    cairo_rectangle_t ext = {0, 0, w, h};
    p->rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &ext);
    cairo_t *cr = cairo_create(p->rec);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        lb_error_set(err, "PlotError", 0, 0, "cairo: %s", cairo_status_to_string(cairo_status(cr)));
        cairo_destroy(cr);
        lb_plot_free(p);
        return NULL;
    }
    font_options(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    if (title)
        title_band(cr, title, w, 20);
    *crp = cr;
    return p;
}

/* Ends drawing; takes desc (malloc'd, may be NULL on OOM). Frees p on failure. */
static lb_plot *figure_end(lb_plot *p, cairo_t *cr, char *desc, lb_error *err)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    p->desc = desc;
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(p->rec);
    if (st != CAIRO_STATUS_SUCCESS) {
        lb_error_set(err, "PlotError", 0, 0, "cairo: %s", cairo_status_to_string(st));
        lb_plot_free(p);
        return NULL;
    }
    if (!desc) {
        lb_plot_free(p);
        return lb_oom_null(err);
    }
    return p;
}

void lb_plot_free(lb_plot *p)
{
    if (!p)
        return;
    if (p->rec)
        cairo_surface_destroy(p->rec);
    free(p->desc);
    free(p->png);
    free(p);
}

int lb_plot_width(const lb_plot *p) { return p ? p->w : 0; }
int lb_plot_height(const lb_plot *p) { return p ? p->h : 0; }
const char *lb_plot_description(const lb_plot *p) { return p && p->desc ? p->desc : ""; }

/* ---- ticks -------------------------------------------------------------------------------- */

#define MAX_TICKS 40

typedef struct axis {
    double lo, hi; /* the shown range (data units) */
    bool log;      /* log10 mapping */
    bool integer;  /* every data value an integer: no fractional ticks */
    bool pow2;     /* log axis whose values are all powers of 2 */
    double ticks[MAX_TICKS];
    int nticks;
    double step;   /* linear tick step */
} axis;

static double ax_t(const axis *a, double v) { return a->log ? log10(v) : v; }

static double ax_frac(const axis *a, double v)
{
    double lo = ax_t(a, a->lo), hi = ax_t(a, a->hi);
    return (ax_t(a, v) - lo) / (hi - lo);
}

static double nice_step(double raw)
{
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void linear_ticks(axis *a, int target)
{
    double range = a->hi - a->lo;
    double step = nice_step(range / target);
    if (a->integer && step < 1)
        step = 1;
    a->step = step;
    a->nticks = 0;
    double first = ceil(a->lo / step - 1e-9);
    for (double k = first; a->nticks < MAX_TICKS; k++) {
        double t = k * step;
        if (t > a->hi + step * 1e-9)
            break;
        a->ticks[a->nticks++] = fabs(t) < step * 1e-9 ? 0 : t;
    }
}

static void log_ticks(axis *a)
{
    a->nticks = 0;
    double base = a->pow2 ? 2 : 10;
    double L = log(a->lo) / log(base), H = log(a->hi) / log(base);
    int k0 = (int)ceil(L - 1e-9), k1 = (int)floor(H + 1e-9);
    if (k1 - k0 >= 1 || (a->pow2 && k1 >= k0)) {
        int every = (k1 - k0) / 10 + 1;
        for (int k = k0; k <= k1 && a->nticks < MAX_TICKS; k += every)
            a->ticks[a->nticks++] = pow(base, k);
        return;
    }
    /* less than a decade: 1, 2, 5 times powers of ten */
    static const double m[] = {1, 2, 5};
    for (int k = (int)floor(log10(a->lo)) ; k <= (int)ceil(log10(a->hi)); k++)
        for (int i = 0; i < 3 && a->nticks < MAX_TICKS; i++) {
            double t = m[i] * pow(10, k);
            if (t >= a->lo * (1 - 1e-9) && t <= a->hi * (1 + 1e-9))
                a->ticks[a->nticks++] = t;
        }
    if (a->nticks < 2) { /* a narrow range: linear ticks on the log axis */
        axis lin = *a;
        lin.log = false;
        linear_ticks(&lin, 4);
        memcpy(a->ticks, lin.ticks, sizeof a->ticks);
        a->nticks = lin.nticks;
        a->step = lin.step;
    }
}

/* Shortest clean text of a tick value. */
static void tick_label(const axis *a, double v, char *buf, size_t n)
{
    if (a->log && a->nticks && a->step == 0) {
        double av = fabs(v);
        if (av != 0 && (av < 1e-4 || av >= 1e6)) {
            snprintf(buf, n, "%.0e", v);
            /* 1e-05 -> 1e-5 */
            char *e = strchr(buf, 'e');
            if (e) {
                char *d = e + 2;
                while (*d == '0' && d[1])
                    memmove(d, d + 1, strlen(d));
                if (e[1] == '+')
                    memmove(e + 1, e + 2, strlen(e + 1));
            }
        } else
            snprintf(buf, n, "%g", v);
        return;
    }
    double step = a->step > 0 ? a->step : 1;
    double av = fabs(v);
    if (av >= 1e6 || (av != 0 && av < 1e-4) || step < 1e-6) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = (int)ceil(-log10(step) - 1e-9);
    if (dec < 0)
        dec = 0;
    if (dec > 8)
        dec = 8;
    snprintf(buf, n, "%.*f", dec, v);
    if (strcmp(buf, "-0") == 0 || (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1)))
        memmove(buf, buf + 1, strlen(buf));
}

/* Sets the range from data lo..hi (may be infinite when no data), padded by pad (fraction). */
static void axis_setup(axis *a, double lo, double hi, double pad, int target)
{
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = a->log ? 1 : 0;
        hi = a->log ? 10 : 1;
    }
    if (a->log) {
        double L = log10(lo), H = log10(hi);
        if (H - L < 1e-12) {
            L -= 0.5;
            H += 0.5;
        }
        double d = (H - L) * pad;
        a->lo = pow(10, L - d);
        a->hi = pow(10, H + d);
        a->step = 0;
        log_ticks(a);
    } else {
        if (hi - lo < 1e-12 * fmax(1, fabs(lo))) {
            double d = lo == 0 ? 1 : fabs(lo) * 0.1;
            lo -= d;
            hi += d;
        }
        double d = (hi - lo) * pad;
        a->lo = lo - d;
        a->hi = hi + d;
        linear_ticks(a, target);
    }
}

int lb_plot_ticks(double lo, double hi, bool log, double *ticks, char (*labels)[24], int max)
{
    axis a = {.log = log};
    if (log && !(lo > 0 && hi > 0))
        return 0;
    axis_setup(&a, fmin(lo, hi), fmax(lo, hi), 0, 6);
    int n = 0;
    for (int i = 0; i < a.nticks && n < max; i++, n++) {
        if (ticks)
            ticks[n] = a.ticks[i];
        if (labels)
            tick_label(&a, a.ticks[i], labels[n], 24);
    }
    return n;
}

/* ---- line charts -------------------------------------------------------------------------- */

typedef struct rect {
    double x, y, w, h;
} rect;

static bool point_ok(const lb_panel *pn, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!pn->logx || x > 0) && (!pn->logy || y > 0);
}

static double series_x(const lb_series *s, size_t i) { return s->x ? s->x[i] : (double)(i + 1); }

static void dash(cairo_t *cr, lb_line_style st)
{
    static const double d[] = {7, 3.5};
    if (st == LB_LINE_DASHED)
        cairo_set_dash(cr, d, 2, 0);
    else
        cairo_set_dash(cr, NULL, 0, 0);
}

/* A panel's axes fitted to its data, and the plot area they are drawn in. */
typedef struct panel_frame {
    axis ax, ay;
    rect pa;       /* the plot area, on pixel centres */
    double top;    /* the margin above it (the title sits in the middle of it) */
    size_t named;  /* series with a name: a legend from 2 on */
    bool nodata;   /* no point to show */
} panel_frame;

/* The axes over the finite points of every series (or the panel's y limits). */
static void panel_axes(const lb_panel *pn, panel_frame *f)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    bool xint = true, xpow2 = true;
    f->named = 0;
    for (size_t s = 0; s < pn->nseries; s++) {
        const lb_series *S = &pn->series[s];
        if (S->name && *S->name)
            f->named++;
        for (size_t i = 0; i < S->n; i++) {
            double x = series_x(S, i), y = S->y[i];
            if (!point_ok(pn, x, y))
                continue;
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
            if (x != floor(x))
                xint = false;
            int e;
            if (!(x > 0) || frexp(x, &e) != 0.5)
                xpow2 = false;
        }
    }
    f->nodata = !isfinite(xlo);
    if (f->nodata)
        xint = xpow2 = false;
    if (pn->has_ylim && pn->ymax > pn->ymin && (!pn->logy || pn->ymin > 0)) {
        ylo = pn->ymin;
        yhi = pn->ymax;
    }
    f->ax = (axis){.log = pn->logx, .integer = xint, .pow2 = pn->logx && xpow2};
    f->ay = (axis){.log = pn->logy};
    axis_setup(&f->ax, xlo, xhi, 0.03, 6);
    if (pn->has_ylim && pn->ymax > pn->ymin && (!pn->logy || pn->ymin > 0))
        axis_setup(&f->ay, ylo, yhi, 0, 6);
    else
        axis_setup(&f->ay, ylo, yhi, 0.05, 6);
}

/* The plot area inside box, after the margins for the title, the labels and the widest y
 * tick label; false when too little is left to draw in. */
static bool panel_area(cairo_t *cr, const lb_panel *pn, rect box, panel_frame *f)
{
    set_font(cr, false, 11);
    double ylab_w = 0;
    char buf[64];
    for (int i = 0; i < f->ay.nticks; i++) {
        tick_label(&f->ay, f->ay.ticks[i], buf, sizeof buf);
        ylab_w = fmax(ylab_w, text_w(cr, buf));
    }
    double left = 12 + (pn->ylabel && *pn->ylabel ? 22 : 0) + ylab_w + 8;
    f->top = pn->title && *pn->title ? 32 : 14;
    double bottom = 26 + (pn->xlabel && *pn->xlabel ? 22 : 0) + 4;
    rect pa = {floor(box.x + left) + 0.5, floor(box.y + f->top) + 0.5, 0, 0};
    pa.w = floor(box.x + box.w - 18 - pa.x);
    pa.h = floor(box.y + box.h - bottom - pa.y);
    f->pa = pa;
    return !(pa.w < 20 || pa.h < 20);
}

/* The panel's title and axis labels (the y label turned a quarter left). */
static void panel_labels(cairo_t *cr, const lb_panel *pn, rect box, const panel_frame *f)
{
    rect pa = f->pa;
    if (pn->title && *pn->title) {
        set_font(cr, true, 13);
        set_gray(cr, 0.1);
        char *t = fit_text(cr, pn->title, box.w - 20);
        text_at(cr, pa.x + pa.w / 2, box.y + f->top / 2 + 2, t, 0.5, 0.5);
        free(t);
    }
    set_font(cr, false, 12);
    set_gray(cr, 0.15);
    if (pn->xlabel && *pn->xlabel)
        text_at(cr, pa.x + pa.w / 2, pa.y + pa.h + 24, pn->xlabel, 0.5, 0);
    if (pn->ylabel && *pn->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, box.x + 10, pa.y + pa.h / 2);
        cairo_rotate(cr, -M_PI / 2);
        char *t = fit_text(cr, pn->ylabel, pa.h);
        text_at(cr, 0, 0, t, 0.5, 0);
        free(t);
        cairo_restore(cr);
    }
}

/* Grid lines, tick marks and tick labels of both axes; "no data" when there is none. */
static void panel_grid(cairo_t *cr, const panel_frame *f)
{
    const axis *ax = &f->ax, *ay = &f->ay;
    rect pa = f->pa;
    char buf[64];
    cairo_set_line_width(cr, 1);
    set_font(cr, false, 11);
    for (int i = 0; i < ax->nticks; i++) {
        double px = floor(pa.x + ax_frac(ax, ax->ticks[i]) * pa.w) + 0.5;
        if (px < pa.x - 0.01 || px > pa.x + pa.w + 0.01)
            continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, pa.y);
        cairo_line_to(cr, px, pa.y + pa.h);
        cairo_stroke(cr);
        set_gray(cr, 0.27);
        cairo_move_to(cr, px, pa.y + pa.h);
        cairo_line_to(cr, px, pa.y + pa.h + 4);
        cairo_stroke(cr);
        tick_label(ax, ax->ticks[i], buf, sizeof buf);
        set_gray(cr, 0.2);
        text_at(cr, px, pa.y + pa.h + 6, buf, 0.5, 0);
    }
    for (int i = 0; i < ay->nticks; i++) {
        double py = floor(pa.y + pa.h - ax_frac(ay, ay->ticks[i]) * pa.h) + 0.5;
        if (py < pa.y - 0.01 || py > pa.y + pa.h + 0.01)
            continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, pa.x, py);
        cairo_line_to(cr, pa.x + pa.w, py);
        cairo_stroke(cr);
        set_gray(cr, 0.27);
        cairo_move_to(cr, pa.x - 4, py);
        cairo_line_to(cr, pa.x, py);
        cairo_stroke(cr);
        tick_label(ay, ay->ticks[i], buf, sizeof buf);
        set_gray(cr, 0.2);
        text_at(cr, pa.x - 6, py, buf, 1, 0.5);
    }
    if (f->nodata) {
        set_gray(cr, 0.5);
        text_at(cr, pa.x + pa.w / 2, pa.y + pa.h / 2, "no data", 0.5, 0.5);
    }
}

/* One series: its runs of valid points as lines (a lone point as a dot), then its markers. */
static void panel_series(cairo_t *cr, const lb_panel *pn, const panel_frame *f, const lb_series *S)
{
    const axis *ax = &f->ax, *ay = &f->ay;
    rect pa = f->pa;
    set_rgb(cr, lb_plot_tab10(S->color));
    cairo_set_line_width(cr, 2);
    dash(cr, S->style);
    bool markers = S->markers > 0 || (S->markers < 0 && S->n <= 30);
    size_t run = 0;
    for (size_t i = 0; i <= S->n; i++) {
        bool ok = i < S->n && point_ok(pn, series_x(S, i), S->y[i]);
        if (ok) {
            double px = pa.x + ax_frac(ax, series_x(S, i)) * pa.w;
            double py = pa.y + pa.h - ax_frac(ay, S->y[i]) * pa.h;
            if (run == 0)
                cairo_move_to(cr, px, py);
            else
                cairo_line_to(cr, px, py);
            run++;
            continue;
        }
        if (run == 1) { /* an isolated point: a dot */
            double px, py;
            cairo_get_current_point(cr, &px, &py);
            cairo_new_path(cr);
            cairo_arc(cr, px, py, 2.5, 0, 2 * M_PI);
            cairo_fill(cr);
        } else if (run > 1)
            cairo_stroke(cr);
        run = 0;
    }
    cairo_new_path(cr);
    if (markers) {
        for (size_t i = 0; i < S->n; i++) {
            if (!point_ok(pn, series_x(S, i), S->y[i]))
                continue;
            cairo_arc(cr, pa.x + ax_frac(ax, series_x(S, i)) * pa.w,
                      pa.y + pa.h - ax_frac(ay, S->y[i]) * pa.h, 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
}

/* How much of the series a legend at box would hide: 2 for each point in it (with a 4 px
 * margin), 1 for each midpoint towards the next point. */
static size_t legend_hits(const lb_panel *pn, const panel_frame *f, rect box)
{
    const axis *ax = &f->ax, *ay = &f->ay;
    rect pa = f->pa;
    size_t hits = 0;
    for (size_t s = 0; s < pn->nseries; s++) {
        const lb_series *S = &pn->series[s];
        for (size_t i = 0; i < S->n; i++) {
            if (!point_ok(pn, series_x(S, i), S->y[i]))
                continue;
            double px = pa.x + ax_frac(ax, series_x(S, i)) * pa.w;
            double py = pa.y + pa.h - ax_frac(ay, S->y[i]) * pa.h;
            if (px >= box.x - 4 && px <= box.x + box.w + 4 && py >= box.y - 4 &&
                py <= box.y + box.h + 4)
                hits += 2;
            if (i + 1 < S->n && point_ok(pn, series_x(S, i + 1), S->y[i + 1])) {
                double qx = (px + pa.x + ax_frac(ax, series_x(S, i + 1)) * pa.w) / 2;
                double qy = (py + pa.y + pa.h - ax_frac(ay, S->y[i + 1]) * pa.h) / 2;
                if (qx >= box.x && qx <= box.x + box.w && qy >= box.y && qy <= box.y + box.h)
                    hits++;
            }
        }
    }
    return hits;
}

/* The legend of the named series, in the corner of the plot area that hides the fewest
 * points. */
static void panel_legend(cairo_t *cr, const lb_panel *pn, const panel_frame *f)
{
    rect pa = f->pa;
    set_font(cr, false, 11);
    double tw = 0;
    for (size_t s = 0; s < pn->nseries; s++)
        if (pn->series[s].name && *pn->series[s].name)
            tw = fmax(tw, text_w(cr, pn->series[s].name));
    tw = fmin(tw, pa.w * 0.6);
    double lw = 8 + 26 + 6 + tw + 8, rowh = 17, lh = 6 + f->named * rowh + 4;
    rect corners[4] = {{pa.x + pa.w - lw - 8, pa.y + 8, lw, lh},
                       {pa.x + 8, pa.y + 8, lw, lh},
                       {pa.x + pa.w - lw - 8, pa.y + pa.h - lh - 8, lw, lh},
                       {pa.x + 8, pa.y + pa.h - lh - 8, lw, lh}};
    size_t best = 0, best_hits = (size_t)-1;
    for (size_t c = 0; c < 4; c++) {
        size_t hits = legend_hits(pn, f, corners[c]);
        if (hits < best_hits) {
            best_hits = hits;
            best = c;
        }
    }
    rect L = corners[best];
    L.x = floor(L.x) + 0.5;
    L.y = floor(L.y) + 0.5;
    cairo_rectangle(cr, L.x, L.y, floor(lw), floor(lh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_stroke(cr);
    double y = L.y + 6 + rowh / 2;
    for (size_t s = 0; s < pn->nseries; s++) {
        const lb_series *S = &pn->series[s];
        if (!S->name || !*S->name)
            continue;
        set_rgb(cr, lb_plot_tab10(S->color));
        cairo_set_line_width(cr, 2);
        dash(cr, S->style);
        cairo_move_to(cr, L.x + 8, y);
        cairo_line_to(cr, L.x + 34, y);
        cairo_stroke(cr);
        dash(cr, LB_LINE_SOLID);
        set_gray(cr, 0.1);
        char *t = fit_text(cr, S->name, tw);
        text_at(cr, L.x + 40, y, t, 0, 0.5);
        free(t);
        y += rowh;
    }
}

/* One panel of a line chart in box: axes, grid, the series, the frame and the legend. */
static void draw_panel(cairo_t *cr, const lb_panel *pn, rect box)
{
    panel_frame f;
    panel_axes(pn, &f);
    if (!panel_area(cr, pn, box, &f))
        return;
    panel_labels(cr, pn, box, &f);
    panel_grid(cr, &f);

    /* the series, clipped to the plot area */
    rect pa = f.pa;
    cairo_save(cr);
    cairo_rectangle(cr, pa.x, pa.y, pa.w, pa.h);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (size_t s = 0; s < pn->nseries; s++)
        panel_series(cr, pn, &f, &pn->series[s]);
    cairo_restore(cr);
    dash(cr, LB_LINE_SOLID);

    /* frame */
    cairo_set_line_width(cr, 1);
    set_gray(cr, 0.27);
    cairo_rectangle(cr, pa.x, pa.y, pa.w, pa.h);
    cairo_stroke(cr);

    if (f.named >= 2)
        panel_legend(cr, pn, &f);
}

static void desc_names(lb_strbuf *b, const lb_panel *panels, size_t np)
{
    size_t shown = 0, total = 0;
    for (size_t p = 0; p < np; p++)
        for (size_t s = 0; s < panels[p].nseries; s++) {
            const char *n = panels[p].series[s].name;
            if (!n || !*n)
                continue;
            total++;
            if (shown < 4) {
                lb_sb_printf(b, "%s%s", shown ? ", " : " (", n);
                shown++;
            }
        }
    if (total > shown)
        lb_sb_printf(b, ", +%zu more", total - shown);
    if (shown)
        lb_sb_add(b, ")");
}

lb_plot *lb_plot_lines(const lb_panel *panels, size_t npanels, const lb_plot_opts *opts,
                       lb_error *err)
{
    if (npanels == 0 || npanels > 8) {
        lb_error_set(err, "ValueError", 0, 0, "a line chart has 1 to 8 panels (got %zu)", npanels);
        return NULL;
    }
    for (size_t p = 0; p < npanels; p++)
        for (size_t s = 0; s < panels[p].nseries; s++)
            if (panels[p].series[s].n && !panels[p].series[s].y) {
                lb_error_set(err, "ValueError", 0, 0, "series %zu has no y values", s + 1);
                return NULL;
            }
    int pw = opts && opts->width > 0 ? opts->width : 640;
    int ph = opts && opts->height > 0 ? opts->height : 400;
    if (pw < 160 || ph < 120 || pw > 4000 || ph > 4000) {
        lb_error_set(err, "ValueError", 0, 0, "a panel is 160x120 to 4000x4000 pixels (got %dx%d)",
                     pw, ph);
        return NULL;
    }
    const char *title = opts && opts->title && *opts->title ? opts->title : NULL;
    int band = title ? 34 : 0;
    cairo_t *cr;
    lb_plot *p = figure_begin("line chart", pw * (int)npanels, ph + band, title, &cr, err);
    if (!p)
        return NULL;
    for (size_t i = 0; i < npanels; i++)
        draw_panel(cr, &panels[i], (rect){(double)i * pw, band, pw, ph});
    lb_strbuf b = {0};
    lb_sb_printf(&b, "line chart %dx%d", p->w, p->h);
    const char *what = title ? title : panels[0].title ? panels[0].title : panels[0].ylabel;
    if (what && *what)
        lb_sb_printf(&b, ": %s", what);
    for (size_t i = 1; !title && i < npanels; i++) {
        const char *w = panels[i].title ? panels[i].title : panels[i].ylabel;
        if (w && *w)
            lb_sb_printf(&b, " | %s", w);
    }
    desc_names(&b, panels, npanels);
    return figure_end(p, cr, lb_sb_take(&b), err);
}

/* ---- heatmaps ----------------------------------------------------------------------------- */

static void cell_text(double v, int decimals, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!isnan(v))
        snprintf(buf, n, "%.*f", decimals, v);
    if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
        memmove(buf, buf + 1, strlen(buf));
}

/* A heatmap's colour scale and layout, shared by the steps that draw it. */
typedef struct heat_frame {
    double vmin, vmax;   /* the colour scale */
    int decimals;        /* of the values in the cells */
    double c;            /* the side of a cell */
    bool annotate;       /* values in the cells */
    bool rotate;         /* column labels turned 45 degrees */
    double collab_h;     /* the height the column labels take */
    double gx, gy;       /* the grid's top left corner */
    double gw, gh;       /* its size */
    axis cb;             /* the colour bar's ticks */
} heat_frame;

/* The colour scale (the finite values' range, or the heatmap's own), the decimals of the
 * cell values and the cell size (about 440 px for the larger side, 4 to 44 px a cell). */
static void heat_scale(const lb_heatmap *h, heat_frame *f)
{
    size_t n = h->rows * h->cols;
    double vmin = INFINITY, vmax = -INFINITY;
    bool ints = true;
    for (size_t i = 0; i < n; i++) {
        double v = h->values[i];
        if (!isfinite(v))
            continue;
        vmin = fmin(vmin, v);
        vmax = fmax(vmax, v);
        if (v != floor(v) || fabs(v) > 1e15)
            ints = false;
    }
    if (h->has_range && h->vmax > h->vmin) {
        vmin = h->vmin;
        vmax = h->vmax;
    }
    if (!isfinite(vmin)) {
        vmin = 0;
        vmax = 1;
    }
    if (vmax - vmin < 1e-300) {
        vmax = vmin + 1;
    }
    f->vmin = vmin;
    f->vmax = vmax;
    f->decimals = h->decimals >= 0 ? (h->decimals > 6 ? 6 : h->decimals) : ints ? 0 : 2;
    size_t big = h->rows > h->cols ? h->rows : h->cols;
    double c = floor(440.0 / (double)big);
    f->c = c > 44 ? 44 : c < 4 ? 4 : c;
}

/* Measures the row labels, column labels and cell values (on a scratch surface, before the
 * figure's size is known) to decide whether values go in the cells and whether the column
 * labels turn; returns the width of the widest row label. */
static double heat_measure(const lb_heatmap *h, heat_frame *f)
{
    double c = f->c;
    cairo_surface_t *scratch = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *m = cairo_create(scratch);
    font_options(m);
    set_font(m, false, 11);
    char buf[64];
    double rlw = 0, clw = 0, valw = 0;
    for (size_t r = 0; r < h->rows; r++) {
        if (h->row_labels)
            rlw = fmax(rlw, fmin(160, text_w(m, h->row_labels[r])));
        else {
            snprintf(buf, sizeof buf, "%zu", r);
            rlw = fmax(rlw, text_w(m, buf));
        }
    }
    for (size_t k = 0; k < h->cols; k++) {
        if (h->col_labels)
            clw = fmax(clw, fmin(160, text_w(m, h->col_labels[k])));
        else {
            snprintf(buf, sizeof buf, "%zu", k);
            clw = fmax(clw, text_w(m, buf));
        }
    }
    set_font(m, false, c >= 34 ? 11 : 10);
    for (size_t i = 0; i < h->rows * h->cols; i++) {
        cell_text(h->values[i], f->decimals, buf, sizeof buf);
        valw = fmax(valw, text_w(m, buf));
    }
    cairo_destroy(m);
    cairo_surface_destroy(scratch);
    f->annotate = h->annotate > 0 || (h->annotate < 0 && c >= 22 && valw <= c - 4);
    f->rotate = h->rotate_xlabels > 0 || (h->rotate_xlabels < 0 && clw > c - 4);
    f->collab_h = f->rotate ? clw * 0.7072 + 12 : 16;
    return rlw;
}

/* The width the colour bar takes with its gap, its tick marks and their widest label. */
static double colorbar_width(const axis *cb)
{
    cairo_surface_t *s2 = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *m2 = cairo_create(s2);
    font_options(m2);
    set_font(m2, false, 11);
    char buf[64];
    double tw = 0;
    for (int i = 0; i < cb->nticks; i++) {
        tick_label(cb, cb->ticks[i], buf, sizeof buf);
        tw = fmax(tw, text_w(m2, buf));
    }
    cairo_destroy(m2);
    cairo_surface_destroy(s2);
    return 18 + 16 + 6 + tw;
}

/* The cells in viridis (NaN light grey), with their values in black or white, whichever
 * contrasts with the cell. */
static void heat_cells(cairo_t *cr, const lb_heatmap *h, const heat_frame *f)
{
    double c = f->c, gx = f->gx, gy = f->gy, vmin = f->vmin, vmax = f->vmax;
    char buf[64];
    for (size_t r = 0; r < h->rows; r++)
        for (size_t k = 0; k < h->cols; k++) {
            double v = h->values[r * h->cols + k];
            lb_rgb col = isnan(v) ? (lb_rgb){220, 220, 220} : lb_plot_viridis((v - vmin) / (vmax - vmin));
            set_rgb(cr, col);
            cairo_rectangle(cr, gx + (double)k * c, gy + (double)r * c, c, c);
            cairo_fill(cr);
            if (f->annotate && !isnan(v)) {
                cell_text(v, f->decimals, buf, sizeof buf);
                double lum = 0.299 * col.r + 0.587 * col.g + 0.114 * col.b;
                set_gray(cr, lum < 128 ? 1 : 0);
                set_font(cr, false, c >= 34 ? 11 : 10);
                text_at(cr, gx + ((double)k + 0.5) * c, gy + ((double)r + 0.5) * c, buf, 0.5, 0.5);
            }
        }
}

/* Row and column labels (every few when the cells are small; the index when there is no
 * label) and the axis titles. */
static void heat_labels(cairo_t *cr, const lb_heatmap *h, const heat_frame *f)
{
    double c = f->c, gx = f->gx, gy = f->gy;
    char buf[64];
    set_font(cr, false, 11);
    set_gray(cr, 0.2);
    for (size_t r = 0; r < h->rows; r++) {
        const char *s = h->row_labels ? h->row_labels[r] : NULL;
        if (!s) {
            snprintf(buf, sizeof buf, "%zu", r);
            s = buf;
        }
        if (c < 9 && r % (size_t)ceil(9 / c))
            continue;
        char *t = fit_text(cr, s, 160);
        text_at(cr, gx - 6, gy + ((double)r + 0.5) * c, t, 1, 0.5);
        free(t);
    }
    for (size_t k = 0; k < h->cols; k++) {
        const char *s = h->col_labels ? h->col_labels[k] : NULL;
        if (!s) {
            snprintf(buf, sizeof buf, "%zu", k);
            s = buf;
        }
        if (c < 9 && k % (size_t)ceil(9 / c))
            continue;
        char *t = fit_text(cr, s, 160);
        double x = gx + ((double)k + 0.5) * c, y = gy + f->gh + 5;
        if (f->rotate) {
            cairo_save(cr);
            cairo_translate(cr, x + 4, y);
            cairo_rotate(cr, -M_PI / 4);
            text_at(cr, 0, 0, t, 1, 0.5);
            cairo_restore(cr);
        } else
            text_at(cr, x, y, t, 0.5, 0);
        free(t);
    }
    set_font(cr, false, 12);
    set_gray(cr, 0.15);
    if (h->xlabel && *h->xlabel)
        text_at(cr, gx + f->gw / 2, gy + f->gh + 6 + f->collab_h + 2, h->xlabel, 0.5, 0);
    if (h->ylabel && *h->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, 10, gy + f->gh / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, h->ylabel, 0.5, 0);
        cairo_restore(cr);
    }
}

/* The colour bar right of the grid (at least 60 px high) with its ticks. */
static void heat_colorbar(cairo_t *cr, const heat_frame *f)
{
    const axis *cb = &f->cb;
    double vmin = f->vmin, vmax = f->vmax;
    double bx = f->gx + f->gw + 18, by = f->gy, bh = f->gh < 60 ? 60 : f->gh;
    cairo_pattern_t *g = cairo_pattern_create_linear(0, by + bh, 0, by);
    for (int i = 0; i < 256; i++)
        cairo_pattern_add_color_stop_rgb(g, i / 255.0, viridis[i][0] / 255.0, viridis[i][1] / 255.0,
                                         viridis[i][2] / 255.0);
    cairo_rectangle(cr, bx, by, 16, bh);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    cairo_set_line_width(cr, 1);
    set_font(cr, false, 11);
    char buf[64];
    for (int i = 0; i < cb->nticks; i++) {
        double y = floor(by + bh - (cb->ticks[i] - vmin) / (vmax - vmin) * bh) + 0.5;
        set_gray(cr, 0.27);
        cairo_move_to(cr, bx + 16, y);
        cairo_line_to(cr, bx + 20, y);
        cairo_stroke(cr);
        tick_label(cb, cb->ticks[i], buf, sizeof buf);
        set_gray(cr, 0.2);
        text_at(cr, bx + 23, y, buf, 0, 0.5);
    }
}

lb_plot *lb_plot_heatmap(const lb_heatmap *h, const lb_plot_opts *opts, lb_error *err)
{
    if (!h || h->rows == 0 || h->cols == 0 || !h->values) {
        lb_error_set(err, "ValueError", 0, 0, "a heatmap needs at least one row and one column");
        return NULL;
    }
    if (h->rows > 500 || h->cols > 500) {
        lb_error_set(err, "ValueError", 0, 0, "a heatmap has at most 500 rows and 500 columns "
                                              "(got %zux%zu)", h->rows, h->cols);
        return NULL;
    }
    heat_frame f;
    heat_scale(h, &f);
    double rlw = heat_measure(h, &f);

    /* colour bar ticks */
    f.cb = (axis){0};
    axis_setup(&f.cb, f.vmin, f.vmax, 0, 5);
    f.cb.lo = f.vmin;
    f.cb.hi = f.vmax;
    const char *title = opts && opts->title && *opts->title ? opts->title : NULL;
    double left = 10 + (h->ylabel && *h->ylabel ? 22 : 0) + rlw + 8;
    double top = title ? 40 : 14;
    f.gw = f.c * (double)h->cols;
    f.gh = f.c * (double)h->rows;
    double cbw = h->colorbar ? colorbar_width(&f.cb) : 0;
    double right = 16;
    double bottom = 6 + f.collab_h + (h->xlabel && *h->xlabel ? 24 : 0) + 8;
    int W = (int)ceil(left + f.gw + cbw + right), H = (int)ceil(top + f.gh + bottom);
    if (W < 240)
        W = 240;
    if (title && W < 300)
        W = 300;
    if (H < 120)
        H = 120;
    if (opts && opts->width > 0 && opts->width > W)
        W = opts->width;
    if (opts && opts->height > 0 && opts->height > H)
        H = opts->height;
    cairo_t *cr;
    lb_plot *p = figure_begin("heatmap", W, H, title, &cr, err);
    if (!p)
        return NULL;
    f.gx = floor(left);
    f.gy = floor(top);
    heat_cells(cr, h, &f);
    heat_labels(cr, h, &f);
    if (h->colorbar)
        heat_colorbar(cr, &f);
    lb_strbuf b = {0};
    lb_sb_printf(&b, "heatmap %dx%d: %zux%zu", W, H, h->rows, h->cols);
    if (title)
        lb_sb_printf(&b, ", %s", title);
    char lo[32], hi[32];
    lb_format_number(f.vmin, lo, sizeof lo);
    lb_format_number(f.vmax, hi, sizeof hi);
    lb_sb_printf(&b, ", values %s..%s", lo, hi);
    return figure_end(p, cr, lb_sb_take(&b), err);
}

lb_plot *lb_plot_confusion(const double *counts, size_t n, const char *const *labels,
                           bool normalize, const lb_plot_opts *opts, lb_error *err)
{
    if (!counts || n == 0) {
        lb_error_set(err, "ValueError", 0, 0, "a confusion matrix needs at least one class");
        return NULL;
    }
    double *v = malloc(n * n * sizeof *v);
    if (!v)
        return lb_oom_null(err);
    memcpy(v, counts, n * n * sizeof *v);
    if (normalize)
        for (size_t r = 0; r < n; r++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += v[r * n + k];
            for (size_t k = 0; k < n; k++)
                v[r * n + k] = s > 0 ? v[r * n + k] / s : 0;
        }
    lb_heatmap h = {.values = v, .rows = n, .cols = n, .row_labels = labels, .col_labels = labels,
                    .xlabel = "Predicted label", .ylabel = "True label", .annotate = -1,
                    .rotate_xlabels = -1, .decimals = normalize ? 2 : -1, .has_range = normalize,
                    .vmin = 0, .vmax = 1, .colorbar = true};
    lb_plot *p = lb_plot_heatmap(&h, opts, err);
    free(v);
    return p;
}

/* ---- image grids -------------------------------------------------------------------------- */

static float img_at(const lb_plot_image *im, int c, int y, int x)
{
    size_t i = im->layout == LB_IMG_HWC
                   ? ((size_t)y * (size_t)im->width + (size_t)x) * (size_t)im->channels + (size_t)c
                   : ((size_t)c * (size_t)im->height + (size_t)y) * (size_t)im->width + (size_t)x;
    return im->pixels ? im->pixels[i] : (float)im->u8[i];
}

/* The image as an RGB24 surface (its own pixels), or NULL. */
static cairo_surface_t *image_surface(const lb_plot_image *im)
{
    float lo = 0, hi = 1;
    if (im->u8) {
        lo = 0;
        hi = 255;
    } else if (im->has_range) {
        lo = im->lo;
        hi = im->hi;
    } else {
        float mn = INFINITY, mx = -INFINITY;
        for (int c = 0; c < im->channels; c++)
            for (int y = 0; y < im->height; y++)
                for (int x = 0; x < im->width; x++) {
                    float v = img_at(im, c, y, x);
                    if (isfinite(v)) {
                        mn = fminf(mn, v);
                        mx = fmaxf(mx, v);
                    }
                }
        if (isfinite(mn) && (mn < 0 || mx > 1)) {
            lo = mn;
            hi = mx;
        }
    }
    if (!(hi > lo))
        hi = lo + 1;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->width, im->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return NULL;
    }
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im->height; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);
        for (int x = 0; x < im->width; x++) {
            unsigned ch[3];
            for (int c = 0; c < 3; c++) {
                float v = img_at(im, im->channels == 3 ? c : 0, y, x);
                float t = isfinite(v) ? (v - lo) / (hi - lo) : 0;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                ch[c] = (unsigned)lrintf(t * 255);
            }
            row[x] = 0xFF000000u | ch[0] << 16 | ch[1] << 8 | ch[2];
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

/* The display scale of an image whose larger side is d: enlarged by an integer factor to
 * about 112 px, kept up to 224 px, larger ones shrunk to 224 px. */
static double img_scale(int d)
{
    return d < 112 ? (double)(112 / d) : d <= 224 ? 1.0 : 224.0 / d;
}

static size_t caption_lines(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

lb_plot *lb_plot_images(const lb_plot_image *images, size_t n, int cols, const lb_plot_opts *opts,
                        lb_error *err)
{
    if (n == 0 || n > 400) {
        lb_error_set(err, "ValueError", 0, 0, "an image grid holds 1 to 400 images (got %zu)", n);
        return NULL;
    }
    int maxd = 0;
    size_t maxlines = 0;
    for (size_t i = 0; i < n; i++) {
        const lb_plot_image *im = &images[i];
        if ((!im->pixels && !im->u8) || (im->channels != 1 && im->channels != 3) || im->width < 1 ||
            im->height < 1 || im->width > 2048 || im->height > 2048) {
            lb_error_set(err, "ValueError", 0, 0,
                         "image %zu: an image is 1 or 3 channels of 1x1 to 2048x2048 pixels "
                         "(got %d channels, %dx%d)",
                         i + 1, im->channels, im->width, im->height);
            return NULL;
        }
        int d = im->width > im->height ? im->width : im->height;
        int dd = (int)ceil(d * img_scale(d));
        maxd = maxd > dd ? maxd : dd;
        size_t l = caption_lines(im->caption);
        maxlines = l > maxlines ? l : maxlines;
    }
    if (cols <= 0)
        cols = n < 8 ? (int)n : 8;
    if ((size_t)cols > n)
        cols = (int)n;
    int rows = (int)((n + (size_t)cols - 1) / (size_t)cols);
    /* caption widths */
    cairo_surface_t *scratch = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *m = cairo_create(scratch);
    font_options(m);
    set_font(m, true, 11);
    double capw = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = images[i].caption;
        while (s && *s) {
            const char *e = strchr(s, '\n');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), s);
            capw = fmax(capw, text_w(m, line));
            s = e ? e + 1 : NULL;
        }
    }
    cairo_destroy(m);
    cairo_surface_destroy(scratch);
    capw = fmin(capw, 220);
    double cw = fmax(maxd, capw) + 14;
    double ch = maxd + 6 + (double)maxlines * 14 + 12;
    const char *title = opts && opts->title && *opts->title ? opts->title : NULL;
    double top = title ? 38 : 6;
    int W = (int)ceil(cw * cols + 8), H = (int)ceil(top + ch * rows + 4);
    if (title && W < 240)
        W = 240;
    cairo_t *cr;
    lb_plot *p = figure_begin("image grid", W, H, title, &cr, err);
    if (!p)
        return NULL;
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        const lb_plot_image *im = &images[i];
        int r = (int)(i / (size_t)cols), c = (int)(i % (size_t)cols);
        double x0 = 4 + c * cw, y0 = top + r * ch;
        int d = im->width > im->height ? im->width : im->height;
        double k = img_scale(d);
        double dw = im->width * k, dh = im->height * k;
        double ix = floor(x0 + (cw - dw) / 2), iy = floor(y0 + 4 + (maxd - dh) / 2);
        cairo_surface_t *s = image_surface(im);
        if (s) {
            cairo_save(cr);
            cairo_translate(cr, ix, iy);
            cairo_scale(cr, k, k);
            cairo_set_source_surface(cr, s, 0, 0);
            cairo_pattern_set_filter(cairo_get_source(cr), k >= 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
            cairo_rectangle(cr, 0, 0, im->width, im->height);
            cairo_fill(cr);
            cairo_restore(cr);
            cairo_surface_destroy(s);
        }
        if (im->wrong)
            wrong++;
        const char *sp = im->caption;
        double ty = y0 + 4 + maxd + 6;
        set_font(cr, im->wrong, 11);
        if (im->wrong)
            set_rgb(cr, lb_plot_tab10(3));
        else
            set_gray(cr, 0.13);
        while (sp && *sp) {
            const char *e = strchr(sp, '\n');
            size_t len = e ? (size_t)(e - sp) : strlen(sp);
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), sp);
            char *t = fit_text(cr, line, cw - 6);
            text_at(cr, x0 + cw / 2, ty, t, 0.5, 0);
            free(t);
            ty += 14;
            sp = e ? e + 1 : NULL;
        }
    }
    lb_strbuf b = {0};
    lb_sb_printf(&b, "image grid %dx%d: %zu image%s", W, H, n, n == 1 ? "" : "s");
    if (title)
        lb_sb_printf(&b, ", %s", title);
    if (wrong)
        lb_sb_printf(&b, ", %zu marked wrong", wrong);
    return figure_end(p, cr, lb_sb_take(&b), err);
}

/* ---- bar charts --------------------------------------------------------------------------- */

static void value_label(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    double av = fabs(v);
    if (av >= 1e6 || av < 1e-4) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int dec = 2 - (int)floor(log10(av));
    dec = dec < 0 ? 0 : dec > 4 ? 4 : dec;
    snprintf(buf, n, "%.*f", dec, v);
    if (strchr(buf, '.')) {
        size_t l = strlen(buf);
        while (l > 1 && buf[l - 1] == '0')
            buf[--l] = '\0';
        if (buf[l - 1] == '.')
            buf[--l] = '\0';
    }
}

/* A bar chart's value axis and geometry, shared by the steps that draw it. */
typedef struct bars_frame {
    axis ay;           /* the value axis */
    rect pa;           /* the plot area, on pixel centres */
    double legend_tw;  /* the width of the legend's names (several series), else 0 */
    double slot, bw;   /* the width of a group, of one bar */
    double zero;       /* the y of the value 0 */
} bars_frame;

/* The plot area of a W x H figure after the margins for the title, the y labels and, with
 * several series, the legend to the right of the bars; then the width of a group and a bar. */
static void bars_area(cairo_t *cr, const lb_bars *B, bool title, int W, int H, bars_frame *f)
{
    size_t ng = B->ngroups, ns = B->nseries;
    set_font(cr, false, 11);
    char buf[64];
    double ylab_w = 0;
    for (int i = 0; i < f->ay.nticks; i++) {
        tick_label(&f->ay, f->ay.ticks[i], buf, sizeof buf);
        ylab_w = fmax(ylab_w, text_w(cr, buf));
    }
    rect pa = {floor(12 + (B->ylabel && *B->ylabel ? 22 : 0) + ylab_w + 8) + 0.5,
               (title ? 40 : 14) + 0.5, 0, 0};
    pa.w = floor(W - 18 - pa.x);
    pa.h = floor(H - 34 - pa.y);
    /* with several runs, the legend goes to the right of the bars */
    f->legend_tw = 0;
    if (ns > 1 && B->series) {
        for (size_t s = 0; s < ns; s++)
            f->legend_tw = fmax(f->legend_tw, text_w(cr, B->series[s] ? B->series[s] : ""));
        f->legend_tw = fmin(f->legend_tw, 200);
        pa.w -= floor(8 + 14 + 6 + f->legend_tw + 8 + 10);
    }
    f->pa = pa;
    f->slot = pa.w / (double)ng;
    f->bw = f->slot * 0.8 / (double)ns;
}

/* The value axis: grid lines with their labels, and the y label turned a quarter left. */
static void bars_axis(cairo_t *cr, const lb_bars *B, const bars_frame *f)
{
    const axis *ay = &f->ay;
    rect pa = f->pa;
    char buf[64];
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < ay->nticks; i++) {
        double py = floor(pa.y + pa.h - ax_frac(ay, ay->ticks[i]) * pa.h) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, pa.x, py);
        cairo_line_to(cr, pa.x + pa.w, py);
        cairo_stroke(cr);
        tick_label(ay, ay->ticks[i], buf, sizeof buf);
        set_gray(cr, 0.2);
        text_at(cr, pa.x - 6, py, buf, 1, 0.5);
    }
    if (B->ylabel && *B->ylabel) {
        set_font(cr, false, 12);
        set_gray(cr, 0.15);
        cairo_save(cr);
        cairo_translate(cr, 10, pa.y + pa.h / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, B->ylabel, 0.5, 0);
        cairo_restore(cr);
    }
}

/* With one bar per group (runs on the x axis) the best is across the groups: its group, or
 * -1 (none asked for, or several bars per group). */
static long bars_best_group(const lb_bars *B)
{
    long best1 = -1;
    for (size_t g = 0; B->nseries == 1 && g < B->ngroups && B->best != LB_BEST_NONE; g++) {
        double v = B->values[g];
        if (isfinite(v) && (best1 < 0 || (B->best == LB_BEST_MAX ? v > B->values[best1]
                                                                : v < B->values[best1])))
            best1 = (long)g;
    }
    return best1;
}

/* The series of group g whose bar is marked best, or -1; best1 is bars_best_group's answer.
 * A chart of a single bar marks none. */
static long bars_best_in_group(const lb_bars *B, size_t g, long best1)
{
    size_t ng = B->ngroups, ns = B->nseries;
    long best = ns == 1 ? ((long)g == best1 ? 0 : -1) : -1;
    for (size_t s = 0; s < ns && ns > 1 && B->best != LB_BEST_NONE; s++) {
        double v = B->values[g * ns + s];
        if (!isfinite(v))
            continue;
        if (best < 0 || (B->best == LB_BEST_MAX ? v > B->values[g * ns + (size_t)best]
                                                : v < B->values[g * ns + (size_t)best]))
            best = (long)s;
    }
    if (ns * ng == 1)
        best = -1;
    return best;
}

/* The bars of group g (the best one outlined, its value label starred and bold) and the
 * group's name below them. */
static void bars_group(cairo_t *cr, const lb_bars *B, const bars_frame *f, size_t g, long best)
{
    size_t ns = B->nseries;
    rect pa = f->pa;
    double slot = f->slot, bw = f->bw, zero = f->zero;
    char buf[64];
    for (size_t s = 0; s < ns; s++) {
        double v = B->values[g * ns + s];
        if (!isfinite(v))
            continue;
        double x = pa.x + slot * (double)g + slot * 0.1 + bw * (double)s;
        double y = pa.y + pa.h - ax_frac(&f->ay, v) * pa.h;
        size_t ci = ns > 1 ? s : g;
        set_rgb(cr, lb_plot_tab10(B->colors ? B->colors[ci] : (int)ci));
        cairo_rectangle(cr, x, fmin(y, zero), bw, fabs(zero - y));
        cairo_fill(cr);
        bool isbest = (long)s == best;
        if (isbest) {
            cairo_set_line_width(cr, 2);
            set_gray(cr, 0.1);
            cairo_rectangle(cr, x + 1, fmin(y, zero) + 1, bw - 2, fabs(zero - y) - 2 > 0 ? fabs(zero - y) - 2 : 0);
            cairo_stroke(cr);
        }
        if (B->labels) {
            value_label(v, buf, sizeof buf);
            char lab[80];
            snprintf(lab, sizeof lab, "%s%s", isbest ? "\xe2\x98\x85 " : "", buf);
            set_font(cr, isbest, bw >= 40 ? 11 : 9);
            set_gray(cr, 0.1);
            if (v >= 0)
                text_at(cr, x + bw / 2, y - 3, lab, 0.5, 1);
            else
                text_at(cr, x + bw / 2, y + 3, lab, 0.5, 0);
        }
    }
    set_font(cr, false, 11);
    set_gray(cr, 0.2);
    char *t = fit_text(cr, B->groups && B->groups[g] ? B->groups[g] : "", slot - 4);
    text_at(cr, pa.x + slot * ((double)g + 0.5), pa.y + pa.h + 6, t, 0.5, 0);
    free(t);
}

/* The legend of the series, right of the plot area. */
static void bars_legend(cairo_t *cr, const lb_bars *B, const bars_frame *f)
{
    size_t ns = B->nseries;
    set_font(cr, false, 11);
    double tw = f->legend_tw;
    double lw = 8 + 14 + 6 + tw + 8, lh = 6 + (double)ns * 17 + 4;
    double lx = floor(f->pa.x + f->pa.w + 10) + 0.5, ly = f->pa.y;
    cairo_rectangle(cr, lx, ly, floor(lw), floor(lh));
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_stroke(cr);
    for (size_t s = 0; s < ns; s++) {
        double y = ly + 6 + 17 * (double)s + 8.5;
        set_rgb(cr, lb_plot_tab10(B->colors ? B->colors[s] : (int)s));
        cairo_rectangle(cr, lx + 8, y - 6, 14, 12);
        cairo_fill(cr);
        set_gray(cr, 0.1);
        char *t = fit_text(cr, B->series[s] ? B->series[s] : "", tw);
        text_at(cr, lx + 28, y, t, 0, 0.5);
        free(t);
    }
}

lb_plot *lb_plot_bars(const lb_bars *B, const lb_plot_opts *opts, lb_error *err)
{
    if (!B || B->ngroups == 0 || B->nseries == 0 || !B->values || B->ngroups > 200 ||
        B->nseries > 50) {
        lb_error_set(err, "ValueError", 0, 0, "a bar chart needs 1 to 200 groups of 1 to 50 bars");
        return NULL;
    }
    size_t ng = B->ngroups, ns = B->nseries;
    double lo = 0, hi = 0;
    bool any = false;
    for (size_t i = 0; i < ng * ns; i++)
        if (isfinite(B->values[i])) {
            lo = fmin(lo, B->values[i]);
            hi = fmax(hi, B->values[i]);
            any = true;
        }
    if (!any || hi - lo < 1e-300)
        hi = lo + 1;
    int W = opts && opts->width > 0 ? opts->width : 640;
    int H = opts && opts->height > 0 ? opts->height : 400;
    double need = 80 + (double)(ng * ns) * 24 + (double)ng * 12;
    if (W < need)
        W = (int)fmin(need, 4000);
    if (W > 4000 || H < 120 || H > 4000) {
        lb_error_set(err, "ValueError", 0, 0, "a bar chart is at most 4000 pixels wide and 120 to "
                                              "4000 high");
        return NULL;
    }
    bars_frame f = {.ay = {0}};
    double span = hi - lo;
    axis_setup(&f.ay, lo < 0 ? lo - span * 0.08 : lo, hi > 0 ? hi + span * 0.1 : hi, 0, 6);
    f.ay.lo = lo < 0 ? lo - span * 0.08 : lo;
    f.ay.hi = hi > 0 ? hi + span * 0.1 : hi;
    const char *title = opts && opts->title && *opts->title ? opts->title : NULL;
    cairo_t *cr;
    lb_plot *p = figure_begin("bar chart", W, H, title, &cr, err);
    if (!p)
        return NULL;
    bars_area(cr, B, title != NULL, W, H, &f);
    bars_axis(cr, B, &f);
    rect pa = f.pa;
    f.zero = pa.y + pa.h - ax_frac(&f.ay, 0) * pa.h;
    long best1 = bars_best_group(B);
    for (size_t g = 0; g < ng; g++)
        bars_group(cr, B, &f, g, bars_best_in_group(B, g, best1));
    /* axis line at zero and frame */
    cairo_set_line_width(cr, 1);
    set_gray(cr, 0.27);
    cairo_move_to(cr, pa.x, floor(f.zero) + 0.5);
    cairo_line_to(cr, pa.x + pa.w, floor(f.zero) + 0.5);
    cairo_stroke(cr);
    cairo_rectangle(cr, pa.x, pa.y, pa.w, pa.h);
    cairo_stroke(cr);
    if (ns > 1 && B->series)
        bars_legend(cr, B, &f);
    lb_strbuf b = {0};
    lb_sb_printf(&b, "bar chart %dx%d", W, H);
    if (title || (B->ylabel && *B->ylabel))
        lb_sb_printf(&b, ": %s", title ? title : B->ylabel);
    lb_sb_printf(&b, " (%zu group%s", ng, ng == 1 ? "" : "s");
    if (ns > 1)
        lb_sb_printf(&b, " of %zu bars", ns);
    lb_sb_add(&b, ")");
    return figure_end(p, cr, lb_sb_take(&b), err);
}

/* ---- output ------------------------------------------------------------------------------- */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    bool oom;
} membuf;

static cairo_status_t mem_write(void *closure, const unsigned char *data, unsigned int length)
{
    membuf *m = closure;
    if (m->len + length > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 65536;
        while (cap < m->len + length)
            cap *= 2;
        unsigned char *n = realloc(m->data, cap);
        if (!n) {
            m->oom = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        m->data = n;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, length);
    m->len += length;
    return CAIRO_STATUS_SUCCESS;
}

static void replay(cairo_surface_t *target, lb_plot *p, bool white)
{
    cairo_t *cr = cairo_create(target);
    if (white) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
    }
    cairo_set_source_surface(cr, p->rec, 0, 0);
    cairo_paint(cr);
    cairo_destroy(cr);
}

const unsigned char *lb_plot_png(lb_plot *p, size_t *len, lb_error *err)
{
    if (!p) {
        lb_error_set(err, "ValueError", 0, 0, "no plot");
        return NULL;
    }
    if (!p->png) {
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, p->w, p->h);
        replay(img, p, true);
        membuf m = {0};
        cairo_status_t st = cairo_surface_status(img);
        if (st == CAIRO_STATUS_SUCCESS)
            st = cairo_surface_write_to_png_stream(img, mem_write, &m);
        cairo_surface_destroy(img);
        if (st != CAIRO_STATUS_SUCCESS || m.oom) {
            free(m.data);
            if (m.oom)
                return lb_oom_null(err);
            lb_error_set(err, "PlotError", 0, 0, "cannot render the plot as PNG: %s",
                         cairo_status_to_string(st));
            return NULL;
        }
        p->png = m.data;
        p->png_len = m.len;
    }
    if (len)
        *len = p->png_len;
    return p->png;
}

unsigned char *lb_plot_render(lb_plot *p, const char *format, size_t *len, lb_error *err)
{
    membuf m = {0};
    cairo_surface_t *s;
    /* (no SVG: cairo 1.16's SVG surface keeps a replayed recording surface alive, a leak) */
    if (format && strcmp(format, "pdf") == 0)
        s = cairo_pdf_surface_create_for_stream(mem_write, &m, p->w, p->h);
    else {
        lb_error_set(err, "ValueError", 0, 0, "unknown plot format '%s' (pdf)", format ? format : "");
        return NULL;
    }
    replay(s, p, true);
    cairo_surface_finish(s);
    cairo_status_t st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS || m.oom) {
        free(m.data);
        if (m.oom)
            return lb_oom_null(err);
        lb_error_set(err, "PlotError", 0, 0, "cannot render the plot as %s: %s", format,
                     cairo_status_to_string(st));
        return NULL;
    }
    *len = m.len;
    return m.data;
}

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

int lb_plot_save(lb_plot *p, const char *path, lb_error *err)
{
    if (!p || !path || !*path)
        return lb_error_set(err, "ValueError", 0, 0, "save needs a file name");
    const char *ext = ext_of(path);
    unsigned char *owned = NULL;
    const unsigned char *bytes;
    size_t len = 0;
    if (strcasecmp(ext, "svg") == 0)
        return lb_error_set(err, "ValueError", 0, 0, "cannot save %s: plots are saved as PNG or PDF "
                            "(.png, .pdf), not SVG", path);
    if (strcasecmp(ext, "pdf") == 0)
        bytes = owned = lb_plot_render(p, "pdf", &len, err);
    else
        bytes = lb_plot_png(p, &len, err);
    if (!bytes)
        return -1;
    int rc = lb_write_file_atomic(path, bytes, len, err);
    free(owned);
    return rc;
}

static char *base64(const unsigned char *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Adds image/png to bundle and its size to metadata. */
int lb_plot_add_png(lb_plot *p, json_t *bundle, json_t *metadata, lb_error *err)
{
    size_t len;
    const unsigned char *png = lb_plot_png(p, &len, err);
    if (!png)
        return -1;
    char *b64 = base64(png, len);
    if (!b64)
        return lb_oom(err);
    int rc = json_object_set_new(bundle, "image/png", json_string(b64));
    free(b64);
    if (rc == 0 && metadata)
        rc = json_object_set_new(metadata, "image/png", json_pack("{s:i,s:i}", "width", p->w, "height", p->h));
    return rc == 0 ? 0 : lb_oom(err);
}

json_t *lb_plot_bundle(lb_plot *p, json_t **metadata, lb_error *err)
{
    json_t *b = json_object(), *m = json_object();
    if (!b || !m || json_object_set_new(b, "text/plain", json_string(lb_plot_description(p))) < 0) {
        json_decref(b);
        json_decref(m);
        return lb_oom_null(err);
    }
    if (lb_plot_add_png(p, b, m, err) < 0) {
        json_decref(b);
        json_decref(m);
        return NULL;
    }
    if (metadata)
        *metadata = m;
    else
        json_decref(m);
    return b;
}

const char *lb_plot_kind(const lb_plot *p) { return p->kind; }
