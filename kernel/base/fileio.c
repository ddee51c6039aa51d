/* fileio.c — atomic file writes (fileio.h): temporary file, fsync, rename. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"

int lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err)
{
    if (!path || !*path)
        return lb_error_set(err, "IOError", 0, 0, "cannot write a file without a name");
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp)
        return lb_oom(err);
    snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int e = f ? 0 : errno;
    bool ok = f && (len == 0 || fwrite(data, 1, len, f) == len) && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
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
    if (!ok)
        return lb_error_set(err, "IOError", 0, 0, "cannot write %s: %s", path, strerror(e));
    return 0;
}
