/* memory.h — how much memory this machine can still give: what a model or an input may take is
 * checked against it before it is allocated, so a typo such as linear(1e9, 1e9) is refused at
 * once instead of after a spike of gigabytes (or the OOM killer). */
#ifndef LB_MEMORY_H
#define LB_MEMORY_H

#include <stdint.h>

/* Bytes available to allocate: the kernel's MemAvailable (/proc/meminfo), else free pages. */
int64_t lb_mem_available(void);

/* "1.6 GB", "512 MB", "12 KB", "100 bytes" */
void lb_format_bytes(int64_t bytes, char *buf, int n);

#endif
