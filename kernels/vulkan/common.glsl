/* Included first by every kernel: the work-group size (specialisation constant 0, set by the
 * host), the status bits kernels raise on invalid input (vk_internal.h has the same values)
 * and the grid-stride loop that lets a capped number of work groups cover any size.
 * Compiled twice: with PM_SUBGROUPS (devices with subgroup arithmetic) and without. */
#ifdef PM_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;

#define WG gl_WorkGroupSize.x
#define LID gl_LocalInvocationID.x

#define ST_TOKEN 1u
#define ST_TARGET 2u
#define ST_EXPERT 4u
#define ST_OFFSETS 8u
#define ST_SLOT 16u

/* every index i < n, spread over all invocations of the dispatch */
#define FOR_EACH(i, n) \
    for (uint i = gl_GlobalInvocationID.x; i < (n); i += gl_NumWorkGroups.x * WG)

/* every row < n, one work group per row (uniform: barriers inside are fine) */
#define FOR_EACH_ROW(row, n) for (uint row = gl_WorkGroupID.x; row < (n); row += gl_NumWorkGroups.x)

#define STATUS_BUFFER(b) layout(binding = b) buffer Status { uint status; }
