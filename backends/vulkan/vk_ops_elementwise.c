/* Elementwise ops: encoder, add, fill, scale, GELU, bias add and grad, router noise. */
#include "vk_internal.h"

/* Work groups for one invocation per element of n. */
static uint32_t spread(pm_backend *be, vk_kernel kernel, size_t n) {
    return vk_groups(be, n, vk_wg(be, kernel));
}

/* The offsets argument of the grouped forms; unused (and maybe NULL) without groups. */
static vk_arg offsets_arg(pm_backend *be, pm_ref offsets, int groups) {
    return groups > 0 ? (vk_arg){offsets, (size_t)groups + 1} : vk_fault_arg(be);
}

/* The embedding's rows from `wte` to the end of its buffer (the limit a token id is checked
 * against), and how many one binding holds: GPT-2's 50,257 x 768 is read in windows. */
static size_t wte_rows(const pm_ref wte, int C) {
    size_t elems = pm_buf_bytes(wte.buf) / 4;
    return C > 0 && wte.off < elems ? (elems - wte.off) / (size_t)C : 0;
}

static size_t rows_per_window(const pm_backend *be, int C) {
    size_t r = C > 0 ? vk_max_span(be) / (size_t)C : 1;
    return r < 1 ? 1 : r;
}

int vk_encoder_fwd(pm_backend *be, pm_ref out, pm_ref tokens, pm_ref wte, pm_ref wpe, int B, int T,
                   int C) {
    size_t rows = wte_rows(wte, C), step = rows_per_window(be, C), n = (size_t)B * T * C;
    struct {
        uint32_t off[5], n_tok, T, C, rows, v0;
    } pc = {.n_tok = (uint32_t)(B * T), .T = (uint32_t)T, .C = (uint32_t)C, .rows = (uint32_t)rows};
    for (size_t v0 = 0; v0 == 0 || v0 < rows; v0 += step) { /* once even without rows: ids are faults */
        size_t len = rows - v0 < step ? rows - v0 : step;
        pc.v0 = (uint32_t)v0;
        if (vk_dispatch(be, "encoder_fwd", VK_K_encoder_fwd,
                        VK_ARGS({out, n}, {tokens, (size_t)B * T}, {vk_plus(wte, v0 * (size_t)C), len * (size_t)C},
                                {wpe, (size_t)T * C}, vk_fault_arg(be)),
                        &pc, sizeof pc, spread(be, VK_K_encoder_fwd, n), 1, 1) != PM_OK)
            return PM_ERR;
    }
    return PM_OK;
}

int vk_encoder_bwd(pm_backend *be, pm_ref dwte, pm_ref dwpe, pm_ref dout, pm_ref tokens, int B,
                   int T, int C) {
    size_t rows = wte_rows(dwte, C), step = rows_per_window(be, C);
    struct {
        uint32_t off[5], B, T, C, rows, v0;
    } pc = {.B = (uint32_t)B, .T = (uint32_t)T, .C = (uint32_t)C, .rows = (uint32_t)rows};
    for (size_t v0 = 0; v0 == 0 || v0 < rows; v0 += step) {
        size_t len = rows - v0 < step ? rows - v0 : step;
        pc.v0 = (uint32_t)v0;
        if (vk_dispatch(be, "encoder_bwd", VK_K_encoder_bwd,
                        VK_ARGS({vk_plus(dwte, v0 * (size_t)C), len * (size_t)C}, {dwpe, (size_t)T * C},
                                {dout, (size_t)B * T * C}, {tokens, (size_t)B * T}, vk_fault_arg(be)),
                        &pc, sizeof pc, B > 0 ? spread(be, VK_K_encoder_bwd, (size_t)T * C) : 0, 1, 1) != PM_OK)
            return PM_ERR;
    }
    return PM_OK;
}

/* add, fill, scale and GELU run in pieces (vk_pieces): zeroing a whole gradient group can
 * reach further than one binding. */
int vk_add(pm_backend *be, pm_ref out, pm_ref a, pm_ref b, size_t n) {
    struct {
        uint32_t off[3], n;
    } pc;
    return vk_pieces(be, "add", VK_K_add, (pm_ref[]){out, a, b}, 3, &pc, sizeof pc, n);
}

/* fill and scale: one buffer and one float (the value, the factor). */
static int one_buffer(pm_backend *be, const char *op, vk_kernel kernel, pm_ref x, size_t n, float v) {
    struct {
        uint32_t off[1], n;
        float v;
    } pc = {.v = v};
    return vk_pieces(be, op, kernel, (pm_ref[]){x}, 1, &pc, sizeof pc, n);
}

int vk_fill(pm_backend *be, pm_ref x, size_t n, float value) { return one_buffer(be, "fill", VK_K_fill, x, n, value); }

int vk_scale(pm_backend *be, pm_ref x, size_t n, float alpha) {
    return one_buffer(be, "scale", VK_K_scale, x, n, alpha);
}

int vk_gelu_fwd(pm_backend *be, pm_ref out, pm_ref inp, size_t n) {
    struct {
        uint32_t off[2], n;
    } pc;
    return vk_pieces(be, "gelu_fwd", VK_K_gelu_fwd, (pm_ref[]){out, inp}, 2, &pc, sizeof pc, n);
}

int vk_gelu_bwd(pm_backend *be, pm_ref dinp, pm_ref inp, pm_ref dout, size_t n) {
    struct {
        uint32_t off[3], n;
    } pc;
    return vk_pieces(be, "gelu_bwd", VK_K_gelu_bwd, (pm_ref[]){dinp, inp, dout}, 3, &pc, sizeof pc, n);
}

int vk_bias_add(pm_backend *be, pm_ref out, pm_ref bias, int rows, int cols, int groups,
                pm_ref offsets) {
    struct {
        uint32_t off[3], rows, cols, groups;
    } pc = {.rows = (uint32_t)rows, .cols = (uint32_t)cols, .groups = (uint32_t)groups};
    size_t n = (size_t)rows * cols;
    return vk_dispatch(be, "bias_add", VK_K_bias_add,
                       VK_ARGS({out, n}, {bias, (size_t)(groups > 0 ? groups : 1) * cols},
                               offsets_arg(be, offsets, groups)),
                       &pc, sizeof pc, spread(be, VK_K_bias_add, n), 1, 1);
}

int vk_bias_grad(pm_backend *be, pm_ref dbias, pm_ref dout, int rows, int cols, int groups,
                 pm_ref offsets) {
    struct {
        uint32_t off[3], rows, cols, groups;
    } pc = {.rows = (uint32_t)rows, .cols = (uint32_t)cols, .groups = (uint32_t)groups};
    int nb = groups > 0 ? groups : 1;
    return vk_dispatch(be, "bias_grad", VK_K_bias_grad,
                       VK_ARGS({dbias, (size_t)nb * cols}, {dout, (size_t)rows * cols},
                               offsets_arg(be, offsets, groups)),
                       &pc, sizeof pc,
                       cols > 0 ? ((uint32_t)cols + VK_COLUMN_BLOCK - 1) / VK_COLUMN_BLOCK : 0,
                       (uint32_t)nb, 1);
}

int vk_add_noise(pm_backend *be, pm_ref x, size_t n, float std, uint32_t seed) {
    struct {
        uint32_t off[1], n;
        float std;
        uint32_t seed;
    } pc = {.n = (uint32_t)n, .std = std, .seed = seed};
    return vk_dispatch(be, "add_noise", VK_K_add_noise, VK_ARGS({x, n}), &pc, sizeof pc,
                       spread(be, VK_K_add_noise, n), 1, 1);
}
