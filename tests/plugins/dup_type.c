/* dup_type.c — registers a type named conv2d, which the layers plugin already has. */
#include "labbook_plugin.h"

LBP_MODULE_MAGIC("dup_type", "1.0", "a second conv2d");

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h, (void)L;
    return 0;
}

static const lbp_type conv2d = {.size = sizeof(lbp_type), .name = "conv2d", .summary = "another conv2d",
                                .params = (const lbp_param[]){{0}}, .build = build};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return h->register_type(p, &conv2d);
}
