/* bad_schema.c — a parameter whose default is outside its own range. */
#include "labbook_plugin.h"

LBP_MODULE_MAGIC("bad_schema", "1.0", "default out of range");

static int build(const lbp_host *h, lbp_layer *L)
{
    (void)h, (void)L;
    return 0;
}

static const lbp_param params[] = {
    {"p", LBP_T_NUM, "2", LBP_LO | LBP_HI, 0, 1, NULL, "a probability"},
    {0}};

static const lbp_type t = {.size = sizeof(lbp_type), .name = "badprob", .summary = "bad default",
                           .params = params, .build = build};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return h->register_type(p, &t);
}
