/* run_script.h — `labbook run FILE.lab`: runs a script outside Jupyter. */
#ifndef LB_RUN_SCRIPT_H
#define LB_RUN_SCRIPT_H

/* Runs the file as one cell: text goes to stdout/stderr, every display's text/plain is
 * printed (tables included) and its images and other non-text parts (PNG, SVG, PDF, JSON)
 * are written as NNN.ext files into out_dir
 * (NULL: the script's path without ".lab" plus "_out"), created when first needed. An error
 * is printed as a traceback on stderr. Returns the exit status: 0, or 1 on any error. */
int lb_run_script(const char *path, const char *out_dir);

#endif
