/* data_values.h — the language side of data sets (data_values.c): `dataset` values, the
 * functions fashion_mnist(), idx(), csv() and the command `samples`. */
#ifndef LB_DATA_VALUES_H
#define LB_DATA_VALUES_H

#include <stdbool.h>

#include "data/dataset.h"
#include "lang/value.h"

/* A new `dataset` value owning ds (freed on failure). */
lb_value *lb_dataset_value_new(lb_dataset *ds, lb_error *err);
/* The data set behind a labbook value: a dataset (`f`: *split = NULL) or one of its splits
 * (`f.test`). false when v is neither. Either out pointer may be NULL. */
bool lb_data_from_value(const lb_value *v, lb_dataset **ds, const lb_split **split);

#endif
