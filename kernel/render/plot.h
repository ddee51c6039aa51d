/* plot.h — figures drawn with cairo: learning curves (line charts, several panels side by
 * side), heatmaps (confusion matrices, attention), image grids (data set samples,
 * predictions) and grouped bar charts. A figure (lb_plot) is recorded once and rendered on
 * demand to PNG (what every front end shows: display_data image/png with width/height
 * metadata, so nbconvert and the classic notebook show them) or PDF. The language commands `plot`, `heatmap`, `bars`,
 * `images` and `save` (plot_commands.c, spec/language.md "Plots") are built on this API;
 * the trainer and the data sets call it directly.
 *
 * Conventions (matplotlib's defaults): white background, tab10 line colours
 * chosen by a stable run index the caller passes (the same run keeps its colour in every
 * figure), train solid / valid dashed, a legend whenever there are several series, light
 * grid, "nice" ticks, viridis for heatmaps. Text is DejaVu Sans, loaded from its file through
 * FreeType (no fontconfig), so output is identical from run to run: the same input gives
 * the same PNG bytes.
 *
 * All inputs are copied or drawn at creation: the caller's arrays may be freed afterwards.
 * Functions returning lb_plot* return NULL with *err set (ValueError for bad input,
 * MemoryError, PlotError when cairo fails). */
#ifndef LB_PLOT_H
#define LB_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "base/error.h"

typedef struct lb_plot lb_plot;

/* ---- colours ----------------------------------------------------------------------------- */

typedef struct lb_rgb {
    unsigned char r, g, b;
} lb_rgb;

/* tab10 colour i (mod 10; negative i is taken as 0): 0 is blue (31,119,180), 1 orange
 * (255,127,14), 2 green, 3 red, 4 purple, 5 brown, 6 pink, 7 grey, 8 olive, 9 cyan. */
lb_rgb lb_plot_tab10(int i);
/* viridis at t in [0, 1] (clamped; NaN gives the low end): matplotlib's 256-entry table,
 * (68,1,84) at 0 to (253,231,37) at 1. */
lb_rgb lb_plot_viridis(double t);

/* ---- line charts ------------------------------------------------------------------------- */

typedef enum { LB_LINE_SOLID = 0, LB_LINE_DASHED = 1 } lb_line_style;

typedef struct lb_series {
    const char *name;    /* legend label (NULL or "": not in the legend) */
    const double *x;     /* n values, or NULL for 1, 2, ..., n (epochs count from 1) */
    const double *y;     /* n values; NaN (and, on a log axis, values <= 0) leave a gap */
    size_t n;
    int color;           /* tab10 index: the caller's stable run index */
    lb_line_style style; /* train solid, valid dashed */
    int markers;         /* 1 dots at the points, 0 none, -1 automatic (when n <= 30) */
} lb_series;

typedef struct lb_panel {
    const char *title;   /* above the panel, or NULL */
    const char *xlabel;  /* e.g. "epoch", or NULL */
    const char *ylabel;  /* e.g. "loss", or NULL */
    const lb_series *series;
    size_t nseries;
    bool logx, logy;     /* log scale (ticks at powers of 10, of 2 when x is all powers of 2) */
    bool has_ylim;       /* fixed y range [ymin, ymax] instead of the data's */
    double ymin, ymax;
} lb_panel;

/* Figure options shared by every kind; a NULL pointer or zero fields mean the defaults. */
typedef struct lb_plot_opts {
    const char *title;   /* figure title (above all panels), or NULL */
    int width, height;   /* pixels per panel / of the figure; 0 = the kind's default */
} lb_plot_opts;

/* Panels side by side (loss | valid.acc), each 640x400 by default. A legend appears in a
 * panel with more than one named series, in the corner where it hides fewest points. */
lb_plot *lb_plot_lines(const lb_panel *panels, size_t npanels, const lb_plot_opts *opts,
                       lb_error *err);

/* ---- heatmaps ---------------------------------------------------------------------------- */

typedef struct lb_heatmap {
    const double *values;       /* rows*cols, row-major; NaN cells are drawn light grey */
    size_t rows, cols;
    const char *const *row_labels; /* rows strings or NULL (0, 1, ...) */
    const char *const *col_labels; /* cols strings or NULL */
    const char *xlabel, *ylabel;   /* axis titles ("Predicted label", "True label") or NULL */
    int annotate;        /* values in the cells: 1 yes, 0 no, -1 when the cells are big enough */
    int rotate_xlabels;  /* 1 rotated 45 degrees, 0 never, -1 when they do not fit */
    int decimals;        /* decimals of the cell values; -1: none when every value is an
                            integer, else 2 */
    bool has_range;      /* colour scale [vmin, vmax] instead of the data's min..max */
    double vmin, vmax;
    bool colorbar;       /* a colour bar with ticks on the right */
} lb_heatmap;

/* Cells about 40 px (at most 44, less for big matrices), text black or white, whichever
 * contrasts with the cell. */
lb_plot *lb_plot_heatmap(const lb_heatmap *h, const lb_plot_opts *opts, lb_error *err);

/* A confusion matrix: counts[t*n + p] = examples of true class t predicted as p; rows
 * "True label", columns "Predicted label", counts in the cells; normalize divides each row
 * by its sum (cells show 2 decimals, the colour scale is 0..1). labels may be NULL. */
lb_plot *lb_plot_confusion(const double *counts, size_t n, const char *const *labels,
                           bool normalize, const lb_plot_opts *opts, lb_error *err);

/* ---- image grids ------------------------------------------------------------------------- */

typedef enum { LB_IMG_CHW = 0, LB_IMG_HWC = 1 } lb_img_layout;

typedef struct lb_plot_image {
    const float *pixels;          /* channels*height*width floats, or NULL when u8 is given */
    const unsigned char *u8;      /* the same as bytes 0..255 */
    int width, height, channels;  /* channels 1 (grayscale) or 3 (RGB) */
    lb_img_layout layout;         /* CHW (PyTorch tensors) or HWC */
    bool has_range;               /* float values lo..hi map to black..white; else 0..1 when
                                     all values are in [0, 1], otherwise the image's min..max */
    float lo, hi;
    const char *caption;          /* below the image (may hold '\n'), or NULL */
    bool wrong;                   /* caption in red (a wrong prediction) */
} lb_plot_image;

/* n images in rows of `cols` columns (0: up to 8), each enlarged by an integer factor to
 * about 112 px (nearest neighbour; sides over 224 px are shrunk to 224), with its caption
 * below. */
lb_plot *lb_plot_images(const lb_plot_image *images, size_t n, int cols, const lb_plot_opts *opts,
                        lb_error *err);

/* ---- bar charts -------------------------------------------------------------------------- */

typedef enum { LB_BEST_NONE = 0, LB_BEST_MAX = 1, LB_BEST_MIN = 2 } lb_best;

typedef struct lb_bars {
    const char *const *groups;    /* ngroups x-axis categories (metrics, or runs) */
    size_t ngroups;
    const char *const *series;    /* nseries names (runs) shown in the legend when nseries > 1 */
    size_t nseries;
    const double *values;         /* ngroups*nseries: values[g*nseries + s]; NaN = no bar */
    const int *colors;            /* tab10 index per series (nseries > 1) or per group
                                     (nseries == 1); NULL: 0, 1, 2, ... */
    const char *ylabel;
    lb_best best;                 /* the best bar of each group (with one bar per group: of
                                     all) is outlined, its label starred and bold */
    bool labels;                  /* value labels above the bars */
} lb_bars;

lb_plot *lb_plot_bars(const lb_bars *b, const lb_plot_opts *opts, lb_error *err);

/* The ticks an axis over [lo, hi] gets (no padding added) and their labels, as the line
 * charts draw them: "nice" steps of 1, 2 or 5 times a power of ten; on a log axis the powers
 * of ten ("0.001", "1", "1e+6" as "1e6"), or 1, 2, 5 times them within a decade. Returns
 * the number of ticks (at most max). */
int lb_plot_ticks(double lo, double hi, bool log, double *ticks, char (*labels)[24], int max);

/* ---- a figure ---------------------------------------------------------------------------- */

void lb_plot_free(lb_plot *p);
int lb_plot_width(const lb_plot *p);
int lb_plot_height(const lb_plot *p);
/* One line: "line chart 640x400: loss (run 1, run 2)". Borrowed. */
const char *lb_plot_description(const lb_plot *p);
/* The PNG bytes (rendered on first use, then kept); borrowed, NULL with *err on failure. */
const unsigned char *lb_plot_png(lb_plot *p, size_t *len, lb_error *err);
/* A malloc'd PDF file rendered from the same recording (format "pdf"; SVG is left out:
 * cairo 1.16's SVG surface leaks the recording it replays). */
unsigned char *lb_plot_render(lb_plot *p, const char *format, size_t *len, lb_error *err);
/* Writes the figure to path, the format by its extension (.pdf: PDF; .svg: a ValueError;
 * anything else: PNG), through a temporary file in the same folder renamed into place, so a
 * reader never sees half a file. IOError naming the path on failure. */
int lb_plot_save(lb_plot *p, const char *path, lb_error *err);

/* A mime bundle {"text/plain": description, "image/png": base64} and its metadata
 * {"image/png": {"width": W, "height": H}}: new references; NULL with *err. */
json_t *lb_plot_bundle(lb_plot *p, json_t **metadata, lb_error *err);
/* Adds "image/png" (base64) to bundle and its size to metadata: 0, or -1 with *err. */
int lb_plot_add_png(lb_plot *p, json_t *bundle, json_t *metadata, lb_error *err);
/* "line", "heatmap", "bars", "images", ... */
const char *lb_plot_kind(const lb_plot *p);

#endif
