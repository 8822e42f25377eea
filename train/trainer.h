/* The training loop: AdamW with warmup + cosine decay, gradient clipping and accumulation,
 * per-domain evaluation, routing metrics, collapse detection, checkpoints and exact resume. */
#ifndef POLYMOE_TRAINER_H
#define POLYMOE_TRAINER_H

#include <stddef.h>

#include "model/config.h"
#include "train/util/status.h"

typedef struct {
    const char *out_dir;      /* the run folder */
    const char *backend;      /* backend name or "auto" */
    int device;
    int resume;               /* continue from out_dir's latest checkpoint */
    int overwrite;            /* replace the run already in out_dir (else that is an error) */
    int stop_on_collapse;
    int stop_after;           /* stop (with a checkpoint) after this step, 0: never (tests) */
    const char *init_from;    /* upcycle from this dense checkpoint (NULL: fresh init) */
    float upcycle_noise;
} pm_train_options;

/* Runs training: PM_DONE, PM_INTERRUPTED (the last step checkpointed) or PM_FAILED with err
 * filled. */
pm_status pm_train(const pm_config *cfg, const pm_train_options *opt, char *err, size_t errlen);

/* Learning rate at step (1-based): linear warmup, then cosine decay to min_lr_frac * lr. */
float pm_lr_at(const pm_config *c, int step);

#endif
