/* bad_sizeof.c — a plugin whose lbp_type had another size when it was compiled. */
#include "labbook_plugin.h"

__attribute__((visibility("default"))) const lbp_magic lbp_module_magic = {
    sizeof(lbp_magic), LBP_MAGIC_NUMBER, LBP_ABI_VERSION, LBP_MAXDIM, sizeof(void *), sizeof(size_t),
    sizeof(lbp_param), sizeof(lbp_type) + 8, sizeof(lbp_op), sizeof(lbp_command),
    "bad_sizeof", "1.0", "lbp_type 8 bytes larger"};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)h, (void)p, (void)err, (void)errlen;
    return 0;
}
