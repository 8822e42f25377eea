/* Bad indices: every op that takes indices (token ids, targets, expert ids, slots, segment
 * offsets) gets one out-of-range index among good ones, on every backend, the reference
 * included. The op must fail with the fault's sticky error, naming the op, the value and the
 * bound (kernels/fault_sites.h), by the next sync point at the latest; once the error is
 * cleared, the backend must work again (a device clears its fault record). */
#include "suite_util.h"

#include <stdio.h>

#include "kernels/fault_sites.h"

/* Shapes small enough to write by hand; every buffer a multiple of 16 bytes so that no
 * device rounds a bound up. */
enum { C = 4, V = 5, T = 4, N = 4, E = 4 };

static const int32_t bad_tokens[T] = {0, 7, 1, 4};
static const int32_t negative_token[T] = {0, 1, -2, 4};
static const int32_t bad_targets[N] = {1, -1, 9, 0};
static const int32_t bad_expert[N] = {1, 4, 0, 3};
static const int32_t negative_expert[N] = {0, -1, 2, 3};
static const int32_t bad_slot[N] = {0, 2, -1, 1};    /* two rows of C: slot 2 is one past */
static const int32_t bad_offsets[3] = {0, 5, 4};     /* over rows = 4: 5 breaks it */

static pm_ref zeros(scratch *s, size_t n) { return scratch_filled(s, n, 0.0f); }
static pm_ref ints(scratch *s, const int32_t *v, size_t n) { return scratch_put(s, v, n); }

static void encoder_fwd(scratch *s) {
    pm_op(s->be, encoder_fwd, zeros(s, T * C), ints(s, bad_tokens, T), zeros(s, V * C),
          zeros(s, T * C), 1, T, C);
}

static void encoder_bwd(scratch *s) {
    pm_op(s->be, encoder_bwd, zeros(s, V * C), zeros(s, T * C), zeros(s, T * C),
          ints(s, negative_token, T), 1, T, C);
}

static void xent_fwd(scratch *s) {
    pm_op(s->be, xent_fwd, zeros(s, N), zeros(s, N * V), ints(s, bad_targets, N), N, V);
}

static void xent_bwd(scratch *s) {
    pm_op(s->be, xent_bwd, zeros(s, N * V), zeros(s, N * V), ints(s, bad_targets, N), N, V,
          1.0f);
}

static void router_bwd(scratch *s) {
    pm_op(s->be, router_bwd, zeros(s, N * E), scratch_filled(s, N * E, 0.25f), zeros(s, N),
          ints(s, bad_expert, N), zeros(s, N), zeros(s, 2 * E + 2), N, E, 1, 0.01f, 0.001f,
          0.01f);
}

static void moe_plan(scratch *s) {
    pm_op(s->be, moe_plan, zeros(s, E + 1), zeros(s, N), ints(s, negative_expert, N), N, E, 1,
          0);
}

static void moe_permute(scratch *s) {
    pm_op(s->be, moe_permute, zeros(s, 2 * C), zeros(s, N * C), ints(s, bad_slot, N), N, 1, C);
}

static void moe_permute_bwd(scratch *s) {
    pm_op(s->be, moe_permute_bwd, zeros(s, N * C), zeros(s, 2 * C), ints(s, bad_slot, N), N, 1,
          C);
}

static void moe_combine(scratch *s) {
    pm_op(s->be, moe_combine, zeros(s, N * C), zeros(s, 2 * C), ints(s, bad_slot, N),
          scratch_filled(s, N, 1.0f), N, 1, C);
}

static void moe_combine_bwd(scratch *s) {
    pm_op(s->be, moe_combine_bwd, zeros(s, 2 * C), zeros(s, N), zeros(s, N * C), zeros(s, 2 * C),
          ints(s, bad_slot, N), scratch_filled(s, N, 1.0f), N, 1, C);
}

static void gemm_grouped(scratch *s) {
    pm_op(s->be, gemm_grouped, 0, 4, C, C, 2, ints(s, bad_offsets, 3), zeros(s, 4 * C),
          zeros(s, 2 * C * C), 0.0f, zeros(s, 4 * C));
}

static void gemm_grouped_wgrad(scratch *s) {
    pm_op(s->be, gemm_grouped_wgrad, 4, C, C, 2, ints(s, bad_offsets, 3), zeros(s, 4 * C),
          zeros(s, 4 * C), 0.0f, zeros(s, 2 * C * C));
}

typedef struct {
    const char *op;
    void (*run)(scratch *);
    const char *want; /* the error ends with this */
} fault_case;

/* One per fault site of kernels/fault_sites.h. */
static const fault_case cases[] = {
    {"encoder_fwd", encoder_fwd, "encoder_fwd: token id 7 outside 0..4"},
    {"encoder_bwd", encoder_bwd, "encoder_bwd: token id -2 outside 0..4"},
    {"xent_fwd", xent_fwd, "xent_fwd: target 9 outside 0..4"},
    {"xent_bwd", xent_bwd, "xent_bwd: target 9 outside 0..4"},
    {"router_bwd", router_bwd, "router_bwd: expert id 4 outside 0..3"},
    {"moe_plan", moe_plan, "moe_plan: expert id -1 outside 0..3"},
    {"moe_permute", moe_permute, "moe_permute: slot 2 outside 0..1"},
    {"moe_permute_bwd", moe_permute_bwd, "moe_permute_bwd: slot 2 outside 0..1"},
    {"moe_combine", moe_combine, "moe_combine: slot 2 outside 0..1"},
    {"moe_combine_bwd", moe_combine_bwd, "moe_combine_bwd: slot 2 outside 0..1"},
    {"gemm_grouped", gemm_grouped,
     "gemm_grouped: offsets are not a non-decreasing partition of 4 rows (offset 5)"},
    {"gemm_grouped_wgrad", gemm_grouped_wgrad,
     "gemm_grouped_wgrad: offsets are not a non-decreasing partition of 4 rows (offset 5)"},
};
enum { n_cases = sizeof cases / sizeof cases[0] };

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* Runs one case: the error it must leave, then a clean sync once the error is cleared. */
static void check_case(pm_backend *be, const fault_case *c, const char *label, FILE *out,
                       pm_tally *tally) {
    scratch s = {.be = be};
    c->run(&s);
    pm_sync(be);
    char detail[600];
    int ok = pm_failed(be) && ends_with(pm_error(be), c->want);
    if (!ok)
        snprintf(detail, sizeof detail, "want \"...%s\", got \"%s\"", c->want,
                 pm_failed(be) ? pm_error(be) : "no error");
    pm_clear_error(be);
    scratch_release(&s);
    if (ok && pm_sync(be) != PM_OK) { /* the fault must not come back */
        ok = 0;
        snprintf(detail, sizeof detail, "after clearing: %s", pm_error(be));
        pm_clear_error(be);
    }
    if (ok) snprintf(detail, sizeof detail, "%s", c->want);
    pm_check_row(out, tally, ok ? "pass" : "FAIL", label, c->op, "bad index", detail);
}

void pm_list_faults(const char *label, const char *status, const char *why, const char *only_op,
                    FILE *out, pm_tally *tally) {
    for (int i = 0; i < n_cases; i++)
        if (op_selected(only_op, cases[i].op))
            pm_check_row(out, tally, status, label, cases[i].op, "bad index", why);
}

/* An allocation past the device's memory (a petabyte) is refused with an error, not a crash or
 * a process the system kills; cleared, the backend works again. */
static void check_huge_alloc(pm_backend *be, const char *label, FILE *out, pm_tally *tally) {
    char detail[600];
    pm_buf *b = pm_alloc(be, (size_t)1 << 50);
    int ok = !b && pm_failed(be);
    snprintf(detail, sizeof detail, "%s", b ? "a petabyte was allocated" : pm_failed(be) ? pm_error(be) : "NULL but no error");
    if (b) pm_free(be, b);
    pm_clear_error(be);
    if (ok && pm_sync(be) != PM_OK) {
        ok = 0;
        snprintf(detail, sizeof detail, "after clearing: %s", pm_error(be));
        pm_clear_error(be);
    }
    pm_check_row(out, tally, ok ? "pass" : "FAIL", label, "alloc", "1 PiB", detail);
}

void pm_check_faults(pm_backend *be, const char *label, const char *only_op, FILE *out,
                     pm_tally *tally) {
    if (!only_op) check_huge_alloc(be, label, out, tally);
    if (n_cases != PM_FAULT_COUNT - 1)
        pm_check_row(out, tally, "FAIL", label, "faults", "-",
                     "kernels/fault_sites.h and the bad-index cases (tests/suite/faults.c) "
                     "disagree on the number of sites");
    for (int i = 0; i < n_cases; i++)
        if (op_selected(only_op, cases[i].op)) check_case(be, &cases[i], label, out, tally);
}
