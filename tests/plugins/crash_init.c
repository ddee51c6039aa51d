/* crash_init.c — a plugin whose init dereferences a null pointer: the scan process must catch
 * it so that the kernel survives. */
#include <signal.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("crash_init", "1.0", "crashes in init");

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)h, (void)p, (void)err, (void)errlen;
    raise(SIGSEGV);
    return 0;
}
