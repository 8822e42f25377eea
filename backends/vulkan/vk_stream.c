/* The execution model: ops record into the current command buffer and return; a batch is
 * submitted when it is full, when an upload's staging arena is used up, or when the host
 * needs results (pm_sync, pm_download). VK_BATCHES batches rotate, so recording goes on while
 * earlier ones run. A barrier is recorded only before a command that touches a buffer in a
 * conflicting way since the last barrier (read after write, write after read or write). */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

int vk_stream_init(pm_backend *be) {
    vk_ctx *vk = vk_of(be);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = vk->queue_family};
    VkResult r = vkCreateCommandPool(vk->device, &pci, NULL, &vk->cmd_pool);
    if (r != VK_SUCCESS) return pm_fail(be, "open", "vkCreateCommandPool: %s", vk_result_name(r));
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &vk->batch[i];
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = vk->cmd_pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = vkAllocateCommandBuffers(vk->device, &ai, &b->cmd);
        if (r == VK_SUCCESS) r = vkCreateFence(vk->device, &fci, NULL, &b->fence);
        if (r == VK_SUCCESS && !vk->push_descriptors) {
            /* one set per command at most, so a batch never runs out */
            VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .descriptorCount = VK_BATCH_DISPATCHES * VK_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo dci = {.sType =
                                                  VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                              .maxSets = VK_BATCH_DISPATCHES,
                                              .poolSizeCount = 1,
                                              .pPoolSizes = &size};
            r = vkCreateDescriptorPool(vk->device, &dci, NULL, &b->pool);
        }
        if (r != VK_SUCCESS)
            return pm_fail(be, "open", "creating command buffers: %s", vk_result_name(r));
    }
    return PM_OK;
}

static void release_retired(vk_ctx *vk, vk_batch *b) {
    for (int i = 0; i < b->nretired; i++) vk_mem_destroy(vk, &b->retired[i]);
    b->nretired = 0;
}

void vk_stream_destroy(vk_ctx *vk) {
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &vk->batch[i];
        release_retired(vk, b);
        free(b->retired);
        vk_mem_destroy(vk, &b->arena);
        if (b->fence) vkDestroyFence(vk->device, b->fence, NULL);
        if (b->pool) vkDestroyDescriptorPool(vk->device, b->pool, NULL);
    }
    if (vk->cmd_pool) vkDestroyCommandPool(vk->device, vk->cmd_pool, NULL);
}

/* A fault the kernels recorded becomes the backend's error, and the record is cleared. The
 * record is host-visible memory read after each batch's fence: no extra round trip. */
static int check_fault(pm_backend *be) {
    pm_fault *record = ((vk_mem *)vk_of(be)->fault.handle)->mapped;
    if (record->site == PM_FAULT_NONE) return PM_OK;
    pm_fault f = *record;
    *record = (pm_fault){PM_FAULT_NONE, 0, 0};
    return pm_fault_fail(be, f);
}

/* Waits for a submitted batch and makes it ready to record again. */
static int recycle(pm_backend *be, vk_batch *b) {
    vk_ctx *vk = vk_of(be);
    if (!b->submitted) return PM_OK;
    VkResult r = vkWaitForFences(vk->device, 1, &b->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return pm_fail(be, "sync", "vkWaitForFences: %s", vk_result_name(r));
    vkResetFences(vk->device, 1, &b->fence);
    b->submitted = 0;
    b->staged = 0;
    release_retired(vk, b);
    if (b->pool) vkResetDescriptorPool(vk->device, b->pool, 0);
    return check_fault(be);
}

vk_batch *vk_recording(pm_backend *be, const char *op) {
    vk_ctx *vk = vk_of(be);
    vk_batch *b = &vk->batch[vk->current];
    if (b->recording) return b;
    if (b->submitted && recycle(be, b) != PM_OK) return NULL;
    if (be->failed) return NULL;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = vkBeginCommandBuffer(b->cmd, &bi);
    if (r != VK_SUCCESS) {
        pm_fail(be, op, "vkBeginCommandBuffer: %s", vk_result_name(r));
        return NULL;
    }
    b->recording = 1;
    return b;
}

static void barrier(VkCommandBuffer cmd, VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask =
                              VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = dst};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

static int listed(const VkBuffer *list, int n, VkBuffer b) {
    for (int i = 0; i < n; i++)
        if (list[i] == b) return 1;
    return 0;
}

void vk_access(vk_ctx *vk, vk_batch *b, int n, const VkBuffer *bufs, unsigned writes) {
    vk_hazards *h = &vk->hazards;
    int hazard = 0;
    for (int i = 0; i < n; i++) {
        int write = (writes >> i) & 1;
        hazard |= listed(h->written, h->nwritten, bufs[i]) ||
                  (write && listed(h->read, h->nread, bufs[i]));
    }
    if (hazard || h->nwritten + n > VK_HAZARD_SLOTS || h->nread + n > VK_HAZARD_SLOTS) {
        /* execution and memory dependency covering everything earlier on the queue */
        barrier(b->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                    VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        h->nwritten = h->nread = 0;
    }
    for (int i = 0; i < n; i++) {
        if ((writes >> i) & 1) {
            if (!listed(h->written, h->nwritten, bufs[i])) h->written[h->nwritten++] = bufs[i];
        } else if (!listed(h->read, h->nread, bufs[i])) {
            h->read[h->nread++] = bufs[i];
        }
    }
}

int vk_submit(pm_backend *be, const char *op) {
    vk_ctx *vk = vk_of(be);
    vk_batch *b = &vk->batch[vk->current];
    if (!b->recording || b->commands == 0) return PM_OK;
    /* device writes become visible to the host (downloads, the fault record) */
    barrier(b->cmd, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    VkResult r = vkEndCommandBuffer(b->cmd);
    if (r == VK_SUCCESS && b->staged && !b->arena.coherent) {
        VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                     .memory = b->arena.memory,
                                     .size = VK_WHOLE_SIZE};
        r = vkFlushMappedMemoryRanges(vk->device, 1, &range);
    }
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &b->cmd};
    if (r == VK_SUCCESS) r = vkQueueSubmit(vk->queue, 1, &si, b->fence);
    b->recording = 0;
    b->commands = 0;
    if (r != VK_SUCCESS) {
        vkResetCommandBuffer(b->cmd, 0);
        return pm_fail(be, op, "submitting commands: %s", vk_result_name(r));
    }
    b->submitted = 1;
    vk->current = (vk->current + 1) % VK_BATCHES;
    return PM_OK;
}

int vk_command_done(pm_backend *be, const char *op) {
    vk_batch *b = &vk_of(be)->batch[vk_of(be)->current];
    return ++b->commands >= VK_BATCH_DISPATCHES ? vk_submit(be, op) : PM_OK;
}

int vk_sync(pm_backend *be) {
    vk_ctx *vk = vk_of(be);
    int rc = vk_submit(be, "sync");
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &vk->batch[(vk->current + i) % VK_BATCHES];
        if (recycle(be, b) != PM_OK) rc = PM_ERR;
        /* nothing recorded references what was freed since: release it now */
        if (b->commands == 0) release_retired(vk, b);
    }
    return rc == PM_OK && !be->failed ? PM_OK : PM_ERR;
}

int vk_retire(pm_backend *be, vk_mem *m) {
    vk_ctx *vk = vk_of(be);
    /* The batch whose fence covers every command that may use m: the one being recorded, or
     * else the last submitted (a fence covers all earlier submissions). When that one is not
     * in flight, nothing is (batches are only recycled in order or all at once). */
    vk_batch *b = &vk->batch[vk->current];
    if (b->commands == 0) b = &vk->batch[(vk->current + VK_BATCHES - 1) % VK_BATCHES];
    if (b->commands == 0 && !b->submitted) {
        vk_mem_destroy(vk, m);
        return PM_OK;
    }
    if (b->nretired == b->capretired) {
        int cap = b->capretired ? 2 * b->capretired : 16;
        vk_mem *grown = realloc(b->retired, sizeof *grown * (size_t)cap);
        if (!grown) {
            /* cannot defer: wait for the device instead, then free at once */
            vkDeviceWaitIdle(vk->device);
            vk_mem_destroy(vk, m);
            return PM_OK;
        }
        b->retired = grown;
        b->capretired = cap;
    }
    b->retired[b->nretired++] = *m;
    memset(m, 0, sizeof *m);
    return PM_OK;
}

vk_arg vk_fault_arg(pm_backend *be) {
    return (vk_arg){pm_at(&vk_of(be)->fault, 0), sizeof(pm_fault) / 4};
}

uint32_t vk_groups(const pm_backend *be, size_t items, size_t per_group) {
    size_t g = (items + per_group - 1) / per_group;
    uint32_t cap = vk_of(be)->props.limits.maxComputeWorkGroupCount[0];
    return g > cap ? cap : (uint32_t)g;
}

uint32_t vk_wg(const pm_backend *be, vk_kernel kernel) { return vk_of(be)->spec[kernel][0]; }

int vk_pieces(pm_backend *be, const char *op, vk_kernel kernel, const pm_ref *refs, int nrefs, void *push,
              size_t push_bytes, size_t n) {
    uint32_t *count = (uint32_t *)push + nrefs;
    for (size_t s = 0, step = vk_max_span(be); s < n; s += step) {
        size_t len = n - s < step ? n - s : step;
        vk_arg args[VK_MAX_BINDINGS];
        for (int i = 0; i < nrefs; i++) args[i] = (vk_arg){vk_plus(refs[i], s), len};
        *count = (uint32_t)len;
        if (vk_dispatch(be, op, kernel, args, push, push_bytes, vk_groups(be, len, vk_wg(be, kernel)), 1, 1) != PM_OK)
            return PM_ERR;
    }
    return PM_OK;
}

size_t vk_max_span(const pm_backend *be) {
    const vk_ctx *vk = vk_of(be);
    VkDeviceSize align = vk->props.limits.minStorageBufferOffsetAlignment;
    return vk->max_binding > align + 4 ? (size_t)((vk->max_binding - align) / 4) : 1;
}

/* The descriptor window of one argument: from its offset rounded down to the device's
 * alignment, as far as the argument reaches (or the device allows). */
static int window(pm_backend *be, const char *op, int i, const vk_arg *arg,
                  VkDescriptorBufferInfo *info, uint32_t *elem) {
    const VkPhysicalDeviceLimits *l = &vk_of(be)->props.limits;
    const vk_mem *m = arg->ref.buf->handle;
    size_t bytes = arg->ref.buf->bytes, off = arg->ref.off * 4;
    size_t need = off + arg->n * 4;
    if (off > bytes || need > bytes)
        return pm_fail(be, op, "argument %d: elements %zu..%zu are outside a buffer of %zu bytes",
                       i, arg->ref.off, arg->ref.off + arg->n, bytes);
    VkDeviceSize align = l->minStorageBufferOffsetAlignment;
    VkDeviceSize start = off / align * align;
    VkDeviceSize range = m->size - start, max = vk_of(be)->max_binding / 4 * 4;
    if (arg->n && need - start > max)
        return pm_fail(be, op,
                       "argument %d spans %zu bytes, more than this device binds at once "
                       "(maxStorageBufferRange %llu)",
                       i, need - (size_t)start, (unsigned long long)vk_of(be)->max_binding);
    *info = (VkDescriptorBufferInfo){m->buffer, start, range < max ? range : max};
    *elem = (uint32_t)((off - start) / 4);
    return PM_OK;
}

int vk_dispatch(pm_backend *be, const char *op, vk_kernel kernel, const vk_arg *args, void *push,
                size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz) {
    vk_ctx *vk = vk_of(be);
    if (be->failed) return PM_ERR;
    if (gx == 0 || gy == 0 || gz == 0) return PM_OK;
    if (push_bytes > VK_PUSH_BYTES || push_bytes % 4)
        return pm_fail(be, op, "push constants of %zu bytes (at most %d, whole words)", push_bytes,
                       VK_PUSH_BYTES);
    const uint32_t *max = vk->props.limits.maxComputeWorkGroupCount;
    if (gx > max[0] || gy > max[1] || gz > max[2])
        return pm_fail(be, op, "%u x %u x %u work groups exceed the device limit %u x %u x %u", gx,
                       gy, gz, max[0], max[1], max[2]);
    VkPipeline pipeline = vk_pipeline(be, op, kernel);
    if (!pipeline) return PM_ERR;
    int n = vk_bindings(kernel);
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    VkBuffer tracked[VK_MAX_BINDINGS] = {0};
    VkBuffer fault = ((vk_mem *)vk->fault.handle)->buffer;
    unsigned writes = 0;
    int ntracked = 0;
    for (int i = 0; i < n; i++) {
        if (window(be, op, i, &args[i], &infos[i], (uint32_t *)push + i) != PM_OK) return PM_ERR;
        if (infos[i].buffer == fault) continue;
        writes |= ((vk_writes(kernel) >> i) & 1u) << ntracked;
        tracked[ntracked++] = infos[i].buffer;
    }
    vk_batch *b = vk_recording(be, op);
    if (!b) return PM_ERR;
    vk_access(vk, b, ntracked, tracked, writes);
    vkCmdBindPipeline(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < n; i++)
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &infos[i]};
    if (vk->push_descriptors) {
        vk->push_descriptors(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout[n], 0, (uint32_t)n,
                             w);
    } else {
        VkDescriptorSet set;
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = b->pool,
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &vk->set_layout[n]};
        VkResult r = vkAllocateDescriptorSets(vk->device, &ai, &set);
        if (r != VK_SUCCESS)
            return pm_fail(be, op, "vkAllocateDescriptorSets: %s", vk_result_name(r));
        for (int i = 0; i < n; i++) w[i].dstSet = set;
        vkUpdateDescriptorSets(vk->device, (uint32_t)n, w, 0, NULL);
        vkCmdBindDescriptorSets(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout[n], 0, 1, &set,
                                0, NULL);
    }
    vkCmdPushConstants(b->cmd, vk->layout[n], VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)push_bytes,
                       push);
    vkCmdDispatch(b->cmd, gx, gy, gz);
    return vk_command_done(be, op);
}
