/* kernelspec.h — `labbook install`: writes a Jupyter kernelspec directory (kernel.json and
 * the two logos, embedded in the binary by logos.c). */
#ifndef LB_KERNELSPEC_H
#define LB_KERNELSPEC_H

#include <stddef.h>

typedef struct lb_logo {
    const char *name;              /* file name in the kernelspec dir; NULL ends lb_logos */
    const unsigned char *data;
    size_t len;
} lb_logo;
extern const lb_logo lb_logos[];

typedef enum { LB_SPEC_SYSTEM, LB_SPEC_USER, LB_SPEC_PREFIX } lb_spec_where;

typedef struct lb_spec_options {
    lb_spec_where where;
    const char *prefix;   /* LB_SPEC_PREFIX: installs into PREFIX/share/jupyter/kernels/NAME */
    const char *name;     /* kernel name (directory); NULL = "labbook" */
    const char *exe;      /* argv[0] of kernel.json; NULL = this binary (/proc/self/exe) */
} lb_spec_options;

/* True for a valid kernel name: [A-Za-z0-9._-]+ (what jupyter_client accepts). */
int lb_kernel_name_valid(const char *name);
/* The kernelspec directory for the options, malloc'd; NULL with err set. */
char *lb_kernelspec_dir(const lb_spec_options *o, char *err, size_t errlen);
/* The kernel.json text for exe and name, malloc'd (NULL when out of memory). */
char *lb_kernelspec_json(const char *exe, const char *name);
/* Installs; on success writes the directory into dir_out (may be NULL). Returns 0, or -1
 * with a message in err. */
int lb_kernelspec_install(const lb_spec_options *o, char *dir_out, size_t dir_len, char *err,
                          size_t errlen);

#endif
