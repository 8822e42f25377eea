/* The reference backend's router and dispatch semantics, and the small ops, on hand-made inputs
 * with hand-computed answers: tie breaking, the dispatch plan, permute/combine identities,
 * the straight-through gate, the auxiliary losses and the entropy bonus, the noise, AdamW, sumsq,
 * fill, scale and add.
 * Each check compares against values the op could get wrong, so each can fail. */
#include "suite_util.h"

#include <math.h>
#include <stdio.h>

#include "model/router_losses.h"

#define LABEL "ref:semantics"
/* Bound on the relative error of values the ops compute in float32 from double sums. */
#define FLOAT_REL 1e-6

/* ---- comparisons: each returns 1 on a match, else describes the first difference ---- */

static int same_ints(const char *name, const int32_t *got, const int32_t *want, int n,
                     char *detail, size_t len) {
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            snprintf(detail, len, "%s[%d] = %d, want %d", name, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

static int same_floats(const char *name, const float *got, const float *want, int n,
                       char *detail, size_t len) {
    for (int i = 0; i < n; i++)
        if (!(got[i] == want[i])) {
            snprintf(detail, len, "%s[%d] = %.9g, want exactly %.9g", name, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* |got - want| <= rel * max(|want|, 1e-9) */
static int close_to(const char *name, double got, double want, double rel, char *detail,
                    size_t len) {
    if (fabs(got - want) <= rel * fmax(fabs(want), 1e-9)) return 1;
    snprintf(detail, len, "%s = %.9g, want %.9g (rel err %.2g > %.0e)", name, got, want,
             fabs(got - want) / fmax(fabs(want), 1e-9), rel);
    return 0;
}

/* ---- router ---- */

enum { MAX_E = 8 }; /* the most experts a check here uses */

/* The summary pm_router_summarise makes of the run's stats. */
static pm_router_summary summarise(scratch *s, const router_outputs *r, int N, int E, int k) {
    float stats[2 * MAX_E + 2];
    scratch_get(s, r->stats, stats, 2 * (size_t)E + 2);
    pm_router_summary sum;
    pm_router_summarise(stats, N, E, k, &sum, NULL, NULL);
    return sum;
}

/* All-equal logits, a tie for first place and ties for second place: k = arg. */
static int router_ties(pm_backend *be, int k, char *detail, size_t len) {
    enum { N = 4, E = 4 };
    static const float logits[N * E] = {0.5f, 0.5f, 0.5f, 0.5f, 0, 2, 1, 2, 3, 1, 1, 0, -1, 2, 2, 2};
    static const int32_t want1[N] = {0, 1, 0, 1}, want2[N * 2] = {0, 1, 1, 3, 0, 1, 1, 2};
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, k);
    int32_t ids[N * 2];
    float gates[N * 2];
    scratch_get(&s, r.ids, ids, (size_t)N * k);
    scratch_get(&s, r.gates, gates, (size_t)N * k);
    scratch_release(&s);
    if (!same_ints("ids", ids, k == 1 ? want1 : want2, N * k, detail, len)) return 0;
    if (k == 2) { /* tied picks share the weight equally; the untied pair is ordered */
        for (int t = 0; t < N; t++)
            if (t != 2 && (gates[2 * t] != 0.5f || gates[2 * t + 1] != 0.5f)) {
                snprintf(detail, len, "gates of token %d: %.9g, %.9g, want 0.5, 0.5", t,
                         gates[2 * t], gates[2 * t + 1]);
                return 0;
            }
        if (!(gates[4] > gates[5])) {
            snprintf(detail, len, "gates of token 2: %g, %g not descending", gates[4], gates[5]);
            return 0;
        }
    }
    snprintf(detail, len, "ids%s exact on %d tokens", k == 2 ? " and tied gates" : "", N);
    return 1;
}

static void random_logits(check_rng *rng, float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = rng_uniform(rng, -2, 2);
}

/* k = 1: every gate is exactly 1.0 in the forward. */
static int top1_gate(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 7, E = 5 };
    float logits[N * E], gates[N], ones[N];
    check_rng rng = {11};
    random_logits(&rng, logits, N * E);
    for (int t = 0; t < N; t++) ones[t] = 1.0f;
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, 1);
    scratch_get(&s, r.gates, gates, N);
    scratch_release(&s);
    if (!same_floats("gates", gates, ones, N, detail, len)) return 0;
    snprintf(detail, len, "%d gates == 1.0f", N);
    return 1;
}

/* k = 1 without auxiliary losses: dlogits is the softmax backward of dp = dgate * onehot(id),
 * dlogits_e = p_e (dp_e - p_id dgate). */
static int top1_backward(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 7, E = 5 };
    float logits[N * E], dgates[N], probs[N * E], dlogits[N * E];
    int32_t ids[N];
    check_rng rng = {12};
    random_logits(&rng, logits, N * E);
    for (int t = 0; t < N; t++) dgates[t] = rng_uniform(&rng, -1, 1);
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, 1);
    pm_ref dl = scratch_filled(&s, N * E, 1000.0f);
    pm_op(be, router_bwd, dl, r.probs, r.lse, r.ids, scratch_put(&s, dgates, N), r.stats, N, E, 1,
          0.0f, 0.0f, 0.0f);
    scratch_get(&s, r.probs, probs, N * E);
    scratch_get(&s, r.ids, ids, N);
    scratch_get(&s, dl, dlogits, N * E);
    scratch_release(&s);
    double worst = 0, scale = 0;
    for (int t = 0; t < N; t++) {
        if (ids[t] < 0 || ids[t] >= E) {
            snprintf(detail, len, "ids[%d] = %d outside 0..%d", t, ids[t], E - 1);
            return 0;
        }
        const float *p = probs + t * E;
        for (int e = 0; e < E; e++) {
            double dp = e == ids[t] ? dgates[t] : 0.0;
            double want = p[e] * (dp - (double)p[ids[t]] * dgates[t]);
            worst = fmax(worst, fabs(dlogits[t * E + e] - want));
            scale = fmax(scale, fabs(want));
        }
    }
    if (!(worst <= FLOAT_REL * scale)) {
        snprintf(detail, len, "dlogits off by %.3g (scale %.3g) > %.0e relative", worst, scale,
                 FLOAT_REL);
        return 0;
    }
    snprintf(detail, len, "dlogits = softmax'(dgate onehot), max err %.1e of %.2g", worst, scale);
    return 1;
}

/* The entropy bonus alone (no gate gradient, lb and z 0): dlogits_e = c/N p_e (ln p_e + H).
 * Even probabilities are its maximum (gradient 0); p = (1/4, 3/4, 0, 0) gives
 * H = ln 4 - (3/4) ln 3 and -/+ (3/16) ln 3 c/N on the first two, the sign that moves the
 * logits towards even; one-hot gives 0; a probability of 0 (a logit of -200 in float32) gets
 * exactly 0, never ln 0. */
static int entropy_bonus(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 3, E = 4 };
    const float ln3 = (float)log(3.0), c = 0.6f;
    const float logits[N * E] = {0.5f, 0.5f, 0.5f, 0.5f, 0, ln3, -200, -200, -200, 5, -200, -200};
    const double g = 3.0 / 16.0 * log(3.0) * c / N;
    const double want[N * E] = {0, 0, 0, 0, -g, g, 0, 0, 0, 0, 0, 0};
    float dlogits[N * E], zeros[N] = {0};
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, 1);
    pm_ref dl = scratch_filled(&s, N * E, 1000.0f);
    pm_op(be, router_bwd, dl, r.probs, r.lse, r.ids, scratch_put(&s, zeros, N), r.stats, N, E, 1,
          0.0f, 0.0f, c);
    scratch_get(&s, dl, dlogits, N * E);
    scratch_release(&s);
    for (int i = 0; i < N * E; i++) {
        int exact = logits[i] == -200 || (i >= 2 * E); /* p = 0, or one-hot */
        if (exact ? dlogits[i] != 0.0f : !(fabs(dlogits[i] - want[i]) <= FLOAT_REL * g)) {
            snprintf(detail, len, "dlogits[%d] = %.9g, want %s%.9g", i, dlogits[i],
                     exact ? "exactly " : "", want[i]);
            return 0;
        }
    }
    snprintf(detail, len, "0 at even, one-hot and p=0; -/+(3/16) ln 3 c/N at (1/4, 3/4)");
    return 1;
}

/* N = 8 tokens spread evenly over E = 4 experts (k = 1, and k = 2): f_i = 1/E, so
 * E * sum f_i P_i = sum P_i = 1 whatever the probabilities. */
static int lb_balanced(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 8, E = 4 };
    for (int k = 1; k <= 2; k++) {
        float logits[N * E] = {0};
        for (int t = 0; t < N; t++) {
            logits[t * E + t % E] = 2.0f;
            if (k == 2) logits[t * E + (t + 1) % E] = 1.0f;
        }
        scratch s = {.be = be};
        router_outputs r = run_router(&s, logits, N, E, k);
        pm_router_summary sum = summarise(&s, &r, N, E, k);
        scratch_release(&s);
        char name[16];
        snprintf(name, sizeof name, "lb (k=%d)", k);
        if (!close_to(name, sum.lb_loss, 1.0, FLOAT_REL, detail, len)) return 0;
    }
    snprintf(detail, len, "lb 1 for k=1 and k=2");
    return 1;
}

/* Every token on expert 0 with probability 1 - 3e-13 (float32: 1): f_0 = P_0 = 1, lb = E. */
static int lb_collapsed(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 8, E = 4 };
    float logits[N * E] = {0};
    for (int t = 0; t < N; t++) logits[t * E] = 30.0f;
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, 1);
    pm_router_summary sum = summarise(&s, &r, N, E, 1);
    scratch_release(&s);
    if (!close_to("lb", sum.lb_loss, E, FLOAT_REL, detail, len)) return 0;
    snprintf(detail, len, "lb %.7g = E", sum.lb_loss);
    return 1;
}

/* Logits [0,0,0], [5,5,5], [1,2,3]: logsumexp ln 3, 5 + ln 3, 3 + ln(1 + e^-1 + e^-2). */
static int z_loss(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 3, E = 3 };
    static const float logits[N * E] = {0, 0, 0, 5, 5, 5, 1, 2, 3};
    static const double want_lse[N] = {1.0986122886681098, 6.0986122886681098, 3.4076059644443801};
    float lse[N];
    scratch s = {.be = be};
    router_outputs r = run_router(&s, logits, N, E, 1);
    scratch_get(&s, r.lse, lse, N);
    pm_router_summary sum = summarise(&s, &r, N, E, 1);
    scratch_release(&s);
    double want_z = 0;
    for (int t = 0; t < N; t++) {
        char name[16];
        snprintf(name, sizeof name, "lse[%d]", t);
        if (!close_to(name, lse[t], want_lse[t], FLOAT_REL, detail, len)) return 0;
        want_z += want_lse[t] * want_lse[t] / N;
    }
    if (!close_to("z-loss", sum.z_loss, want_z, FLOAT_REL, detail, len)) return 0;
    snprintf(detail, len, "z-loss %.7g = mean(lse^2)", sum.z_loss);
    return 1;
}

/* ---- dispatch ---- */

typedef struct {
    int N, E, k, capacity;
    int32_t ids[10], offsets[5], slots[10];
} plan_example;

/* Worked by hand: assignments are taken in (t, j) order inside each expert. */
static const plan_example plan_examples[] = {
    /* expert 0 gets (0,1) (1,0) (3,1) (4,1), expert 1 nothing, expert 2 (0,0) (1,1) (2,0)
     * (4,0), expert 3 (2,1) (3,0) */
    {5, 4, 2, 0, {2, 0, 0, 2, 2, 3, 3, 0, 2, 0}, {0, 4, 4, 8, 10}, {4, 0, 1, 5, 6, 8, 9, 2, 7, 3}},
    /* the same with capacity 3: (4,1) of expert 0 and (4,0) of expert 2 are dropped */
    {5, 4, 2, 3, {2, 0, 0, 2, 2, 3, 3, 0, 2, 0}, {0, 3, 3, 6, 8}, {3, 0, 1, 4, 5, 6, 7, 2, -1, -1}},
    {7, 3, 1, 0, {1, 1, 1, 1, 1, 1, 1}, {0, 0, 7, 7}, {0, 1, 2, 3, 4, 5, 6}},
    {7, 3, 1, 3, {1, 1, 1, 1, 1, 1, 1}, {0, 0, 3, 3}, {0, 1, 2, -1, -1, -1, -1}},
};

static int plan(pm_backend *be, int example, char *detail, size_t len) {
    const plan_example *x = &plan_examples[example];
    int n = x->N * x->k;
    int32_t unset[10], offsets[5], slots[10];
    for (int i = 0; i < 10; i++) unset[i] = 99; /* every output must be written */
    scratch s = {.be = be};
    pm_ref off = scratch_put(&s, unset, (size_t)x->E + 1), sl = scratch_put(&s, unset, (size_t)n);
    pm_op(be, moe_plan, off, sl, scratch_put(&s, x->ids, (size_t)n), x->N, x->E, x->k, x->capacity);
    scratch_get(&s, off, offsets, (size_t)x->E + 1);
    scratch_get(&s, sl, slots, (size_t)n);
    scratch_release(&s);
    if (!same_ints("offsets", offsets, x->offsets, x->E + 1, detail, len)) return 0;
    if (!same_ints("slots", slots, x->slots, n, detail, len)) return 0;
    snprintf(detail, len, "offsets and %d slots exact", n);
    return 1;
}

/* N = 33 tokens of C = 7 floats planned onto E = 4 experts (k distinct random experts each,
 * no capacity): xp = permute(x); fills x and returns the slots in *slots. */
enum { DN = 33, DC = 7, DE = 4 };

static pm_ref permute_random(scratch *s, int k, float *x, pm_ref *slots) {
    check_rng rng = {(uint64_t)(40 + k)};
    int32_t ids[DN * 2], order[DE];
    for (int t = 0; t < DN; t++) {
        random_permutation(&rng, order, DE);
        for (int j = 0; j < k; j++) ids[t * k + j] = order[j];
    }
    for (int i = 0; i < DN * DC; i++) x[i] = rng_uniform(&rng, -1, 1);
    *slots = scratch_filled(s, (size_t)DN * k, 0.0f);
    pm_ref offsets = scratch_filled(s, DE + 1, 0.0f), xp = scratch_filled(s, (size_t)DN * k * DC, 0.0f);
    pm_op(s->be, moe_plan, offsets, *slots, scratch_put(s, ids, (size_t)DN * k), DN, DE, k, 0);
    pm_op(s->be, moe_permute, xp, scratch_put(s, x, DN * DC), *slots, DN, k, DC);
    return xp;
}

/* k = 1 with gates 1: combine(permute(x)) is x, bit for bit. */
static int permute_combine(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    float x[DN * DC], y[DN * DC];
    scratch s = {.be = be};
    pm_ref slots, xp = permute_random(&s, 1, x, &slots), out = scratch_filled(&s, DN * DC, 1000.0f);
    pm_op(be, moe_combine, out, xp, slots, scratch_filled(&s, DN, 1.0f), DN, 1, DC);
    scratch_get(&s, out, y, DN * DC);
    scratch_release(&s);
    if (!same_floats("y", y, x, DN * DC, detail, len)) return 0;
    snprintf(detail, len, "y == x on %d x %d", DN, DC);
    return 1;
}

/* k = 2 without drops: permute_bwd(permute(x)) sums both copies of each row, 2 x exactly. */
static int permute_twice(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    float x[DN * DC], got[DN * DC];
    scratch s = {.be = be};
    pm_ref slots, xp = permute_random(&s, 2, x, &slots), dx = scratch_filled(&s, DN * DC, 1000.0f);
    pm_op(be, moe_permute_bwd, dx, xp, slots, DN, 2, DC);
    scratch_get(&s, dx, got, DN * DC);
    scratch_release(&s);
    for (int i = 0; i < DN * DC; i++) x[i] *= 2;
    if (!same_floats("dx", got, x, DN * DC, detail, len)) return 0;
    snprintf(detail, len, "dx == 2 x on %d x %d", DN, DC);
    return 1;
}

/* ---- noise ---- */

enum { NOISE_N = 65536 };
#define NOISE_SEED 12345u

/* x = 3 + 2 z: the mean and std of z = (x - 3) / 2 must be 0 and 1 (the bounds are more than
 * five standard errors wide for 65536 samples). */
static int noise_moments(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    float *x = malloc(sizeof *x * NOISE_N);
    scratch s = {.be = be};
    pm_ref buf = scratch_filled(&s, NOISE_N, 3.0f);
    pm_op(be, add_noise, buf, NOISE_N, 2.0f, NOISE_SEED);
    scratch_get(&s, buf, x, NOISE_N);
    scratch_release(&s);
    double sum = 0, sq = 0;
    for (int i = 0; i < NOISE_N; i++) {
        double z = (x[i] - 3.0) / 2.0;
        sum += z;
        sq += z * z;
    }
    free(x);
    double mean = sum / NOISE_N, std = sqrt(sq / NOISE_N - mean * mean);
    int ok = fabs(mean) < 0.02 && fabs(std - 1) < 0.02;
    snprintf(detail, len, "z mean %.4f (|.| < 0.02), std %.4f (1 +- 0.02)", mean, std);
    return ok;
}

/* The same seed gives the same values; another seed changes them. */
static int noise_repeat(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 1000 };
    static const uint32_t seeds[3] = {NOISE_SEED, NOISE_SEED, NOISE_SEED + 1};
    float x[3][N];
    scratch s = {.be = be};
    for (int i = 0; i < 3; i++) {
        pm_ref buf = scratch_filled(&s, N, 0.0f);
        pm_op(be, add_noise, buf, N, 1.0f, seeds[i]);
        scratch_get(&s, buf, x[i], N);
    }
    scratch_release(&s);
    if (!same_floats("second run", x[1], x[0], N, detail, len)) return 0;
    int same = 0;
    for (int i = 0; i < N; i++) same += x[2][i] == x[0][i];
    if (same > N / 100) {
        snprintf(detail, len, "seed %u repeats %d of %d values of seed %u", seeds[2], same, N, seeds[0]);
        return 0;
    }
    snprintf(detail, len, "identical for one seed; %d of %d equal for the next", same, N);
    return 1;
}

/* ---- optimiser and the small ops ---- */

/* One AdamW step at step 3, worked in double: g' = scale g, m' = b1 m + (1-b1) g',
 * v' = b2 v + (1-b2) g'^2, w' = w - lr (m'/(1-b1^t) / (sqrt(v'/(1-b2^t)) + eps) + wd w). */
static int adamw_step(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    enum { N = 4, STEP = 3 };
    const float lr = 0.01f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, scale = 0.5f;
    float w[N] = {0.5f, -1.0f, 2.0f, 0.0f}, g[N] = {0.1f, -0.2f, 0.0f, 3.0f};
    float m[N] = {0.01f, 0.05f, -0.02f, 0.0f}, v[N] = {1e-3f, 4e-4f, 1e-4f, 0.0f};
    float got[3][N];
    scratch s = {.be = be};
    pm_ref rw = scratch_put(&s, w, N), rm = scratch_put(&s, m, N), rv = scratch_put(&s, v, N);
    pm_op(be, adamw, rw, scratch_put(&s, g, N), rm, rv, N, lr, b1, b2, eps, wd, STEP, scale);
    scratch_get(&s, rw, got[0], N);
    scratch_get(&s, rm, got[1], N);
    scratch_get(&s, rv, got[2], N);
    scratch_release(&s);
    for (int i = 0; i < N; i++) {
        double gi = (double)g[i] * scale;
        double mi = (double)b1 * m[i] + (1.0 - b1) * gi, vi = (double)b2 * v[i] + (1.0 - b2) * gi * gi;
        double mhat = mi / (1.0 - pow(b1, STEP)), vhat = vi / (1.0 - pow(b2, STEP));
        double wi = w[i] - lr * (mhat / (sqrt(vhat) + eps) + (double)wd * w[i]);
        char name[3][8];
        snprintf(name[0], sizeof name[0], "w[%d]", i);
        snprintf(name[1], sizeof name[1], "m[%d]", i);
        snprintf(name[2], sizeof name[2], "v[%d]", i);
        if (!close_to(name[0], got[0][i], wi, FLOAT_REL, detail, len) ||
            !close_to(name[1], got[1][i], mi, FLOAT_REL, detail, len) ||
            !close_to(name[2], got[2][i], vi, FLOAT_REL, detail, len))
            return 0;
    }
    snprintf(detail, len, "w, m, v of %d parameters within %.0e", N, FLOAT_REL);
    return 1;
}

/* 1 + 4 + 9 + 0.25 + 16 = 30.25, exact in float32. */
static int sumsq_exact(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    static const float x[5] = {1, 2, 3, 0.5f, -4}, want = 30.25f;
    float got;
    scratch s = {.be = be};
    pm_ref out = scratch_filled(&s, 1, 1000.0f);
    pm_op(be, sumsq, out, scratch_put(&s, x, 5), 5);
    scratch_get(&s, out, &got, 1);
    scratch_release(&s);
    if (!same_floats("sumsq", &got, &want, 1, detail, len)) return 0;
    snprintf(detail, len, "30.25 exact");
    return 1;
}

/* fill of elements 1..4 of six leaves the first and the last alone. */
static int fill_exact(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    static const float want[6] = {9, 0.25f, 0.25f, 0.25f, 0.25f, 9};
    float got[6];
    scratch s = {.be = be};
    pm_ref x = scratch_filled(&s, 6, 9.0f);
    pm_op(be, fill, pm_shift(x, 1), 4, 0.25f);
    scratch_get(&s, x, got, 6);
    scratch_release(&s);
    if (!same_floats("x", got, want, 6, detail, len)) return 0;
    snprintf(detail, len, "4 of 6 filled exactly");
    return 1;
}

/* scale of elements 1..4 of six by -0.5 (exact in float32) leaves the first and the last
 * alone. */
static int scale_exact(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    static const float x[6] = {9, 1.5f, -2, 0.25f, 3, 9};
    static const float want[6] = {9, -0.75f, 1, -0.125f, -1.5f, 9};
    float got[6];
    scratch s = {.be = be};
    pm_ref r = scratch_put(&s, x, 6);
    pm_op(be, scale, pm_shift(r, 1), 4, -0.5f);
    scratch_get(&s, r, got, 6);
    scratch_release(&s);
    if (!same_floats("x", got, want, 6, detail, len)) return 0;
    snprintf(detail, len, "4 of 6 scaled exactly");
    return 1;
}

/* Sums exact in float32, into a fresh output and in place (out aliasing a). */
static int add_exact(pm_backend *be, int arg, char *detail, size_t len) {
    (void)arg;
    static const float a[4] = {1.5f, -2, 0.25f, 3}, b[4] = {0.25f, 2, -0.25f, 0.125f};
    static const float want[4] = {1.75f, 0, 0, 3.125f};
    float got[2][4];
    scratch s = {.be = be};
    pm_ref ra = scratch_put(&s, a, 4), rb = scratch_put(&s, b, 4), out = scratch_filled(&s, 4, 1000.0f);
    pm_op(be, add, out, ra, rb, 4);
    pm_op(be, add, ra, ra, rb, 4);
    scratch_get(&s, out, got[0], 4);
    scratch_get(&s, ra, got[1], 4);
    scratch_release(&s);
    if (!same_floats("out", got[0], want, 4, detail, len)) return 0;
    if (!same_floats("a (in place)", got[1], want, 4, detail, len)) return 0;
    snprintf(detail, len, "exact, also in place");
    return 1;
}

/* ---- the table and the driver ---- */

typedef struct {
    const char *op, *what;
    int (*run)(pm_backend *be, int arg, char *detail, size_t len);
    int arg;
} semantics_check;

static const semantics_check checks[] = {
    {"router_fwd", "top-k ties to the lower index, k=1", router_ties, 1},
    {"router_fwd", "top-k ties to the lower index, k=2", router_ties, 2},
    {"router_fwd", "top-1 gate is exactly 1.0", top1_gate, 0},
    {"router_bwd", "top-1 straight-through through p", top1_backward, 0},
    {"router_bwd", "entropy bonus on known probabilities", entropy_bonus, 0},
    {"router_stats", "lb loss 1 at perfect balance", lb_balanced, 0},
    {"router_stats", "lb loss E, all on one expert", lb_collapsed, 0},
    {"router_stats", "z-loss on known logits", z_loss, 0},
    {"moe_plan", "N=5 E=4 k=2, expert 1 empty", plan, 0},
    {"moe_plan", "N=5 E=4 k=2 capacity=3 drops", plan, 1},
    {"moe_plan", "N=7 E=3 k=1, all on 1", plan, 2},
    {"moe_plan", "N=7 E=3 k=1, all on 1, capacity=3", plan, 3},
    {"moe_combine", "combine(permute(x)), k=1 gate 1: x", permute_combine, 0},
    {"moe_permute_bwd", "permute_bwd(permute(x)), k=2: 2x", permute_twice, 0},
    {"add_noise", "z mean 0, std 1 (65536 samples)", noise_moments, 0},
    {"add_noise", "same seed, same values", noise_repeat, 0},
    {"adamw", "one step vs hand-computed AdamW", adamw_step, 0},
    {"sumsq", "known input", sumsq_exact, 0},
    {"fill", "known input", fill_exact, 0},
    {"scale", "known input", scale_exact, 0},
    {"add", "known input", add_exact, 0},
};
enum { n_checks = sizeof checks / sizeof checks[0] };

void pm_check_semantics(pm_backend *cpu, const char *only_op, FILE *out, pm_tally *tally) {
    for (int i = 0; i < n_checks; i++) {
        const semantics_check *c = &checks[i];
        if (!op_selected(only_op, c->op)) continue;
        char detail[300] = "";
        int ok = c->run(cpu, c->arg, detail, sizeof detail);
        if (backend_failed_row(cpu, out, tally, LABEL, c->op, c->what)) continue;
        pm_check_row(out, tally, ok ? "pass" : "FAIL", LABEL, c->op, c->what, detail);
    }
}
