/* test_plot.c — the plots of kernel/render/plot.h: PNGs are valid and of the stated size, their
 * pixels show the expected colours (tab10 per series, viridis ends, red wrong captions, white
 * background), ticks (linear and log), NaN gaps, byte-identical output for the same input,
 * atomic saves (PNG, PDF), the plot value, and the language commands and functions. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairo.h>

#include "check.h"
#include "lang/commands.h"
#include "cli/labbook.h"
#include "lang/interp.h"
#include "modules/plot_values.h"
#include "render/table.h"
#include "modules/training.h"
#include "lang/value.h"

/* ---- PNG helpers ---------------------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *d;
    size_t len, pos;
} rd;

static cairo_status_t rd_read(void *c, unsigned char *out, unsigned int n)
{
    rd *r = c;
    if (r->pos + n > r->len)
        return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->d + r->pos, n);
    r->pos += n;
    return CAIRO_STATUS_SUCCESS;
}

static cairo_surface_t *decode(const unsigned char *png, size_t len)
{
    rd r = {png, len, 0};
    return cairo_image_surface_create_from_png_stream(rd_read, &r);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PNG signature, IHDR first with the given size. */
static bool png_ok(const unsigned char *png, size_t len, int w, int h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return png && len > 33 && memcmp(png, sig, 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0 &&
           be32(png + 16) == (uint32_t)w && be32(png + 20) == (uint32_t)h;
}

static uint32_t px(cairo_surface_t *s, int x, int y)
{
    unsigned char *d = cairo_image_surface_get_data(s);
    return ((uint32_t *)(void *)(d + (size_t)y * (size_t)cairo_image_surface_get_stride(s)))[x] & 0xFFFFFFu;
}

/* Pixels exactly (r, g, b). */
static long count_rgb(cairo_surface_t *s, int r, int g, int b)
{
    long n = 0;
    uint32_t want = (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)b;
    cairo_surface_flush(s);
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++)
            n += px(s, x, y) == want;
    return n;
}

/* Strongly red pixels (text in tab10 red over white, anti-aliased). */
static long count_reddish(cairo_surface_t *s)
{
    long n = 0;
    cairo_surface_flush(s);
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++) {
            uint32_t p = px(s, x, y);
            int r = (int)(p >> 16), g = (int)(p >> 8 & 255), b = (int)(p & 255);
            n += r > 180 && g < 110 && b < 110;
        }
    return n;
}

static long count_dark(cairo_surface_t *s)
{
    long n = 0;
    cairo_surface_flush(s);
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++) {
            uint32_t p = px(s, x, y);
            n += (p >> 16) < 70 && (p >> 8 & 255) < 70 && (p & 255) < 70;
        }
    return n;
}

static cairo_surface_t *render(lb_plot *p)
{
    size_t len = 0;
    lb_error err = {0};
    const unsigned char *png = lb_plot_png(p, &len, &err);
    CHECK(png != NULL);
    CHECK(png_ok(png, len, lb_plot_width(p), lb_plot_height(p)));
    lb_error_clear(&err);
    return png ? decode(png, len) : NULL;
}

static lb_plot *two_series(const double *y2)
{
    static const double y1[] = {2.3, 1.2, 0.8, 0.6, 0.5};
    lb_series s[2] = {{.name = "run 1", .y = y1, .n = 5, .color = 0, .markers = -1},
                      {.name = "run 2", .y = y2, .n = 5, .color = 1, .style = LB_LINE_DASHED,
                       .markers = -1}};
    lb_panel pn = {.xlabel = "epoch", .ylabel = "loss", .series = s, .nseries = 2};
    lb_error err = {0};
    lb_plot *p = lb_plot_lines(&pn, 1, NULL, &err);
    CHECK(p != NULL);
    lb_error_clear(&err);
    return p;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static const double Y2[] = {2.4, 1.4, 1.0, 0.9, 0.95};

static void test_lines_png_and_colours(void)
{
    lb_plot *p = two_series(Y2);
    CHECK_INT(lb_plot_width(p), 640);
    CHECK_INT(lb_plot_height(p), 400);
    cairo_surface_t *s = render(p);
    CHECK_INT(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    CHECK_INT(cairo_image_surface_get_width(s), 640);
    CHECK_INT(px(s, 0, 0), 0xFFFFFF);
    CHECK_INT(px(s, 639, 399), 0xFFFFFF);
    CHECK(count_rgb(s, 31, 119, 180) > 100); /* tab10 blue: series 1 */
    CHECK(count_rgb(s, 255, 127, 14) > 50);  /* tab10 orange: series 2 */
    CHECK(count_rgb(s, 255, 255, 255) > 640 * 400 / 2);
    CHECK(strstr(lb_plot_description(p), "run 1") != NULL);
    cairo_surface_destroy(s);
    lb_plot_free(p);
}

static void test_deterministic(void)
{
    lb_plot *a = two_series(Y2), *b = two_series(Y2);
    size_t la = 0, lb = 0;
    lb_error err = {0};
    const unsigned char *pa = lb_plot_png(a, &la, &err), *pb = lb_plot_png(b, &lb, &err);
    CHECK(pa && pb && la == lb && memcmp(pa, pb, la) == 0);
    static const double other[] = {2.4, 1.4, 1.0, 0.9, 0.5};
    lb_plot *c = two_series(other);
    size_t lc = 0;
    const unsigned char *pc = lb_plot_png(c, &lc, &err);
    CHECK(pc && !(lc == la && memcmp(pa, pc, la) == 0));
    lb_plot_free(a);
    lb_plot_free(b);
    lb_plot_free(c);
}

static void test_nan_gaps(void)
{
    static const double gap[] = {NAN, 1.4, NAN, NAN, 0.95};
    lb_plot *p = two_series(gap);
    cairo_surface_t *s = render(p);
    CHECK(count_rgb(s, 255, 127, 14) > 10); /* isolated points still show as dots */
    cairo_surface_destroy(s);
    lb_plot_free(p);
    /* all NaN, and a log axis over non-positive values: drawn, no series colour */
    static const double y[] = {NAN, -1, 0};
    lb_series S = {.name = "x", .y = y, .n = 3, .color = 0, .markers = 1};
    lb_panel pn = {.series = &S, .nseries = 1, .logy = true};
    lb_error err = {0};
    p = lb_plot_lines(&pn, 1, NULL, &err);
    CHECK(p != NULL);
    s = render(p);
    CHECK_INT(count_rgb(s, 31, 119, 180), 0);
    cairo_surface_destroy(s);
    lb_plot_free(p);
}

static void test_ticks(void)
{
    double t[40];
    char l[40][24];
    int n = lb_plot_ticks(0.001, 100, true, t, l, 40);
    CHECK_INT(n, 6);
    CHECK_STR(l[0], "0.001");
    CHECK_STR(l[3], "1");
    CHECK_STR(l[5], "100");
    CHECK_NEAR(t[1], 0.01, 1e-12);
    n = lb_plot_ticks(1e-6, 1e6, true, t, l, 40);
    CHECK_INT(n, 7); /* 12 decades: every second power of ten */
    CHECK_STR(l[0], "1e-6");
    CHECK_STR(l[3], "1");
    CHECK_STR(l[6], "1e6");
    n = lb_plot_ticks(2, 9, true, t, l, 40); /* within a decade: 2 and 5 */
    CHECK_INT(n, 2);
    CHECK_STR(l[0], "2");
    CHECK_STR(l[1], "5");
    n = lb_plot_ticks(0, 1, false, t, l, 40);
    CHECK_INT(n, 6);
    CHECK_STR(l[0], "0.0");
    CHECK_STR(l[1], "0.2");
    CHECK_STR(l[5], "1.0");
    n = lb_plot_ticks(0, 2500, false, t, l, 40);
    CHECK_INT(n, 6);
    CHECK_STR(l[5], "2500");
    CHECK_INT(lb_plot_ticks(-1, 10, true, t, l, 40), 0);
}

static void test_log_panel(void)
{
    static const double x[] = {1, 2, 4, 8, 16, 32};
    static const double y[] = {0.001, 0.01, 0.1, 1, 10, 100};
    lb_series S = {.name = "t", .x = x, .y = y, .n = 6, .color = 2, .markers = 0};
    lb_panel pn = {.series = &S, .nseries = 1, .logx = true, .logy = true};
    lb_error err = {0};
    lb_plot *p = lb_plot_lines(&pn, 1, &(lb_plot_opts){.width = 320, .height = 240}, &err);
    CHECK(p != NULL);
    CHECK_INT(lb_plot_width(p), 320);
    cairo_surface_t *s = render(p);
    CHECK(count_rgb(s, 44, 160, 44) > 50); /* tab10 green, a straight line on log-log */
    cairo_surface_destroy(s);
    lb_plot_free(p);
}

static void test_panels(void)
{
    static const double a[] = {1, 0.5, 0.3}, b[] = {0.5, 0.7, 0.8};
    lb_series s1 = {.name = "train", .y = a, .n = 3}, s2 = {.name = "valid", .y = b, .n = 3, .color = 1};
    lb_panel pn[2] = {{.title = "loss", .series = &s1, .nseries = 1},
                      {.title = "valid.acc", .series = &s2, .nseries = 1}};
    lb_error err = {0};
    lb_plot *p = lb_plot_lines(pn, 2, &(lb_plot_opts){.title = "run 1"}, &err);
    CHECK(p != NULL);
    CHECK_INT(lb_plot_width(p), 1280);
    CHECK(lb_plot_height(p) > 400);
    cairo_surface_t *s = render(p);
    cairo_surface_destroy(s);
    lb_plot_free(p);
    CHECK(lb_plot_lines(pn, 0, NULL, &err) == NULL);
    CHECK_STR(err.ename, "ValueError");
    lb_error_clear(&err);
}

static void test_heatmap_viridis(void)
{
    lb_rgb lo = lb_plot_viridis(0), hi = lb_plot_viridis(1);
    CHECK(lo.r == 68 && lo.g == 1 && lo.b == 84);
    CHECK(hi.r == 253 && hi.g == 231 && hi.b == 37);
    lb_rgb b = lb_plot_tab10(0), o = lb_plot_tab10(11);
    CHECK(b.r == 31 && b.g == 119 && b.b == 180);
    CHECK(o.r == 255 && o.g == 127 && o.b == 14);
    static const double counts[] = {50, 2, 5, 43};
    static const char *const labels[] = {"Coat", "Shirt"};
    lb_error err = {0};
    lb_plot *p = lb_plot_confusion(counts, 2, labels, false, NULL, &err);
    CHECK(p != NULL);
    cairo_surface_t *s = render(p);
    CHECK(count_rgb(s, 68, 1, 84) > 200);    /* the min cell (2) */
    CHECK(count_rgb(s, 253, 231, 37) > 200); /* the max cell (50) */
    CHECK_INT(px(s, 0, 0), 0xFFFFFF);
    cairo_surface_destroy(s);
    lb_plot_free(p);
    /* row-normalised: rates 0..1, the scale fixed to 0..1 */
    p = lb_plot_confusion(counts, 2, labels, true, &(lb_plot_opts){.title = "rates"}, &err);
    CHECK(p != NULL);
    CHECK(strstr(lb_plot_description(p), "0..1") != NULL);
    lb_plot_free(p);
    lb_heatmap h = {.values = counts, .rows = 0, .cols = 2};
    CHECK(lb_plot_heatmap(&h, NULL, &err) == NULL);
    CHECK_STR(err.ename, "ValueError");
    lb_error_clear(&err);
}

static void test_image_grid_wrong_red(void)
{
    float img[28 * 28];
    for (int i = 0; i < 28 * 28; i++)
        img[i] = (float)(i % 28) / 27.0f;
    lb_plot_image ims[2] = {
        {.pixels = img, .width = 28, .height = 28, .channels = 1, .caption = "true: Coat / pred: Shirt", .wrong = true},
        {.pixels = img, .width = 28, .height = 28, .channels = 1, .caption = "true: Bag / pred: Bag"}};
    lb_error err = {0};
    lb_plot *p = lb_plot_images(ims, 2, 2, NULL, &err);
    CHECK(p != NULL);
    cairo_surface_t *s = render(p);
    CHECK(count_reddish(s) > 20);
    cairo_surface_destroy(s);
    lb_plot_free(p);
    ims[0].wrong = false;
    p = lb_plot_images(ims, 2, 0, NULL, &err);
    s = render(p);
    CHECK_INT(count_reddish(s), 0);
    CHECK_INT(count_rgb(s, 255, 255, 255) > 0, 1);
    cairo_surface_destroy(s);
    lb_plot_free(p);
    ims[0].channels = 2;
    CHECK(lb_plot_images(ims, 2, 0, NULL, &err) == NULL);
    CHECK_STR(err.ename, "ValueError");
    lb_error_clear(&err);
}

static void test_bars(void)
{
    static const char *const g[] = {"a", "b", "c"};
    static const double v[] = {0.91, 0.87, 0.89};
    lb_bars B = {.groups = g, .ngroups = 3, .nseries = 1, .values = v, .best = LB_BEST_MAX, .labels = true};
    lb_error err = {0};
    lb_plot *p = lb_plot_bars(&B, NULL, &err);
    CHECK(p != NULL);
    cairo_surface_t *s = render(p);
    CHECK(count_rgb(s, 31, 119, 180) > 1000);
    CHECK(count_rgb(s, 255, 127, 14) > 1000);
    CHECK(count_rgb(s, 44, 160, 44) > 1000);
    long outlined = count_dark(s); /* the best bar's dark outline (and the labels) */
    cairo_surface_destroy(s);
    lb_plot_free(p);
    B.best = LB_BEST_NONE;
    p = lb_plot_bars(&B, NULL, &err);
    s = render(p);
    CHECK(outlined > count_dark(s) + 300);
    cairo_surface_destroy(s);
    lb_plot_free(p);
}

static void test_save_and_bundle(void)
{
    lb_plot *p = two_series(Y2);
    char dir[] = "/tmp/lbplotXXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/loss.png", dir);
    lb_error err = {0};
    CHECK_INT(lb_plot_save(p, path, &err), 0);
    FILE *f = fopen(path, "rb");
    unsigned char head[24] = {0};
    CHECK(f && fread(head, 1, 24, f) == 24);
    if (f)
        fclose(f);
    CHECK(png_ok(head, 34, 640, 400) || (memcmp(head + 1, "PNG", 3) == 0 && be32(head + 16) == 640));
    snprintf(path, sizeof path, "%s/loss.pdf", dir);
    CHECK_INT(lb_plot_save(p, path, &err), 0);
    f = fopen(path, "rb");
    char head5[6] = {0};
    CHECK(f && fread(head5, 1, 5, f) == 5);
    if (f)
        fclose(f);
    CHECK_STR(head5, "%PDF-");
    unlink(path);
    snprintf(path, sizeof path, "%s/loss.png", dir);
    unlink(path);
    rmdir(dir);
    CHECK_INT(lb_plot_save(p, "x.svg", &err), -1);
    CHECK_STR(err.ename, "ValueError");
    lb_error_clear(&err);
    CHECK_INT(lb_plot_save(p, "/nonexistent-dir/x.png", &err), -1);
    CHECK_STR(err.ename, "IOError");
    CHECK(err.evalue && strstr(err.evalue, "/nonexistent-dir/x.png"));
    lb_error_clear(&err);

    json_t *meta = NULL;
    json_t *b = lb_plot_bundle(p, &meta, &err);
    CHECK(b && meta);
    CHECK(json_string_value(json_object_get(b, "text/plain")) != NULL);
    const char *b64 = json_string_value(json_object_get(b, "image/png"));
    CHECK(b64 && strncmp(b64, "iVBORw0KGgo", 11) == 0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(meta, "image/png"), "width")), 640);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(meta, "image/png"), "height")), 400);
    json_decref(b);
    json_decref(meta);

    lb_value *v = lb_plot_value(p, &err);
    CHECK(v && lb_plot_from_value(v) == p);
    CHECK_STR(lb_type_name(v), "plot");
    char *r = lb_repr(v);
    CHECK(r && strncmp(r, "<plot: line chart 640x400", 25) == 0);
    free(r);
    json_t *vm = NULL;
    json_t *vb = lb_value_bundle(v, &vm, &err);
    CHECK(vb && json_object_get(vb, "image/png") && vm);
    json_decref(vb);
    json_decref(vm);
    lb_decref(v);
}

/* ---- the language --------------------------------------------------------------------------- */

static json_t *displays;

static void rec_display(void *ctx, json_t *data, json_t *metadata, const char *id, bool update)
{
    (void)ctx, (void)id, (void)update;
    json_array_append_new(displays, json_pack("{s:O, s:O?}", "data", data, "metadata", metadata));
}

static void test_language(void)
{
    displays = json_array();
    lb_output out = {.display = rec_display};
    lb_interp *in = lb_labbook_new(&out);
    CHECK(in != NULL);
    lb_error err = {0};
    CHECK_INT(lb_interp_execute(in, "plot [2.3, 1.1, 0.7] x=\"epoch\" y=\"loss\"", false, &err), 0);
    CHECK_INT(json_array_size(displays), 1);
    json_t *d = json_array_get(displays, 0);
    CHECK(json_string_value(json_object_get(json_object_get(d, "data"), "image/png")) != NULL);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(d, "metadata"), "image/png"), "width")), 640);
    lb_error_clear(&err);

    CHECK_INT(lb_interp_execute(in, "plot [1] titel=\"x\"", false, &err), -1);
    CHECK_STR(err.ename, "TypeError");
    CHECK(err.evalue && strstr(err.evalue, "title"));
    lb_error_clear(&err);
    CHECK_INT(lb_interp_execute(in, "p = plot([1, 2], titel=\"x\")", false, &err), -1);
    CHECK(err.evalue && strstr(err.evalue, "did you mean 'title'"));
    lb_error_clear(&err);
    CHECK_INT(lb_interp_execute(in, "plot \"abc\"", false, &err), -1);
    CHECK_STR(err.ename, "TypeError");
    lb_error_clear(&err);

    CHECK_INT(lb_interp_execute(in, "p = plot({name: \"a\", y: [1, 2]}, {name: \"b\", y: [2, 1], style: \"dashed\"}, title=\"t\")\n"
                                    "h = heatmap([[1, 2], [3, 4]], rows=[\"a\", \"b\"], cols=[\"c\", \"d\"])\n"
                                    "b = bars({a: {acc: 0.9}, b: {acc: 0.8}})\n"
                                    "g = images([[[0, 1], [1, 0]]], captions=[\"x\"], wrong=[true])",
                                    false, &err), 0);
    lb_error_clear(&err);
    lb_value *p = lb_interp_get(in, "p");
    CHECK(lb_plot_from_value(p) != NULL);
    CHECK(lb_plot_from_value(lb_interp_get(in, "h")) != NULL);
    CHECK(lb_plot_from_value(lb_interp_get(in, "g")) != NULL);
    CHECK_INT(json_array_size(displays), 1); /* functions return, they do not show */

    char dir[] = "/tmp/lbplotXXXXXX", code[256], path[200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/b.png", dir);
    snprintf(code, sizeof code, "save b \"%s\"", path);
    CHECK_INT(lb_interp_execute(in, code, false, &err), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 100);
    unlink(path);
    rmdir(dir);
    CHECK_INT(lb_interp_execute(in, "save 3 \"x.png\"", false, &err), -1);
    CHECK_STR(err.ename, "TypeError");
    lb_error_clear(&err);
    CHECK_INT(lb_interp_execute(in, "save p \"/nonexistent-dir/p.png\"", false, &err), -1);
    CHECK_STR(err.ename, "IOError");
    lb_error_clear(&err);
    CHECK_INT(lb_interp_execute(in, "heatmap [[1, 2], [3]]", false, &err), -1);
    CHECK_STR(err.ename, "ValueError");
    lb_error_clear(&err);
    lb_interp_free(in);
    json_decref(displays);
}

/* ---- runs: learning curves keep a run's colour (its id), the table marks the best ------------ */

static lb_value *fake_run(int id, const char *name, double scale)
{
    lb_run *r = calloc(1, sizeof *r);
    r->id = id;
    /* a record declares its metrics' directions (train.h); the table marks by them */
    r->record = json_pack("{s:i, s:s, s:s, s:{s:s, s:s}, s:[{s:f, s:f}, {s:f, s:f}, {s:f, s:f}], s:{s:{s:f, s:f}}}",
                          "id", id, "name", name, "status", "finished", "metrics", "loss", "lower", "acc", "higher",
                          "history",
                          "train.loss", 2.0 * scale, "valid.loss", 2.2 * scale,
                          "train.loss", 1.0 * scale, "valid.loss", 1.3 * scale,
                          "train.loss", 0.5 * scale, "valid.loss", 0.9 * scale,
                          "final", "valid", "acc", 1.0 - 0.1 * scale, "loss", 0.9 * scale);
    return lb_run_value_new(r);
}

static void test_runs_curves_and_table(void)
{
    lb_value *list = lb_list_new();
    lb_list_append_take(list, fake_run(3, "a lr=0.1", 1.0));
    lb_list_append_take(list, fake_run(5, "a lr=0.01", 1.5));
    const char *metrics[] = {"loss"};
    lb_error err = {0};
    lb_plot *p = lb_runs_curves(list, metrics, 1, false, &err);
    CHECK(p != NULL);
    if (p) {
        cairo_surface_t *s = render(p);
        lb_rgb green = lb_plot_tab10(2), purple = lb_plot_tab10(4), blue = lb_plot_tab10(0);
        /* run 3 is tab10 colour 2 and run 5 colour 4 in every figure; nothing is blue */
        CHECK(count_rgb(s, green.r, green.g, green.b) > 100);
        CHECK(count_rgb(s, purple.r, purple.g, purple.b) > 100);
        CHECK_INT(count_rgb(s, blue.r, blue.g, blue.b), 0);
        cairo_surface_destroy(s);
        CHECK(strstr(lb_plot_description(p), "(valid)") == NULL); /* each run once in the legend */
        lb_plot_free(p);
    }
    /* an unknown metric is a ValueError naming it */
    const char *bad[] = {"nosuch"};
    CHECK(lb_runs_curves(list, bad, 1, false, &err) == NULL);
    CHECK_STR(err.ename, "ValueError");
    CHECK(strstr(err.evalue, "nosuch") != NULL);
    lb_error_clear(&err);
    /* the comparison table: best valid.acc first, its cell marked */
    lb_table *t = lb_runs_table(list, "valid.acc");
    char *plain = lb_table_plain(t);
    CHECK(plain != NULL);
    if (plain) {
        char *r3 = strstr(plain, "a lr=0.1 "), *r5 = strstr(plain, "a lr=0.01");
        CHECK(r3 && r5 && r3 < r5);
        CHECK(strstr(plain, "0.9000*") != NULL);
        CHECK(strstr(plain, "0.8500*") == NULL);
    }
    free(plain);
    lb_table_free(t);
    lb_decref(list);
}

int main(void)
{
    RUN(test_lines_png_and_colours);
    RUN(test_deterministic);
    RUN(test_nan_gaps);
    RUN(test_ticks);
    RUN(test_log_panel);
    RUN(test_panels);
    RUN(test_heatmap_viridis);
    RUN(test_image_grid_wrong_red);
    RUN(test_bars);
    RUN(test_save_and_bundle);
    RUN(test_language);
    RUN(test_runs_curves_and_table);
    return CHECK_SUMMARY();
}
