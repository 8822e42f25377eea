/* The Vulkan backend's shared state: one device and queue, device buffers, the recording
 * stream of batched command buffers, the kernels and their pipelines.
 *
 * Files: vk_device.c (instance, devices, open/close, the driver record), vk_memory.c (buffers,
 * upload, download), vk_stream.c (batches, barriers, descriptors, dispatch), vk_kernels.c
 * (the kernel table, pipelines), vk_ops_*.c (the ops, one family per file). */
#ifndef POLYMOE_VK_INTERNAL_H
#define POLYMOE_VK_INTERNAL_H

#include <vulkan/vulkan.h>

#include "backends/backend_impl.h"

enum {
    VK_MAX_BINDINGS = 8,
    VK_PUSH_BYTES = 128,       /* the minimum maxPushConstantsSize every device has */
    VK_BATCHES = 3,            /* command buffers in flight */
    VK_BATCH_DISPATCHES = 256, /* a batch is submitted when it holds this many commands */
    VK_MAX_SPEC = 6,
    VK_HAZARD_SLOTS = 32,
    VK_COLUMN_BLOCK = 32, /* columns per work group of column sums (COLS, reduce.glsl) */
};

/* Staging: uploads go through a per-batch arena; a batch is submitted once it has staged
 * this much, which bounds host memory to about VK_BATCHES times it. */
#define VK_STAGING_BYTES ((VkDeviceSize)16 << 20)
#define VK_DOWNLOAD_BYTES ((VkDeviceSize)64 << 20)

/* A VkBuffer with its own memory; `mapped` is set for host-visible ones (staging, fault). */
typedef struct {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize size;
    void *mapped;
    int coherent;
    uint32_t heap;          /* the memory heap it was allocated from */
    VkDeviceSize allocated; /* bytes taken from that heap */
} vk_mem;

typedef struct {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pool; /* descriptor sets when push descriptors are missing */
    int recording;         /* begun, not yet submitted */
    int commands;          /* recorded since begin */
    int submitted;         /* waiting on the fence */
    vk_mem arena;          /* upload staging, reused */
    VkDeviceSize staged;   /* bytes of the arena in use */
    vk_mem *retired;       /* destroyed once this batch completes */
    int nretired, capretired;
} vk_batch;

/* Buffers written / read since the last barrier: a command that reads what was written,
 * or writes what was read or written, needs a barrier first. */
typedef struct {
    VkBuffer written[VK_HAZARD_SLOTS], read[VK_HAZARD_SLOTS];
    int nwritten, nread;
} vk_hazards;

/* ---- kernels ---- */

/* Every kernel (kernels/vulkan/<name>.comp): its number of buffer bindings and the mask of
 * the bindings it writes (the fault record, always last when a kernel has one, is left out:
 * kernels only claim it once). Outputs come first in every kernel. */
#define VK_KERNELS(X)                                                                      \
    X(gemm, 5, 0x4)                                                                        \
    X(encoder_fwd, 5, 0x1) X(encoder_bwd, 5, 0x3)                                          \
    X(add, 3, 0x1) X(fill, 1, 0x1) X(scale, 1, 0x1) X(gelu_fwd, 2, 0x1)                    \
    X(gelu_bwd, 3, 0x1) X(bias_add, 3, 0x1) X(bias_grad, 3, 0x1) X(add_noise, 1, 0x1)      \
    X(layernorm_fwd, 6, 0x7) X(layernorm_bwd, 6, 0x1) X(layernorm_bwd_params, 6, 0x3)      \
    X(attention_scores, 2, 0x1) X(attention_out, 3, 0x1)                                   \
    X(attention_bwd_scores, 4, 0x1) X(attention_bwd_grads, 5, 0x1)                         \
    X(xent_fwd, 4, 0x1) X(xent_bwd, 4, 0x1)                                                \
    X(router_fwd, 5, 0xf) X(router_stats, 4, 0x1) X(router_bwd, 7, 0x1)                    \
    X(plan_histogram, 3, 0x1) X(plan_offsets, 2, 0x3) X(plan_scatter, 4, 0x1)              \
    X(moe_permute, 4, 0x1) X(moe_permute_bwd, 4, 0x1) X(moe_combine, 5, 0x1)               \
    X(moe_combine_bwd, 7, 0x3)                                                             \
    X(reduce_sum, 2, 0x1) X(adamw, 4, 0xd)

typedef enum {
#define VK_KERNEL_ENUM(name, bindings, writes) VK_K_##name,
    VK_KERNELS(VK_KERNEL_ENUM)
#undef VK_KERNEL_ENUM
    VK_KERNEL_COUNT
} vk_kernel;

typedef struct {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    int subgroups;                                  /* subgroup arithmetic in compute shaders */
    PFN_vkCmdPushDescriptorSetKHR push_descriptors; /* NULL: descriptor pools per batch */

    VkCommandPool cmd_pool;
    VkPipelineCache cache;
    VkDescriptorSetLayout set_layout[VK_MAX_BINDINGS + 1]; /* by binding count */
    VkPipelineLayout layout[VK_MAX_BINDINGS + 1];
    VkPipeline pipeline[VK_KERNEL_COUNT];        /* built on first use */
    uint32_t spec[VK_KERNEL_COUNT][VK_MAX_SPEC]; /* [0] is the work-group size */
    int nspec[VK_KERNEL_COUNT];

    vk_batch batch[VK_BATCHES];
    int current; /* the batch being recorded */
    vk_hazards hazards;

    VkDeviceSize heap_used[VK_MAX_MEMORY_HEAPS]; /* bytes allocated from each heap */
    VkDeviceSize max_binding; /* the most bytes one binding reaches: maxStorageBufferRange, or
                                 less with POLYMOE_VK_MAX_BINDING (tests of the windows) */
    pm_buf fault;    /* the fault record of kernels/fault_sites.h (host-visible) */
    vk_mem download; /* staging for downloads, grown on demand */
    pm_buf scratch;  /* device scratch for multi-pass ops, grown on demand */
} vk_ctx;

static inline vk_ctx *vk_of(const pm_backend *be) { return (vk_ctx *)be->ctx; }

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc. */
const char *vk_result_name(VkResult r);

/* vk_memory.c */
int vk_mem_create(pm_backend *be, const char *op, vk_mem *m, VkDeviceSize size,
                  VkBufferUsageFlags usage, int host_visible);
void vk_mem_destroy(vk_ctx *vk, vk_mem *m);
/* A pm_buf of the backend's own (fault record, scratch) around a new vk_mem. */
int vk_buf_create(pm_backend *be, const char *op, pm_buf *buf, size_t bytes, int host_visible);
void vk_buf_destroy(vk_ctx *vk, pm_buf *buf);
/* Scratch of at least `bytes` (4-byte elements), valid until the next call. */
pm_buf *vk_scratch(pm_backend *be, const char *op, size_t bytes);
int vk_alloc(pm_backend *be, pm_buf *buf);
void vk_free(pm_backend *be, pm_buf *buf);
int vk_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes);
int vk_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes);

/* vk_stream.c */
int vk_stream_init(pm_backend *be);
void vk_stream_destroy(vk_ctx *vk);
/* The batch being recorded, begun (waiting for and recycling it first when needed). */
vk_batch *vk_recording(pm_backend *be, const char *op);
/* Declares the buffers the next command touches (bit i of `writes`: bufs[i] is written);
 * records a barrier first when that conflicts with what came since the last one. */
void vk_access(vk_ctx *vk, vk_batch *b, int n, const VkBuffer *bufs, unsigned writes);
/* One more command in the batch; submits it when it is full. */
int vk_command_done(pm_backend *be, const char *op);
/* Submits the recording batch (if it holds anything) without waiting. */
int vk_submit(pm_backend *be, const char *op);
/* Submits, waits for every batch and checks the fault record. */
int vk_sync(pm_backend *be);
/* Frees `m` once the commands recorded so far have completed. */
int vk_retire(pm_backend *be, vk_mem *m);

/* One buffer argument of a kernel: `n` elements from ref.off on are touched (0: as far as
 * the device lets a binding reach, for arguments indexed by data such as token ids). */
typedef struct {
    pm_ref ref;
    size_t n;
} vk_arg;

#define VK_ARGS(...) ((const vk_arg[]){__VA_ARGS__})
/* r moved on by n elements. */
static inline pm_ref vk_plus(pm_ref r, size_t n) {
    r.off += n;
    return r;
}
/* The fault record as a kernel argument (never a hazard: kernels only claim it once). */
vk_arg vk_fault_arg(pm_backend *be);

/* Records one dispatch of `kernel`. `push` starts with one uint32 element offset per binding,
 * which this fills in (each argument is bound through an aligned window of its buffer);
 * the rest of it is the kernel's own constants. A zero group count records nothing. */
int vk_dispatch(pm_backend *be, const char *op, vk_kernel kernel, const vk_arg *args, void *push,
                size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz);

/* The most elements an argument may span and still be bound (its window starts at its offset
 * rounded down to the device's alignment). Ops whose arguments can be longer (whole parameter
 * groups, the logits, GPT-2's embedding) run in pieces of at most this many. */
size_t vk_max_span(const pm_backend *be);

/* An elementwise kernel over n elements of every one of its nrefs arguments, in pieces of at
 * most vk_max_span elements: `push` is the kernel's constants, which start with the nrefs
 * offsets and then the element count (set per piece). */
int vk_pieces(pm_backend *be, const char *op, vk_kernel kernel, const pm_ref *refs, int nrefs, void *push,
              size_t push_bytes, size_t n);

/* Work groups for `items` items at `per_group` each, capped at the device's limit (kernels
 * loop over the rest with a grid-stride loop). */
uint32_t vk_groups(const pm_backend *be, size_t items, size_t per_group);
/* The work-group size of a kernel. */
uint32_t vk_wg(const pm_backend *be, vk_kernel kernel);

/* vk_kernels.c */
int vk_kernels_init(pm_backend *be);
void vk_kernels_destroy(vk_ctx *vk);
/* The pipeline of `kernel`, built on first use; VK_NULL_HANDLE with the error set. */
VkPipeline vk_pipeline(pm_backend *be, const char *op, vk_kernel kernel);
int vk_bindings(vk_kernel kernel);
unsigned vk_writes(vk_kernel kernel); /* bit i: binding i is written */

/* The ops, one family per file. */
PM_DECLARE_OPS(vk)

#endif
