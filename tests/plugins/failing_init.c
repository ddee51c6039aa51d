/* failing_init.c — registers a type, then fails: the type must not stay registered. */
#include <stdio.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("failing_init", "1.0", "init fails after registering a type");

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h, (void)L;
    return 0;
}

static const lbp_type ghost = {.size = sizeof(lbp_type), .name = "ghost", .summary = "never stays",
                               .params = (const lbp_param[]){{0}}, .build = build};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    if (h->register_type(p, &ghost) < 0)
        return -1;
    snprintf(err, errlen, "cannot open /dev/gpu0: this plugin needs a GPU");
    return -1;
}
