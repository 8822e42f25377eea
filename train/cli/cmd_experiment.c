/* polymoe experiment: the studies polymoe was built for (one so far: emergence). */
#include <stdio.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/report/experiment.h"

static void help(void) {
    printf("usage: polymoe experiment emergence [--backend NAME] [--out DIR] [--scale toy|default]\n"
           "                                    [--data MANIFEST]\n\n"
           "Do experts specialise by domain? Trains, on the default corpus (code, math, prose;\n"
           "built in data/default on first use) or MANIFEST:\n"
           "  dense   the dense baseline (configs/dense.json); its early checkpoint is the short\n"
           "          dense pre-training the MoE runs are upcycled from\n"
           "  moe     upcycled MoE, top-1, load balancing on (configs/tiny.json)\n"
           "  no-lb   the same without load balancing, stopped once routing collapses\n"
           "  top2    the same with top-2 routing\n"
           "then writes DIR/report/report.html (see polymoe report --help).\n\n"
           "  --backend NAME   cpu, ref, opencl, vulkan, cuda or auto (default cpu)\n"
           "  --out DIR        the study folder (default runs/emergence); must not hold a study\n"
           "  --scale S        default: about 3-4 minutes on 2 CPU cores (3.3 measured, the no-LB\n"
           "                   run going all 300 steps); toy: seconds (tests)\n"
           "  --data MANIFEST  another corpus (a manifest, see train/data/data.h)\n");
}

int cmd_experiment(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        help();
        return 0;
    }
    if (argc < 1 || strcmp(argv[0], "emergence") != 0) {
        if (argc < 1) fprintf(stderr, "polymoe experiment: name the experiment: emergence (see --help)\n");
        else fprintf(stderr, "polymoe experiment: unknown experiment '%s' (the one there is: emergence)\n", argv[0]);
        return 2;
    }
    pm_experiment_options opt = {.backend = "cpu", .out = "runs/emergence", .scale = "default"};
    for (int i = 1; i < argc; i++) {
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
    int rc = pm_experiment_emergence(&opt, err, sizeof err);
    if (rc) fprintf(stderr, "polymoe experiment: %s\n", err);
    return rc;
}
