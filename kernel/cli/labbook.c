/* labbook.c — where the modules are put together (cli/labbook.h). The order matters only for
 * state: a module's state is freed before those of the modules before it. */
#include <stdio.h>

#include "cli/labbook.h"
#include "host/plugins.h"
#include "lang/commands.h"
#include "modules/modules.h"
#include "ops.h"

static const lb_module *const modules[] = {&lb_plugins_module, &lb_data_module, &lb_plots_module,
                                           &lb_training_module};

/* OpenBLAS (version and file), the kernel it runs and why, the CPU: results depend on them. */
static int add_blas_versions(lb_interp *in)
{
    const lb_blas_info *b = lb_blas_info_get();
    char lib[512], core[320];
    snprintf(lib, sizeof lib, "%s (%s)", b->version[0] ? b->version : "?", b->library[0] ? b->library : "?");
    lb_blas_summary(core, sizeof core);
    if (lb_interp_add_version(in, "openblas", lib) < 0 || lb_interp_add_version(in, "blas", core) < 0)
        return -1;
    return lb_interp_add_version(in, "cpu", b->cpu);
}

lb_interp *lb_labbook_new(const lb_output *out)
{
    lb_interp *in = lb_interp_new(out);
    lb_error err = {0};
    if (!in || add_blas_versions(in) < 0 ||
        lb_interp_add_modules(in, modules, sizeof modules / sizeof modules[0], &err) < 0) {
        if (err.ename[0])
            fprintf(stderr, "labbook: %s: %s\n", err.ename, err.evalue);
        lb_error_clear(&err);
        lb_interp_free(in);
        return NULL;
    }
    return in;
}
