/* Dispatch: the stable counting-sort plan, permute and combine with their backwards. */
#include "ref_ops.h"

#include <string.h>

int ref_moe_plan(pm_backend *be, pm_ref offsets, pm_ref slots, pm_ref ids, int N, int E, int k,
                 int capacity) {
    const int32_t *id = pm_i32(ids);
    int32_t *off = pm_i32(offsets), *slot = pm_i32(slots);
    if (ref_check_indices(be, PM_FAULT_MOE_PLAN_ID, id, (long)N * k, E, 0) != PM_OK)
        return PM_ERR;
    for (int e = 0; e <= E; e++) off[e] = 0;
    for (long a = 0; a < (long)N * k; a++) off[id[a] + 1]++;
    for (int e = 0; e < E; e++)
        if (capacity > 0 && off[e + 1] > capacity) off[e + 1] = capacity;
    for (int e = 0; e < E; e++) off[e + 1] += off[e];
    /* assignments in (t, j) order: the n-th of expert e lands at offsets[e] + n */
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (long a = 0; a < (long)N * k; a++) {
            if (id[a] != e) continue;
            slot[a] = capacity > 0 && n >= capacity ? -1 : off[e] + n;
            n++;
        }
    }
    return PM_OK;
}

int ref_moe_permute(pm_backend *be, pm_ref xp, pm_ref x, pm_ref slots, int N, int k, int C) {
    const int32_t *slot = pm_i32(slots);
    if (ref_check_indices(be, PM_FAULT_MOE_PERMUTE_SLOT, slot, (long)N * k, pm_rows_in(xp, C),
                          1) != PM_OK)
        return PM_ERR;
#pragma omp parallel for schedule(static)
    for (long a = 0; a < (long)N * k; a++)
        if (slot[a] >= 0)
            memcpy(pm_f32(xp) + (long)slot[a] * C, pm_f32(x) + (a / k) * C, sizeof(float) * C);
    return PM_OK;
}

int ref_moe_permute_bwd(pm_backend *be, pm_ref dx, pm_ref dxp, pm_ref slots, int N, int k,
                        int C) {
    const int32_t *slot = pm_i32(slots);
    if (ref_check_indices(be, PM_FAULT_MOE_PERMUTE_BWD_SLOT, slot, (long)N * k,
                          pm_rows_in(dxp, C), 1) != PM_OK)
        return PM_ERR;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) {
        float *d = pm_f32(dx) + (long)t * C;
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int j = 0; j < k; j++) {
                int s = slot[(long)t * k + j];
                if (s >= 0) acc += pm_f32(dxp)[(long)s * C + c];
            }
            d[c] = (float)acc;
        }
    }
    return PM_OK;
}

int ref_moe_combine(pm_backend *be, pm_ref y, pm_ref yp, pm_ref slots, pm_ref gates, int N, int k,
                    int C) {
    const int32_t *slot = pm_i32(slots);
    if (ref_check_indices(be, PM_FAULT_MOE_COMBINE_SLOT, slot, (long)N * k, pm_rows_in(yp, C),
                          1) != PM_OK)
        return PM_ERR;
    const float *g = pm_f32(gates);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) {
        float *o = pm_f32(y) + (long)t * C;
        for (int c = 0; c < C; c++) {
            double acc = 0;
            for (int j = 0; j < k; j++) {
                int s = slot[(long)t * k + j];
                if (s >= 0) acc += (double)g[(long)t * k + j] * pm_f32(yp)[(long)s * C + c];
            }
            o[c] = (float)acc;
        }
    }
    return PM_OK;
}

int ref_moe_combine_bwd(pm_backend *be, pm_ref dyp, pm_ref dgates, pm_ref dy, pm_ref yp,
                        pm_ref slots, pm_ref gates, int N, int k, int C) {
    const int32_t *slot = pm_i32(slots);
    if (ref_check_indices(be, PM_FAULT_MOE_COMBINE_BWD_SLOT, slot, (long)N * k,
                          pm_rows_in_both(yp, dyp, C), 1) != PM_OK)
        return PM_ERR;
#pragma omp parallel for schedule(static)
    for (long a = 0; a < (long)N * k; a++) {
        int s = slot[a];
        const float *d = pm_f32(dy) + (a / k) * C;
        if (s < 0) {
            pm_f32(dgates)[a] = 0.0f;
            continue;
        }
        float g = pm_f32(gates)[a];
        double dot = 0;
        for (int c = 0; c < C; c++) {
            dot += (double)d[c] * pm_f32(yp)[(long)s * C + c];
            pm_f32(dyp)[(long)s * C + c] = g * d[c];
        }
        pm_f32(dgates)[a] = (float)dot;
    }
    return PM_OK;
}
