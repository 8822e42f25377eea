/* polymoe eval: per-domain held-out loss of a checkpoint. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "train/checkpoint.h"
#include "train/cli/commands.h"
#include "train/evaluate.h"
#include "train/run_config.h"

int cmd_eval(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: polymoe eval --checkpoint DIR [--data MANIFEST] [--backend NAME] [--device N]\n"
               "                    [key=value ...]\n\n"
               "Evaluates the model in DIR (a run folder, its checkpoints/ folder or one\n"
               "checkpoint) on the held-out split of every domain of its training manifest\n"
               "(or MANIFEST), encoded with the checkpoint's own tokenizer: loss per token,\n"
               "perplexity, bits per byte and the unigram baseline per domain, and the\n"
               "expert x domain token counts, printed and written as one JSON line to stdout.\n"
               "key=value changes evaluation settings such as eval_seqs or batch_size.\n");
        return 0;
    }
    pm_run_args a;
    char err[1024], step_dir[4096];
    if (pm_run_args_parse(&a, argc, argv, "eval", err, sizeof err)) {
        fprintf(stderr, "polymoe eval: %s (see --help)\n", err);
        return 2;
    }
    if (!a.checkpoint) {
        fprintf(stderr, "polymoe eval: --checkpoint is required (see --help)\n");
        return 2;
    }
    pm_config cfg;
    if (pm_checkpoint_find(a.checkpoint, step_dir, sizeof step_dir, &cfg, err, sizeof err)) {
        fprintf(stderr, "polymoe eval: %s\n", err);
        return 1;
    }
    for (int i = 0; i < a.n_overrides; i++)
        if (pm_config_apply_kv(&cfg, a.overrides[i], err, sizeof err)) {
            fprintf(stderr, "polymoe eval: %s\n", err);
            return 2;
        }
    if (a.data) snprintf(cfg.data, sizeof cfg.data, "%s", a.data);
    pm_backend *be = pm_backend_open(a.backend, a.device, err, sizeof err);
    if (!be) {
        fprintf(stderr, "polymoe eval: %s\n", err);
        return 1;
    }
    pm_tokenizer *tok = pm_checkpoint_tokenizer(step_dir, err, sizeof err);
    pm_data_options dopt = {.seq_len = cfg.block_size, .eval_fraction = cfg.eval_fraction,
                            .seed = cfg.seed, .natural_mix = cfg.natural_mix,
                            .tokenizer = tok};
    pm_dataset *data = tok ? pm_data_open(cfg.data, &dopt, err, sizeof err) : NULL;
    pm_model *m = data ? pm_model_create(be, &cfg, cfg.batch_size, cfg.block_size, err, sizeof err) : NULL;
    pm_eval_output out = {STDOUT_FILENO, "standard output", NULL};
    int rc = 1;
    if (!data || !m) fprintf(stderr, "polymoe eval: %s\n", err);
    else if (pm_checkpoint_load(step_dir, m, NULL, err, sizeof err) ||
             pm_evaluate(m, data, pm_checkpoint_step(step_dir), (size_t)cfg.eval_seqs, &out, NULL, err, sizeof err))
        fprintf(stderr, "polymoe eval: %s\n", err);
    else rc = 0;
    pm_model_free(m);
    pm_data_close(data);
    pm_tokenizer_free(tok);
    pm_backend_close(be);
    return rc;
}
