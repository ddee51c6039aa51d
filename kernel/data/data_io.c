/* data_io.c — the file readers behind the data sets (dataset.h): IDX arrays (gz or raw, every
 * IDX dtype, big-endian to host order) and CSV rows (quotes, blank lines, line numbers). Both
 * read through zlib's gzread, which passes files that are not gzip through unchanged. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/format.h"
#include "base/interrupt.h"
#include "base/utf8.h"
#include "data/dataset.h"

#define IDX_MAX_BYTES ((int64_t)1 << 40) /* 1 TiB: anything larger is a corrupt header */


static int too_big(const char *path, int64_t bytes, lb_error *err)
{
    int64_t max = lb_data_max_bytes();
    if (bytes <= max)
        return 0;
    char lim[32];
    lb_format_count(max, lim, sizeof lim);
    return lb_error_set(err, "DataError", 0, 0, "%s: more than %s bytes of data, the limit (LABBOOK_MAX_DATA, "
                        "by default half of this machine's memory)", path, lim);
}

static int open_error(lb_error *err, const char *path)
{
    if (errno == ENOENT || errno == ENOTDIR)
        return lb_error_set(err, "FileNotFoundError", 0, 0, "%s: no such file", path);
    return lb_error_set(err, "OSError", 0, 0, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "unknown error");
}

int64_t lb_data_max_bytes(void)
{
    const char *e = getenv("LABBOOK_MAX_DATA");
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        double unit = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0
                      : *end == 'G' || *end == 'g' ? 1073741824.0 : 1.0;
        if (v > 0 && v * unit < 9e18)
            return (int64_t)(v * unit);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t half = pages > 0 && page > 0 ? (int64_t)pages * page / 2 : (int64_t)1 << 32;
    return half > 0 ? half : (int64_t)1 << 32;
}

/* A data file must be a regular file (a device such as /dev/zero, a FIFO or a directory would
 * be read without end, or block), and at most lb_data_max_bytes on disk. */
static int check_source(const char *path, lb_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return open_error(err, path);
    if (!S_ISREG(st.st_mode))
        return lb_error_set(err, "DataError", 0, 0, "%s is not a regular file (%s): data are read from files",
                            path, S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a pipe"
                                                                       : "a device or socket");
    return too_big(path, (int64_t)st.st_size, err);
}

/* Reads up to n bytes; returns the count read (< n at the end of the data), or -1 with *err
 * when zlib reports a corrupt or cut stream. */
static int64_t gz_read_all(gzFile f, const char *path, void *buf, int64_t n, lb_error *err)
{
    int64_t got = 0;
    while (got < n) {
        /* 16 MB at a time, an interrupt looked at between them (a gigabyte takes seconds) */
        if (lb_interrupt_check(err) < 0)
            return -1;
        int64_t want = n - got;
        if (want > (1 << 24))
            want = 1 << 24;
        int r = gzread(f, (char *)buf + got, (unsigned)want);
        if (r < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            return lb_error_set(err, "DataError", 0, 0, "%s: cannot read: %s", path,
                                code == Z_ERRNO ? strerror(errno) : msg);
        }
        if (r == 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            if (code != Z_OK && code != Z_STREAM_END)
                return lb_error_set(err, "DataError", 0, 0, "%s: cannot read: %s (the file is cut "
                                                            "short or corrupt)", path, msg);
            break;
        }
        got += r;
    }
    return got;
}

/* ---- IDX ------------------------------------------------------------------------------------------ */

size_t lb_idx_dtype_size(int dtype)
{
    switch (dtype) {
    case LB_IDX_UBYTE:
    case LB_IDX_BYTE: return 1;
    case LB_IDX_SHORT: return 2;
    case LB_IDX_INT:
    case LB_IDX_FLOAT: return 4;
    case LB_IDX_DOUBLE: return 8;
    default: return 0;
    }
}

const char *lb_idx_dtype_name(int dtype)
{
    switch (dtype) {
    case LB_IDX_UBYTE: return "ubyte";
    case LB_IDX_BYTE: return "byte";
    case LB_IDX_SHORT: return "short";
    case LB_IDX_INT: return "int";
    case LB_IDX_FLOAT: return "float";
    case LB_IDX_DOUBLE: return "double";
    default: return "unknown";
    }
}

double lb_idx_get(const lb_idx *a, int64_t i)
{
    switch (a->dtype) {
    case LB_IDX_UBYTE: return ((const uint8_t *)a->data)[i];
    case LB_IDX_BYTE: return ((const int8_t *)a->data)[i];
    case LB_IDX_SHORT: return ((const int16_t *)a->data)[i];
    case LB_IDX_INT: return ((const int32_t *)a->data)[i];
    case LB_IDX_FLOAT: return ((const float *)a->data)[i];
    case LB_IDX_DOUBLE: return ((const double *)a->data)[i];
    default: return 0;
    }
}

void lb_idx_free(lb_idx *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

static void swap_bytes(void *data, int64_t count, size_t size)
{
    uint8_t *p = data;
    if (size == 2) {
        for (int64_t i = 0; i < count; i++, p += 2) {
            uint8_t t = p[0];
            p[0] = p[1];
            p[1] = t;
        }
    } else if (size == 4) {
        for (int64_t i = 0; i < count; i++, p += 4) {
            uint32_t v;
            memcpy(&v, p, 4);
            v = __builtin_bswap32(v);
            memcpy(p, &v, 4);
        }
    } else if (size == 8) {
        for (int64_t i = 0; i < count; i++, p += 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            v = __builtin_bswap64(v);
            memcpy(p, &v, 8);
        }
    }
}

int lb_idx_read(const char *path, lb_idx *a, lb_error *err)
{
    memset(a, 0, sizeof *a);
    if (check_source(path, err) < 0)
        return -1;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return open_error(err, path);
    gzbuffer(f, 1 << 18);
    uint8_t head[4];
    int64_t got = gz_read_all(f, path, head, 4, err);
    if (got < 0)
        goto fail;
    if (got < 4) {
        lb_error_set(err, "DataError", 0, 0, "%s: not an IDX file (%s)", path,
                     got ? "shorter than the 4-byte magic number" : "empty");
        goto fail;
    }
    size_t size = lb_idx_dtype_size(head[2]);
    if (head[0] != 0 || head[1] != 0 || size == 0 || head[3] < 1 || head[3] > 4) {
        lb_error_set(err, "DataError", 0, 0,
                     "%s: not an IDX file: the magic number is %02x %02x %02x %02x; IDX files "
                     "start with 00 00, a type (08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e "
                     "double) and 1 to 4 dimensions",
                     path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    a->dtype = head[2];
    a->ndim = head[3];
    uint8_t dims[16];
    got = gz_read_all(f, path, dims, 4 * a->ndim, err);
    if (got < 0)
        goto fail;
    if (got < 4 * a->ndim) {
        lb_error_set(err, "DataError", 0, 0, "%s: truncated IDX file: the header is cut short "
                                             "(%d dimensions announced)", path, a->ndim);
        goto fail;
    }
    a->count = 1;
    for (int d = 0; d < a->ndim; d++) {
        uint32_t v = (uint32_t)dims[4 * d] << 24 | (uint32_t)dims[4 * d + 1] << 16 |
                     (uint32_t)dims[4 * d + 2] << 8 | dims[4 * d + 3];
        a->dims[d] = v;
        if (a->count > 0 && (int64_t)v > IDX_MAX_BYTES / a->count) {
            lb_error_set(err, "DataError", 0, 0, "%s: IDX header announces an impossibly large "
                                                 "array", path);
            goto fail;
        }
        a->count *= v;
    }
    int64_t bytes = a->count * (int64_t)size;
    if (bytes > IDX_MAX_BYTES) {
        lb_error_set(err, "DataError", 0, 0, "%s: IDX header announces an impossibly large array",
                     path);
        goto fail;
    }
    if (too_big(path, bytes, err) < 0)
        goto fail;
    a->data = malloc(bytes ? (size_t)bytes : 1);
    if (!a->data) {
        lb_oom(err);
        goto fail;
    }
    got = gz_read_all(f, path, a->data, bytes, err);
    if (got < 0)
        goto fail;
    if (got < bytes) {
        char shape[96];
        size_t u = 0;
        for (int d = 0; d < a->ndim; d++)
            u += (size_t)snprintf(shape + u, sizeof shape - u, "%s%lld", d ? ", " : "",
                                  (long long)a->dims[d]);
        lb_error_set(err, "DataError", 0, 0,
                     "%s: truncated IDX file: the header announces %s [%s] (%lld bytes of data), "
                     "the file holds %lld",
                     path, lb_idx_dtype_name(a->dtype), shape, (long long)bytes, (long long)got);
        goto fail;
    }
    gzclose(f);
    if (size > 1)
        swap_bytes(a->data, a->count, size); /* IDX is big-endian; x86 and arm64 are not */
    return 0;
fail:
    gzclose(f);
    lb_idx_free(a);
    return -1;
}

/* ---- CSV ------------------------------------------------------------------------------------------ */

/* CSV text is read as UTF-8: another encoding (a Latin-1 "é") is refused at its line, rather
 * than become class names and column names no JSON reply can carry. */
static int check_utf8(const char *name, const char *t, size_t len, lb_error *err)
{
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < len;) {
        size_t k = lb_utf8_seq_len((const unsigned char *)t + i, len - i);
        if (k) {
            if (t[i] == '\n') {
                line++;
                line_start = i + 1;
            }
            i += k;
            continue;
        }
        size_t at = lb_utf8_byte_to_cp(t + line_start, len - line_start, i - line_start) + 1;
        return lb_error_set(err, "DataError", 0, 0, "%s, line %d: not UTF-8 text (byte 0x%02X, "
                            "character %zu of the line): CSV files are read as UTF-8", name, line,
                            (unsigned char)t[i], at);
    }
    return 0;
}

void lb_csv_close(lb_csv *c)
{
    if (!c)
        return;
    free(c->text);
    free(c->name);
    free(c->cells);
    memset(c, 0, sizeof *c);
}

int lb_csv_open_text(lb_csv *c, const char *text, size_t len, const char *name, lb_error *err)
{
    memset(c, 0, sizeof *c);
    c->text = malloc(len + 1);
    c->name = strdup(name ? name : "csv");
    if (!c->text || !c->name) {
        lb_csv_close(c);
        return lb_oom(err);
    }
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    c->len = len;
    c->line = 1;
    if (check_utf8(c->name, c->text, len, err) < 0) {
        lb_csv_close(c);
        return -1;
    }
    /* a UTF-8 byte order mark is not part of the first column's name */
    if (len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    return 0;
}

int lb_csv_open(lb_csv *c, const char *path, lb_error *err)
{
    memset(c, 0, sizeof *c);
    if (check_source(path, err) < 0)
        return -1;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return open_error(err, path);
    gzbuffer(f, 1 << 18);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        gzclose(f);
        return lb_oom(err);
    }
    for (;;) {
        if (len == cap) {
            char *nb = cap > SIZE_MAX / 4 ? NULL : realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                gzclose(f);
                return lb_oom(err);
            }
            buf = nb;
            cap *= 2;
        }
        int64_t got = gz_read_all(f, path, buf + len, (int64_t)(cap - len), err);
        if (got < 0) {
            free(buf);
            gzclose(f);
            return -1;
        }
        len += (size_t)got;
        if (too_big(path, (int64_t)len, err) < 0) { /* a compressed file that unpacks without end */
            free(buf);
            gzclose(f);
            return -1;
        }
        if (len < cap)
            break;
    }
    gzclose(f);
    if (memchr(buf, '\0', len)) {
        free(buf);
        return lb_error_set(err, "DataError", 0, 0, "%s: not a CSV file (it holds NUL bytes)", path);
    }
    buf[len] = '\0';
    c->text = buf;
    c->len = len;
    c->line = 1;
    c->name = strdup(path);
    if (!c->name) {
        lb_csv_close(c);
        return lb_oom(err);
    }
    if (check_utf8(path, buf, len, err) < 0) {
        lb_csv_close(c);
        return -1;
    }
    if (len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    return 0;
}

static int push_cell(lb_csv *c, char *cell, lb_error *err)
{
    if (c->ncells == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        char **nc = realloc(c->cells, cap * sizeof *nc);
        if (!nc)
            return lb_oom(err);
        c->cells = nc;
        c->cap = cap;
    }
    c->cells[c->ncells++] = cell;
    return 0;
}

static bool blank(char ch) { return ch == ' ' || ch == '\t'; }

int lb_csv_next(lb_csv *c, lb_error *err)
{
    char *t = c->text;
    /* skip blank lines */
    for (;;) {
        size_t p = c->pos;
        while (p < c->len && (blank(t[p]) || t[p] == '\r'))
            p++;
        if (p >= c->len) {
            c->pos = c->len;
            c->ncells = 0;
            return 0;
        }
        if (t[p] == '\n') {
            c->pos = p + 1;
            c->line++;
            continue;
        }
        break;
    }
    c->ncells = 0;
    c->row_line = c->line;
    size_t p = c->pos;
    int col = 1;
    for (;;) {
        /* one cell starting at p */
        while (p < c->len && blank(t[p]))
            p++;
        char *cell;
        size_t end;
        if (p < c->len && t[p] == '"') {
            int qline = c->line;
            size_t w = ++p;
            cell = t + w;
            for (;;) {
                if (p >= c->len)
                    return lb_error_set(err, "DataError", 0, 0,
                                        "%s, line %d, column %d: a quoted value is not closed",
                                        c->name, qline, col);
                if (t[p] == '"') {
                    if (p + 1 < c->len && t[p + 1] == '"') {
                        t[w++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (t[p] == '\n')
                    c->line++;
                t[w++] = t[p++];
            }
            end = w;
            while (p < c->len && (blank(t[p]) || t[p] == '\r'))
                p++;
            if (p < c->len && t[p] != ',' && t[p] != '\n')
                return lb_error_set(err, "DataError", 0, 0,
                                    "%s, line %d, column %d: unexpected text after a closing "
                                    "quote",
                                    c->name, c->line, col);
        } else {
            cell = t + p;
            while (p < c->len && t[p] != ',' && t[p] != '\n')
                p++;
            end = p;
            while (end > (size_t)(cell - t) && (blank(t[end - 1]) || t[end - 1] == '\r'))
                end--;
        }
        /* the cell ends at end; p is at its separator */
        char sep = p < c->len ? t[p] : '\0';
        t[end] = '\0';
        if (push_cell(c, cell, err) < 0)
            return -1;
        if (sep == ',') {
            p++;
            col++;
            continue;
        }
        if (sep == '\n') {
            p++;
            c->line++;
        }
        break;
    }
    c->pos = p;
    return 1;
}
