/* run_script.c — `labbook run` (see run_script.h): an lb_output for terminals and logs.
 * Displays print their text/plain (tables included); images, tables and other rich parts
 * become files NNN.png, NNN.svg, NNN.html, NNN.md, ... in the output folder. A display updated
 * in place (progress bar, live plot) keeps its number, so its files end in the final
 * state; on a terminal its text is redrawn on one line, otherwise only the latest state is
 * printed, before the next output. */
#include "base/clock.h"
#include "cli/run_script.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/labbook.h"
#include "lang/interp.h"

typedef struct shown {
    char *id;          /* display_id */
    int num;           /* file number */
    char *pending;     /* latest text/plain of an update not yet printed (not a tty) */
} shown;

typedef struct run_ctx {
    const char *out_dir;
    bool dir_ready;
    int counter;
    shown *ids;
    size_t n_ids, cap_ids;
    bool tty;
    bool dangling;     /* a redrawable line without its newline is on the terminal */
    long dangling_idx; /* ...of the display ids[dangling_idx] */
    int status;        /* 1 once writing an output file failed */
    long long last_flush_ms;
} run_ctx;

/* Rich parts written as files. Tables travel as text/html and text/markdown besides the
 * text/plain that is printed: both are written too, so a report can include them. */
static const struct { const char *mime, *ext; bool base64; } rich[] = {
    {"image/png", "png", true},         {"image/jpeg", "jpg", true},
    {"image/gif", "gif", true},         {"image/svg+xml", "svg", false},
    {"application/pdf", "pdf", true},   {"application/json", "json", false},
    {"text/html", "html", false},       {"text/markdown", "md", false},
};

static void end_line(run_ctx *r)
{
    if (r->dangling) {
        fputc('\n', stdout);
        r->dangling = false;
    }
    r->dangling_idx = -1;
}

static void flush_pending(run_ctx *r)
{
    for (size_t i = 0; i < r->n_ids; i++) {
        if (!r->ids[i].pending) continue;
        end_line(r);
        size_t l = strlen(r->ids[i].pending);
        fputs(r->ids[i].pending, stdout);
        if (!l || r->ids[i].pending[l - 1] != '\n') fputc('\n', stdout);
        free(r->ids[i].pending);
        r->ids[i].pending = NULL;
    }
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes base64 (whitespace and padding ignored) into a malloc'd buffer. */
static unsigned char *b64decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0) continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out_len = o;
    return out;
}

static int ensure_dir(run_ctx *r)
{
    if (r->dir_ready) return 0;
    char *p = strdup(r->out_dir);
    if (!p) return -1;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q) continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0755) && errno != EEXIST) {
            fprintf(stderr, "labbook: cannot create %s: %s\n", p, strerror(errno));
            free(p);
            return -1;
        }
        *q = c;
        if (!c) break;
    }
    free(p);
    r->dir_ready = true;
    return 0;
}

/* Writes the rich parts of a bundle as NNN.ext; appends the file names to `saved`. */
static void save_files(run_ctx *r, json_t *data, int num, char *saved, size_t saved_len)
{
    for (size_t i = 0; i < sizeof rich / sizeof *rich; i++) {
        json_t *v = json_object_get(data, rich[i].mime);
        if (!v) continue;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char *owned = NULL;
        if (json_is_string(v)) {
            if (rich[i].base64)
                bytes = b64decode(json_string_value(v), &len);
            else {
                len = json_string_length(v);
                bytes = (unsigned char *)(owned = strdup(json_string_value(v)));
            }
        } else {
            owned = json_dumps(v, JSON_INDENT(2));
            bytes = (unsigned char *)owned;
            len = owned ? strlen(owned) : 0;
        }
        if (owned && bytes != (unsigned char *)owned) free(owned);
        if (!bytes) continue;
        /* Written to a temp file and renamed, so a reader never sees half a file. */
        char path[4096], tmp[4200];
        FILE *f = NULL;
        if (ensure_dir(r) == 0) {
            snprintf(path, sizeof path, "%s/%03d.%s", r->out_dir, num, rich[i].ext);
            snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
            f = fopen(tmp, "wb");
        }
        bool ok = f && fwrite(bytes, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = false;
        if (ok && rename(tmp, path) != 0) ok = false;
        if (ok) {
            size_t used = strlen(saved);
            snprintf(saved + used, saved_len - used, "%s%s", used ? ", " : "", path);
        } else {
            if (f) unlink(tmp);
            if (r->dir_ready) fprintf(stderr, "labbook: cannot write %s\n", path);
            r->status = 1;
        }
        free(bytes);
    }
}

static shown *find_id(run_ctx *r, const char *id)
{
    for (size_t i = 0; id && i < r->n_ids; i++)
        if (strcmp(r->ids[i].id, id) == 0) return &r->ids[i];
    return NULL;
}

static void print_text(run_ctx *r, const char *text)
{
    if (!text || !*text) return;
    end_line(r);
    fputs(text, stdout);
    if (text[strlen(text) - 1] != '\n') fputc('\n', stdout);
}

static bool one_line(const char *text)
{
    return text && *text && !strchr(text, '\n') && !strchr(text, '\r');
}

static void show(run_ctx *r, json_t *data, const char *display_id, bool update)
{
    if (!json_is_object(data)) return;
    const char *text = json_string_value(json_object_get(data, "text/plain"));
    shown *sh = find_id(r, display_id);
    long idx = sh ? (long)(sh - r->ids) : -1;
    char saved[8192] = "";
    if (update && sh) {
        save_files(r, data, sh->num, saved, sizeof saved);   /* the files end in the last state */
        if (r->tty && one_line(text)) {
            if (!r->dangling || r->dangling_idx != idx) end_line(r);
            fprintf(stdout, "\r\033[K%s", text);   /* redraw in place */
            fflush(stdout);
            r->dangling = true;
            r->dangling_idx = idx;
        } else {
            free(sh->pending);
            sh->pending = text ? strdup(text) : NULL;
        }
        return;
    }
    flush_pending(r);
    int num = ++r->counter;
    if (display_id && !sh && r->n_ids < 100000) {
        if (r->n_ids == r->cap_ids) {
            size_t cap = r->cap_ids ? r->cap_ids * 2 : 8;
            shown *n = realloc(r->ids, cap * sizeof *n);
            if (n) {
                r->ids = n;
                r->cap_ids = cap;
            }
        }
        if (r->n_ids < r->cap_ids && (r->ids[r->n_ids].id = strdup(display_id))) {
            r->ids[r->n_ids].num = num;
            r->ids[r->n_ids].pending = NULL;
            idx = (long)r->n_ids++;
        }
    } else if (sh)
        sh->num = num;
    save_files(r, data, num, saved, sizeof saved);
    if (r->tty && idx >= 0 && !saved[0] && one_line(text)) {
        end_line(r);
        fputs(text, stdout);   /* left open: an update redraws this line */
        r->dangling = true;
        r->dangling_idx = idx;
    } else {
        print_text(r, text);
        if (saved[0]) {
            end_line(r);
            fprintf(stdout, "[saved %s]\n", saved);
        }
    }
    if (r->tty) fflush(stdout);
}

/* ---- lb_output callbacks --------------------------------------------------------------- */

/* At safe points: lets buffered stdout out at most every 50 ms (stdout to a pipe or file is
 * line-buffered anyway: see run_script; this covers text left without its newline). */
static void r_flush(void *ctx)
{
    run_ctx *r = ctx;
    long long now = (long long)(lb_now() * 1000);
    if (now - r->last_flush_ms >= 50) {
        fflush(stdout);
        r->last_flush_ms = now;
    }
}

static void r_stream(void *ctx, lb_stream which, const char *text, size_t len)
{
    run_ctx *r = ctx;
    flush_pending(r);
    end_line(r);
    if (which == LB_STDERR) {
        fflush(stdout);
        fwrite(text, 1, len, stderr);
        fflush(stderr);
    } else {
        fwrite(text, 1, len, stdout);
        if (r->tty) fflush(stdout);
    }
}

static void r_display(void *ctx, json_t *data, json_t *metadata, const char *display_id, bool update)
{
    (void)metadata;
    show(ctx, data, display_id, update);
}

static void r_result(void *ctx, json_t *data, json_t *metadata)
{
    (void)metadata;
    show(ctx, data, NULL, false);
}

static void r_clear(void *ctx, bool wait)
{
    (void)ctx;
    (void)wait;   /* a log keeps everything */
}

static void r_page(void *ctx, json_t *data)
{
    run_ctx *r = ctx;
    flush_pending(r);
    print_text(r, json_string_value(json_object_get(data, "text/plain")));
}

static char *r_ask(void *ctx, const char *prompt, bool password, lb_error *err)
{
    run_ctx *r = ctx;
    flush_pending(r);
    end_line(r);
    fputs(prompt ? prompt : "", stdout);
    fflush(stdout);
    struct termios old, quiet;
    bool noecho = password && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (noecho) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (noecho) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stdout);
    }
    if (n < 0) {
        free(line);
        if (lb_interrupt_pending())
            lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
        else
            lb_error_set(err, "EOFError", 0, 0, "end of input while reading a line");
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    return line;
}

/* ---- running ----------------------------------------------------------------------------- */

static void on_sigint(int sig)
{
    (void)sig;
    lb_interrupt_request();   /* SA_RESETHAND: a second Ctrl-C kills the process */
}

static char *read_file(const char *path, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, n, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, n, "cannot read %s", path);
        return NULL;
    }
    if (memchr(buf, '\0', len)) {
        free(buf);
        snprintf(err, n, "%s is not a text file (it contains NUL bytes)", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static char *default_out_dir(const char *path)
{
    size_t l = strlen(path);
    if (l > 4 && strcmp(path + l - 4, ".lab") == 0) l -= 4;
    char *d = malloc(l + 5);
    if (!d) return NULL;
    memcpy(d, path, l);
    memcpy(d + l, "_out", 5);
    return d;
}

int lb_run_script(const char *path, const char *out_dir)
{
    /* The Ctrl-C handler comes first, before any work: a SIGINT at any moment from here on
     * interrupts the script at its first safe point (none is lost to the default action
     * while the file is read or the interpreter set up). */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);

    char err_text[512];
    char *code = read_file(path, err_text, sizeof err_text);
    if (!code) {
        sigaction(SIGINT, &old, NULL);
        fprintf(stderr, "labbook: %s\n", err_text);
        return 1;
    }
    char *def = out_dir ? NULL : default_out_dir(path);
    run_ctx r = {.out_dir = out_dir ? out_dir : def, .tty = isatty(STDOUT_FILENO), .dangling_idx = -1};
    /* stdout to a file or pipe: out line by line, so that what was printed before a crash (a
     * plugin's fault, the OOM killer) is not lost in a buffer */
    if (!r.tty)
        setvbuf(stdout, NULL, _IOLBF, 0);
    if (!r.out_dir) {
        sigaction(SIGINT, &old, NULL);
        free(code);
        fprintf(stderr, "labbook: out of memory\n");
        return 1;
    }
    lb_output out = {.ctx = &r, .stream = r_stream, .display = r_display, .result = r_result,
                     .clear = r_clear, .page = r_page, .ask = r_ask, .flush = r_flush};
    lb_interp *in = lb_labbook_new(&out);
    if (!in) {
        sigaction(SIGINT, &old, NULL);
        free(code);
        free(def);
        fprintf(stderr, "labbook: out of memory\n");
        return 1;
    }

    lb_error err = {0};
    int rc = lb_interp_execute(in, code, true, &err);
    flush_pending(&r);
    end_line(&r);
    fflush(stdout);
    int status = r.status;
    if (rc != 0) {
        if (!lb_error_is_set(&err)) lb_error_set(&err, "Error", 0, 0, "the script failed");
        char *tb = lb_error_format(&err, code, path);
        fprintf(stderr, "%s", tb ? tb : err.evalue);
        if (tb && *tb && tb[strlen(tb) - 1] != '\n') fputc('\n', stderr);
        free(tb);
        status = 1;
    }
    sigaction(SIGINT, &old, NULL);
    lb_error_clear(&err);
    lb_interp_free(in);
    for (size_t i = 0; i < r.n_ids; i++) {
        free(r.ids[i].id);
        free(r.ids[i].pending);
    }
    free(r.ids);
    free(code);
    free(def);
    return status;
}
