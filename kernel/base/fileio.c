/* fileio.c — atomic file writes (fileio.h): temporary file, fsync, rename. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/interrupt.h"

/* Removes the temporary files earlier writes of path left behind when their process was killed
 * before the rename: PATH.tmpPID where process PID no longer runs (a live one may be writing). */
static void remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp", 4) != 0 || !n[bl + 4])
            continue;
        char *end;
        long pid = strtol(n + bl + 4, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

int lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err)
{
    if (!path || !*path)
        return lb_error_set(err, "IOError", 0, 0, "cannot write a file without a name");
    remove_stale(path);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp)
        return lb_oom(err);
    snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int e = f ? 0 : errno;
    /* 8 MB at a time, an interrupt looked at between them: a large checkpoint takes seconds to
     * write, and an interrupted save leaves the earlier file as it was */
    bool ok = f != NULL, stopped = false;
    for (size_t done = 0; ok && done < len;) {
        if (lb_interrupt_pending()) {
            ok = false;
            stopped = true;
            break;
        }
        size_t n = len - done < ((size_t)8 << 20) ? len - done : ((size_t)8 << 20);
        ok = fwrite((const char *)data + done, 1, n, f) == n;
        done += n;
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && !ok)
        e = errno ? errno : EIO;
    if (f && fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok && f)
        unlink(tmp);
    free(tmp);
    if (stopped)
        return lb_error_set(err, "Interrupted", 0, 0, "interrupted while writing %s (the file is as it was)", path);
    if (!ok)
        return lb_error_set(err, "IOError", 0, 0, "cannot write %s: %s", path, strerror(e));
    return 0;
}
