/* polymoe bench: benchmarks comparing the backends on the same work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/suite_tokenizer.h"
#include "train/run_config.h"
#include "train/cli/commands.h"

static void usage(void) {
    printf("usage: polymoe bench [--backend all|NAME] [--suite LIST] [--config NAME|FILE]... [--json FILE]\n"
           "                     [--out DIR] [--quick]\n\n"
           "Times the same work, on the same seeded inputs, on device 0 of every backend compiled\n"
           "in (or of NAME): a warm-up run, then repeated runs with the device synchronised around\n"
           "host timers; reports the median with min/max and quartiles.\n\n"
           "Suites (comma-separated, run in this order; default all):\n"
           "  gemm        square float32 GEMM 256..4096 and the model's shapes (MLP 768x3072 and\n"
           "              back with gradients, per-head attention products, LM head against vocab\n"
           "              50257) for 4096 tokens, once per GEMM implementation; GFLOP/s\n"
           "  router      router_fwd (softmax + top-k) for 4K..64K tokens x 8..64 experts, k 1 and 2;\n"
           "              GB/s of the bytes it must move\n"
           "  dispatch    moe_plan + moe_permute, and moe_combine, at width 768; GB/s\n"
           "  moe_layer   MoE MLP forward + backward against the dense MLP of the same active FLOPs\n"
           "              (8 experts, 4096 tokens, top-1 and top-2); the ratio MoE/dense\n"
           "  train_step  whole training steps of each config and its dense twin (the same without\n"
           "              MoE layers): tokens/s (median, min, max over the steps), MFU, peak device\n"
           "              memory. Default configs: tiny, and configs/gpt2-moe.json on a GPU with\n"
           "              enough memory. MFU is against the driver's peak on a GPU where known, and on\n"
           "              a CPU device against a peak measured in the run: the host's FMA peak on all\n"
           "              OpenMP threads or the backend's GEMM ceiling (one large sgemm), the higher\n"
           "              (the table and the JSON say which); at least 5 steps (3 with --quick)\n"
           "  tokenizer   (run alone: --suite tokenizer --tokenizer SPEC) encode MB/s of a tokenizer on\n"
           "              the documents of the default corpus (or --data MANIFEST), one thread,\n"
           "              --rounds N rounds (default 5), each with a freshly opened tokenizer;\n"
           "              prints one JSON line; bench/compare_tokenizers.py runs it beside\n"
           "              tiktoken and Hugging Face tokenizers\n"
           "The gemm suite runs every GEMM implementation of a backend; the other suites run the\n"
           "backend's default implementation. --backend all leaves out ref, the slow reference.\n"
           "The full run is sized for GPUs (on CPU implementations it takes tens of minutes or\n"
           "more); --quick is the one for CPUs.\n\n"
           "  --backend NAME  a backend name or all (default all)\n"
           "  --suite LIST    e.g. gemm,router (default all: %s)\n"
           "  --config C      train_step config, repeatable: built in (%s),\n"
           "                  configs/C.json from the working directory, or a .json file\n"
           "  --out DIR       output directory, created if needed (default runs/bench):\n"
           "                  bench.jsonl, bench.md, gemm.svg, moe_vs_dense.svg\n"
           "  --json FILE     the JSON Lines file instead of DIR/bench.jsonl (one object per\n"
           "                  measurement: suite, op, case, backend, implementation, device, shape,\n"
           "                  dtype, median_ms, spread, reps, gflops, gbps, ..., and on every\n"
           "                  line host_cpu, omp_threads, commit, run_utc)\n"
           "  --quick         small shapes and few repetitions, about two minutes in all: squares to\n"
           "                  1024 (larger ones left out when they would take over a second), 64\n"
           "                  tokens for the model's GEMM shapes, a top-1 MoE layer of 128 tokens\n"
           "                  at width 256, batch 4 for train_step, fewer router and dispatch cases;\n"
           "                  each backend gets an equal share of the time, split among its suites;\n"
           "                  a run slower than the budget is timed once (train_step: 3 times),\n"
           "                  and what is due after its suite's share is spent is skipped (listed\n"
           "                  in the notes)\n\n"
           "Exit status: 0 when nothing failed (skips, listed in the notes, are not failures),\n"
           "1 when a measurement failed or an output could not be written, 2 on bad arguments.\n",
           pm_bench_suite_list(), pm_bench_config_list());
}

/* polymoe bench --suite tokenizer ...: not a backend suite, so it runs on its own. */
static int bench_tokenizer(int argc, char **argv) {
    const char *spec = NULL, *data = "data/default/manifest.json";
    int rounds = 5;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--suite") && val && !strcmp(val, "tokenizer")) i++;
        else if (!strcmp(arg, "--tokenizer") && val) spec = argv[++i];
        else if (!strcmp(arg, "--data") && val) data = argv[++i];
        else if (!strcmp(arg, "--rounds") && val && atoi(val) >= 1 && atoi(val) <= 1000) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "polymoe bench --suite tokenizer: unexpected '%s' (it takes --tokenizer SPEC, "
                            "--data MANIFEST and --rounds 1..1000; see --help)\n", arg);
            return 2;
        }
    }
    if (!spec) {
        fprintf(stderr, "polymoe bench --suite tokenizer: --tokenizer SPEC is required (byte or bpe:PATH)\n");
        return 2;
    }
    char err[4800];
    if (pm_corpus_ensure_default(data, err, sizeof err) || pm_bench_tokenizer(spec, data, rounds, NULL, err, sizeof err)) {
        fprintf(stderr, "polymoe bench: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        usage();
        return 0;
    }
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--suite") && !strcmp(argv[i + 1], "tokenizer")) return bench_tokenizer(argc, argv);
    pm_bench_options opt = {.backend = "all", .suites = PM_BENCH_ALL, .out_dir = "runs/bench"};
    const char *configs[32];
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int takes_value = strcmp(arg, "--backend") == 0 || strcmp(arg, "--suite") == 0 ||
                          strcmp(arg, "--json") == 0 || strcmp(arg, "--out") == 0 ||
                          strcmp(arg, "--config") == 0;
        if (strcmp(arg, "--quick") == 0) {
            opt.quick = 1;
            continue;
        }
        if (!takes_value) {
            fprintf(stderr, "polymoe bench: unknown option '%s' (see --help)\n", arg);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == 0) {
            fprintf(stderr, "polymoe bench: %s needs a value (see --help)\n", arg);
            return 2;
        }
        const char *val = argv[++i];
        if (strcmp(arg, "--backend") == 0) opt.backend = val;
        else if (strcmp(arg, "--json") == 0) opt.json_path = val;
        else if (strcmp(arg, "--out") == 0) opt.out_dir = val;
        else if (strcmp(arg, "--config") == 0) {
            if (opt.n_configs == (int)(sizeof configs / sizeof configs[0])) {
                fprintf(stderr, "polymoe bench: at most %d --config\n", opt.n_configs);
                return 2;
            }
            configs[opt.n_configs++] = val;
            opt.configs = configs;
        } else {
            char err[256];
            opt.suites = pm_bench_parse_suites(val, err, sizeof err);
            if (!opt.suites) {
                fprintf(stderr, "polymoe bench: %s\n", err);
                return 2;
            }
        }
    }
    return pm_bench_run(&opt);
}
