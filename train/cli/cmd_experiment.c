/* polymoe experiment: the studies polymoe was built for (emergence, lora-moe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/report/experiment.h"

static void help(void) {
    printf("usage: polymoe experiment emergence|lora-moe [--backend NAME] [--out DIR]\n"
           "                                              [--scale toy|default] [--data MANIFEST] [--seeds N]\n\n"
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
           "  --scale S        default: emergence took 9.4 minutes with 3 seeds on 2 CPU cores,\n"
           "                   lora-moe 4.3 with --seeds 1; toy: seconds (tests)\n"
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
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds")) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (!end || *end || end == argv[i + 1] || v < 1 || v > 10) {
                fprintf(stderr, "polymoe experiment: --seeds wants a number from 1 to 10\n");
                return 2;
            }
            opt.seeds = (int)v;
            i++;
            continue;
        }
        const char **slot = !strcmp(argv[i], "--backend") ? &opt.backend
                            : !strcmp(argv[i], "--out")   ? &opt.out
                            : !strcmp(argv[i], "--scale") ? &opt.scale
                            : !strcmp(argv[i], "--data")  ? &opt.data
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
