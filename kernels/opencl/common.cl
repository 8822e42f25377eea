/* Shared by every kernel file (the host compiles it first, into the same program).
 * Set by the host (backends/opencl/ocl.h): WG, the work-group size of the row-reduction
 * kernels (a power of two); LANES, the column-reduction work-groups being LANES x LANES;
 * PLAN_CHUNK (dispatch.cl) and the GEMM tile (gemm.cl).
 * No kernel returns early when it has barriers ahead, even where the whole work-group would
 * return together (legal OpenCL): PoCL 3.1 hung on such a kernel. */

/* Sum of v over a 1-D work-group of WG items; every item gets the total. tmp holds WG floats. */
float wg_sum(float v, __local float *tmp) {
    int l = get_local_id(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s) tmp[l] += tmp[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* tmp may be reused at once */
    return total;
}

/* Maximum of v over a 1-D work-group of WG items, for every item. */
float wg_max(float v, __local float *tmp) {
    int l = get_local_id(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s) tmp[l] = fmax(tmp[l], tmp[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float m = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return m;
}

/* Column reductions run on LANES x LANES work-groups: dimension 0 is the column, dimension 1
 * the lane that strides through the rows. Returns the sum over the lanes of v, valid in
 * lane 0. tmp holds LANES * LANES floats. */
float lanes_sum(float v, __local float *tmp) {
    int c = get_local_id(0), lane = get_local_id(1);
    tmp[lane * LANES + c] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    float total = 0.0f;
    if (lane == 0)
        for (int i = 0; i < LANES; i++) total += tmp[i * LANES + c];
    barrier(CLK_LOCAL_MEM_FENCE); /* tmp may be reused at once */
    return total;
}

/* x += v for a float in global memory, through compare-and-swap on its bits (OpenCL 1.2 has
 * no float atomics). */
void atomic_add_float(volatile __global float *x, float v) {
    volatile __global int *bits = (volatile __global int *)x;
    int seen = *bits, expected;
    do {
        expected = seen;
        seen = atomic_cmpxchg(bits, expected, as_int(as_float(expected) + v));
    } while (seen != expected);
}

/* The fault record (kernels/fault_sites.h, compiled ahead of this file): the first bad index
 * claims it, later ones leave it alone; the host reads it at its sync points. */
void report_fault(__global int *fault, int site, int value, int limit) {
    if (atomic_cmpxchg(fault, PM_FAULT_NONE, site) == PM_FAULT_NONE) {
        fault[1] = value;
        fault[2] = limit;
    }
}

/* true when 0 <= v < limit; else records the fault and returns false. */
bool index_ok(__global int *fault, int site, int v, long limit) {
    if (v >= 0 && v < limit) return true;
    report_fault(fault, site, v, limit > INT_MAX ? INT_MAX : (int)limit);
    return false;
}

/* The segment g of an offsets table as rows lo..hi (x, y), clamped to 0..rows: the CPU
 * reference rejects bad offsets, a device op cannot, so it keeps inside the buffers. */
int2 segment(__global const int *offsets, int g, int rows) {
    int lo = clamp(offsets[g], 0, rows), hi = clamp(offsets[g + 1], 0, rows);
    return (int2)(lo, max(lo, hi));
}

/* segment() for the grouped GEMMs, which also record offsets that are not a partition. */
int2 checked_segment(__global const int *offsets, int g, int rows, __global int *fault,
                     int site) {
    int lo = offsets[g], hi = offsets[g + 1];
    if (lo < 0 || lo > hi || hi > rows)
        report_fault(fault, site, lo < 0 || lo > hi ? lo : hi, rows + 1);
    return segment(offsets, g, rows);
}
