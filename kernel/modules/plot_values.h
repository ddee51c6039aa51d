/* plot_values.h — figures in the language (plot_commands.c): showing a figure, the `plot`
 * value, and the sources `plot` hands the rest of its line to (the trainer's runs). The
 * figures themselves are drawn by render/plot.h. */
#ifndef LB_PLOT_VALUES_H
#define LB_PLOT_VALUES_H

#include <stdbool.h>

#include "lang/value.h"
#include "render/plot.h"

typedef struct lb_interp lb_interp;

/* Shows the figure as display_data. display_id/update as in lb_emit_display: a live plot
 * passes the same id with update=true to redraw in place. */
int lb_plot_show(lb_interp *in, lb_plot *p, const char *display_id, bool update, lb_error *err);

/* The language value (class "plot"): takes p (freed on failure too). The value shows as the
 * image, its repr is "<plot: DESCRIPTION>", `save VALUE "f.png"` writes it and its members
 * are width, height and kind. */
lb_value *lb_plot_value(lb_plot *p, lb_error *err);
lb_plot *lb_plot_from_value(const lb_value *v); /* borrowed, NULL when v is not a plot */

/* Plot sources: the `plot` command evaluates its first argument; when that is an object of
 * a class registered here (the trainer's runs), the rest of the line is the source's to
 * read (`plot runs loss valid.acc`: bare names and member expressions, unevaluated), and fn
 * draws and shows the figure. Registration is process-wide (classes are static); at most
 * 16 sources. Returns 0, or -1 when the table is full. */
struct lb_cmd_call;
typedef int (*lb_plot_source_fn)(struct lb_cmd_call *call, lb_value *first, lb_error *err);
int lb_plot_register_source(const lb_class *cls, lb_plot_source_fn fn);

#endif
