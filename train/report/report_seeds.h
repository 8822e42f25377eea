/* The headline numbers of a study run with several seeds: for every arm (the runs sharing a
 * folder name, one per seed), the mean and 95% t-interval over seeds of its final held-out
 * loss per domain, I(expert; domain) / H(domain) and router saturation per MoE layer and its
 * collapse step; and each arm's difference from the dense baseline, paired by seed, with
 * whether its interval excludes zero. */
#ifndef POLYMOE_REPORT_SEEDS_H
#define POLYMOE_REPORT_SEEDS_H

#include <stdio.h>

/* Writes the section's HTML to html; runs (n) are every arm's folder for every seed, in seed
 * order. backend runs the checkpoints for saturation. -1 with err when a run cannot be read. */
int pm_report_seeds(FILE *html, const char *const *runs, int n, const char *backend, char *err, size_t errlen);

#endif
