#define _POSIX_C_SOURCE 200809L
#include "train/util/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void pm_progress_start(pm_progress *p, int first, int total) {
    p->first = first;
    p->total = total;
    p->tty = isatty(fileno(stdout));
    p->started = p->last_print = seconds();
}

void pm_progress_update(pm_progress *p, int step, float loss, double tokens_per_s) {
    double t = seconds(), done = step - p->first;
    double eta = done > 0 ? (t - p->started) / done * (p->total - step) : 0;
    if (p->tty) {
        int width = 30, filled = (int)(width * (double)step / p->total);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        printf("\r[%s] step %d/%d  loss %.4f  %.0f tok/s  ETA %dm%02ds ", bar, step, p->total, loss,
               tokens_per_s, (int)eta / 60, (int)eta % 60);
        fflush(stdout);
    } else if (t - p->last_print >= 5.0 || step == p->total || step == p->first + 1) {
        printf("step %d/%d loss %.4f %.0f tok/s ETA %ds\n", step, p->total, loss, tokens_per_s, (int)eta);
        fflush(stdout);
        p->last_print = t;
    }
}

void pm_progress_finish(pm_progress *p) {
    if (p->tty) printf("\n");
}
