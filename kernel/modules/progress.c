/* progress.c — the live progress of a `train` command (train.h): one display (text/plain and
 * text/html) created once and then redrawn in place with update_display_data, at most once
 * per LB_PROGRESS_INTERVAL (5 a second, as fastprogress and tqdm do): the run and
 * its place in the sweep, a bar, epoch and batch, the running loss, samples per second,
 * elapsed and remaining time, the finished epochs' table and one line per finished run. A
 * second display holds the learning curves, redrawn after each epoch (at most twice a
 * second). The last redraw always happens and says finished, interrupted or failed. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lang/commands.h"
#include "modules/plot_values.h"
#include "base/clock.h"
#include "base/strbuf.h"
#include "render/table.h"
#include "modules/training.h"

#define CURVE_INTERVAL 0.5

struct lb_progress {
    lb_interp *in;
    bool live, curves;
    int nruns;
    char id[64], curve_id[80];
    bool shown, curve_shown;
    double t0, run_t0, last, last_curve;
    /* the current run */
    int index;
    char name[256];
    int64_t epochs, nb, nsamples;
    int64_t epoch, batch, samples;
    double loss;
    lb_value *run;      /* the current run value (its history so far) */
    lb_value *done;     /* list of finished run values (for the curves) */
    lb_strbuf lines;    /* plain lines of finished runs */
    lb_strbuf html;     /* html lines of finished runs */
    bool curve_pending;
};

static void clock_text(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

lb_progress *lb_progress_new(lb_interp *in, int nruns, bool live, bool curves)
{
    lb_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->in = in;
    p->nruns = nruns;
    p->live = live;
    p->curves = curves;
    p->t0 = p->last = lb_now();
    p->last = -1e9;
    p->last_curve = -1e9;
    p->done = lb_list_new();
    if (!p->done) {
        free(p);
        return NULL;
    }
    static unsigned counter;
    snprintf(p->id, sizeof p->id, "labbook-progress-%ld-%u-%ld", (long)time(NULL), ++counter, (long)(p->t0 * 1e6) % 1000000);
    snprintf(p->curve_id, sizeof p->curve_id, "%s-curves", p->id);
    return p;
}

void lb_progress_free(lb_progress *p)
{
    if (!p)
        return;
    lb_decref(p->run);
    lb_decref(p->done);
    lb_sb_free(&p->lines);
    lb_sb_free(&p->html);
    free(p);
}


static void html_escape(lb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            lb_sb_add(b, "&lt;");
        else if (*s == '>')
            lb_sb_add(b, "&gt;");
        else if (*s == '&')
            lb_sb_add(b, "&amp;");
        else
            lb_sb_addn(b, s, 1);
    }
}

/* Draws the display: state NULL while running, else the final word. */
static void draw(lb_progress *p, const char *state, const char *message)
{
    double t = lb_now();
    double frac = p->epochs > 0 && p->nb > 0
                      ? ((double)p->epoch * (double)p->nb + (double)p->batch) / ((double)p->epochs * (double)p->nb)
                      : 0;
    if (frac > 1)
        frac = 1;
    double overall = p->nruns > 0 ? ((double)p->index + frac) / p->nruns : 0;
    double el = t - p->t0, run_el = t - p->run_t0;
    double remain = overall > 0 ? el / overall * (1 - overall) : NAN;
    double rate = run_el > 0 && p->samples > 0 ? (double)p->samples / run_el : 0;
    char e1[32], e2[32], r[32], head[512], stats[512];
    clock_text(el, e1, sizeof e1);
    clock_text(remain, e2, sizeof e2);
    lb_format_count((int64_t)llround(rate), r, sizeof r);
    if (p->nruns > 1)
        snprintf(head, sizeof head, "run %d/%d: %s", p->index + 1, p->nruns, p->name);
    else
        snprintf(head, sizeof head, "%s", p->name);
    if (state)
        snprintf(stats, sizeof stats, "%s after %s", state, e1);
    else if (p->batch == 0)
        snprintf(stats, sizeof stats, "epoch %" PRId64 "/%" PRId64 " · starting · %s", p->epoch + 1,
                 p->epochs, e1);
    else
        snprintf(stats, sizeof stats,
                 "epoch %" PRId64 "/%" PRId64 " · batch %" PRId64 "/%" PRId64 " · loss %.4f · %s samples/s · %s<%s",
                 p->epoch + 1, p->epochs, p->batch, p->nb, p->loss, r, e1, e2);
    const double shown = state && strcmp(state, "finished") == 0 ? 1.0 : overall;
    /* plain */
    lb_strbuf pl = {0};
    lb_sb_add(&pl, p->lines.buf ? p->lines.buf : "");
    if (!state) {
        char bar[41];
        int fill = (int)(shown * 40);
        for (int i = 0; i < 40; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[40] = 0;
        lb_sb_printf(&pl, "%s [%s] %3.0f%% %s\n", head, bar, shown * 100, stats);
    } else {
        lb_sb_printf(&pl, "%s%s%s\n", state, message && *message ? ": " : "",
                     message ? message : "");
    }
    lb_table *ht = NULL;
    const lb_run *R = p->run ? lb_run_from_value(p->run) : NULL;
    if (!state && R && json_array_size(json_object_get(R->record, "history")))
        ht = lb_run_history_table(R);
    char *tplain = ht ? lb_table_plain(ht) : NULL;
    char *thtml = ht ? lb_table_html(ht) : NULL;
    if (tplain)
        lb_sb_add(&pl, tplain);
    /* html */
    lb_strbuf h = {0};
    const char *colour = !state ? "#1f77b4" : strcmp(state, "finished") == 0 ? "#2ca02c"
                                                                              : "#d62728";
    lb_sb_add(&h, "<div class=\"labbook-progress\">");
    if (p->html.buf)
        lb_sb_add(&h, p->html.buf);
    if (!state) {
        lb_sb_add(&h, "<div><b>");
        html_escape(&h, head);
        lb_sb_printf(&h, "</b></div><div><progress value=\"%d\" max=\"1000\" style=\"width:300px;"
                         "vertical-align:middle\"></progress> %3.0f%% · ",
                     (int)(shown * 1000), shown * 100);
        html_escape(&h, stats);
        lb_sb_add(&h, "</div>");
        if (thtml)
            lb_sb_add(&h, thtml);
    } else {
        lb_sb_printf(&h, "<div style=\"color:%s\"><b>", colour);
        html_escape(&h, state);
        lb_sb_add(&h, "</b>");
        if (message && *message) {
            lb_sb_add(&h, ": ");
            html_escape(&h, message);
        }
        lb_sb_add(&h, "</div>");
    }
    lb_sb_add(&h, "</div>");
    free(tplain);
    free(thtml);
    lb_table_free(ht);
    char *ptext = lb_sb_take(&pl), *htext = lb_sb_take(&h);
    if (ptext && htext) {
        json_t *b = json_pack("{s:s, s:s}", "text/plain", ptext, "text/html", htext);
        if (b) {
            lb_emit_display(p->in, b, NULL, p->id, p->shown);
            p->shown = true;
            json_decref(b);
        }
    }
    free(ptext);
    free(htext);
    /* The throttle counts from the moment the display went out, not from when drawing began:
     * the next redraw's message is then stamped at least LB_PROGRESS_INTERVAL after this one's,
     * however long drawing and publishing took (a slow or loaded machine). */
    p->last = lb_now();
}

static void draw_curves(lb_progress *p, bool force)
{
    if (!p->curves || !p->curve_pending)
        return;
    double t = lb_now();
    if (!force && t - p->last_curve < CURVE_INTERVAL)
        return;
    lb_value *all = lb_list_new();
    if (!all)
        return;
    for (size_t i = 0; i < lb_list_len(p->done); i++)
        lb_list_append(all, lb_list_get(p->done, i));
    if (p->run) {
        bool in_done = false;
        for (size_t i = 0; i < lb_list_len(p->done); i++)
            in_done |= lb_list_get(p->done, i) == p->run;
        if (!in_done)
            lb_list_append(all, p->run);
    }
    /* the loss and the metric the runs are summed up by (accuracy for classification) */
    const lb_run *first = lb_list_len(all) ? lb_run_from_value(lb_list_get(all, 0)) : NULL;
    const char *key = first ? lb_run_key_metric(first) : "acc";
    const char *metrics[] = {"loss", key};
    lb_error err = {0};
    lb_plot *pl = lb_runs_curves(all, metrics, strcmp(key, "loss") == 0 ? 1 : 2, false, &err);
    if (pl) {
        if (lb_plot_show(p->in, pl, p->curve_id, p->curve_shown, &err) == 0)
            p->curve_shown = true;
        lb_plot_free(pl);
    }
    lb_error_clear(&err);
    lb_decref(all);
    p->last_curve = lb_now(); /* from when the plot went out, as for the progress display */
    p->curve_pending = false;
}

void lb_progress_run(lb_progress *p, int index, const char *name, int64_t epochs,
                     int64_t batches_per_epoch, int64_t samples_per_epoch)
{
    if (!p)
        return;
    p->index = index;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->epochs = epochs;
    p->nb = batches_per_epoch;
    p->nsamples = samples_per_epoch;
    p->epoch = p->batch = p->samples = 0;
    p->loss = NAN;
    p->run_t0 = lb_now();
    lb_decref(p->run);
    p->run = NULL;
    if (p->live)
        draw(p, NULL, NULL);
}

void lb_progress_batch(lb_progress *p, int64_t epoch, int64_t batch, double running_loss,
                       int64_t samples_done)
{
    if (!p)
        return;
    p->epoch = epoch;
    p->batch = batch;
    p->loss = running_loss;
    p->samples = epoch * p->nsamples + samples_done;
    if (p->live && lb_now() - p->last >= LB_PROGRESS_INTERVAL)
        draw(p, NULL, NULL);
}

void lb_progress_epoch(lb_progress *p, const lb_value *run)
{
    if (!p)
        return;
    if (p->run != run) {
        lb_decref(p->run);
        p->run = lb_incref((lb_value *)run);
    }
    p->curve_pending = true;
    if (p->live) {
        if (lb_now() - p->last >= LB_PROGRESS_INTERVAL)
            draw(p, NULL, NULL);
        draw_curves(p, false);
    }
}

void lb_progress_run_end(lb_progress *p, const lb_value *run, lb_run_state s)
{
    if (!p || !run)
        return;
    const lb_run *R = lb_run_from_value(run);
    if (!R)
        return;
    lb_list_append(p->done, (lb_value *)run);
    if (p->run != run) {
        lb_decref(p->run);
        p->run = lb_incref((lb_value *)run);
    }
    char va[32], te[32], kv[48], kt[48];
    snprintf(kv, sizeof kv, "valid.%s", lb_run_key_metric(R));
    snprintf(kt, sizeof kt, "test.%s", lb_run_key_metric(R));
    lb_format_metric(lb_run_metric(R, kv), va, sizeof va);
    lb_format_metric(lb_run_metric(R, kt), te, sizeof te);
    char secs[32];
    clock_text(lb_run_metric(R, "seconds"), secs, sizeof secs);
    const char *name = json_string_value(json_object_get(R->record, "name"));
    int ne = (int)lb_run_metric(R, "epochs");
    lb_sb_printf(&p->lines, "run %d %s: %s, %d epoch%s in %s, %s %s, %s %s\n", R->id, name ? name : "",
                 lb_run_state_name(s), ne, ne == 1 ? "" : "s", secs, kv, va, kt, te);
    lb_sb_printf(&p->html, "<div>run %d <b>", R->id);
    html_escape(&p->html, name ? name : "");
    lb_sb_printf(&p->html, "</b>: %s, %d epoch%s in %s, %s %s, %s %s</div>", lb_run_state_name(s), ne,
                 ne == 1 ? "" : "s", secs, kv, va, kt, te);
    p->curve_pending = p->curve_pending || ne > 0;
}

void lb_progress_finish(lb_progress *p, lb_run_state s, const char *message)
{
    if (!p)
        return;
    draw_curves(p, true);
    lb_decref(p->run);
    p->run = NULL;
    draw(p, lb_run_state_name(s), message);
}
