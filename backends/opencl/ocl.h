/* The OpenCL backend's internals: its state, the kernel table, launching, and the ops (one
 * family per file, as in backends/cpu/; the device code is kernels/opencl/<family>.cl). */
#ifndef POLYMOE_OCL_H
#define POLYMOE_OCL_H

#include <CL/cl.h>

#include "../backend_impl.h"

/* Work-group size of the row-reduction kernels (WG in the .cl files); a device must allow it. */
enum { OCL_WG = 256 };
/* Assignments per chunk of the dispatch plan (PLAN_CHUNK in dispatch.cl). */
enum { OCL_PLAN_CHUNK = 64 };
/* Column-reduction work-groups are LANES x LANES (common.cl). */
enum { OCL_LANES = 16 };

/* Every kernel of kernels/opencl/, by name. */
#define OCL_KERNELS(X)                                                                     \
    X(gemm) X(gemm_grouped) X(gemm_grouped_wgrad)                                          \
    X(encoder_fwd) X(encoder_bwd_wte) X(encoder_bwd_wpe) X(add) X(fill) X(scale)           \
    X(gelu_fwd) X(gelu_bwd) X(bias_add) X(bias_grad) X(add_noise)                          \
    X(layernorm_fwd) X(layernorm_bwd_input) X(layernorm_bwd_params)                        \
    X(attention_fwd) X(attention_bwd_datt) X(attention_bwd_dqkv)                           \
    X(xent_fwd) X(xent_bwd)                                                                \
    X(router_fwd) X(router_stats) X(router_bwd)                                            \
    X(moe_plan_count) X(moe_plan_scan) X(moe_plan_scatter) X(moe_permute)                  \
    X(moe_permute_bwd) X(moe_combine) X(moe_combine_bwd)                                   \
    X(sumsq_partial) X(sumsq_final) X(adamw)

enum {
#define OCL_KERNEL_ENUM(name) OCL_K_##name,
    OCL_KERNELS(OCL_KERNEL_ENUM)
#undef OCL_KERNEL_ENUM
    OCL_KERNEL_COUNT
};

/* The GEMM tile (gemm.cl): TM x TN per work-group, TK deep, WM x WN per work-item held in
 * vectors of VW floats. */
typedef struct {
    int tm, tn, tk, wm, wn, vw;
} ocl_tile;

enum { OCL_GEMM_OWN, OCL_GEMM_CLBLAST };

typedef struct {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue; /* in order: ops need no events between them */
    cl_program program;
    cl_kernel kernels[OCL_KERNEL_COUNT];
    ocl_tile tile;
    int gemm;               /* OCL_GEMM_OWN or OCL_GEMM_CLBLAST */
    pm_buf scratch;         /* grows on demand: dispatch-plan prefixes, sumsq partials */
    cl_mem fault;           /* the fault record of kernels/fault_sites.h */
    pm_fault fault_seen;    /* its host copy, read at every sync point */
} ocl_ctx;

static inline ocl_ctx *ocl(pm_backend *be) { return be->ctx; }

/* ---- devices (ocl_device.c) ---- */

/* Every device of every platform as one list (the index is --device). Returns the count
 * (at most max), or 0 with `why` filled. */
int ocl_list_devices(cl_device_id *out, int max, char *why, size_t whylen);
void ocl_describe(cl_device_id dev, pm_device_info *info);
const char *ocl_strerror(cl_int err);

/* ---- program and launching (ocl_program.c) ---- */

/* Builds the program from the embedded sources with this device's parameters (WG, the GEMM
 * tile) and creates every kernel. */
int ocl_build(pm_backend *be);

typedef enum { OCL_ARG_REF, OCL_ARG_INT, OCL_ARG_UINT, OCL_ARG_FLOAT, OCL_ARG_ULONG,
               OCL_ARG_LONG, OCL_ARG_MEM } ocl_arg_kind;

/* One kernel argument; a pm_ref becomes two: the buffer and its element offset. */
typedef struct {
    ocl_arg_kind kind;
    union {
        pm_ref ref;
        cl_int i;
        cl_uint u;
        cl_float f;
        cl_ulong ul;
        cl_long l;
        cl_mem mem;
    };
} ocl_arg;

#define A_REF(r) ((ocl_arg){OCL_ARG_REF, .ref = (r)})
#define A_INT(v) ((ocl_arg){OCL_ARG_INT, .i = (cl_int)(v)})
#define A_UINT(v) ((ocl_arg){OCL_ARG_UINT, .u = (cl_uint)(v)})
#define A_FLOAT(v) ((ocl_arg){OCL_ARG_FLOAT, .f = (cl_float)(v)})
#define A_SIZE(v) ((ocl_arg){OCL_ARG_ULONG, .ul = (cl_ulong)(v)})
#define A_LONG(v) ((ocl_arg){OCL_ARG_LONG, .l = (cl_long)(v)})
/* The fault record, the last argument of every kernel that checks indices. */
#define A_FAULT(be) ((ocl_arg){OCL_ARG_MEM, .mem = ocl(be)->fault})

/* An ND-range: `global` counts work-items and is rounded up to whole work-groups. */
typedef struct {
    cl_uint dims;
    size_t global[3], local[3];
} ocl_grid;

/* n work-items in 1-D groups of `wg`. */
static inline ocl_grid ocl_items(size_t n, size_t wg) {
    return (ocl_grid){1, {n, 1, 1}, {wg, 1, 1}};
}
/* One OCL_WG work-group per (x, y, z): the row-reduction kernels. */
static inline ocl_grid ocl_rows(size_t x, size_t y, size_t z) {
    return (ocl_grid){3, {x * OCL_WG, y, z}, {OCL_WG, 1, 1}};
}
/* x by y work-items in LANES x LANES groups: elementwise over (column, row) and the
 * column reductions. */
static inline ocl_grid ocl_plane(size_t x, size_t y) {
    return (ocl_grid){2, {x, y, 1}, {OCL_LANES, OCL_LANES, 1}};
}

int ocl_launch(pm_backend *be, const char *op, int kernel, ocl_grid grid, const ocl_arg *args,
               int nargs);
#define OCL_RUN(be, op, kernel, grid, ...)                                                \
    ocl_launch(be, op, OCL_K_##kernel, grid, (const ocl_arg[]){__VA_ARGS__},              \
               (int)(sizeof((const ocl_arg[]){__VA_ARGS__}) / sizeof(ocl_arg)))

/* The backend's scratch buffer, at least `bytes` long; NULL buf (and the error set) on
 * failure. Valid until the next call: the in-order queue keeps earlier users safe. */
pm_ref ocl_scratch(pm_backend *be, const char *op, size_t bytes);

/* ---- GEMM choices per device (ocl_gemm.c) ---- */

ocl_tile ocl_gemm_tile(cl_device_id dev);
/* The implementations, the faster on this device class first (the default). */
const char *const *ocl_gemm_impls(cl_device_id dev);
int ocl_gemm_kind(const char *impl); /* OCL_GEMM_OWN or OCL_GEMM_CLBLAST */

/* ---- ops ---- */

PM_DECLARE_OPS(ocl)

#endif
