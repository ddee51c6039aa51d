/* history.c — persisted history (see history.h). File format: one JSON object a line,
 *   {"session":S,"start":"DATE"}             a kernel claimed session S
 *   {"session":S,"line":L,"input":"..."}     cell L of session S started
 *   {"session":S,"line":L,"output":"..."}    cell L ended with this execute_result text
 * Every record is written with one write() on an O_APPEND descriptor, so records of
 * concurrent kernels interleave whole; a torn last line (crash mid-write) is skipped when
 * loading, and a later record glued onto a torn one is recovered. At start the file is only
 * scanned for the largest session number; records are parsed on the first query. */
#include "jupyter/history.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
    int session, line;
    char *input, *output;
} entry;

struct lb_history {
    entry *e;
    size_t n, cap;
    int session;
    int fd;          /* O_APPEND descriptor, -1 when in-memory only */
    bool loaded;     /* the records of earlier sessions have been parsed into e */
    off_t old_size;  /* bytes of the file that precede this session's claim */
};

/* ---- locations ------------------------------------------------------------------------- */

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

char *lb_jupyter_data_dir(void)
{
    const char *v = getenv("JUPYTER_DATA_DIR");
    if (v && *v) return strdup(v);
    v = getenv("XDG_DATA_HOME");
    if (v && *v) return join(v, "jupyter");
    v = getenv("HOME");
    if (!v || !*v) {
        struct passwd *pw = getpwuid(getuid());
        v = pw ? pw->pw_dir : NULL;
    }
    if (!v || !*v) return NULL;
    return join(v, ".local/share/jupyter");
}

char *lb_history_default_path(void)
{
    char *d = lb_jupyter_data_dir();
    if (!d) return NULL;
    char *p = join(d, "labbook/history.jsonl");
    free(d);
    return p;
}

/* mkdir -p of the directory part of path; the last level with `mode`. */
static int make_parent_dirs(const char *path)
{
    char *p = strdup(path);
    if (!p) return -1;
    char *slash = strrchr(p, '/');
    if (!slash || slash == p) {
        free(p);
        return 0;
    }
    *slash = '\0';
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = '\0';
        if (mkdir(p, 0755) && errno != EEXIST) {
            free(p);
            return -1;
        }
        *q = '/';
    }
    int rc = mkdir(p, 0700) && errno != EEXIST ? -1 : 0;   /* history may hold secrets */
    free(p);
    return rc;
}

/* ---- in-memory entries ----------------------------------------------------------------- */

static entry *push(lb_history *h, int session, int line)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        entry *ne = realloc(h->e, cap * sizeof *ne);
        if (!ne) return NULL;
        h->e = ne;
        h->cap = cap;
    }
    entry *e = &h->e[h->n++];
    e->session = session;
    e->line = line;
    e->input = e->output = NULL;
    return e;
}

static entry *find(lb_history *h, int session, int line)
{
    for (size_t i = h->n; i-- > 0;)   /* outputs follow their inputs closely */
        if (h->e[i].session == session && h->e[i].line == line) return &h->e[i];
    return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->session != y->session) return x->session < y->session ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Applies one record; returns 0, or -1 when it is not a valid record. */
static int apply_record(lb_history *h, json_t *r, int *max_session)
{
    json_t *s = json_object_get(r, "session");
    if (!json_is_integer(s)) return -1;
    int session = (int)json_integer_value(s);
    if (session > *max_session) *max_session = session;
    json_t *l = json_object_get(r, "line");
    if (!l) return 0;   /* a session claim */
    if (!json_is_integer(l)) return -1;
    int line = (int)json_integer_value(l);
    const char *in = json_string_value(json_object_get(r, "input"));
    const char *out = json_string_value(json_object_get(r, "output"));
    if (in) {
        entry *e = push(h, session, line);
        if (!e || !(e->input = strdup(in))) {
            if (e) h->n--;
            return -1;
        }
    } else if (out) {
        entry *e = find(h, session, line);
        if (e) {
            free(e->output);
            e->output = strdup(out);
        }
    } else
        return -1;
    return 0;
}

static void load_line(lb_history *h, const char *line, size_t len, int *max_session)
{
    if (len == 0) return;
    json_error_t jerr;
    json_t *r = json_loadb(line, len, 0, &jerr);
    if (!r || !json_is_object(r) || apply_record(h, r, max_session)) {
        json_decref(r);
        /* A record glued onto a torn one: parse from the last record start. */
        static const char start[] = "{\"session\":";
        const char *last = NULL;
        for (const char *p = line + 1; p + sizeof start - 1 <= line + len; p++)
            if (memcmp(p, start, sizeof start - 1) == 0) last = p;
        if (last) load_line(h, last, len - (size_t)(last - line), max_session);
        return;
    }
    json_decref(r);
}

/* Reads bytes [0, size) of the file into a malloc'd buffer; *got = bytes read. */
static char *read_prefix(int fd, size_t size, size_t *got)
{
    *got = 0;
    char *buf = malloc(size ? size : 1);
    if (!buf) return NULL;
    while (*got < size) {
        ssize_t r = pread(fd, buf + *got, size - *got, (off_t)*got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        *got += (size_t)r;
    }
    return buf;
}

/* The start-up scan: only the largest session number, without parsing JSON (every record
 * starts with {"session":N, the key jansson writes first). A larger number than needed
 * (from a torn record) is harmless. */
static int scan_max_session(const char *buf, size_t len)
{
    static const char key[] = "{\"session\":";
    const size_t kl = sizeof key - 1;
    int max = 0;
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        for (const char *q = p; q + kl < line_end; q++) {
            q = memchr(q, '{', (size_t)(line_end - q));
            if (!q || q + kl >= line_end) break;
            if (memcmp(q, key, kl) != 0) continue;
            long v = 0;
            const char *d = q + kl;
            while (d < line_end && *d >= '0' && *d <= '9' && v < 100000000) v = v * 10 + (*d++ - '0');
            if (v > max) max = (int)v;
        }
        p = line_end + 1;
    }
    return max;
}

/* Parses the records that precede this session (deferred until the first query, so that a
 * long history does not slow the kernel's start) and puts them before this session's. */
static void ensure_loaded(lb_history *h)
{
    if (h->loaded) return;
    h->loaded = true;
    if (h->fd < 0 || h->old_size <= 0) return;
    size_t got;
    char *buf = read_prefix(h->fd, (size_t)h->old_size, &got);
    if (!buf) return;
    lb_history old = {0};
    int max_session = 0;
    size_t start = 0;
    for (size_t i = 0; i < got; i++) {
        if (buf[i] != '\n') continue;
        load_line(&old, buf + start, i - start, &max_session);
        start = i + 1;
    }
    /* buf[start..got) is a torn last line (no newline): skipped. */
    free(buf);
    if (old.n > 1) qsort(old.e, old.n, sizeof *old.e, cmp_entry);
    if (old.n == 0) {
        free(old.e);
        return;
    }
    entry *all = realloc(old.e, (old.n + h->n) * sizeof *all);
    if (!all) {   /* out of memory: keep this session only */
        for (size_t i = 0; i < old.n; i++) {
            free(old.e[i].input);
            free(old.e[i].output);
        }
        free(old.e);
        return;
    }
    if (h->n) memcpy(all + old.n, h->e, h->n * sizeof *all);
    free(h->e);
    h->e = all;
    h->n += old.n;
    h->cap = h->n;
}

static int write_record(lb_history *h, json_t *r)
{
    if (h->fd < 0) {
        json_decref(r);
        return 0;
    }
    char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
    json_decref(r);
    if (!text) return -1;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return -1;
    }
    line[len] = '\n';
    ssize_t w;
    do w = write(h->fd, line, len + 1);   /* one write: the record lands whole */
    while (w < 0 && errno == EINTR);
    free(line);
    if (w != (ssize_t)(len + 1)) {
        fprintf(stderr, "labbook: cannot write the history file: %s\n",
                w < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

lb_history *lb_history_open(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    lb_history *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->fd = -1;
    char *def = NULL;
    if (!path) path = def = lb_history_default_path();
    int max_session = 0;
    if (!path) {
        snprintf(err, errlen, "no home directory: history kept in memory only");
    } else if (make_parent_dirs(path)) {
        snprintf(err, errlen, "cannot create the directory of %s: %s; history kept in memory only",
                 path, strerror(errno));
    } else {
        int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "cannot open %s: %s; history kept in memory only", path,
                     strerror(errno));
        } else {
            /* The lock makes "read the largest session, claim the next" atomic among
             * kernels starting together. Appends later need no lock (O_APPEND). */
            while (flock(fd, LOCK_EX) && errno == EINTR) {}
            struct stat st = {0};
            size_t got = 0;
            char *buf = NULL;
            if (fstat(fd, &st) == 0 && st.st_size > 0)
                buf = read_prefix(fd, (size_t)st.st_size, &got);
            if (buf) {
                max_session = scan_max_session(buf, got);
                if (got && buf[got - 1] != '\n') {   /* end a torn last line first */
                    ssize_t w = write(fd, "\n", 1);
                    if (w == 1) got++;
                }
                h->old_size = (off_t)got;
                free(buf);
            } else if (st.st_size > 0)
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            h->fd = fd;
            h->session = max_session + 1;
            char date[32];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
            write_record(h, json_pack("{s:i, s:s}", "session", h->session, "start", date));
            flock(fd, LOCK_UN);
        }
    }
    if (h->session == 0) h->session = max_session + 1;
    if (h->fd < 0) h->loaded = true;
    free(def);
    return h;
}

void lb_history_free(lb_history *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->e[i].input);
        free(h->e[i].output);
    }
    free(h->e);
    if (h->fd >= 0) close(h->fd);
    free(h);
}

int lb_history_session(const lb_history *h)
{
    return h->session;
}

size_t lb_history_count(lb_history *h)
{
    ensure_loaded(h);
    return h->n;
}

int lb_history_add_input(lb_history *h, int line, const char *code)
{
    entry *e = push(h, h->session, line);
    if (!e) return -1;
    if (!(e->input = strdup(code))) {
        h->n--;
        return -1;
    }
    return write_record(h, json_pack("{s:i, s:i, s:s}", "session", h->session, "line", line,
                                     "input", code));
}

int lb_history_add_output(lb_history *h, int line, const char *text)
{
    entry *e = find(h, h->session, line);
    if (e) {
        char *t = strdup(text);
        if (!t) return -1;
        free(e->output);
        e->output = t;
    }
    return write_record(h, json_pack("{s:i, s:i, s:s}", "session", h->session, "line", line,
                                     "output", text));
}

/* ---- queries --------------------------------------------------------------------------- */

static int append_entry(json_t *list, const entry *e, bool output)
{
    json_t *item;
    if (output)
        item = json_pack("[i, i, [s, o]]", e->session, e->line, e->input,
                         e->output ? json_string(e->output) : json_null());
    else
        item = json_pack("[i, i, s]", e->session, e->line, e->input);
    return item ? json_array_append_new(list, item) : -1;
}

json_t *lb_history_tail(lb_history *h, int n, bool output)
{
    ensure_loaded(h);
    json_t *list = json_array();
    if (!list || n <= 0) return list;
    size_t from = h->n > (size_t)n ? h->n - (size_t)n : 0;
    for (size_t i = from; i < h->n; i++) append_entry(list, &h->e[i], output);
    return list;
}

json_t *lb_history_range(lb_history *h, int session, int start, int stop, bool output)
{
    ensure_loaded(h);
    json_t *list = json_array();
    if (!list) return NULL;
    if (session <= 0) session += h->session;
    for (size_t i = 0; i < h->n; i++) {
        const entry *e = &h->e[i];
        if (e->session == session && e->line >= start && (stop <= 0 || e->line < stop))
            append_entry(list, e, output);
    }
    return list;
}

json_t *lb_history_search(lb_history *h, const char *pattern, int n, bool unique, bool output)
{
    ensure_loaded(h);
    json_t *list = json_array();
    if (!list) return NULL;
    if (!pattern) pattern = "*";
    /* Walk newest first so that `unique` keeps the latest occurrence and `n` the last n. */
    size_t *pick = malloc((h->n ? h->n : 1) * sizeof *pick);
    if (!pick) return list;
    json_t *seen = unique ? json_object() : NULL;   /* set of inputs already picked */
    size_t k = 0;
    for (size_t i = h->n; i-- > 0 && (n <= 0 || k < (size_t)n);) {
        const entry *e = &h->e[i];
        if (fnmatch(pattern, e->input, FNM_NOESCAPE) != 0) continue;
        if (seen) {
            if (json_object_get(seen, e->input)) continue;
            json_object_set_new(seen, e->input, json_true());
        }
        pick[k++] = i;
    }
    while (k-- > 0) append_entry(list, &h->e[pick[k]], output);
    json_decref(seen);
    free(pick);
    return list;
}
