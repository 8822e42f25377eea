/* Evaluation on each domain's held-out split: loss and perplexity per domain, and the
 * expert x domain token counts of every MoE layer (one "eval" line of metrics JSON). */
#ifndef POLYMOE_EVALUATE_H
#define POLYMOE_EVALUATE_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "model/model.h"
#include "train/data.h"

/* Prints the per-domain losses; writes the eval line to metrics when not NULL. */
int pm_evaluate(pm_model *model, pm_dataset *data, int step, FILE *metrics, char *err,
                size_t errlen);

/* Writes o as one line and frees it. */
void pm_write_json_line(FILE *f, cJSON *o);

#endif
