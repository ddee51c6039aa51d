/* interp_harness.h — the shared fixture of the C unit tests that drive a whole interpreter:
 * one interpreter IN whose stream output collects in OUT, the last error in ERR, run() to
 * execute code and err_has() to check the error. Each test file's setup()/teardown() call
 * harness_start() (with the outputs it records, rec_stream for the stream) and harness_stop(). */
#ifndef LB_INTERP_HARNESS_H
#define LB_INTERP_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "cli/labbook.h"
#include "lang/interp.h"

static char OUT[65536];
static lb_interp *IN;
static lb_error ERR;

/* An lb_output stream callback that appends to OUT (cut when full). */
static void rec_stream(void *ctx, lb_stream which, const char *text, size_t len)
{
    (void)ctx;
    (void)which;
    size_t used = strlen(OUT);
    if (len > sizeof OUT - used - 1)
        len = sizeof OUT - used - 1;
    memcpy(OUT + used, text, len);
    OUT[used + len] = '\0';
}

/* A fresh interpreter IN with the given outputs (the old one freed), OUT and ERR emptied. */
static void harness_start(lb_output out)
{
    lb_interp_free(IN);
    OUT[0] = '\0';
    IN = lb_labbook_new(&out);
    lb_error_clear(&ERR);
}

/* Frees IN and clears ERR. */
static void harness_stop(void)
{
    lb_interp_free(IN);
    IN = NULL;
    lb_error_clear(&ERR);
}

/* Runs code; returns 0 or -1 (error in ERR). */
static int run(const char *code)
{
    lb_error_clear(&ERR);
    return lb_interp_execute(IN, code, false, &ERR);
}

/* Whether ERR is ename with needle in its message; prints what it got when not. */
static bool err_has(const char *ename, const char *needle)
{
    bool ok = ERR.evalue && strcmp(ERR.ename, ename) == 0 && strstr(ERR.evalue, needle);
    if (!ok)
        fprintf(stderr, "    got %s: %s\n    want %s containing: %s\n", ERR.ename,
                ERR.evalue ? ERR.evalue : "(none)", ename, needle);
    return ok;
}

#endif
