/* main.c — the `labbook` program: subcommands kernel (what kernel.json runs), run, install,
 * version. Argument errors print a message and return 2. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/labbook.h"
#include "lang/interp.h"
#include "jupyter/kernelspec.h"
#include "ops.h"
#include "cli/run_script.h"
#include "jupyter/server.h"
#include "jupyter/wire.h"

static const char usage[] =
    "usage: labbook <command> [options]\n"
    "\n"
    "commands:\n"
    "  kernel -f CONNECTION_FILE      run as a Jupyter kernel (kernel.json starts this)\n"
    "  run FILE.lab [--out DIR]       run a script: text to stdout/stderr, images and other\n"
    "                                 rich output as files in DIR (default: FILE_out/)\n"
    "  install [--user | --prefix P] [--name N] [--exe PATH]\n"
    "                                 install the Jupyter kernelspec (default into\n"
    "                                 /usr/local/share/jupyter/kernels/labbook; --user: the\n"
    "                                 Jupyter user data dir; --prefix: P/share/jupyter/...;\n"
    "                                 --exe: the program kernel.json runs, default this one)\n"
    "  version                        print the version, the BLAS library and kernel, the CPU\n"
    "  help, --help                   print this help\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("labbook: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'labbook --help'.\n", stderr);
    return 2;
}

/* Matches "--opt VALUE" and "--opt=VALUE"; advances *i past the value. */
static int take_value(int argc, char **argv, int *i, const char *opt, const char **value)
{
    const char *a = argv[*i];
    size_t l = strlen(opt);
    if (strncmp(a, opt, l) != 0) return 0;
    if (a[l] == '=') {
        *value = a + l + 1;
        return 1;
    }
    if (a[l] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

static int cmd_kernel(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = take_value(argc, argv, &i, "-f", &file)) ||
            (r = take_value(argc, argv, &i, "--connection-file", &file))) {
            if (r < 0) return usage_error("%s needs a connection file", argv[i]);
        } else
            return usage_error("kernel: unknown argument '%s'", argv[i]);
    }
    if (!file || !*file) return usage_error("%s", "kernel: missing -f CONNECTION_FILE");
    return lb_server_run(file, NULL, lb_labbook_new);
}

static int cmd_run(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        int r = take_value(argc, argv, &i, "--out", &out);
        if (r < 0) return usage_error("%s", "run: --out needs a directory");
        if (r > 0) continue;
        if (argv[i][0] == '-' && argv[i][1]) return usage_error("run: unknown option '%s'", argv[i]);
        if (file) return usage_error("run: more than one script ('%s')", argv[i]);
        file = argv[i];
    }
    if (!file) return usage_error("%s", "run: missing FILE.lab");
    if (out && !*out) return usage_error("%s", "run: --out needs a directory");
    return lb_run_script(file, out);
}

static int cmd_install(int argc, char **argv)
{
    lb_spec_options o = {.where = LB_SPEC_SYSTEM};
    bool user = false, prefix = false;
    for (int i = 2; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--user")) {
            user = true;
            o.where = LB_SPEC_USER;
        } else if ((r = take_value(argc, argv, &i, "--prefix", &o.prefix))) {
            if (r < 0 || !*o.prefix) return usage_error("%s", "install: --prefix needs a directory");
            prefix = true;
            o.where = LB_SPEC_PREFIX;
        } else if ((r = take_value(argc, argv, &i, "--name", &o.name))) {
            if (r < 0) return usage_error("%s", "install: --name needs a kernel name");
            if (!lb_kernel_name_valid(o.name))
                return usage_error("install: invalid kernel name '%s' (letters, digits, '.', '_', '-')", o.name);
        } else if ((r = take_value(argc, argv, &i, "--exe", &o.exe))) {
            if (r < 0 || !*o.exe) return usage_error("%s", "install: --exe needs a path");
        } else
            return usage_error("install: unknown argument '%s'", argv[i]);
    }
    if (user && prefix) return usage_error("%s", "install: --user and --prefix exclude each other");
    char dir[4096], err[512];
    if (lb_kernelspec_install(&o, dir, sizeof dir, err, sizeof err)) {
        fprintf(stderr, "labbook: install failed: %s\n", err);
        return 1;
    }
    printf("Installed the labbook kernelspec in %s\n", dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    /* A file size limit (ulimit -f, a quota) makes a write fail with EFBIG, which the atomic
     * writes report like a full disk, instead of killing the process with everything in it. */
    signal(SIGXFSZ, SIG_IGN);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("labbook %s (language %s, Jupyter protocol %s)\n", LB_VERSION, LB_LANGUAGE_VERSION,
               LB_PROTOCOL_VERSION);
        const lb_blas_info *b = lb_blas_info_get();
        char core[320];
        printf("openblas %s (%s)\nblas %s\ncpu %s\n", b->version, b->library, lb_blas_summary(core, sizeof core),
               b->cpu);
        return 0;
    }
    if (!strcmp(cmd, "kernel")) return cmd_kernel(argc, argv);
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "install")) return cmd_install(argc, argv);
    return usage_error("unknown command '%s'", cmd);
}
