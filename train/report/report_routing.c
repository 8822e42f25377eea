#include "train/report/report_routing.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/checkpoint.h"
#include "train/report/report_info.h"

static int compare_ints(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

/* The steps of RUN/checkpoints/step-NNNNNNN in order: the last in *last (0: none), up to
 * PM_SATURATION_POINTS of the earlier ones, the earliest first, in before[]. Returns their count. */
static int checkpoint_steps(const char *run_dir, int *last, int before[PM_SATURATION_POINTS]) {
    char path[1100];
    snprintf(path, sizeof path, "%s/checkpoints", run_dir);
    int steps[4096], n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 4096) {
        int s;
        char tail[8] = "";
        if (sscanf(e->d_name, "step-%d%7s", &s, tail) == 1 && s > 0) steps[n++] = s;
    }
    if (d) closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, compare_ints);
    *last = n ? steps[n - 1] : 0;
    int m = n > 1 ? (n - 1 < PM_SATURATION_POINTS ? n - 1 : PM_SATURATION_POINTS) : 0;
    memcpy(before, steps, (size_t)m * sizeof *steps);
    return m;
}

const double *pm_routing_class_counts(const pm_routing *r, int l, int d, int c) {
    return r->class_counts + (((size_t)l * PM_MAX_DOMAINS + d) * PM_MAX_CLASSES + c) * r->E;
}

const double *pm_routing_token_counts(const pm_routing *r, int l, int d, int t) {
    return r->token_counts + (((size_t)l * r->D + d) * r->V + t) * r->E;
}

const pm_routing_token *pm_routing_top_tokens(const pm_routing *r, int l, int e) {
    return r->top + ((size_t)l * r->E + e) * PM_TOP_TOKENS;
}

/* A token's bytes as readable text: printable ASCII as it is, the rest escaped. */
static void token_text(const pm_tokenizer *tok, int32_t id, char *out, size_t cap) {
    size_t len, used = 0;
    const char *s = pm_tokenizer_token(tok, id, &len);
    if (!s) {
        snprintf(out, cap, "<end of text>");
        return;
    }
    out[0] = 0;
    for (size_t i = 0; i < len && used + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        int n = c == '\n' ? snprintf(out + used, cap - used, "\\n")
                : c == '\t' ? snprintf(out + used, cap - used, "\\t")
                : c >= 32 && c < 127 ? snprintf(out + used, cap - used, "%c", c)
                                   : snprintf(out + used, cap - used, "\\x%02x", c);
        used += (size_t)n;
    }
}

/* Each expert's most frequent tokens over all domains, from the token counts. */
static void find_top_tokens(pm_routing *r, const pm_tokenizer *tok) {
    for (int l = 0; l < r->n_moe; l++)
        for (int e = 0; e < r->E; e++) {
            pm_routing_token *top = r->top + ((size_t)l * r->E + e) * PM_TOP_TOKENS;
            for (int t = 0; t < r->V; t++) {
                double c = 0;
                for (int d = 0; d < r->D; d++) c += pm_routing_token_counts(r, l, d, t)[e];
                int at = PM_TOP_TOKENS;
                while (at > 0 && c > top[at - 1].count) at--;
                if (at == PM_TOP_TOKENS) continue;
                memmove(top + at + 1, top + at, sizeof *top * (PM_TOP_TOKENS - 1 - at));
                top[at] = (pm_routing_token){.id = t, .count = c};
            }
            for (int j = 0; j < PM_TOP_TOKENS && top[j].count > 0; j++)
                token_text(tok, top[j].id, top[j].text, sizeof top[j].text);
        }
}

const int32_t *pm_routing_sample_experts(const pm_routing *r, int l, int d) {
    return r->sample_expert + ((size_t)l * PM_MAX_DOMAINS + d) * PM_SAMPLE_LEN;
}

/* What one pass over the held-out text needs. */
typedef struct {
    pm_model *model;
    pm_dataset *data;
    int B, T, k, n_moe;
    size_t n_seqs[PM_MAX_DOMAINS];
    uint8_t *cls[PM_MAX_DOMAINS];       /* class of every position of the analysed text */
    int32_t *top1[PM_MAX_DOMAINS];      /* [n_moe][n_seqs * T] of the latest checkpoint */
    int32_t *inputs, *ids;
    double unchanged[PM_MAX_LAYERS], compared[PM_MAX_LAYERS]; /* saturation tallies */
} pass_state;

/* The model over domain d's analysed sequences; each batch's expert ids go to visit(). */
typedef void (*visit_fn)(pm_routing *r, pass_state *p, int l, int d, size_t pos, int n);

static int run_domain(pm_routing *r, pass_state *p, int d, visit_fn visit) {
    size_t n_tokens;
    const int32_t *stream = pm_data_stream(p->data, d, 1, &n_tokens);
    for (size_t s0 = 0; s0 < p->n_seqs[d]; s0 += (size_t)p->B) {
        int b = (int)(p->n_seqs[d] - s0 < (size_t)p->B ? p->n_seqs[d] - s0 : (size_t)p->B);
        for (int i = 0; i < b; i++)
            memcpy(p->inputs + (size_t)i * p->T, stream + (s0 + i) * (size_t)(p->T + 1), sizeof(int32_t) * p->T);
        if (pm_model_forward(p->model, p->inputs, NULL, b, p->T, -1, NULL) != PM_OK) return -1;
        for (int l = 0; l < p->n_moe; l++) {
            if (pm_model_expert_ids(p->model, l, p->ids, b, p->T) != PM_OK) return -1;
            visit(r, p, l, d, s0 * (size_t)p->T, b * p->T);
        }
    }
    return 0;
}

/* Sequence s position t is stream position s (T+1) + t. */
static size_t stream_pos(const pass_state *p, size_t pos) { return pos / p->T * (p->T + 1) + pos % p->T; }

static void tally_latest(pm_routing *r, pass_state *p, int l, int d, size_t pos, int n) {
    int32_t *top1 = p->top1[d] + (size_t)l * p->n_seqs[d] * p->T;
    for (int i = 0; i < n; i++) {
        int c = p->cls[d][stream_pos(p, pos + i)];
        const int32_t *id = p->ids + (size_t)i * p->k;
        double *counts = (double *)pm_routing_class_counts(r, l, d, c);
        for (int j = 0; j < p->k; j++) counts[id[j]]++;
        if (l == 0) r->class_tokens[d][c]++;
        top1[pos + i] = id[0];
        ((double *)pm_routing_token_counts(r, l, d, p->inputs[i]))[id[0]]++;
        if (i % p->T) r->kept[l] += id[0] == id[-p->k], r->pairs[l]++; /* the previous token of the sequence */
        if (p->k >= 2) r->coactivation[((size_t)l * r->E + id[0]) * r->E + id[1]]++;
    }
}

static void compare_early(pm_routing *r, pass_state *p, int l, int d, size_t pos, int n) {
    (void)r;
    const int32_t *top1 = p->top1[d] + (size_t)l * p->n_seqs[d] * p->T;
    for (int i = 0; i < n; i++) p->unchanged[l] += top1[pos + i] == p->ids[(size_t)i * p->k];
    p->compared[l] += n;
}

/* Domain d's sample: its first sequence from the first line start in its first half, decoded
 * to at most PM_SAMPLE_LEN bytes, each byte with its token's top-1 experts. */
static void take_sample(pm_routing *r, pass_state *p, int d) {
    size_t n_tokens, start = 0, half = (size_t)p->T / 2, len;
    const int32_t *stream = pm_data_stream(p->data, d, 1, &n_tokens);
    const pm_tokenizer *tok = pm_data_tokenizer(p->data);
    for (; start < half; start++) {
        const char *s = pm_tokenizer_token(tok, stream[start], &len);
        if (s && len && s[len - 1] == '\n') break;
    }
    start = start < half ? start + 1 : 0;
    int n = 0;
    for (size_t i = start; i < (size_t)p->T && n < PM_SAMPLE_LEN; i++) {
        const char *s = pm_tokenizer_token(tok, stream[i], &len);
        for (size_t j = 0; j < (s ? len : 1) && n < PM_SAMPLE_LEN; j++, n++) {
            r->sample[d][n] = s ? (unsigned char)s[j] : PM_SAMPLE_NOT_A_BYTE;
            for (int l = 0; l < p->n_moe; l++)
                ((int32_t *)pm_routing_sample_experts(r, l, d))[n] = p->top1[d][(size_t)l * p->n_seqs[d] * p->T + i];
        }
    }
    r->sample_len[d] = n;
}

static int prepare_text(pm_routing *r, pass_state *p, const pm_run *run, int eval_seqs, char *err, size_t errlen) {
    for (int d = 0; d < r->D; d++) {
        size_t n_tokens;
        const int32_t *stream = pm_data_stream(p->data, d, 1, &n_tokens);
        p->n_seqs[d] = n_tokens / (size_t)(p->T + 1);
        if (p->n_seqs[d] > (size_t)eval_seqs) p->n_seqs[d] = (size_t)eval_seqs;
        size_t n = p->n_seqs[d] * (size_t)(p->T + 1);
        r->lexer[d] = pm_lexer_for_domain(run->domain[d]);
        const char *const *names;
        r->n_classes[d] = pm_token_class_names(r->lexer[d], &names);
        p->cls[d] = malloc(n ? n : 1);
        p->top1[d] = malloc(sizeof(int32_t) * (size_t)p->n_moe * (n ? n : 1));
        if (!p->cls[d] || !p->top1[d]) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (pm_classify_tokens(r->lexer[d], pm_data_tokenizer(p->data), stream, n, p->cls[d])) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int load(pm_model *m, const char *run_dir, int step, char *err, size_t errlen) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/checkpoints/step-%07d", run_dir, step);
    return pm_checkpoint_load(dir, m, NULL, err, errlen);
}

int pm_routing_analyse(const pm_run *run, const char *backend, pm_routing *r, char *err,
                       size_t errlen) {
    memset(r, 0, sizeof *r);
    r->n_curve = checkpoint_steps(run->dir, &r->step, r->curve_step);
    if (!r->step) {
        snprintf(err, errlen, "no checkpoint in %s/checkpoints", run->dir);
        return -1;
    }
    r->early_step = r->n_curve ? r->curve_step[0] : 0;
    char last_dir[1200], step_dir[1300], inner[600];
    pm_config cfg;
    snprintf(last_dir, sizeof last_dir, "%s/checkpoints/step-%07d", run->dir, r->step);
    if (pm_checkpoint_find(last_dir, step_dir, sizeof step_dir, &cfg, err, errlen)) return -1;
    pass_state p = {.B = cfg.batch_size, .T = cfg.block_size, .k = cfg.top_k, .n_moe = run->n_moe};
    r->n_moe = run->n_moe, r->E = cfg.n_experts, r->k = cfg.top_k, r->D = run->D;
    for (int l = 0; l < PM_MAX_LAYERS; l++) r->saturation[l] = NAN;
    int rc = -1;
    pm_backend *be = pm_backend_open(backend, 0, inner, sizeof inner);
    pm_tokenizer *tok = be ? pm_checkpoint_tokenizer(step_dir, inner, sizeof inner) : NULL;
    pm_data_options dopt = {.seq_len = cfg.block_size, .eval_fraction = cfg.eval_fraction, .seed = cfg.seed,
                            .natural_mix = cfg.natural_mix, .tokenizer = tok};
    if (!be || !tok || !(p.data = pm_data_open(cfg.data, &dopt, inner, sizeof inner)) ||
        !(p.model = pm_model_create(be, &cfg, p.B, p.T, inner, sizeof inner))) {
        snprintf(err, errlen, "%s", inner);
        goto done;
    }
    if (pm_data_domains(p.data) != r->D) {
        snprintf(err, errlen, "%s has %d domains, the run's metrics %d", cfg.data, pm_data_domains(p.data), r->D);
        goto done;
    }
    size_t n_counts = (size_t)r->n_moe * PM_MAX_DOMAINS * PM_MAX_CLASSES * r->E;
    r->class_counts = calloc(n_counts, sizeof(double));
    r->sample_expert = calloc((size_t)r->n_moe * PM_MAX_DOMAINS * PM_SAMPLE_LEN, sizeof(int32_t));
    r->V = cfg.vocab_size;
    r->token_counts = calloc((size_t)r->n_moe * r->D * r->V * r->E, sizeof(double));
    r->coactivation = calloc((size_t)r->n_moe * r->E * r->E, sizeof(double));
    r->top = calloc((size_t)r->n_moe * r->E * PM_TOP_TOKENS, sizeof *r->top);
    p.inputs = malloc(sizeof(int32_t) * (size_t)p.B * p.T);
    p.ids = malloc(sizeof(int32_t) * (size_t)p.B * p.T * p.k);
    if (!r->class_counts || !r->sample_expert || !r->token_counts || !r->coactivation || !r->top || !p.inputs ||
        !p.ids) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (prepare_text(r, &p, run, cfg.eval_seqs, err, errlen)) goto done;
    if (load(p.model, run->dir, r->step, err, errlen)) goto done;
    for (int d = 0; d < r->D; d++) {
        if (run_domain(r, &p, d, tally_latest)) goto device_error;
        take_sample(r, &p, d);
    }
    find_top_tokens(r, tok);
    for (int c = 0; c < r->n_curve; c++) {
        if (load(p.model, run->dir, r->curve_step[c], err, errlen)) goto done;
        memset(p.unchanged, 0, sizeof p.unchanged);
        memset(p.compared, 0, sizeof p.compared);
        for (int d = 0; d < r->D; d++)
            if (run_domain(r, &p, d, compare_early)) goto device_error;
        for (int l = 0; l < r->n_moe; l++) r->curve[c][l] = p.compared[l] > 0 ? p.unchanged[l] / p.compared[l] : NAN;
    }
    for (int l = 0; l < r->n_moe && r->n_curve; l++) r->saturation[l] = r->curve[0][l];
    rc = 0;
    goto done;
device_error:
    snprintf(err, errlen, "%s", pm_error(be));
done:
    for (int d = 0; d < PM_MAX_DOMAINS; d++) {
        free(p.cls[d]);
        free(p.top1[d]);
    }
    free(p.inputs);
    free(p.ids);
    pm_model_free(p.model);
    pm_data_close(p.data);
    pm_tokenizer_free(tok);
    if (be) pm_backend_close(be);
    if (rc) pm_routing_free(r);
    return rc;
}

void pm_routing_free(pm_routing *r) {
    free(r->class_counts);
    free(r->sample_expert);
    free(r->token_counts);
    free(r->coactivation);
    free(r->top);
    r->top = NULL;
    r->class_counts = NULL;
    r->sample_expert = NULL;
    r->token_counts = NULL;
    r->coactivation = NULL;
}

double pm_routing_token_information(const pm_routing *r, int l) {
    double total = 0, mi = 0;
    for (int d = 0; d < r->D; d++)
        for (int c = 0; c < r->n_classes[d]; c++) total += r->class_tokens[d][c];
    for (int d = 0; total > 0 && d < r->D; d++) {
        double nd = 0;
        for (int c = 0; c < r->n_classes[d]; c++) nd += r->class_tokens[d][c];
        mi += nd / total * pm_mutual_information(pm_routing_token_counts(r, l, d, 0), r->V, r->E, NULL);
    }
    return mi;
}

double pm_routing_class_information(const pm_routing *r, int l, double *h) {
    double total = 0, mi = 0, hc = 0;
    for (int d = 0; d < r->D; d++)
        for (int c = 0; c < r->n_classes[d]; c++) total += r->class_tokens[d][c];
    double *joint = malloc(sizeof(double) * PM_MAX_CLASSES * (size_t)r->E);
    for (int d = 0; joint && d < r->D; d++) {
        /* I(E; class | D) = sum_d p(d) I(E; class | D = d), the same for H */
        double nd = 0, hd;
        for (int c = 0; c < r->n_classes[d]; c++) {
            nd += r->class_tokens[d][c];
            memcpy(joint + (size_t)c * r->E, pm_routing_class_counts(r, l, d, c), sizeof(double) * r->E);
        }
        double mid = pm_mutual_information(joint, r->n_classes[d], r->E, NULL);
        /* rows are classes: H(class) is the row entropy, from the class totals */
        hd = pm_entropy(r->class_tokens[d], r->n_classes[d], 1);
        mi += nd / total * mid;
        hc += nd / total * hd;
    }
    free(joint);
    if (h) *h = hc;
    return mi;
}
