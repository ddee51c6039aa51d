/* plugin_cell.c — `%%plugin NAME` cells (spec/plugin-abi.md §10, spec/language.md): the rest of
 * the cell is C against labbook_plugin.h. It is compiled with the system C compiler into a
 * per-kernel temporary directory; a forked child process then loads it and, for every type it
 * registers, builds the type, runs forward and backward on a random input and compares the
 * gradients with finite differences (lb_gradcheck_model). Only when the child reports success
 * is the plugin loaded into the kernel, in place of an earlier plugin of the same name
 * (lb_plugin_replace). A compiler error, a crash, a hang or a gradient mismatch leaves the
 * kernel and every variable as they were. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "lang/interp.h"
#include "lang/interp_state.h"
#include "host/plugin_impl.h"
#include "base/strbuf.h"

extern char **environ;

#ifndef LB_SOURCE_DIR
#define LB_SOURCE_DIR "."
#endif

/* The public header, built into the kernel, so that a cell is always compiled against the ABI
 * of the kernel that loads it (whatever is installed, or not, on disk). */
extern const char lb_cell_header_start[], lb_cell_header_end[];
__asm__(".pushsection .rodata\n"
        ".global lb_cell_header_start\n.hidden lb_cell_header_start\n"
        ".global lb_cell_header_end\n.hidden lb_cell_header_end\n"
        "lb_cell_header_start:\n"
        ".incbin \"" LB_SOURCE_DIR "/plugins/labbook_plugin.h\"\n"
        "lb_cell_header_end:\n"
        ".byte 0\n"
        ".popsection\n");

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_TIMEOUT_DEFAULT 120.0
#else
#define CHECK_TIMEOUT_DEFAULT 30.0
#endif
#define COMPILE_TIMEOUT 120.0

/* ---- the cell's first line -------------------------------------------------------------------- */

/* Start of the first non-blank line (blank: spaces, tabs, \r only). */
static const char *first_line(const char *code, int *lineno)
{
    const char *p = code;
    int ln = 1;
    for (;;) {
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (*q != '\n')
            break;
        p = q + 1;
        ln++;
    }
    *lineno = ln;
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

typedef struct {
    char name[128];
    double timeout;      /* seconds for each stage of the check process */
    bool check;          /* compare gradients (crash and hang checks run regardless) */
    char cflags[512];
    int header_line;     /* 1-based line of %%plugin */
    const char *body;    /* the C code after the first line */
} cell_opts;

static int header_error(lb_error *err, int line, int col, const char *fmt, const char *arg)
{
    lb_error_set(err, "SyntaxError", line, col, fmt, arg);
    return -1;
}

static int parse_header(const char *code, cell_opts *o, lb_error *err)
{
    memset(o, 0, sizeof *o);
    o->timeout = CHECK_TIMEOUT_DEFAULT;
    o->check = true;
    const char *start = first_line(code, &o->header_line);
    const char *eol = strchr(start, '\n');
    o->body = eol ? eol + 1 : start + strlen(start);
    const char *lstart = start; /* for columns */
    while (lstart > code && lstart[-1] != '\n')
        lstart--;
    const char *p = start + 8;
    const char *end = eol ? eol : start + strlen(start);
    const char *usage = "%s; usage: %%%%plugin NAME [timeout=SECONDS] [check=false] [cflags=\"...\"]";
    while (p < end && isspace((unsigned char)*p))
        p++;
    const char *n0 = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    if (p == n0 || isdigit((unsigned char)*n0) || (size_t)(p - n0) >= sizeof o->name)
        return header_error(err, o->header_line, (int)(n0 - lstart) + 1, usage,
                            "%%plugin needs the plugin's name (an identifier)");
    memcpy(o->name, n0, (size_t)(p - n0));
    while (p < end) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end)
            break;
        const char *k0 = p;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
        char key[32] = "";
        if (p - k0 > 0 && (size_t)(p - k0) < sizeof key)
            memcpy(key, k0, (size_t)(p - k0));
        if (!key[0] || p >= end || *p != '=')
            return header_error(err, o->header_line, (int)(k0 - lstart) + 1, usage,
                                "expected key=value after the plugin's name");
        p++;
        char val[512] = "";
        size_t vn = 0;
        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"' && vn + 1 < sizeof val)
                val[vn++] = *p++;
            if (p >= end)
                return header_error(err, o->header_line, (int)(k0 - lstart) + 1, usage,
                                    "unterminated string");
            p++;
        } else {
            while (p < end && !isspace((unsigned char)*p) && vn + 1 < sizeof val)
                val[vn++] = *p++;
        }
        val[vn] = '\0';
        int col = (int)(k0 - lstart) + 1;
        if (strcmp(key, "timeout") == 0) {
            char *e = NULL;
            double t = strtod(val, &e);
            if (!val[0] || *e || !(t > 0) || t > 3600)
                return header_error(err, o->header_line, col, usage,
                                    "timeout must be a number of seconds in (0, 3600]");
            o->timeout = t;
        } else if (strcmp(key, "check") == 0) {
            if (strcmp(val, "true") && strcmp(val, "false"))
                return header_error(err, o->header_line, col, usage, "check must be true or false");
            o->check = strcmp(val, "true") == 0;
        } else if (strcmp(key, "cflags") == 0) {
            snprintf(o->cflags, sizeof o->cflags, "%s", val);
        } else {
            char msg[96];
            snprintf(msg, sizeof msg, "unknown option '%s'", key);
            return header_error(err, o->header_line, col, usage, msg);
        }
    }
    return 0;
}

/* ---- the per-kernel directory --------------------------------------------------------------------- */

static int write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    bool ok = fwrite(data, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

static const char *cell_dir(lb_registry *reg, lb_error *err)
{
    if (reg->cell_dir)
        return reg->cell_dir;
    const char *tmp = getenv("TMPDIR");
    char *d = NULL;
    if (asprintf(&d, "%s/labbook-plugins-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
        lb_oom(err);
        return NULL;
    }
    if (!mkdtemp(d)) {
        lb_error_set(err, "PluginError", 0, 0, "cannot create a directory for compiled cells (%s): %s",
                     d, strerror(errno));
        free(d);
        return NULL;
    }
    char *h = NULL;
    if (asprintf(&h, "%s/labbook_plugin.h", d) < 0 ||
        write_file(h, lb_cell_header_start, (size_t)(lb_cell_header_end - lb_cell_header_start)) < 0) {
        lb_error_set(err, "PluginError", 0, 0, "cannot write %s: %s", h ? h : d, strerror(errno));
        free(h);
        rmdir(d);
        free(d);
        return NULL;
    }
    free(h);
    reg->cell_dir = d;
    return d;
}

void lb_plugin_cell_cleanup(lb_registry *reg)
{
    if (!reg || !reg->cell_dir)
        return;
    DIR *d = opendir(reg->cell_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *f = NULL;
        if (asprintf(&f, "%s/%s", reg->cell_dir, e->d_name) >= 0)
            unlink(f);
        free(f);
    }
    if (d)
        closedir(d);
    rmdir(reg->cell_dir);
    free(reg->cell_dir);
    reg->cell_dir = NULL;
}

/* ---- compiling ---------------------------------------------------------------------------------------- */

/* Reads a child's output from fd into out until EOF (0), the deadline (-2), an interrupt (-3)
 * or a read error (0); text past `limit` bytes is read and dropped. The deadline is `timeout`
 * seconds after the start or, with per_stage, after the last complete line "S ..." (the check
 * process announcing its next stage): each stage gets the whole timeout, so a slow load or
 * build on a busy machine does not eat into the time of the stage after it. */
static int read_child_output(int fd, double timeout, bool per_stage, size_t limit, lb_strbuf *out)
{
    double deadline = lb_now() + timeout;
    size_t scanned = 0; /* out->buf[0, scanned) holds only complete lines already looked at */
    for (;;) {
        if (lb_interrupt_pending())
            return -3;
        double left = deadline - lb_now();
        if (left <= 0)
            return -2;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left < 0.1 ? (int)(left * 1000) + 1 : 100);
        if (pr < 0 && errno != EINTR)
            return 0;
        if (pr <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (out->len < limit)
            lb_sb_addn(out, chunk, (size_t)n);
        if (!per_stage || !out->buf)
            continue;
        for (char *nl; scanned < out->len && (nl = memchr(out->buf + scanned, '\n', out->len - scanned));) {
            if (out->buf[scanned] == 'S' && out->buf[scanned + 1] == ' ')
                deadline = lb_now() + timeout;
            scanned = (size_t)(nl - out->buf) + 1;
        }
    }
}

/* Runs argv with stdout+stderr into *out (malloc'd). Returns the exit status (>= 0), -2 on a
 * timeout, -3 when interrupted, -1 when it cannot run (*out has the reason). */
static int run_capture(char *const argv[], double timeout, char **out)
{
    *out = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        if (asprintf(out, "pipe: %s", strerror(errno)) < 0)
            *out = NULL;
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&at);
    posix_spawnattr_setpgroup(&at, 0); /* its own group: a timeout kills cc1, as and ld too */
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        if (asprintf(out, "cannot run %s: %s (set LABBOOK_CC to a C compiler)", argv[0],
                     strerror(rc)) < 0)
            *out = NULL;
        return -1;
    }
    lb_strbuf out_text = {0};
    int result = read_child_output(fds[0], timeout, false, 256 * 1024, &out_text);
    close(fds[0]);
    if (result < 0)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    *out = lb_sb_take(&out_text);
    if (result < 0)
        return result;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The first "cell:LINE:COL: error" of the compiler's output. */
static void first_error_place(const char *msg, int *line, int *col)
{
    *line = *col = 0;
    for (const char *p = msg; p && (p = strstr(p, "cell:")); p++) {
        if (p != msg && p[-1] != '\n' && p[-1] != ' ')
            continue;
        int l = 0, c = 0, n = 0;
        if (sscanf(p, "cell:%d:%d: %n", &l, &c, &n) == 2 && n > 0 &&
            (strncmp(p + n, "error", 5) == 0 || strncmp(p + n, "fatal error", 11) == 0)) {
            *line = l;
            *col = c;
            return;
        }
    }
}

static void trim_end(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* Writes the cell's C file and compiles it; *so_out receives the library's path. */
static int compile_cell(lb_interp *in, const cell_opts *o, char **so_out, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    const char *dir = cell_dir(reg, err);
    if (!dir)
        return -1;
    unsigned k = ++reg->ncells;
    char *src = NULL, *so = NULL, *text = NULL;
    if (asprintf(&src, "%s/%s-%u.c", dir, o->name, k) < 0 ||
        asprintf(&so, "%s/%s-%u.so", dir, o->name, k) < 0) {
        free(src);
        return lb_oom(err);
    }
    bool has_magic = strstr(o->body, "LBP_MODULE_MAGIC") != NULL;
    size_t blen = strlen(o->body);
    char magic[300] = "";
    if (!has_magic)
        snprintf(magic, sizeof magic,
                 "#line %d \"cell\"\nLBP_MODULE_MAGIC(\"%s\", \"cell-%u\", \"compiled from a "
                 "%%%%plugin cell\");\n",
                 o->header_line, o->name, k);
    if (asprintf(&text,
                 "/* %%%%plugin %s, compiled by labbook */\n"
                 "#include \"labbook_plugin.h\"\n"
                 "#line %d \"cell\"\n"
                 "%s%s%s",
                 o->name, o->header_line + 1, o->body,
                 blen && o->body[blen - 1] != '\n' ? "\n" : "", magic) < 0) {
        free(src);
        free(so);
        return lb_oom(err);
    }
    if (write_file(src, text, strlen(text)) < 0) {
        lb_error_set(err, "PluginError", 0, 0, "cannot write %s: %s", src, strerror(errno));
        free(text);
        free(src);
        free(so);
        return -1;
    }
    free(text);
    const char *cc = getenv("LABBOOK_CC");
    char *argv[64];
    int a = 0;
    argv[a++] = (char *)(cc && *cc ? cc : "cc");
    const char *fixed[] = {"-std=gnu11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall",
                           "-fdiagnostics-color=never", "-fno-diagnostics-show-caret", "-I"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        argv[a++] = (char *)fixed[i];
    argv[a++] = (char *)dir;
    char flags[sizeof o->cflags];
    snprintf(flags, sizeof flags, "%s", o->cflags);
    for (char *tok = strtok(flags, " \t"); tok && a < 56; tok = strtok(NULL, " \t"))
        argv[a++] = tok;
    argv[a++] = "-o";
    argv[a++] = so;
    argv[a++] = src;
    argv[a++] = "-lm";
    argv[a] = NULL;
    char *msg = NULL;
    int rc = run_capture(argv, COMPILE_TIMEOUT, &msg);
    trim_end(msg);
    if (rc == -3) {
        lb_error_set(err, "Interrupted", 0, 0, "interrupted while compiling plugin %s", o->name);
    } else if (rc == -2) {
        lb_error_set(err, "CompileError", 0, 0, "compiling plugin %s took more than %.0f s",
                     o->name, COMPILE_TIMEOUT);
    } else if (rc == -1) {
        lb_error_set(err, "CompileError", 0, 0, "%s", msg ? msg : "cannot run the C compiler");
    } else if (rc != 0) {
        int line = 0, col = 0;
        first_error_place(msg, &line, &col);
        lb_error_set(err, "CompileError", line, col, "plugin %s does not compile (%s exited with "
                     "status %d):\n%s", o->name, argv[0], rc, msg && *msg ? msg : "(no message)");
    } else if (msg && *msg) {
        /* warnings: shown, not fatal */
        lb_emit_stream(in, LB_STDERR, msg, strlen(msg));
        lb_emit_stream(in, LB_STDERR, "\n", 1);
    }
    free(msg);
    free(src);
    if (rc != 0) {
        unlink(so);
        free(so);
        return -1;
    }
    *so_out = so;
    return 0;
}

/* ---- the check process ------------------------------------------------------------------------------ */

static int g_check_fd = -1;

static void child_say(char kind, const char *text)
{
    char line[1200];
    int n = snprintf(line, sizeof line, "%c %s", kind, text);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    for (int i = 2; i < n; i++)
        if (line[i] == '\n')
            line[i] = '\x1f'; /* one message per line; restored by the parent */
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(g_check_fd, line + off, (size_t)(n - off));
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (int)w;
    }
}

typedef struct {
    char type[128];
} stage_ctx;

static void child_stage(void *vctx, const char *what)
{
    stage_ctx *c = vctx;
    char buf[600];
    snprintf(buf, sizeof buf, "%s\x1e%s", c->type, what);
    child_say('S', buf);
}

/* The labbook call that builds type t for the check: TYPE() when every parameter has a
 * default, else the first TYPE(...) of its example. */
static char *check_call(const lbp_type *t, char *why, size_t whylen)
{
    const char *missing = NULL;
    for (const lbp_param *p = t->params; p && p->name; p++)
        if (!p->def) {
            missing = p->name;
            break;
        }
    char *s = NULL;
    if (!missing) {
        if (asprintf(&s, "%s()", t->name) < 0)
            return NULL;
        return s;
    }
    size_t nl = strlen(t->name);
    for (const char *p = t->example; p && (p = strstr(p, t->name)); p++) {
        if (p != t->example && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        if (p[nl] != '(')
            continue;
        int depth = 0;
        const char *q = p + nl;
        for (; *q; q++) {
            if (*q == '(')
                depth++;
            else if (*q == ')' && --depth == 0)
                break;
        }
        if (*q == ')')
            return strndup(p, (size_t)(q - p + 1));
    }
    snprintf(why, whylen,
             "parameter '%s' has no default and the type's example shows no call %s(...) to "
             "build it with",
             missing, t->name);
    return NULL;
}

/* What the check has seen so far, for its closing line. */
typedef struct check_tally {
    int ntypes;             /* the plugin's types */
    int ncompared;          /* of them, gradients compared with finite differences */
    int nchecked, nskipped; /* entries compared, skipped */
    double worst;           /* the worst relative difference, and the type it is in */
    char worst_type[128];
} check_tally;

/* Loads the cell's plugin from so in place of any older one; NULL (the error said) when it
 * cannot load or its LBP_MODULE_MAGIC names another plugin than the %%plugin line. */
static lbp_plugin *check_load(lb_interp *in, const cell_opts *o, const char *so, lb_error *e)
{
    char msg[1100];
    if (lb_plugin_replace(in, o->name, so, e) < 0) {
        snprintf(msg, sizeof msg, "%s\t%s", e->ename, e->evalue ? e->evalue : "cannot load");
        child_say('E', msg);
        return NULL;
    }
    lb_registry *reg = lb_interp_registry(in);
    char *real = realpath(so, NULL);
    lbp_plugin *p = NULL;
    for (size_t i = 0; reg && real && i < reg->n; i++)
        if (strcmp(reg->plugins[i]->path, real) == 0)
            p = reg->plugins[i];
    free(real);
    if (!p || strcmp(p->name, o->name) != 0) {
        snprintf(msg, sizeof msg,
                 "PluginError\tthe cell's LBP_MODULE_MAGIC names plugin '%s' but its %%%%plugin "
                 "line says '%s' (leave LBP_MODULE_MAGIC out and labbook writes one)",
                 p ? p->name : "?", o->name);
        child_say('E', msg);
        return NULL;
    }
    return p;
}

/* Builds type t as the model __lb_check (seed 1) with check_call's call, which *callp gets
 * (malloc'd); NULL when the check must stop (the error said, if there is one to say). */
static lb_model *check_build(lb_interp *in, const lbp_type *t, stage_ctx *sc, lb_error *e,
                             char **callp)
{
    char msg[1100];
    char why[300] = "";
    char *call = check_call(t, why, sizeof why);
    if (!call) {
        snprintf(msg, sizeof msg, "GradientCheckError\tcannot check type %s: %s", t->name,
                 why[0] ? why : "out of memory");
        child_say('E', msg);
        return NULL;
    }
    char *src = NULL;
    if (asprintf(&src, "model __lb_check = %s seed=1", call) < 0) {
        free(call);
        return NULL;
    }
    char what[300];
    snprintf(what, sizeof what, "building %s", call);
    child_stage(sc, what);
    lb_error_clear(e);
    int rc = lb_interp_execute(in, src, false, e);
    free(src);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "GradientCheckError\tcannot check type %s: building %s "
                 "failed: %s: %s", t->name, call, e->ename, e->evalue ? e->evalue : "?");
        free(call);
        child_say('E', msg);
        return NULL;
    }
    lb_model *m = lb_model_from_value(lb_interp_get(in, "__lb_check"));
    if (!m) {
        free(call);
        return NULL;
    }
    *callp = call;
    return m;
}

/* Batch sizes the type runs at besides the gradient check's 2: a plugin that indexes past its
 * input at batch 1, 3 (odd) or a realistic 64 crashes here, in the check process, and not later
 * in the kernel during `train`; evaluation mode too (batch statistics, dropout differ). */
static int other_batches(lb_model *m, const cell_opts *o, const lbp_type *t, stage_ctx *sc, lb_error *e)
{
    static const struct { int batch, training; } runs[] = {{1, 1}, {3, 1}, {64, 1}, {1, 0}, {64, 0}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        lb_gradcheck gc = {.training = runs[i].training, .batch = runs[i].batch, .seed = 99 + i, .run_only = 1,
                           .stage = child_stage, .ctx = sc};
        lb_gradcheck_result res;
        lb_error_clear(e);
        if (lb_gradcheck_model(m, &gc, &res, e) < 0 && t->kind == LBP_KIND_LAYER && o->check) {
            char msg[1100];
            snprintf(msg, sizeof msg, "GradientCheckError\ttype %s fails at batch %d (%s mode): %s", t->name,
                     runs[i].batch, runs[i].training ? "training" : "evaluation", e->evalue ? e->evalue : "?");
            child_say('E', msg);
            return -1;
        }
    }
    return 0;
}

/* The type built again on an input whose spatial sizes are odd and unequal (the default's
 * [C, H, W] as [C, H + 1, W + 3]) and run at batch 3: a type that assumes square or even sizes
 * and reads past its input crashes here, in the check process. A clean refusal to build or run
 * on that shape is the type's right and is not held against it. */
static void other_shape(lb_interp *in, stage_ctx *sc, lb_error *e, const char *call, lb_model *m)
{
    int64_t shp[LB_MAXDIM];
    int nd = lb_model_ninputs(m) == 1 ? lb_model_input_shape_at(m, 0, shp) : 0;
    if (nd < 2)
        return; /* [features]: another width is another layer */
    lb_strbuf src = {0};
    lb_sb_printf(&src, "model __lb_check2 = %s seed=1 input=[", call);
    for (int d = 0; d < nd; d++)
        lb_sb_printf(&src, "%s%lld", d ? ", " : "", (long long)(shp[d] + (d == 0 ? 0 : 2 * d - 1)));
    lb_sb_printf(&src, "]");
    char *text = lb_sb_take(&src);
    if (!text)
        return;
    char what[400];
    snprintf(what, sizeof what, "building %s", strstr(text, "= ") ? strstr(text, "= ") + 2 : text);
    child_stage(sc, what);
    lb_error_clear(e);
    int rc = lb_interp_execute(in, text, false, e);
    free(text);
    lb_model *m2 = rc == 0 ? lb_model_from_value(lb_interp_get(in, "__lb_check2")) : NULL;
    if (m2) {
        lb_gradcheck gc = {.training = 1, .batch = 3, .seed = 77, .run_only = 1, .stage = child_stage, .ctx = sc};
        lb_gradcheck_result res;
        lb_error_clear(e);
        lb_gradcheck_model(m2, &gc, &res, e);
        lb_interp_del(in, "__lb_check2");
    }
    lb_error_clear(e);
}

/* Checks one type of the plugin: built, run forward and backward and, for a layer type when
 * the cell asks for the check, its gradients compared with finite differences (counted in
 * *tl). -1 when the check must stop (the error said). */
static int check_type(lb_interp *in, const cell_opts *o, const lbp_type *t, stage_ctx *sc,
                      lb_error *e, check_tally *tl)
{
    char msg[1100];
    snprintf(sc->type, sizeof sc->type, "%s", t->name);
    char *call = NULL;
    lb_model *m = check_build(in, t, sc, e, &call);
    if (!m)
        return -1;
    lb_gradcheck gc = {.training = 1, .seed = 1234, .stage = child_stage, .ctx = sc};
    lb_gradcheck_result res;
    lb_error_clear(e);
    bool compare = o->check && t->kind == LBP_KIND_LAYER; /* model types: their layers are */
    if (!compare) {
        /* forward and backward only (crashes and hangs), no comparison */
        gc.samples = 1;
        gc.tol = 1e300;
    }
    int rc = lb_gradcheck_model(m, &gc, &res, e);
    if (rc < 0 && !compare) {
        /* a model type (or check=false) that cannot run on a N(0, 1) input, e.g. one that
         * takes token ids: built, nothing crashed; not an error */
        free(call);
        lb_interp_del(in, "__lb_check");
        return 0;
    }
    if (rc < 0) {
        snprintf(msg, sizeof msg, "GradientCheckError\tcannot check type %s (%s): %s (a type "
                 "that cannot run on a random N(0, 1) input of its default shape needs "
                 "`%%%%plugin %s check=false`)", t->name, call, e->evalue ? e->evalue : "?",
                 o->name);
        free(call);
        child_say('E', msg);
        return -1;
    }
    if (rc == 1) {
        bool input = strncmp(res.tensor, "input", 5) == 0; /* "input", or "input a" (named) */
        snprintf(msg, sizeof msg,
                 "GradientCheckError\ttype %s: the gradient of %s%s does not match finite "
                 "differences: worst relative difference %.3g at %s%s (backward gives %.6g, "
                 "finite differences %.6g; checked %s on a random input, training mode)",
                 t->name, input ? "the input" : "parameter ", input ? "" : res.tensor,
                 res.worst, input ? (res.tensor[5] ? res.tensor + 6 : "x") : res.tensor, res.index, res.analytic, res.numeric, call);
        free(call);
        child_say('E', msg);
        return -1;
    }
    if (other_batches(m, o, t, sc, e) < 0) {
        free(call);
        return -1;
    }
    other_shape(in, sc, e, call, m);
    free(call);
    if (!compare) {
        lb_interp_del(in, "__lb_check");
        return 0;
    }
    tl->ncompared++;
    tl->nchecked += res.checked;
    tl->nskipped += res.skipped;
    if (res.worst >= tl->worst) {
        tl->worst = res.worst;
        snprintf(tl->worst_type, sizeof tl->worst_type, "%s", t->name);
    }
    lb_interp_del(in, "__lb_check");
    return 0;
}

/* The check process: loads the plugin and checks each of its types, telling the parent on the
 * pipe how it goes (S a stage, E an error, R the closing line). */
static void check_child(lb_interp *in, const cell_opts *o, const char *so)
{
    char msg[1100];
    lb_interp_set_output(in, NULL);
    setenv("LABBOOK_PLUGIN_SCAN", "0", 1); /* this process is the scan */
    lb_value *fresh = lb_map_new();
    if (fresh) /* the user's variables must not hide the types the check builds; the old map is
                  not freed here (this process only ends with _exit) */
        in->globals = fresh;
    stage_ctx sc = {""}; /* no type yet: the plugin's own init */
    child_stage(&sc, "loading (its lbp_init)");
    lb_error e = {0};
    lbp_plugin *p = check_load(in, o, so, &e);
    if (!p)
        return;
    lb_registry *reg = lb_interp_registry(in);
    check_tally tl = {0};
    for (size_t i = 0; i < reg->ntypes; i++) {
        type_rec *r = reg->types[i];
        if (r->dead || r->p != p)
            continue;
        tl.ntypes++;
        if (check_type(in, o, r->t, &sc, &e, &tl) < 0)
            return;
    }
    int ntypes = tl.ntypes, ncompared = tl.ncompared;
    if (ntypes == 0)
        snprintf(msg, sizeof msg, "registers no type: nothing to check");
    else if (ncompared == 0)
        snprintf(msg, sizeof msg, "%d type%s built and run forward and backward (%s)", ntypes,
                 ntypes == 1 ? "" : "s",
                 o->check ? "model types: gradients not compared" : "check=false: gradients not compared");
    else
        snprintf(msg, sizeof msg,
                 "gradients of %d type%s match finite differences (%d entries, worst relative "
                 "difference %.1e in %s)%s",
                 ncompared, ncompared == 1 ? "" : "s", tl.nchecked, tl.worst,
                 tl.worst_type[0] ? tl.worst_type : "-",
                 ncompared < ntypes ? "; model types built and run" : "");
    child_say('R', msg);
}

/* Runs the check in a child; 0 with *summary (malloc'd) or -1 with *err. */
static int run_check(lb_interp *in, const cell_opts *o, const char *so, char **summary, lb_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return lb_error_set(err, "PluginError", 0, 0, "cannot create a pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return lb_error_set(err, "PluginError", 0, 0, "cannot fork the check process: %s",
                            strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        g_check_fd = fds[1];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* its own name: ps (and the tests) tell it from the compiler's processes, which carry
         * the kernel's name for a moment between posix_spawn's clone and exec */
        prctl(PR_SET_NAME, "labbook-check");
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        /* a crash is the plugin's, reported by the parent: no sanitizer report from here */
        const int crash[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
        for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
            signal(crash[i], SIG_DFL);
        lb_fault_disable(); /* a crash here must end this process: the parent reports it */
        signal(SIGINT, SIG_IGN); /* the parent decides (and kills this process) */
        signal(SIGTERM, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        check_child(in, o, so);
        _exit(0);
    }
    close(fds[1]);
    lb_strbuf out_text = {0};
    /* 0 EOF, -2 timeout (of one stage), -3 interrupted */
    int outcome = read_child_output(fds[0], o->timeout, true, SIZE_MAX, &out_text);
    close(fds[0]);
    if (outcome < 0)
        kill(pid, SIGKILL);
    int status = 0;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    char *buf = lb_sb_take(&out_text);
    /* the last stage and the result */
    char stage_type[128] = "", stage_what[400] = "", *result = NULL;
    char kind = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* a partial line: the child died while writing */
        *nl = '\0';
        for (char *q = line; *q; q++)
            if (*q == '\x1f')
                *q = '\n';
        if (line[0] == 'S' && line[1] == ' ') {
            char *sep = strchr(line + 2, '\x1e');
            if (sep) {
                *sep = '\0';
                snprintf(stage_type, sizeof stage_type, "%s", line + 2);
                snprintf(stage_what, sizeof stage_what, "%s", sep + 1);
            }
        } else if ((line[0] == 'R' || line[0] == 'E') && line[1] == ' ') {
            kind = line[0];
            result = line + 2;
        }
        line = nl + 1;
    }
    int rc = -1;
    if (outcome == -3) {
        lb_error_set(err, "Interrupted", 0, 0,
                     "interrupted while checking plugin %s; it was not loaded", o->name);
    } else if (outcome == -2) {
        lb_error_set(err, "PluginError", 0, 0,
                     "plugin %s: %s%s did not finish %s within %g s in the check process "
                     "(killed: an endless loop?); the plugin was not loaded (your variables are "
                     "intact; a slow type may need `%%%%plugin %s timeout=SECONDS`)",
                     o->name, stage_type[0] ? "type " : "it", stage_type,
                     stage_what[0] ? stage_what : "its check", o->timeout, o->name);
    } else if (kind == 'R') {
        *summary = strdup(result);
        rc = 0;
    } else if (kind == 'E') {
        char *tab = strchr(result, '\t');
        if (tab) {
            *tab = '\0';
            lb_error_set(err, result, 0, 0, "plugin %s: %s; the plugin was not loaded", o->name,
                         tab + 1);
        } else {
            lb_error_set(err, "PluginError", 0, 0, "plugin %s: %s", o->name, result);
        }
    } else {
        char how[128];
        if (w == pid && WIFSIGNALED(status))
            snprintf(how, sizeof how, "crashed (%s)", strsignal(WTERMSIG(status)));
        else if (w == pid && WIFEXITED(status))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        else
            snprintf(how, sizeof how, "died");
        lb_error_set(err, "PluginError", 0, 0,
                     "plugin %s: %s%s %s in the check process during: %s; the plugin was not "
                     "loaded into the kernel (your variables are intact)",
                     o->name, stage_type[0] ? "type " : "it", stage_type, how,
                     stage_what[0] ? stage_what : "loading");
    }
    free(buf);
    return rc;
}

/* ---- the cell ------------------------------------------------------------------------------------------- */

int lb_plugin_cell_execute(lb_interp *in, const char *code, lb_error *err)
{
    lb_registry *reg = lb_interp_registry(in);
    if (!reg)
        return lb_error_set(err, "PluginError", 0, 0, "plugins are not available");
    cell_opts o;
    if (parse_header(code, &o, err) < 0)
        return -1;
    char *so = NULL;
    if (compile_cell(in, &o, &so, err) < 0)
        return -1;
    char *summary = NULL;
    int rc = run_check(in, &o, so, &summary, err);
    if (rc == 0) {
        /* the check passed: load it for real, in place of the earlier version */
        char *line = NULL;
        if (summary && asprintf(&line, "checked %s: %s\n", o.name, summary) >= 0)
            lb_emit_stream(in, LB_STDOUT, line, strlen(line));
        free(line);
        rc = lb_plugin_replace(in, o.name, so, err);
    }
    if (rc < 0)
        unlink(so); /* nothing maps it */
    free(summary);
    free(so);
    return rc;
}
