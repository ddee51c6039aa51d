/* no_magic.c — a shared library with an init function but no magic block. */
#include "labbook_plugin.h"

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)h, (void)p, (void)err, (void)errlen;
    return 0;
}
