/*
 * clock.h - the one monotonic clock in milliseconds, for deadlines,
 * leases and timeouts measured inside a process (never for what is
 * stored or sent: PostgreSQL's clock is the shared one). No state.
 */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_ms(void);

/* The same clock in milliseconds with their fraction, for durations that
 * are reported (audit rows, maintenance timings, progress). */
double clock_ms_frac(void);

#endif
