/* no_init.c — a magic block but no exported lbp_init. */
#include "labbook_plugin.h"

LBP_MODULE_MAGIC("no_init", "1.0", "forgot its init function");

int not_the_init(void);
__attribute__((visibility("default"))) int not_the_init(void) { return 0; }
