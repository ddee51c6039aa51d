/* kernelspec.c — installs the labbook kernelspec (see kernelspec.h). Every file is written
 * to a temporary file in the target directory and renamed over the old one, so a running
 * Jupyter never reads a half-written kernel.json. */
#include "jupyter/kernelspec.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jupyter/history.h"

int lb_kernel_name_valid(const char *name)
{
    if (!name || !*name) return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

char *lb_kernelspec_dir(const lb_spec_options *o, char *err, size_t errlen)
{
    const char *name = o->name ? o->name : "labbook";
    if (!lb_kernel_name_valid(name)) {
        snprintf(err, errlen, "invalid kernel name \"%s\" (letters, digits, '.', '_' and '-' only)", name);
        return NULL;
    }
    char *base = NULL;
    switch (o->where) {
    case LB_SPEC_USER:
        base = lb_jupyter_data_dir();
        if (!base) {
            snprintf(err, errlen, "cannot find the Jupyter data directory (set HOME or JUPYTER_DATA_DIR)");
            return NULL;
        }
        break;
    case LB_SPEC_PREFIX:
        if (!o->prefix || !*o->prefix) {
            snprintf(err, errlen, "empty --prefix");
            return NULL;
        }
        base = path_join(o->prefix, "share/jupyter");
        break;
    case LB_SPEC_SYSTEM:
        base = strdup("/usr/local/share/jupyter");
        break;
    }
    if (!base) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char *kernels = path_join(base, "kernels");
    free(base);
    char *dir = kernels ? path_join(kernels, name) : NULL;
    free(kernels);
    if (!dir) snprintf(err, errlen, "out of memory");
    return dir;
}

char *lb_kernelspec_json(const char *exe, const char *name)
{
    char display[160];
    if (!name || strcmp(name, "labbook") == 0)
        snprintf(display, sizeof display, "labbook");
    else
        snprintf(display, sizeof display, "labbook (%s)", name);
    json_t *spec = json_pack("{s:[s, s, s, s], s:s, s:s, s:s, s:{s:b}}", "argv", exe, "kernel",
                             "-f", "{connection_file}", "display_name", display, "language",
                             "labbook", "interrupt_mode", "signal", "metadata", "debugger", 0);
    if (!spec) return NULL;
    char *text = json_dumps(spec, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(spec);
    return text;
}

static int mkdirs(const char *path, char *err, size_t errlen)
{
    char *p = strdup(path);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char c = *q;
        *q = '\0';
        struct stat st;
        if (mkdir(p, 0755) && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        if (stat(p, &st) || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a directory", p);
            free(p);
            return -1;
        }
        *q = c;
        if (!c) break;
    }
    free(p);
    return 0;
}

/* Writes dir/name atomically: temp file in dir, fsync, rename. */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
                        char *err, size_t errlen)
{
    char *final = path_join(dir, name);
    size_t tl = strlen(dir) + strlen(name) + 16;
    char *tmp = malloc(tl);
    if (!final || !tmp) {
        free(final);
        free(tmp);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tmp, tl, "%s/.%s.XXXXXX", dir, name);
    int rc = -1;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write in %s: %s", dir, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) || fsync(fd) || close(fd)) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, final)) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(final);
    free(tmp);
    return rc;
}

int lb_kernelspec_install(const lb_spec_options *o, char *dir_out, size_t dir_len, char *err,
                          size_t errlen)
{
    char self[PATH_MAX];
    const char *exe = o->exe;
    if (!exe) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            snprintf(err, errlen, "cannot find this program's path (/proc/self/exe): use --exe");
            return -1;
        }
        self[n] = '\0';
        exe = self;
    }
    char *dir = lb_kernelspec_dir(o, err, errlen);
    if (!dir) return -1;
    int rc = -1;
    char *json = lb_kernelspec_json(exe, o->name);
    if (!json) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (mkdirs(dir, err, errlen)) goto out;
    for (const lb_logo *l = lb_logos; l->name; l++)
        if (write_atomic(dir, l->name, l->data, l->len, err, errlen)) goto out;
    size_t jl = strlen(json);
    char *text = realloc(json, jl + 2);   /* end the file with a newline */
    if (!text) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    json = text;
    json[jl++] = '\n';
    json[jl] = '\0';
    if (write_atomic(dir, "kernel.json", json, jl, err, errlen)) goto out;   /* last: complete spec */
    if (dir_out && dir_len) snprintf(dir_out, dir_len, "%s", dir);
    rc = 0;
out:
    free(json);
    free(dir);
    return rc;
}
