/*
 * progress.c: the terminal progress bar (see progress.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

struct rg_progress {
    int on;
    char what[32], unit[16];
    uint64_t total;
    double start, last;
};

static rg_progress disabled;   /* returned when calloc fails: a bar that draws nothing */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

rg_progress *rg_progress_start(const char *what, const char *unit, uint64_t total, int quiet)
{
    rg_progress *p = calloc(1, sizeof *p);

    if (!p)
        return &disabled;
    p->on = !quiet && isatty(STDERR_FILENO);
    snprintf(p->what, sizeof p->what, "%s", what);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->start = p->last = now();
    return p;
}

void rg_progress_update(rg_progress *p, uint64_t done, uint64_t total)
{
    double t, rate, eta;
    char bar[31];
    int fill;

    if (!p->on)
        return;
    t = now();
    if (t - p->last < 0.1 && done < total)
        return;
    p->last = t;
    p->total = total;
    rate = t > p->start ? done / (t - p->start) : 0;
    if (total > 0) {
        fill = (int)(30.0 * (done > total ? total : done) / total);
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(30 - fill));
        bar[30] = '\0';
        eta = rate > 0 && total > done ? (total - done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %llu/%llu %s  %.0f/s  ETA %d:%02d ", p->what, bar,
                (unsigned long long)done, (unsigned long long)total, p->unit, rate, (int)eta / 60,
                (int)eta % 60);
    } else {
        fprintf(stderr, "\r%s %llu %s  %.0f/s ", p->what, (unsigned long long)done, p->unit, rate);
    }
    fflush(stderr);
}

void rg_progress_end(rg_progress *p)
{
    if (p == &disabled)
        return;
    if (p->on)
        fprintf(stderr, "\r\033[K");
    free(p);
}
