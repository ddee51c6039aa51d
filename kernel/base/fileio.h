/* fileio.h — writing a file so that no reader ever sees half of it: the bytes go to a
 * temporary file in the same folder, which is flushed to disk and renamed over the target
 * (rename is atomic within a file system). Used by every command that writes a file (plots,
 * exports, checkpoints). */
#ifndef LB_FILEIO_H
#define LB_FILEIO_H

#include <stddef.h>

#include "base/error.h"

/* 0, or -1 with an IOError naming the path and the reason, or Interrupted when an interrupt
 * came while the bytes were written (nothing is left behind; the earlier file is as it was). */
int lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err);

#endif
