/* modules.h — the modules of kernel/modules/ (lang/module.h): the language's commands and
 * values for each domain. cli/labbook.c puts them together with the plugins module of host/. */
#ifndef LB_MODULES_H
#define LB_MODULES_H

#include "lang/module.h"

extern const lb_module lb_data_module;     /* fashion_mnist(), idx(), csv(), `samples` */
extern const lb_module lb_plots_module;    /* `plot`, `heatmap`, `bars`, `images`, `save` */
extern const lb_module lb_training_module; /* `train`, `evaluate`, `confusion`, runs, `export` */

#endif
