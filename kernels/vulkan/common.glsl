/* Included first by every kernel: the work-group size (specialisation constant 0, set by the
 * host), the fault record kernels fill on invalid input (kernels/fault_sites.h, shared with
 * the host) and the grid-stride loop that lets a capped number of work groups cover any size.
 * Compiled twice: with PM_SUBGROUPS (devices with subgroup arithmetic) and without. */
#ifdef PM_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;

#define WG gl_WorkGroupSize.x
#define LID gl_LocalInvocationID.x

#include "fault_sites.h"

/* every index i < n, spread over all invocations of the dispatch */
#define FOR_EACH(i, n) \
    for (uint i = gl_GlobalInvocationID.x; i < (n); i += gl_NumWorkGroups.x * WG)

/* every row < n, one work group per row (uniform: barriers inside are fine) */
#define FOR_EACH_ROW(row, n) for (uint row = gl_WorkGroupID.x; row < (n); row += gl_NumWorkGroups.x)

/* The fault record at binding b, and what fills it: report_fault claims the record for the
 * first bad index only; index_ok is true for 0 <= v < limit and else reports v. */
#define FAULT_BUFFER(b)                                                                       \
    layout(binding = b) buffer Fault { int fault_site, fault_value, fault_limit; };          \
    void report_fault(int site, int value, uint limit) {                                      \
        if (atomicCompSwap(fault_site, PM_FAULT_NONE, site) == PM_FAULT_NONE) {               \
            fault_value = value;                                                              \
            fault_limit = int(limit);                                                         \
        }                                                                                     \
    }                                                                                         \
    bool index_ok(int site, int v, uint limit) {                                              \
        if (v >= 0 && uint(v) < limit) return true;                                           \
        report_fault(site, v, limit);                                                         \
        return false;                                                                         \
    }
