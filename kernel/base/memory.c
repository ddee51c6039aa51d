/* memory.c — the memory this machine can still give (memory.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/memory.h"

int64_t lb_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb > 0)
        return (int64_t)kb * 1024;
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (int64_t)pages * page : (int64_t)1 << 32;
}

void lb_format_bytes(int64_t bytes, char *buf, int n)
{
    static const char *const unit[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
    if (bytes < 1024) {
        snprintf(buf, (size_t)n, "%lld bytes", (long long)bytes);
        return;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, (size_t)n, "%.1f %s", v, unit[u]);
}
