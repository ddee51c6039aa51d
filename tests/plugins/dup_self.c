/* dup_self.c — registers the same type name twice; its init ignores the failure. */
#include "labbook_plugin.h"

LBP_MODULE_MAGIC("dup_self", "1.0", "twice the same name");

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h, (void)L;
    return 0;
}

static const lbp_type twin = {.size = sizeof(lbp_type), .name = "twin", .summary = "twin",
                              .params = (const lbp_param[]){{0}}, .build = build};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    h->register_type(p, &twin);
    h->register_type(p, &twin);
    return 0;
}
