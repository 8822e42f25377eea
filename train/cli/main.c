/* polymoe: train GPT-2 Mixture-of-Experts models on any backend. */
#include <stdio.h>
#include <string.h>

#include "train/cli/commands.h"
#include "train/dist/dist.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a GPT-2 MoE model (default: configs/tiny.json on the default corpus)"},
    {"eval", cmd_eval, "per-domain held-out loss of a checkpoint"},
    {"generate", cmd_generate, "sample text from a checkpoint"},
    {"tokenizer", cmd_tokenizer, "encode, decode, inspect or train a tokenizer (byte or GPT-2 BPE)"},
    {"devices", cmd_devices, "list the backends compiled in and their devices"},
    {"check", cmd_check, "run the op conformance suite on this machine's devices"},
    {"bench", cmd_bench, "benchmark the backends on the same work: GEMM, router, dispatch, MoE layer, train step"},
    {"experiment", cmd_experiment, "run a study: emergence (dense, MoE, no-LB, top-2) or lora-moe (dense, MoE, LoRA experts), then the report"},
    {"report", cmd_report, "HTML report with figures of runs: losses, routing, collapse, token types"},
};
enum { n_commands = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fprintf(f, "usage: polymoe <command> [options]   (polymoe <command> --help for its options)\n\n"
               "commands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

/* Under an MPI launcher only `train` runs across the ranks; a rank that fails ends the job. */
static int run_command(const command *c, int argc, char **argv) {
    char err[1024];
    if (pm_dist_init(&argc, &argv, err, sizeof err)) {
        fprintf(stderr, "polymoe %s: %s\n", c->name, err);
        return 1;
    }
    int rc;
    if (pm_dist_size() > 1 && strcmp(c->name, "train") != 0) {
        fprintf(stderr, "polymoe %s: runs as one process; only polymoe train runs across %d MPI ranks\n", c->name,
                pm_dist_size());
        rc = 2;
    } else {
        rc = c->run(argc - 2, argv + 2);
    }
    /* 130: every rank stopped for the same signal at the same step */
    if (rc != 0 && rc != 130 && pm_dist_size() > 1) {
        fprintf(stderr, "polymoe %s: rank %d of %d failed (status %d, the cause above); ending the job\n", c->name,
                pm_dist_rank(), pm_dist_size(), rc);
        pm_dist_abort(rc);
    }
    pm_dist_finalize();
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return run_command(&commands[i], argc, argv);
    fprintf(stderr, "polymoe: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
