/* clock.h — time for durations (the monotonic clock, in seconds) and for records (UTC). */
#ifndef LB_CLOCK_H
#define LB_CLOCK_H

#include <stddef.h>

double lb_now(void);                  /* seconds of CLOCK_MONOTONIC */
void lb_utc_iso(char *buf, size_t n); /* "2026-12-03T09:31:00Z" */

#endif
