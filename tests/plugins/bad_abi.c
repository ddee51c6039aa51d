/* bad_abi.c — a plugin built for another ABI version: the magic block's abi_version is 99. */
#include "labbook_plugin.h"

__attribute__((visibility("default"))) const lbp_magic lbp_module_magic = {
    sizeof(lbp_magic), LBP_MAGIC_NUMBER, 99, LBP_MAXDIM, sizeof(void *), sizeof(size_t),
    sizeof(lbp_param), sizeof(lbp_type), sizeof(lbp_op), sizeof(lbp_command),
    "bad_abi", "1.0", "declares ABI 99"};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)h, (void)p, (void)err, (void)errlen;
    return 0;
}
