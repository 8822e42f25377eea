/* Progress of a long run: a redrawn bar (step, loss, tokens/s, ETA) on a terminal, a plain
 * line every few seconds otherwise. */
#ifndef POLYMOE_PROGRESS_H
#define POLYMOE_PROGRESS_H

typedef struct {
    int first, total, tty;
    double started, last_print;
} pm_progress;

void pm_progress_start(pm_progress *p, int first, int total);
void pm_progress_update(pm_progress *p, int step, float loss, double tokens_per_s);
void pm_progress_finish(pm_progress *p);

#endif
