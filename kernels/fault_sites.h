/* The fault record: where a kernel found an index it cannot use (a token id past wte, a
 * target >= V, an expert id outside 0..E-1, a slot past the permuted rows, segment offsets
 * that are not a partition). Every device backend keeps one record of three int32s
 * {site, value, limit}: the first kernel to find a bad index claims it (atomic compare-and-
 * swap on site from PM_FAULT_NONE), stores the value and the bound (values must lie in
 * 0..limit-1), and skips that index; the host reads the record at its sync points and turns
 * it into the sticky error (pm_fault_fail, backends/fault.c). The CPU reference reports the
 * same sites at once.
 *
 * Included by C, CUDA, OpenCL C and GLSL alike, so only plain #defines. */
#ifndef POLYMOE_FAULT_SITES_H
#define POLYMOE_FAULT_SITES_H

#define PM_FAULT_NONE 0
#define PM_FAULT_ENCODER_FWD_TOKEN 1
#define PM_FAULT_ENCODER_BWD_TOKEN 2
#define PM_FAULT_XENT_FWD_TARGET 3
#define PM_FAULT_XENT_BWD_TARGET 4
#define PM_FAULT_ROUTER_BWD_ID 5
#define PM_FAULT_MOE_PLAN_ID 6
#define PM_FAULT_MOE_PERMUTE_SLOT 7
#define PM_FAULT_MOE_PERMUTE_BWD_SLOT 8
#define PM_FAULT_MOE_COMBINE_SLOT 9
#define PM_FAULT_MOE_COMBINE_BWD_SLOT 10
/* offsets: value is the first bad offset, limit is rows + 1 */
#define PM_FAULT_GEMM_GROUPED_OFFSET 11
#define PM_FAULT_GEMM_GROUPED_WGRAD_OFFSET 12
#define PM_FAULT_COUNT 13

#endif
