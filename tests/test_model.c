/* Model tests on the CPU backend: the loss at initialisation, the whole backward against
 * finite differences of the whole forward (dense, full and LoRA experts, top-k and dense
 * routing), upcycling (dense == MoE at noise 0, top-1), frozen parts and LoRA's frozen base
 * (untouched by updates, no gradient or optimiser state) and the parameter counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/upcycle.h"

static int passed, failed;

static void report(int ok, const char *what, const char *detail) {
    printf("%s  %-44s %s\n", ok ? "pass" : "FAIL", what, detail);
    ok ? passed++ : failed++;
}

static void tiny(pm_config *c, int moe, int k) {
    pm_config_defaults(c);
    c->n_layer = 2;
    c->n_head = 2;
    c->n_embd = 16;
    c->block_size = 8;
    c->vocab_size = 37;
    c->n_experts = 4;
    c->top_k = k;
    c->init_std = 0.2f;
    if (moe) c->moe_layers[1] = 1;
}

static void tokens_for(int32_t *tok, int32_t *tgt, int n, int V) {
    for (int i = 0; i < n; i++) {
        tok[i] = (i * 7 + 3) % V;
        tgt[i] = (i * 5 + 1) % V;
    }
}

/* Loss of the current parameters (double via the float forward). */
static double loss_of(pm_model *m, const int32_t *tok, const int32_t *tgt, int B, int T) {
    float loss = 0;
    pm_model_forward(m, tok, tgt, B, T, -1, &loss);
    return loss + pm_model_aux_loss(m, NULL, NULL, NULL);
}

/* Central differences on a spread of parameters, against the backward's gradient; `rank` > 0
 * makes the experts LoRA adapters, `route` is the routing of both passes. */
/* One model variant of the gradient check. */
typedef struct {
    int moe, k;
    int rank, attn;     /* LoRA experts of this rank; c_attn adapters too */
    int route;          /* PM_ROUTE_TOPK or PM_ROUTE_DENSE */
    float entropy_coef;
    int width;          /* expert_width (0: 4C) */
} variant;

static void check_model_gradients(pm_backend *be, variant v) {
    pm_config c;
    int k = v.k, rank = v.rank, moe = v.moe;
    tiny(&c, moe, k);
    c.entropy_coef = v.entropy_coef;
    c.lora_attn = v.attn;
    c.lora_rank = rank;
    c.expert_width = v.width;
    c.router_mode = c.eval_router_mode = v.route;
    int dense = v.route == PM_ROUTE_DENSE;
    char err[256];
    int B = 2, T = 8;
    pm_model *m = pm_model_create(be, &c, B, T, err, sizeof err);
    if (!m) {
        report(0, "model gradients", err);
        return;
    }
    size_t n = pm_model_num_params(m);
    float *p = malloc(n * 4), *g = malloc(n * 4);
    pm_model_get_params(m, p);
    /* With top-2 or dense routing, a router that is not all-zero so that tokens spread over the
     * experts. With top-1 the straight-through gradient reaches the router and everything
     * before it, where the forward (gate 1) has no slope to compare with; a zero router keeps
     * that path's contribution zero, so the rest stays comparable. Adapters get values too:
     * a fresh B is zero, which would leave A's gradient zero. */
    const pm_tensor *ts;
    int nt = pm_model_tensors(m, &ts);
    for (int i = 0; i < nt; i++) {
        for (size_t j = 0; ts[i].part == PM_PART_ROUTER && j < ts[i].size; j++)
            p[ts[i].offset + j] = k > 1 || dense ? 0.5f * sinf((float)j) : 0.0f;
        for (size_t j = 0; ts[i].part == PM_PART_ADAPTERS && j < ts[i].size; j++)
            p[ts[i].offset + j] = 0.3f * sinf(1.3f * (float)(ts[i].offset + j));
    }
    pm_model_set_params(m, p);
    int32_t tok[16], tgt[16];
    tokens_for(tok, tgt, B * T, c.vocab_size);
    pm_model_zero_grad(m);
    float loss;
    pm_model_forward(m, tok, tgt, B, T, -1, &loss);
    pm_model_backward(m, B, T, 1.0f);
    pm_model_get_grads(m, g);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < nt; i++) {
        const pm_tensor *t = &ts[i];
        /* the straight-through router (top-1) has no finite-difference gradient; a frozen
         * tensor has no gradient at all */
        if ((k == 1 && !dense && t->part == PM_PART_ROUTER) || t->frozen) continue;
        for (size_t j = 0; j < t->size; j += t->size / 3 + 1) {
            size_t at = t->offset + j;
            float keep = p[at], h = 1e-2f;
            p[at] = keep + h;
            pm_model_set_params(m, p);
            double up = loss_of(m, tok, tgt, B, T);
            p[at] = keep - h;
            pm_model_set_params(m, p);
            double down = loss_of(m, tok, tgt, B, T);
            p[at] = keep;
            double num = (up - down) / (2 * h), err_abs = fabs(num - g[at]);
            double rel = err_abs / fmax(1e-2, fabs(num) + fabs(g[at]));
            if (rel > worst) worst = rel;
            checked++;
        }
    }
    pm_model_set_params(m, p);
    char what[96], detail[96];
    snprintf(what, sizeof what, "model gradients (%s%s%s%s, %s%s)", moe ? "MoE" : "dense", rank ? " LoRA" : "",
             v.attn ? "+attn" : "", v.width ? " narrow" : "", dense ? "dense routing" : k == 1 ? "top-1" : "top-2",
             v.entropy_coef > 0 ? ", entropy bonus" : "");
    snprintf(detail, sizeof detail, "%d params, worst relative error %.2e (bound 2e-2)", checked, worst);
    report(worst < 2e-2 && !pm_failed(be), what, detail);
    free(p);
    free(g);
    pm_model_free(m);
}

static void check_upcycling(pm_backend *be) {
    pm_config dc, mc;
    tiny(&dc, 0, 1);
    tiny(&mc, 1, 1);
    mc.moe_layers[0] = 1; /* every layer MoE */
    char err[256];
    int B = 2, T = 8;
    pm_model *d = pm_model_create(be, &dc, B, T, err, sizeof err);
    pm_model *m = pm_model_create(be, &mc, B, T, err, sizeof err);
    if (!d || !m) {
        report(0, "upcycling: dense and MoE logits equal", err);
        return;
    }
    const pm_tensor *dt, *mt;
    int nd = pm_model_tensors(d, &dt), nm = pm_model_tensors(m, &mt);
    float *dp = malloc(pm_model_num_params(d) * 4), *mp = malloc(pm_model_num_params(m) * 4);
    pm_model_get_params(d, dp);
    int rc = pm_upcycle(dt, nd, dp, mt, nm, mp, 0.0f, 1, err, sizeof err);
    pm_model_set_params(m, mp);
    int32_t tok[16], tgt[16];
    tokens_for(tok, tgt, B * T, dc.vocab_size);
    float ld, lm, *a = malloc(B * 37 * 4), *b = malloc(B * 37 * 4);
    pm_model_forward(d, tok, tgt, B, T, -1, &ld);
    pm_model_logits_at(d, T - 1, B, T, a);
    pm_model_forward(m, tok, tgt, B, T, -1, &lm);
    pm_model_logits_at(m, T - 1, B, T, b);
    double diff = 0;
    for (int i = 0; i < B * 37; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    char detail[128];
    snprintf(detail, sizeof detail, "max |dense - moe| logit %.3g, losses %.6f vs %.6f", diff, ld, lm);
    report(rc == 0 && diff == 0 && ld == lm, "upcycling: dense and MoE logits equal", detail);
    /* with noise the experts differ from the dense MLP, so the logits must move */
    pm_upcycle(dt, nd, dp, mt, nm, mp, 0.05f, 1, err, sizeof err);
    pm_model_set_params(m, mp);
    pm_model_forward(m, tok, tgt, B, T, -1, &lm);
    pm_model_logits_at(m, T - 1, B, T, b);
    diff = 0;
    for (int i = 0; i < B * 37; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    snprintf(detail, sizeof detail, "max |dense - moe| logit %.3g", diff);
    report(diff > 1e-4, "upcycling: noise 0.05 changes the logits", detail);
    free(dp), free(mp), free(a), free(b);
    pm_model_free(d);
    pm_model_free(m);
}

static void check_initial_loss(pm_backend *be) {
    pm_config c;
    tiny(&c, 1, 1);
    c.init_std = 0.02f;
    char err[256], detail[96];
    pm_model *m = pm_model_create(be, &c, 2, 8, err, sizeof err);
    int32_t tok[16], tgt[16];
    tokens_for(tok, tgt, 16, c.vocab_size);
    float loss = 0;
    if (m) pm_model_forward(m, tok, tgt, 2, 8, -1, &loss);
    snprintf(detail, sizeof detail, "loss %.4f, ln V = %.4f", loss, log(37.0));
    report(m && fabs(loss - log(37.0)) < 0.05, "initial loss is about ln(vocab)", detail);
    pm_model_free(m);
}

/* Narrow experts (expert_width 24 of the dense 64): upcycling gives expert e the dense MLP's
 * hidden units 24 e onwards, wrapping at 64, in c_fc's columns and bias and c_proj's rows. */
static void check_narrow_upcycling(pm_backend *be) {
    pm_config dc, mc;
    tiny(&dc, 0, 1);
    tiny(&mc, 1, 2);
    mc.expert_width = 24;
    char err[256] = "", detail[160];
    pm_model *d = pm_model_create(be, &dc, 1, 8, err, sizeof err), *m = d ? pm_model_create(be, &mc, 1, 8, err, sizeof err) : NULL;
    const pm_tensor *dt, *mt;
    int nd = d ? pm_model_tensors(d, &dt) : 0, nm = m ? pm_model_tensors(m, &mt) : 0;
    float *dp = d ? malloc(pm_model_num_params(d) * 4) : NULL, *mp = m ? malloc(pm_model_num_params(m) * 4) : NULL;
    int rc = !dp || !mp || pm_model_get_params(d, dp) != PM_OK || pm_upcycle(dt, nd, dp, mt, nm, mp, 0.0f, 1, err, sizeof err);
    long checked = 0, wrong = 0;
    for (int i = 0; !rc && i < nm; i++) {
        const pm_tensor *t = &mt[i];
        int e;
        const char *at = strstr(t->name, ".experts.");
        if (t->part != PM_PART_EXPERTS || !at || sscanf(at, ".experts.%d.", &e) != 1) continue;
        const pm_tensor *s = NULL;
        for (int j = 0; j < nd; j++)
            if (!strcmp(dt[j].name, t->expert_of)) s = &dt[j];
        for (size_t j = 0; s && j < t->size; j++) {
            size_t want;
            if (strstr(t->name, "c_fc.weight")) want = j / 24 * 64 + (e * 24 + j % 24) % 64;
            else if (strstr(t->name, "c_fc.bias")) want = (e * 24 + j) % 64;
            else if (strstr(t->name, "c_proj.weight")) want = (e * 24 + j / 16) % 64 * 16 + j % 16;
            else want = j; /* c_proj.bias: all of it */
            wrong += mp[t->offset + j] != dp[s->offset + want];
            checked++;
        }
    }
    snprintf(detail, sizeof detail, "%ld expert values, %ld not the dense unit they should be %s", checked, wrong, err);
    report(!rc && checked == 4L * (16 * 24 + 24 + 24 * 16 + 16) && !wrong, "upcycling into narrow experts slices the MLP",
           detail);
    free(dp), free(mp);
    pm_model_free(d);
    pm_model_free(m);
}

/* Three training steps on the tiny batch (B = 2, T = 8), with the parameters before and after. */
static void train_three_steps(pm_model *m, float *before, float *after, int B, int T) {
    int32_t tok[16], tgt[16];
    tokens_for(tok, tgt, B * T, pm_model_config(m)->vocab_size);
    pm_model_get_params(m, before);
    for (int step = 1; step <= 3; step++) {
        float loss, norm;
        pm_model_zero_grad(m);
        pm_model_forward(m, tok, tgt, B, T, step, &loss);
        pm_model_backward(m, B, T, 1.0f);
        pm_model_grad_norm(m, &norm);
        pm_model_update(m, 1e-2f, step, 1.0f);
    }
    pm_model_get_params(m, after);
}

/* Attention and layernorms frozen: three training steps leave them bit-identical and move
 * everything else; the frozen groups sit after the trainable ones. */
static void check_frozen(pm_backend *be) {
    pm_config c;
    tiny(&c, 1, 1);
    char err[256], detail[128];
    int B = 2, T = 8;
    unsigned frozen = PM_PART_BIT(PM_PART_ATTENTION) | PM_PART_BIT(PM_PART_NORM);
    pm_model *m = pm_model_create_frozen(be, &c, frozen, B, T, err, sizeof err);
    if (!m) {
        report(0, "frozen parts keep their weights", err);
        return;
    }
    size_t n = pm_model_num_params(m);
    float *before = malloc(n * 4), *after = malloc(n * 4);
    train_three_steps(m, before, after, B, T);
    const pm_tensor *ts;
    int nt = pm_model_tensors(m, &ts), kept = 0, moved = 0, wrong = 0;
    size_t first_frozen = n;
    for (int i = 0; i < nt; i++) {
        const pm_tensor *t = &ts[i];
        int same = memcmp(before + t->offset, after + t->offset, t->size * 4) == 0;
        int want_frozen = (frozen & PM_PART_BIT(t->part)) != 0;
        if (t->frozen != want_frozen) wrong++;
        if (t->frozen) {
            kept += same;
            wrong += !same;
            if (t->offset < first_frozen) first_frozen = t->offset;
        } else {
            moved += !same;
            wrong += same;
        }
    }
    for (int i = 0; i < nt; i++)
        if (!ts[i].frozen && ts[i].offset > first_frozen) wrong++;
    snprintf(detail, sizeof detail, "%d frozen tensors kept, %d trainable moved, %d wrong", kept,
             moved, wrong);
    report(kept > 0 && moved > 0 && !wrong && !pm_failed(be), "frozen parts keep their weights",
           detail);
    free(before), free(after);
    pm_model_free(m);
}

/* LoRA experts: training (dense routing) moves only adapters and routers; the base is
 * bit-identical, and gradients and moments exist for the trainable tensors alone. */
static void check_lora_frozen(pm_backend *be) {
    pm_config c;
    tiny(&c, 1, 1);
    c.lora_rank = 2;
    c.lora_attn = 1;
    c.router_mode = PM_ROUTE_DENSE;
    char err[256], detail[160];
    int B = 2, T = 8;
    pm_model *m = pm_model_create(be, &c, B, T, err, sizeof err);
    if (!m) {
        report(0, "LoRA: the base stays frozen", err);
        return;
    }
    size_t n = pm_model_num_params(m), adapters = 0;
    float *before = malloc(n * 4), *after = malloc(n * 4);
    train_three_steps(m, before, after, B, T);
    const pm_tensor *ts;
    int nt = pm_model_tensors(m, &ts), kept = 0, moved = 0, wrong = 0;
    for (int i = 0; i < nt; i++) {
        const pm_tensor *t = &ts[i];
        int same = memcmp(before + t->offset, after + t->offset, t->size * 4) == 0;
        int learns = t->part == PM_PART_ADAPTERS || t->part == PM_PART_ROUTER;
        if (learns) adapters += t->size;
        wrong += t->frozen == learns || same == learns;
        kept += same && !learns;
        moved += !same && learns;
    }
    snprintf(detail, sizeof detail, "%d base tensors bit-identical, %d adapter/router tensors moved, %d wrong; "
             "%zu of %zu parameters have gradients and moments", kept, moved, wrong, pm_model_num_trainable(m), n);
    report(kept > 0 && moved > 0 && !wrong && pm_model_num_trainable(m) == adapters && !pm_failed(be),
           "LoRA: the base stays frozen", detail);
    free(before), free(after);
    pm_model_free(m);
}

/* The table's counts against the closed form: an expert is 8 C^2 + 5 C parameters and a token
 * uses top_k of the E experts of each MoE layer. */
static void check_param_counts(pm_backend *be) {
    pm_config c;
    tiny(&c, 1, 2);
    char err[256], detail[128];
    pm_model *m = pm_model_create(be, &c, 1, 8, err, sizeof err);
    if (!m) {
        report(0, "parameter counts", err);
        return;
    }
    size_t C = 16, V = 37, E = 4, k = 2, block = 12 * C * C + 13 * C, mlp = 8 * C * C + 5 * C;
    size_t total = V * C + 8 * C + 2 * block + 2 * C + E * C + (E - 1) * mlp;
    size_t active = total - (E - k) * mlp;
    snprintf(detail, sizeof detail, "%zu total, %zu active (want %zu, %zu)",
             pm_model_num_params(m), pm_model_active_params(m), total, active);
    report(pm_model_num_params(m) == total && pm_model_active_params(m) == active,
           "parameter counts", detail);
    pm_model_free(m);
}

int main(void) {
    char err[256];
    /* the reference backend: double accumulation keeps the finite differences meaningful */
    pm_backend *be = pm_backend_open("ref", 0, err, sizeof err);
    if (!be) {
        printf("cannot open ref: %s\n", err);
        return 1;
    }
    check_initial_loss(be);
    const variant variants[] = {
        {.k = 1},
        {.moe = 1, .k = 1},
        {.moe = 1, .k = 2},
        {.moe = 1, .k = 2, .entropy_coef = 0.5f},
        {.moe = 1, .k = 2, .width = 24},
        {.moe = 1, .k = 1, .route = PM_ROUTE_DENSE},
        {.moe = 1, .k = 1, .rank = 3},
        {.moe = 1, .k = 2, .rank = 3},
        {.moe = 1, .k = 1, .rank = 3, .route = PM_ROUTE_DENSE},
        {.moe = 1, .k = 1, .rank = 3, .route = PM_ROUTE_DENSE, .entropy_coef = 0.5f},
        {.moe = 1, .k = 2, .rank = 3, .attn = 1},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) check_model_gradients(be, variants[i]);
    check_lora_frozen(be);
    check_upcycling(be);
    check_narrow_upcycling(be);
    check_frozen(be);
    check_param_counts(be);
    if (pm_failed(be)) report(0, "backend errors", pm_error(be));
    pm_backend_close(be);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
