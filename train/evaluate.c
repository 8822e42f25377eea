#include "train/evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void pm_write_json_line(FILE *f, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    fprintf(f, "%s\n", s);
    fflush(f);
    free(s);
    cJSON_Delete(o);
}

int pm_evaluate(pm_model *model, pm_dataset *data, int step, FILE *metrics, char *err,
                size_t errlen) {
    const pm_config *c = pm_model_config(model);
    pm_backend *be = pm_model_backend(model);
    int D = pm_data_domains(data), B = c->batch_size, T = c->block_size, E = c->n_experts,
        k = c->top_k, nm = pm_model_n_moe(model);
    size_t n_tok = (size_t)B * T;
    int32_t *inputs = malloc(n_tok * sizeof *inputs), *targets = malloc(n_tok * sizeof *targets);
    long *counts = calloc((size_t)(nm ? nm : 1) * E * D, sizeof *counts);
    int32_t *ids = malloc(sizeof *ids * (size_t)B * T * k);
    float *losses = malloc(sizeof *losses * (size_t)B * T);
    cJSON *o = cJSON_CreateObject(), *doms = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "eval");
    cJSON_AddNumberToObject(o, "step", step);
    printf("eval step %d:", step);
    for (int d = 0; d < D; d++) {
        size_t avail = pm_data_eval_count(data, d), n = avail < (size_t)c->eval_seqs ? avail : (size_t)c->eval_seqs;
        double sum = 0;
        size_t tokens = 0;
        for (size_t s0 = 0; s0 < n; s0 += (size_t)B) {
            int b = (int)(n - s0 < (size_t)B ? n - s0 : (size_t)B);
            for (int i = 0; i < b; i++)
                pm_data_eval_sequence(data, d, s0 + i, inputs + (size_t)i * T, targets + (size_t)i * T);
            if (pm_model_forward(model, inputs, targets, b, T, -1, NULL) != PM_OK) break;
            pm_model_token_losses(model, losses, b, T);
            for (int i = 0; i < b * T; i++) sum += losses[i];
            tokens += (size_t)b * T;
            for (int l = 0; l < nm; l++) {
                pm_model_expert_ids(model, l, ids, b, T);
                for (int i = 0; i < b * T * k; i++) counts[((size_t)l * E + ids[i]) * D + d]++;
            }
        }
        double loss = tokens ? sum / tokens : 0;
        cJSON *x = cJSON_AddObjectToObject(doms, pm_data_domain_name(data, d));
        cJSON_AddNumberToObject(x, "loss", loss);
        cJSON_AddNumberToObject(x, "ppl", exp(loss));
        cJSON_AddNumberToObject(x, "tokens", (double)tokens);
        cJSON_AddNumberToObject(x, "unigram_loss", pm_data_unigram_loss(data, d));
        printf(" %s %.4f", pm_data_domain_name(data, d), loss);
    }
    printf("\n");
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
    if (metrics) pm_write_json_line(metrics, o);
    else cJSON_Delete(o);
    free(inputs);
    free(targets);
    free(counts);
    free(ids);
    free(losses);
    if (pm_failed(be)) {
        snprintf(err, errlen, "%s", pm_error(be));
        return -1;
    }
    return 0;
}

