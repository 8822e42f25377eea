/* Checkpoints: RUN/checkpoints/step-NNNNNNN/ holds model.safetensors (the parameters under
 * Hugging Face GPT-2 names, the config in the metadata) and optimizer.safetensors (AdamW
 * moments, the step and the data stream position); RUN/checkpoints/latest points at the
 * newest. A checkpoint is written into a temporary folder, fsync'd, renamed into place, and
 * only then does `latest` move (an atomic rename of a symlink): a crash at any moment leaves
 * the previous checkpoint intact. The two newest checkpoints up to the one just written are
 * kept, and the best one: RUN/checkpoints/best points at the step folder of the lowest mean
 * held-out loss (a save with st->best_step == st->step moves it there). */
#ifndef POLYMOE_CHECKPOINT_H
#define POLYMOE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "train/data/data.h"
#include "train/tokenizer/tokenizer.h"

/* Everything besides the parameters and moments that a resumed run needs to continue exactly
 * as if never stopped. */
typedef struct {
    int step;
    uint64_t data_state[PM_DATA_STATE_LEN];
    int collapse_streak, collapsed_at; /* the collapse detector */
    int pending_eval;                  /* the evaluation of `step` was interrupted: redo it */
    long long metrics_bytes;           /* metrics.jsonl's length when the checkpoint was taken */
    int best_step;                     /* the step of the lowest mean held-out loss so far (0: none) */
    double best_loss;                  /* that loss */
} pm_train_state;

/* The whole model's parameters and AdamW moments in host memory, in the layout of
 * pm_model_global_tensors: what rank 0 gathers from every rank of an expert-parallel run. */
typedef struct {
    const float *params, *m, *v;
} pm_checkpoint_image;

/* Writes m's parameters and moments, or with img those of img (then m gives the table and the
 * config). A checkpoint always holds the whole model, whatever ranks trained it. Also records
 * the tokenizer (kind, identity, vocabulary size) in model.safetensors and copies its files
 * (tokenizer.json, or vocab.json and merges.txt) into the step folder. */
int pm_checkpoint_save(const char *run_dir, pm_model *m, const pm_checkpoint_image *img, const pm_tokenizer *tok,
                       const pm_train_state *st, char *err, size_t errlen);

/* Resolves `dir` (a run folder, its checkpoints folder, one step folder, or a Hugging Face
 * GPT-2 folder: train/hf_gpt2.h) to a step folder and reads the model config stored in it. When `latest` is missing, dangling or incomplete,
 * the newest complete step folder is used (and a note says so on stderr). */
int pm_checkpoint_find(const char *dir, char *step_dir, size_t len, pm_config *cfg, char *err,
                       size_t errlen);

/* Loads parameters, and with st also the optimiser moments and trainer state; an
 * expert-parallel model takes its own experts' share. */
int pm_checkpoint_load(const char *step_dir, pm_model *m, pm_train_state *st, char *err,
                       size_t errlen);

/* The tokenizer a step folder was trained with, opened from its own copy of the files and
 * checked against the recorded identity (checkpoints from before tokenizers were recorded
 * used bytes). NULL with err filled. */
pm_tokenizer *pm_checkpoint_tokenizer(const char *step_dir, char *err, size_t errlen);
/* 0 when tok is the tokenizer the step folder was trained with; else -1, err naming both. */
int pm_checkpoint_same_tokenizer(const char *step_dir, const pm_tokenizer *tok, char *err, size_t errlen);

/* The training step a step folder was saved at (its optimizer metadata), -1 when unknown. */
int pm_checkpoint_step(const char *step_dir);

/* Deletes RUN/checkpoints and everything in it (train --overwrite). */
int pm_checkpoint_remove_all(const char *run_dir, char *err, size_t errlen);

#endif
