/* The MoE layer against its definition, computed here on the host in double: dense routing
 * (every expert, k = E) gives sum_e softmax(x R^T)_e * expert_e(x), for full experts and for
 * LoRA experts (expert e: the base MLP with each weight W + (alpha / r) A_e B_e). On ref and
 * cpu; the other backends are held to these two by `polymoe check` and the parity test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/layers.h"
#include "tests/check.h"

enum { N = 6, C = 8, H = 4 * C, E = 3, R = 2 };

static pm_buf *bufs[64];
static int n_bufs;

/* A buffer of n floats, filled with a smooth pseudo-random pattern (or zeros) mirrored in host. */
static pm_ref tensor(pm_backend *be, float *host, size_t n, int seed) {
    for (size_t i = 0; i < n; i++) host[i] = seed ? 0.4f * sinf(0.7f * (float)i + 1.9f * (float)seed) : 0.0f;
    pm_buf *b = pm_alloc(be, n * sizeof(float));
    if (b) pm_upload(be, b, host, 0, n * sizeof(float));
    bufs[n_bufs++] = b;
    return pm_at(b, 0);
}

static double gelu(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

/* y = gelu(x W1 + b1) W2 + b2 for one token, with W1' = W1 + s A1 B1 and W2' likewise when A1 is given. */
static void mlp_host(const float *x, const float *W1, const float *b1, const float *W2, const float *b2,
                     const float *A1, const float *B1, const float *A2, const float *B2, double s, double *y) {
    double h[H];
    for (int j = 0; j < H; j++) {
        double acc = b1[j];
        for (int c = 0; c < C; c++) {
            double w = W1[c * H + j];
            for (int r = 0; A1 && r < R; r++) w += s * A1[c * R + r] * B1[r * H + j];
            acc += x[c] * w;
        }
        h[j] = gelu(acc);
    }
    for (int c = 0; c < C; c++) {
        double acc = b2[c];
        for (int j = 0; j < H; j++) {
            double w = W2[j * C + c];
            for (int r = 0; A2 && r < R; r++) w += s * A2[j * R + r] * B2[r * C + c];
            acc += h[j] * w;
        }
        y[c] = acc;
    }
}

static void check_dense_routing(const char *backend, int lora) {
    char err[256];
    pm_backend *be = pm_backend_open(backend, 0, err, sizeof err);
    if (!be) {
        check(0, "%s: cannot open the backend (%s)", backend, err);
        return;
    }
    static float x[N * C], rw[E * C], W1[E * C * H], b1[E * H], W2[E * H * C], b2[E * C], A1[E * C * R],
        B1[E * R * H], A2[E * H * R], B2[E * R * C], out[N * C], scratch[N * E * H];
    pm_moe_params w = {0};
    pm_ref inp = tensor(be, x, N * C, 1);
    w.router_w = tensor(be, rw, E * C, 2);
    /* full experts: E MLPs; LoRA: one base MLP and E adapter pairs */
    int copies = lora ? 1 : E;
    pm_mlp_params *mlp = lora ? &w.base : &w.experts;
    mlp->fc_w = tensor(be, W1, (size_t)copies * C * H, 3);
    mlp->fc_b = tensor(be, b1, (size_t)copies * H, 4);
    mlp->proj_w = tensor(be, W2, (size_t)copies * H * C, 5);
    mlp->proj_b = tensor(be, b2, (size_t)copies * C, 6);
    if (lora) {
        w.lora.fc_a = tensor(be, A1, E * C * R, 7);
        w.lora.fc_b = tensor(be, B1, E * R * H, 8);
        w.lora.proj_a = tensor(be, A2, E * H * R, 9);
        w.lora.proj_b = tensor(be, B2, E * R * C, 10);
    }
    size_t rows = (size_t)N * E;
    pm_moe_acts a = {
        .rlogits = tensor(be, scratch, N * E, 0), .probs = tensor(be, scratch, N * E, 0),
        .lse = tensor(be, scratch, N, 0), .ids = tensor(be, scratch, N * E, 0),
        .gates = tensor(be, scratch, N * E, 0), .stats = tensor(be, scratch, 2 * E + 2, 0),
        .offsets = tensor(be, scratch, E + 1, 0), .slots = tensor(be, scratch, N * E, 0),
        .xp = tensor(be, scratch, rows * C, 0), .yp = tensor(be, scratch, rows * C, 0),
        .experts = {tensor(be, scratch, rows * H, 0), tensor(be, scratch, rows * H, 0)},
        .base_fch = tensor(be, scratch, N * H, 0), .u_fc = tensor(be, scratch, rows * R, 0),
        .u_proj = tensor(be, scratch, rows * R, 0)};
    pm_ref y = tensor(be, scratch, N * C, 0);
    float alpha = 3.0f, s = alpha / R;
    pm_moe_shape d = {.N = N, .C = C, .E = E, .k = E, .H = H, .rank = lora ? R : 0, .lora_scale = lora ? s : 0.0f};
    pm_moe_fwd(be, &d, y, inp, &w, &a, 0.0f, 0);
    pm_download(be, y.buf, out, 0, sizeof out);
    double worst = 0, largest = 0;
    for (int t = 0; t < N; t++) {
        const float *xt = x + t * C;
        double logit[E], p[E], top = -1e30, z = 0, want[C] = {0}, ye[C];
        for (int e = 0; e < E; e++) {
            logit[e] = 0;
            for (int c = 0; c < C; c++) logit[e] += (double)xt[c] * rw[e * C + c];
            if (logit[e] > top) top = logit[e];
        }
        for (int e = 0; e < E; e++) z += p[e] = exp(logit[e] - top);
        for (int e = 0; e < E; e++) {
            int m = lora ? 0 : e; /* which MLP copy */
            mlp_host(xt, W1 + (size_t)m * C * H, b1 + m * H, W2 + (size_t)m * H * C, b2 + m * C,
                     lora ? A1 + e * C * R : NULL, B1 + e * R * H, lora ? A2 + e * H * R : NULL, B2 + e * R * C, s,
                     ye);
            for (int c = 0; c < C; c++) want[c] += p[e] / z * ye[c];
        }
        for (int c = 0; c < C; c++) {
            worst = fmax(worst, fabs(want[c] - out[t * C + c]));
            largest = fmax(largest, fabs(want[c]));
        }
    }
    check(!pm_failed(be) && worst <= 1e-5 * (1 + largest) && largest > 0.1,
          "%s, %s experts: dense routing is the probability-weighted sum of every expert (max error %.2e, "
          "outputs up to %.2f)%s%s", backend, lora ? "LoRA" : "full", worst, largest, pm_failed(be) ? ": " : "",
          pm_failed(be) ? pm_error(be) : "");
    while (n_bufs) pm_free(be, bufs[--n_bufs]);
    pm_backend_close(be);
}

int main(void) {
    const char *backends[] = {"ref", "cpu"};
    for (int i = 0; i < 2; i++) {
        check_dense_routing(backends[i], 0);
        check_dense_routing(backends[i], 1);
    }
    return check_tally();
}
