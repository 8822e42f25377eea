/* Checkpoints: RUN/checkpoints/step-NNNNNNN/ holds model.safetensors (the parameters under
 * Hugging Face GPT-2 names, the config in the metadata) and optimizer.safetensors (AdamW
 * moments, the step and the data stream position); RUN/checkpoints/latest points at the
 * newest. A checkpoint is written into a temporary folder, fsync'd, renamed into place, and
 * only then does `latest` move (an atomic rename of a symlink): a crash at any moment leaves
 * the previous checkpoint intact. The two newest checkpoints are kept. */
#ifndef POLYMOE_CHECKPOINT_H
#define POLYMOE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "train/data.h"

typedef struct {
    int step;
    uint64_t data_state[PM_DATA_STATE_LEN];
} pm_train_state;

int pm_checkpoint_save(const char *run_dir, pm_model *m, const pm_train_state *st, char *err,
                       size_t errlen);

/* Resolves `dir` (a run folder, its checkpoints folder or one step folder) to a step folder
 * and reads the model config stored in it. */
int pm_checkpoint_find(const char *dir, char *step_dir, size_t len, pm_config *cfg, char *err,
                       size_t errlen);

/* Loads parameters, and with st also the optimiser moments and trainer state. */
int pm_checkpoint_load(const char *step_dir, pm_model *m, pm_train_state *st, char *err,
                       size_t errlen);

#endif
