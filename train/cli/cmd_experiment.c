/* polymoe experiment: the studies polymoe was built for (emergence, lora-moe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/report/experiment.h"
#include "train/run_config.h"

static void help(void) {
    printf("usage: polymoe experiment emergence|lora-moe [--backend NAME] [--out DIR] [--data MANIFEST]\n"
           "                                              [--scale toy|default|gpt2 [--init-from DIR]]\n"
           "                                              [--seeds N] [--steps N] [key=value ...]\n\n"
           "Both train, on the default corpus (code, math, prose; built in data/default on first\n"
           "use) or MANIFEST, the dense baseline (configs/dense.json), whose early checkpoint is the\n"
           "short dense pre-training the MoE runs are upcycled from, and then:\n\n"
           "emergence: do experts specialise by domain?\n"
           "  moe     upcycled MoE, top-1, load balancing on (configs/tiny.json)\n"
           "  no-lb   the same without load balancing, as long as the others (collapse marked)\n"
           "  top2    the same with top-2 routing\n"
           "  top2-matched  top-2 of half-width experts: top-1's active parameters and FLOPs\n"
           "  dense-restart  the dense model continued from that checkpoint on the MoE runs'\n"
           "          restarted schedule (the control for the restart)\n\n"
           "lora-moe: LoRA experts over a frozen base (DyLoRA-MoE) against full experts\n"
           "  moe     upcycled MoE, top-1, load balancing on (configs/tiny.json)\n"
           "  lora    8 LoRA experts of rank 8 over the frozen dense model: only adapters and\n"
           "          routers train; dense routing in training, top-1 at evaluation\n\n"
           "then writes DIR/report/report.html (see polymoe report --help): held-out loss per\n"
           "domain, trainable parameters, AdamW memory, tokens/s, expert x domain heatmaps.\n\n"
           "  --backend NAME   cpu, ref, opencl, vulkan, cuda or auto (default cpu)\n"
           "  --out DIR        the study folder (default runs/NAME); must not hold a study\n"
           "  --scale S        default: configs/tiny.json over a 2,048-token BPE vocabulary that\n"
           "                   each seed trains on its train split (DIR/tokenizer), 400 dense steps\n"
           "                   and MoE runs of 700, the last evaluation over every held-out\n"
           "                   sequence; emergence took 26.1 minutes with 3 seeds on 2 CPU cores\n"
           "                   and keeps every checkpoint (3.2 GB) for the saturation curve.\n"
           "                   toy: seconds (tests). gpt2: the MoE Emergence study for a GPU\n"
           "                   (configs/gpt2-small-moe.json): GPT-2 small from --init-from DIR,\n"
           "                   a Hugging Face folder, MoE in layers 8-11, 10,000 steps, its BPE;\n"
           "                   the MoE runs start from DIR itself and the dense baseline is DIR\n"
           "                   fine-tuned as long (no dense-restart arm: there is no restart)\n"
           "  --init-from DIR  the pretrained GPT-2 folder of --scale gpt2\n"
           "  --steps N        the MoE runs' length instead of the scale's (to try a scale briefly)\n"
           "  key=value        sets a config field of every run (polymoe train --help-config), after\n"
           "                   the scale's and before each arm's own (e.g. block_size=64 to try gpt2)\n"
           "  --data MANIFEST  another corpus (a manifest, see train/data/data.h)\n"
           "  --seeds N        every arm N times, seeds 1337.. (default 3; 1 to 10): the report gives\n"
           "                   the mean and 95%% interval of every headline number and of each\n"
           "                   arm's difference from the dense baseline; figures show seed 1.\n"
           "                   Seed K's runs are DIR/seed-K/ARM (seed 1's DIR/ARM)\n");
}

int cmd_experiment(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        help();
        return 0;
    }
    if (argc < 1 || !pm_experiment_known(argv[0])) {
        if (argc < 1) fprintf(stderr, "polymoe experiment: name the experiment: %s (see --help)\n", pm_experiment_names());
        else fprintf(stderr, "polymoe experiment: unknown experiment '%s' (there are: %s)\n", argv[0], pm_experiment_names());
        return 2;
    }
    char out[300];
    snprintf(out, sizeof out, "runs/%s", argv[0]);
    pm_experiment_options opt = {.backend = "cpu", .out = out, .scale = "default", .seeds = 3};
    const char *overrides[PM_MAX_OVERRIDES + 1] = {NULL};
    int n_overrides = 0;
    opt.overrides = overrides;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-' && strchr(argv[i], '=')) {
            if (n_overrides == PM_MAX_OVERRIDES) {
                fprintf(stderr, "polymoe experiment: more than %d key=value settings\n", PM_MAX_OVERRIDES);
                return 2;
            }
            overrides[n_overrides++] = argv[i];
            continue;
        }
        int *number = !strcmp(argv[i], "--seeds") ? &opt.seeds : !strcmp(argv[i], "--steps") ? &opt.steps : NULL;
        if (number) {
            long most = number == &opt.seeds ? 10 : 1000000000;
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (!end || *end || end == argv[i + 1] || v < 1 || v > most) {
                fprintf(stderr, "polymoe experiment: %s wants a number from 1 to %ld\n", argv[i], most);
                return 2;
            }
            *number = (int)v;
            i++;
            continue;
        }
        const char **slot = !strcmp(argv[i], "--backend")     ? &opt.backend
                            : !strcmp(argv[i], "--out")       ? &opt.out
                            : !strcmp(argv[i], "--scale")     ? &opt.scale
                            : !strcmp(argv[i], "--data")      ? &opt.data
                            : !strcmp(argv[i], "--init-from") ? &opt.init_from
                                                              : NULL;
        if (!slot) {
            fprintf(stderr, "polymoe experiment: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "polymoe experiment: %s needs a value\n", argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }
    char err[1024];
    int rc = pm_experiment_run(argv[0], &opt, err, sizeof err);
    if (rc) fprintf(stderr, "polymoe experiment: %s\n", err);
    return rc;
}
