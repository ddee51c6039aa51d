/* labbook.h — the labbook interpreter as the programs use it: the language (lang/) with every
 * module put together (host's plugins; modules/ data, plots, training) and the versions of
 * what computes the numbers (OpenBLAS, its kernel, the CPU). The kernel, `labbook run`, the
 * tests and the benches create their interpreters here. */
#ifndef LB_LABBOOK_H
#define LB_LABBOOK_H

#include "lang/interp.h"

/* A new interpreter with every module (NULL when out of memory or a module failed). */
lb_interp *lb_labbook_new(const lb_output *out);

#endif
