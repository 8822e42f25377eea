/* Device memory: storage buffers in device-local memory (zeroed on allocation, as the CPU
 * backend's are), uploads staged through a host-visible arena and recorded in the stream
 * (no wait), downloads copied to a host-visible buffer after the commands before them. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

/* The first memory type allowed by `bits` that has all of the flags of one of the
 * preferences, tried in order; -1 if none. */
static int memory_type(const vk_ctx *vk, uint32_t bits, const VkMemoryPropertyFlags *prefs,
                       int nprefs) {
    for (int p = 0; p < nprefs; p++)
        for (uint32_t i = 0; i < vk->mem.memoryTypeCount; i++)
            if ((bits >> i & 1) && (vk->mem.memoryTypes[i].propertyFlags & prefs[p]) == prefs[p])
                return (int)i;
    return -1;
}

int vk_mem_create(pm_backend *be, const char *op, vk_mem *m, VkDeviceSize size,
                  VkBufferUsageFlags usage, int host_visible) {
    vk_ctx *vk = vk_of(be);
    memset(m, 0, sizeof *m);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = usage,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(vk->device, &bci, NULL, &m->buffer);
    if (r != VK_SUCCESS)
        return pm_fail(be, op, "vkCreateBuffer (%llu bytes): %s", (unsigned long long)size,
                       vk_result_name(r));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->device, m->buffer, &req);
    /* device buffers: device-local where there is such memory (a discrete GPU's VRAM);
     * host-visible ones: coherent and cached (fast host reads), else coherent, else any */
    const VkMemoryPropertyFlags dev[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0};
    const VkMemoryPropertyFlags host[] = {
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
            VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT};
    int type = host_visible ? memory_type(vk, req.memoryTypeBits, host, 3)
                            : memory_type(vk, req.memoryTypeBits, dev, 2);
    if (type < 0) {
        vk_mem_destroy(vk, m);
        return pm_fail(be, op, "no memory type fits a %s buffer",
                       host_visible ? "host-visible" : "storage");
    }
    /* One buffer larger than its whole heap is refused up front, clearly. The sum is not held to
     * the heap: lavapipe reports 2 GiB and serves what the host has; heap_used is there for the
     * error text of a driver's own refusal. */
    uint32_t heap = vk->mem.memoryTypes[type].heapIndex;
    VkDeviceSize size_of_heap = vk->mem.memoryHeaps[heap].size;
    if (req.size > size_of_heap) {
        vk_mem_destroy(vk, m);
        return pm_fail(be, op, "%llu bytes are more than the device's memory heap of %llu bytes",
                       (unsigned long long)req.size, (unsigned long long)size_of_heap);
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    r = vkAllocateMemory(vk->device, &ai, NULL, &m->memory);
    if (r == VK_SUCCESS) {
        m->heap = heap;
        m->allocated = req.size;
        vk->heap_used[heap] += req.size;
        r = vkBindBufferMemory(vk->device, m->buffer, m->memory, 0);
    }
    if (r == VK_SUCCESS && host_visible)
        r = vkMapMemory(vk->device, m->memory, 0, VK_WHOLE_SIZE, 0, &m->mapped);
    if (r != VK_SUCCESS) {
        VkDeviceSize used = vk->heap_used[heap] - m->allocated;
        vk_mem_destroy(vk, m);
        return pm_fail(be, op, "%s allocating %llu bytes (%llu already in use in a heap of %llu)",
                       vk_result_name(r), (unsigned long long)size, (unsigned long long)used,
                       (unsigned long long)size_of_heap);
    }
    m->size = size;
    m->coherent =
        (vk->mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    return PM_OK;
}

void vk_mem_destroy(vk_ctx *vk, vk_mem *m) {
    if (m->buffer) vkDestroyBuffer(vk->device, m->buffer, NULL);
    if (m->memory) {
        vk->heap_used[m->heap] -= m->allocated;
        vkFreeMemory(vk->device, m->memory, NULL); /* unmaps too */
    }
    memset(m, 0, sizeof *m);
}

int vk_buf_create(pm_backend *be, const char *op, pm_buf *buf, size_t bytes, int host_visible) {
    vk_mem *m = calloc(1, sizeof *m);
    if (!m) return pm_fail(be, op, "out of host memory");
    /* whole 4-byte words: fills and bindings work in words */
    VkDeviceSize size = (bytes + 3) & ~(VkDeviceSize)3;
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (vk_mem_create(be, op, m, size, usage, host_visible) != PM_OK) {
        free(m);
        return PM_ERR;
    }
    buf->handle = m;
    buf->bytes = bytes;
    return PM_OK;
}

void vk_buf_destroy(vk_ctx *vk, pm_buf *buf) {
    if (!buf->handle) return;
    vk_mem_destroy(vk, buf->handle);
    free(buf->handle);
    buf->handle = NULL;
}

int vk_alloc(pm_backend *be, pm_buf *buf) {
    vk_ctx *vk = vk_of(be);
    if (vk_buf_create(be, "alloc", buf, buf->bytes, 0) != PM_OK) return PM_ERR;
    vk_mem *m = buf->handle;
    vk_batch *b = vk_recording(be, "alloc");
    if (!b) {
        vk_buf_destroy(vk, buf);
        return PM_ERR;
    }
    vk_access(vk, b, 1, &m->buffer, 1);
    vkCmdFillBuffer(b->cmd, m->buffer, 0, VK_WHOLE_SIZE, 0);
    return vk_command_done(be, "alloc");
}

void vk_free(pm_backend *be, pm_buf *buf) {
    vk_retire(be, buf->handle); /* commands recorded so far may still use it */
    free(buf->handle);
    buf->handle = NULL;
}

pm_buf *vk_scratch(pm_backend *be, const char *op, size_t bytes) {
    vk_ctx *vk = vk_of(be);
    pm_buf *s = &vk->scratch;
    if (s->handle && s->bytes >= bytes) return s;
    size_t size = bytes > 2 * s->bytes ? bytes : 2 * s->bytes;
    if (s->handle) {
        vk_retire(be, s->handle);
        free(s->handle);
        s->handle = NULL;
    }
    s->bytes = 0;
    return vk_buf_create(be, op, s, size < 4096 ? 4096 : size, 0) == PM_OK ? s : NULL;
}

int vk_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes) {
    vk_ctx *vk = vk_of(be);
    vk_mem *dst = buf->handle;
    const char *from = src;
    while (bytes > 0) {
        vk_batch *b = vk_recording(be, "upload");
        if (!b) return PM_ERR;
        if (!b->arena.buffer && vk_mem_create(be, "upload", &b->arena, VK_STAGING_BYTES,
                                              VK_BUFFER_USAGE_TRANSFER_SRC_BIT, 1) != PM_OK)
            return PM_ERR;
        VkDeviceSize room = b->arena.size - b->staged;
        if (room == 0) {
            if (vk_submit(be, "upload") != PM_OK) return PM_ERR;
            continue;
        }
        size_t piece = bytes < room ? bytes : (size_t)room;
        memcpy((char *)b->arena.mapped + b->staged, from, piece);
        VkBufferCopy region = {.srcOffset = b->staged, .dstOffset = off, .size = piece};
        vk_access(vk, b, 1, &dst->buffer, 1);
        vkCmdCopyBuffer(b->cmd, b->arena.buffer, dst->buffer, 1, &region);
        b->staged += (piece + 15) & ~(size_t)15;
        if (b->staged > b->arena.size) b->staged = b->arena.size;
        from += piece;
        off += piece;
        bytes -= piece;
        if (vk_command_done(be, "upload") != PM_OK) return PM_ERR;
    }
    return PM_OK;
}

int vk_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes) {
    vk_ctx *vk = vk_of(be);
    const vk_mem *src = buf->handle;
    char *to = dst;
    while (bytes > 0) {
        size_t piece = bytes < VK_DOWNLOAD_BYTES ? bytes : (size_t)VK_DOWNLOAD_BYTES;
        if (vk->download.size < piece) {
            /* every download waits for its copy, so nothing uses the old one now */
            vk_mem_destroy(vk, &vk->download);
            VkDeviceSize size = piece < ((size_t)1 << 20) ? (VkDeviceSize)1 << 20 : piece;
            if (vk_mem_create(be, "download", &vk->download, size, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              1) != PM_OK)
                return PM_ERR;
        }
        vk_batch *b = vk_recording(be, "download");
        if (!b) return PM_ERR;
        VkBufferCopy region = {.srcOffset = off, .dstOffset = 0, .size = piece};
        vk_access(vk, b, 1, &src->buffer, 0);
        vkCmdCopyBuffer(b->cmd, src->buffer, vk->download.buffer, 1, &region);
        if (vk_command_done(be, "download") != PM_OK || vk_sync(be) != PM_OK) return PM_ERR;
        if (!vk->download.coherent) {
            VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                         .memory = vk->download.memory,
                                         .size = VK_WHOLE_SIZE};
            vkInvalidateMappedMemoryRanges(vk->device, 1, &range);
        }
        memcpy(to, vk->download.mapped, piece);
        to += piece;
        off += piece;
        bytes -= piece;
    }
    return PM_OK;
}
