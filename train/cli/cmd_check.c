/* polymoe check: the conformance suite on this machine's devices. */
#include <stdio.h>
#include <string.h>

#include "tests/suite/suite.h"
#include "train/cli/commands.h"

int cmd_check(int argc, char **argv) {
    const char *backend = "all", *op = NULL;
    if (wants_help(argc, argv)) {
        printf("usage: polymoe check [--backend NAME|all] [--op NAME]\n\n"
               "Runs every op of the backend interface on device 0 of each backend (or of\n"
               "NAME) with random inputs of awkward shapes and compares it with the\n"
               "reference backend, ref, by normalised mean squared error (indices must\n"
               "match exactly).\n"
               "GEMM rows run once per GEMM implementation (own, vendor library).\n"
               "ref itself (plain loops, double accumulation) is checked differently: every\n"
               "backward against finite differences, and the router and dispatch against\n"
               "their semantics. One row per (status, backend, op, shape); the last line\n"
               "counts them. Exit status 0 when nothing failed.\n\n"
               "  --backend NAME  ref, cpu, opencl, vulkan, cuda or all (default all)\n"
               "  --op NAME       only this op (e.g. gemm, router_fwd); an unknown name is an error\n");
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) backend = argv[++i];
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) op = argv[++i];
        else {
            fprintf(stderr, "polymoe check: unknown or incomplete option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (op && pm_op_index(op) < 0) {
        fprintf(stderr, "polymoe check: unknown op '%s'; the ops are:", op);
        for (int i = 0; i < PM_OP_COUNT; i++) fprintf(stderr, " %s", pm_op_name(i));
        fprintf(stderr, "\n");
        return 2;
    }
    pm_tally tally;
    return pm_check(backend, op, stdout, &tally) ? 1 : 0;
}
