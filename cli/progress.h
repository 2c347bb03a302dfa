/*
 * progress.h: a progress bar on stderr for long commands (import, vet): rows, rate, ETA.
 *
 * Drawn only when stderr is a terminal and not disabled; in a pipe or a log it stays quiet.  Redraws
 * at most ten times a second, so calling rg_progress_update() per row is cheap.
 */
#ifndef RG_PROGRESS_H
#define RG_PROGRESS_H

#include <stdint.h>

typedef struct rg_progress rg_progress;

/* Starts a bar labelled what, out of total units (0: unknown).  quiet forces it off.  Never NULL. */
rg_progress *rg_progress_start(const char *what, const char *unit, uint64_t total, int quiet);
/* done units so far, of (possibly updated) total. */
void rg_progress_update(rg_progress *p, uint64_t done, uint64_t total);
/* Erases the bar and frees p. */
void rg_progress_end(rg_progress *p);

#endif
