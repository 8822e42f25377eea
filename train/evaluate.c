#include "train/evaluate.h"

#include "train/dist/dist.h"
#include "train/util/files.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes a target token stands for; end-of-text counts as one (a byte model predicts it as
 * one token too), so that bits per byte compare byte and BPE models on the same text. */
static size_t target_bytes(const pm_tokenizer *tok, int32_t id) {
    size_t len;
    pm_tokenizer_token(tok, id, &len);
    return id == pm_tokenizer_eot(tok) ? 1 : len;
}

/* What a domain's evaluated sequences add up to (summed over ranks as doubles). */
enum { SUM, SUM_TRAIN, SEQ_SUM, SEQ_SQ, TOKENS, BYTES, N_ACC };

int pm_evaluate(pm_model *model, pm_dataset *data, int step, size_t seqs, const pm_eval_output *out,
                double *mean_loss, char *err, size_t errlen) {
    const pm_config *c = pm_model_config(model);
    pm_backend *be = pm_model_backend(model);
    const pm_tokenizer *tok = pm_data_tokenizer(data);
    int D = pm_data_domains(data), B = c->batch_size, T = c->block_size, E = c->n_experts,
        k = c->top_k, nm = pm_model_n_moe(model), rank = pm_dist_rank(), ranks = pm_dist_size();
    size_t n_tok = (size_t)B * T, n_counts = (size_t)(nm ? nm : 1) * E * D;
    int32_t *inputs = malloc(n_tok * sizeof *inputs), *targets = malloc(n_tok * sizeof *targets);
    /* counts, then the N_ACC sums of every domain: one buffer, one all-reduce */
    double *counts = calloc(n_counts + (size_t)N_ACC * (D ? D : 1), sizeof *counts);
    int32_t *ids = malloc(sizeof *ids * (size_t)B * T * k);
    float *losses = malloc(sizeof *losses * (size_t)B * T);
    cJSON *o = cJSON_CreateObject(), *doms = cJSON_CreateObject();
    int rc = inputs && targets && counts && ids && losses && o && doms ? 0 : -1;
    if (rc) {
        snprintf(err, errlen, "evaluation: out of host memory");
        D = nm = 0;
    }
    /* DyLoRA-MoE's dense-train/sparse-infer: report what the training routing would give too */
    int both = nm && c->router_mode != c->eval_router_mode;
    double mean = 0;
    cJSON_AddStringToObject(o, "type", "eval");
    if (step >= 0) cJSON_AddNumberToObject(o, "step", step);
    if (!rc && step >= 0) printf("eval step %d:", step);
    else if (!rc) printf("eval (step unknown):");
    fflush(stdout); /* shows that an evaluation is under way */
    /* the batches of a domain are dealt out to the ranks in turn; under expert parallelism every
     * forward is a collective, so a rank left without a batch in the last round runs the round's
     * first one again and drops its results */
    int lockstep = pm_model_expert_parallel(model);
    for (int d = 0; d < D && !rc; d++) {
        size_t avail = pm_data_eval_count(data, d), n = avail < seqs ? avail : seqs;
        size_t batches = (n + (size_t)B - 1) / (size_t)B;
        double *acc = counts + n_counts + (size_t)d * N_ACC;
        for (size_t first = 0; first < batches && !rc; first += (size_t)ranks) {
            if (out->cancel && *out->cancel) rc = 1; /* a signal: the trainer checkpoints and exits */
            size_t batch = first + (size_t)rank;
            int filler = batch >= batches;
            if (rc || (filler && !lockstep)) break;
            if (filler) batch = first;
            size_t s0 = batch * (size_t)B;
            int b = (int)(n - s0 < (size_t)B ? n - s0 : (size_t)B);
            for (int i = 0; i < b; i++)
                pm_data_eval_sequence(data, d, s0 + i, n, inputs + (size_t)i * T, targets + (size_t)i * T);
            if (pm_model_forward(model, inputs, targets, b, T, -1, NULL) != PM_OK) break;
            if (!filler) {
                pm_model_token_losses(model, losses, b, T);
                for (int i = 0; i < b * T; i++) {
                    acc[SUM] += losses[i];
                    acc[BYTES] += (double)target_bytes(tok, targets[i]);
                }
                for (int i = 0; i < b; i++) { /* sequence means, for the standard error */
                    double m = 0;
                    for (int j = 0; j < T; j++) m += losses[i * T + j] / T;
                    acc[SEQ_SUM] += m, acc[SEQ_SQ] += m * m;
                }
                acc[TOKENS] += (double)b * T;
                for (int l = 0; l < nm; l++) {
                    pm_model_expert_ids(model, l, ids, b, T);
                    for (int i = 0; i < b * T * k; i++) counts[((size_t)l * E + ids[i]) * D + d]++;
                }
            }
            if (!both) continue;
            pm_model_set_eval_routing(model, c->router_mode);
            int f = pm_model_forward(model, inputs, targets, b, T, -1, NULL);
            pm_model_set_eval_routing(model, c->eval_router_mode);
            if (f != PM_OK) break;
            if (filler) continue;
            pm_model_token_losses(model, losses, b, T);
            for (int i = 0; i < b * T; i++) acc[SUM_TRAIN] += losses[i];
        }
    }
    if (!rc && pm_failed(be)) {
        snprintf(err, errlen, "%s", pm_error(be));
        rc = -1;
    }
    if (!rc && ranks > 1 && pm_dist_sum_doubles(counts, n_counts + (size_t)N_ACC * D, err, errlen)) rc = -1;
    for (int d = 0; d < D && !rc; d++) {
        const double *acc = counts + n_counts + (size_t)d * N_ACC;
        double tokens = acc[TOKENS], bytes = acc[BYTES], loss = tokens ? acc[SUM] / tokens : 0;
        /* tokens of a sequence are not independent, sequences nearly are: the standard error of
         * the loss is the one of the sequence means */
        double n = tokens / T, var = n > 1 ? (acc[SEQ_SQ] - acc[SEQ_SUM] * acc[SEQ_SUM] / n) / (n - 1) : 0;
        double se = n > 1 ? sqrt(fmax(var, 0) / n) : 0;
        mean += loss / D;
        cJSON *x = cJSON_AddObjectToObject(doms, pm_data_domain_name(data, d));
        cJSON_AddNumberToObject(x, "loss", loss);
        cJSON_AddNumberToObject(x, "loss_se", se);
        cJSON_AddNumberToObject(x, "sequences", n);
        if (both) cJSON_AddNumberToObject(x, "loss_train_routing", tokens ? acc[SUM_TRAIN] / tokens : 0);
        cJSON_AddNumberToObject(x, "ppl", exp(loss));
        cJSON_AddNumberToObject(x, "tokens", tokens);
        cJSON_AddNumberToObject(x, "bytes", bytes);
        cJSON_AddNumberToObject(x, "bits_per_byte", bytes ? acc[SUM] / bytes / log(2.0) : 0);
        cJSON_AddNumberToObject(x, "unigram_loss", pm_data_unigram_loss(data, d));
        cJSON_AddNumberToObject(x, "ngram_loss", pm_data_ngram_loss(data, d));
        cJSON_AddNumberToObject(x, "byte_ngram_loss", pm_data_byte_ngram_loss(data, d));
        printf(" %s %.4f +- %.4f (%.3f bits/byte", pm_data_domain_name(data, d), loss, se,
               bytes ? acc[SUM] / bytes / log(2.0) : 0);
        if (both) printf("; %s routing %.4f", c->router_mode == PM_ROUTE_DENSE ? "dense" : "top-k",
                         tokens ? acc[SUM_TRAIN] / tokens : 0);
        printf(")");
    }
    if (rc >= 0) printf(rc ? " interrupted\n" : "\n");
    fflush(stdout);
    cJSON_AddItemToObject(o, "domains", doms);
    cJSON *names = cJSON_AddArrayToObject(o, "domain_names");
    for (int d = 0; d < D; d++) cJSON_AddItemToArray(names, cJSON_CreateString(pm_data_domain_name(data, d)));
    cJSON *layers = cJSON_AddArrayToObject(o, "moe");
    for (int l = 0; l < nm; l++) {
        cJSON *x = cJSON_CreateObject(), *rows = cJSON_AddArrayToObject(x, "counts");
        cJSON_AddNumberToObject(x, "layer", pm_model_moe_layer(model, l));
        for (int e = 0; e < E; e++) {
            cJSON *row = cJSON_CreateArray();
            for (int d = 0; d < D; d++) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)counts[((size_t)l * E + e) * D + d]));
            cJSON_AddItemToArray(rows, row);
        }
        cJSON_AddItemToArray(layers, x);
    }
    if (mean_loss) *mean_loss = mean;
    if (!rc && out->fd >= 0) rc = pm_append_json_line(out->fd, out->path, o, err, errlen);
    else cJSON_Delete(o);
    free(inputs);
    free(targets);
    free(counts);
    free(ids);
    free(losses);
    return rc;
}
