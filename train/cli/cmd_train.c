/* polymoe train: the main job. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "model/router_losses.h"
#include "train/cli/commands.h"
#include "train/data/corpus.h"
#include "train/run_config.h"
#include "train/trainer.h"

static void help(void) {
    printf("usage: polymoe train [--config FILE] [--backend NAME|auto] [--device N] [--out DIR]\n"
           "                     [--steps N] [--resume | --overwrite] [--stop-on-collapse]\n"
           "                     [--init-from CHECKPOINT [--upcycle-noise STD]] [key=value ...]\n\n"
           "Trains a GPT-2 MoE model. Without --config it trains the embedded default\n"
           "(configs/tiny.json) on the default corpus, which it builds in data/default on\n"
           "first use. key=value sets any config field (e.g. lb_coef=0 top_k=2\n"
           "moe_layers=1,3); polymoe train --help-config lists them. tokenizer=bpe:PATH trains\n"
           "on GPT-2 byte-level BPE tokens (PATH: a folder with tokenizer.json, or vocab.json\n"
           "and merges.txt) instead of bytes.\n\n"
           "  --config FILE       JSON config (fields override the defaults)\n"
           "  --backend NAME      cpu, ref, opencl, vulkan, cuda or auto (default cpu)\n"
           "  --device N          device index from `polymoe devices` (default 0)\n"
           "  --out DIR           run folder, created with its parents (default\n"
           "                      runs/<date-time>); holds config.json, metrics.jsonl and\n"
           "                      checkpoints/. A folder that already holds a run is refused\n"
           "                      unless --resume or --overwrite says what to do with it\n"
           "  --steps N           same as steps=N\n"
           "  --resume            continue the run in --out from its latest checkpoint; the\n"
           "                      losses are identical to a run never interrupted (if\n"
           "                      checkpoints/latest is missing or broken, the newest complete\n"
           "                      checkpoint is used)\n"
           "  --overwrite         replace the run in --out: its checkpoints and metrics are\n"
           "                      deleted once the new run has started\n"
           "  --stop-on-collapse  end early once routing has collapsed (max expert share\n"
           "                      >= " PM_STR(PM_COLLAPSE_SHARE) " or usage entropy < ln(E)/" PM_STR(PM_COLLAPSE_ENTROPY_DIV) " for " PM_STR(PM_COLLAPSE_STEPS) " steps)\n"
           "  --init-from DIR     upcycle: every expert starts as a copy of this dense\n"
           "                      checkpoint's MLP (plus --upcycle-noise, default 0.01); it\n"
           "                      must have been trained with the same tokenizer\n\n"
           "Ctrl-C (SIGINT) or SIGTERM ends the current step, writes its checkpoint (skipping\n"
           "an evaluation, which --resume then runs first) and exits with status 130; a second\n"
           "signal exits at once, leaving the last complete checkpoint.\n\n"
           "mpirun -np N polymoe train ... trains data parallel on N processes: each step runs\n"
           "N x grad_accum micro-batches (the one-process step with that accumulation), rank 0\n"
           "writes the run folder, a failing rank ends the job; GPU ranks take --device plus\n"
           "their rank in the node. With expert_parallel=R (N a multiple of R) it is expert\n"
           "parallel: in each group of R consecutive ranks a rank holds n_experts/R experts of\n"
           "every MoE layer, the rows routed to them go there and back in all-to-alls (through\n"
           "host memory), and the groups are data parallel; checkpoints hold the whole model,\n"
           "so any layout resumes them. See docs/distributed.md.\n");
}

int cmd_train(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        help();
        return 0;
    }
    pm_run_args ra;
    char err[1024];
    if (pm_run_args_parse(&ra, argc, argv, "train", err, sizeof err)) {
        fprintf(stderr, "polymoe train: %s (see --help)\n", err);
        return 2;
    }
    if (ra.help_config) {
        pm_config_print_fields(stdout);
        return 0;
    }
    if (ra.resume && ra.overwrite) {
        fprintf(stderr, "polymoe train: --resume and --overwrite exclude each other\n");
        return 2;
    }
    pm_train_options opt = {.backend = ra.backend, .device = ra.device, .resume = ra.resume, .overwrite = ra.overwrite,
                            .stop_on_collapse = ra.stop_on_collapse, .stop_after = ra.stop_after,
                            .init_from = ra.init_from, .upcycle_noise = ra.upcycle_noise};
    char out[512];
    if (ra.out && strlen(ra.out) >= sizeof out) {
        fprintf(stderr, "polymoe train: --out is longer than %zu characters\n", sizeof out - 1);
        return 2;
    }
    if (ra.out) snprintf(out, sizeof out, "%s", ra.out);
    else {
        if (ra.resume) {
            fprintf(stderr, "polymoe train: --resume needs --out DIR (the run to continue)\n");
            return 2;
        }
        time_t now = time(NULL);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
        snprintf(out, sizeof out, "runs/%s", stamp);
    }
    opt.out_dir = out;
    pm_config cfg;
    if (pm_run_config(&ra, ra.resume ? out : NULL, &cfg, err, sizeof err)) {
        fprintf(stderr, "polymoe train: %s\n", err);
        return 2;
    }
    if (pm_corpus_ensure_default(cfg.data, err, sizeof err)) {
        fprintf(stderr, "polymoe train: %s\n", err);
        return 1;
    }
    int rc = pm_train(&cfg, &opt, err, sizeof err);
    if (rc == 1) fprintf(stderr, "polymoe train: %s\n", err);
    return rc;
}
