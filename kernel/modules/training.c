/* training.c — the training module (lang/module.h): `train`, `evaluate`, `confusion` (train.c)
 * and the run values, `runs`, `export`, `plot runs` (runs.c); its state is the session's list
 * of runs. */
#include "modules/modules.h"
#include "modules/training.h"

static int training_init(lb_interp *in, lb_error *err)
{
    if (lb_register_train_commands(in, err) < 0)
        return -1;
    return lb_register_run_commands(in, err);
}

const lb_module lb_training_module = {.name = "training", .init = training_init};
