/* Work-group reductions; every invocation of the group must call them (they hold barriers)
 * and every invocation gets the result. With subgroup arithmetic each subgroup reduces in
 * registers and one partial per subgroup goes through shared memory; without, a shared-memory
 * tree (the host keeps work-group sizes powers of two). */
shared float pm_red[WG];

#ifdef PM_SUBGROUPS
#define WG_REDUCE(name, sub_op, combine)                                 \
    float name(float v) {                                                \
        v = sub_op(v);                                                   \
        if (subgroupElect()) pm_red[gl_SubgroupID] = v;                  \
        barrier();                                                       \
        float r = pm_red[0];                                             \
        for (uint i = 1; i < gl_NumSubgroups; i++) r = combine(r, pm_red[i]); \
        barrier();                                                       \
        return r;                                                        \
    }
#else
#define WG_REDUCE(name, sub_op, combine)                                 \
    float name(float v) {                                                \
        pm_red[LID] = v;                                                 \
        barrier();                                                       \
        for (uint s = WG / 2; s > 0; s >>= 1) {                          \
            if (LID < s) pm_red[LID] = combine(pm_red[LID], pm_red[LID + s]); \
            barrier();                                                   \
        }                                                                \
        float r = pm_red[0];                                             \
        barrier();                                                       \
        return r;                                                        \
    }
#endif

float pm_add(float a, float b) { return a + b; }
WG_REDUCE(wg_sum, subgroupAdd, pm_add)
WG_REDUCE(wg_max, subgroupMax, max)

/* Column sums: invocation LID works on column LID % COLS of a block and on every
 * (WG / COLS)-th row; this adds up the row lanes. The total is valid in lane 0
 * (LID < COLS). */
#define COLS 32u
float lanes_sum(float v) {
    pm_red[LID] = v;
    barrier();
    float r = 0.0;
    if (LID < COLS)
        for (uint lane = 0; lane < WG / COLS; lane++) r += pm_red[LID + lane * COLS];
    barrier();
    return r;
}
