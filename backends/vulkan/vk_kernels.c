/* The kernel table (SPIR-V embedded at build time, two variants per kernel: with subgroup
 * arithmetic and without), the descriptor-set and pipeline layouts shared by kernels with
 * the same number of bindings, and the pipelines, built on first use and kept. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>

#define VK_KERNEL_SPV(name, bindings, writes)                                                      \
    extern const unsigned char pm_vk_##name[], pm_vk_##name##_sg[];                                \
    extern const size_t pm_vk_##name##_size, pm_vk_##name##_sg_size;
VK_KERNELS(VK_KERNEL_SPV)
#undef VK_KERNEL_SPV

typedef struct {
    const char *name;
    const unsigned char *spv, *spv_sg;
    const size_t *size, *size_sg;
    int bindings;
    unsigned writes;
} vk_kernel_info;

static const vk_kernel_info kernels[VK_KERNEL_COUNT] = {
#define VK_KERNEL_INFO(name, bindings, writes)                                                     \
    {#name, pm_vk_##name, pm_vk_##name##_sg, &pm_vk_##name##_size, &pm_vk_##name##_sg_size,        \
     bindings, writes},
    VK_KERNELS(VK_KERNEL_INFO)
#undef VK_KERNEL_INFO
};

int vk_bindings(vk_kernel kernel) { return kernels[kernel].bindings; }
unsigned vk_writes(vk_kernel kernel) { return kernels[kernel].writes; }

static uint32_t pow2_at_most(uint32_t v) {
    uint32_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

/* Work-group sizes and GEMM tiles for this device (specialisation constants). */
static void choose_spec(vk_ctx *vk) {
    const VkPhysicalDeviceLimits *l = &vk->props.limits;
    uint32_t max_wg = l->maxComputeWorkGroupInvocations < l->maxComputeWorkGroupSize[0]
                          ? l->maxComputeWorkGroupInvocations
                          : l->maxComputeWorkGroupSize[0];
    /* 128: a power of two (reductions) and a multiple of 32 (column sums); every device
     * allows at least 128 invocations */
    uint32_t wg = pow2_at_most(max_wg < 128 ? max_wg : 128);
    for (int k = 0; k < VK_KERNEL_COUNT; k++) {
        vk->spec[k][0] = wg;
        vk->nspec[k] = 1;
    }
    /* GEMM tiles {BM, BN, BK, TM, TN}. GPUs: 64 x 64 x 16 tiles, 4 x 4 outputs per
     * invocation (256 invocations; 4 x 8 where only 128 are allowed). CPU implementations
     * (lavapipe) load shared memory lane by lane, so there the loads per FMA decide: 128 x 128
     * tiles with 16 x 16 per invocation run about 3x faster than 4 x 4 (spills cost less). */
    uint32_t gpu[5] = {64, 64, 16, 4, max_wg >= 256 ? 4 : 8}, cpu[5] = {128, 128, 16, 16, 16};
    const uint32_t *t = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? cpu : gpu;
    vk->spec[VK_K_gemm][0] = (t[0] / t[3]) * (t[1] / t[4]);
    memcpy(&vk->spec[VK_K_gemm][1], t, sizeof gpu);
    vk->nspec[VK_K_gemm] = 6;
}

int vk_kernels_init(pm_backend *be) {
    vk_ctx *vk = vk_of(be);
    choose_spec(vk);
    VkPipelineCacheCreateInfo cci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    VkResult r = vkCreatePipelineCache(vk->device, &cci, NULL, &vk->cache);
    if (r != VK_SUCCESS) return pm_fail(be, "open", "vkCreatePipelineCache: %s", vk_result_name(r));
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
        for (int i = 0; i < n; i++)
            b[i] =
                (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        VkDescriptorSetLayoutCreateInfo sci = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .flags =
                vk->push_descriptors ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0,
            .bindingCount = (uint32_t)n,
            .pBindings = b};
        r = vkCreateDescriptorSetLayout(vk->device, &sci, NULL, &vk->set_layout[n]);
        if (r != VK_SUCCESS)
            return pm_fail(be, "open", "vkCreateDescriptorSetLayout: %s", vk_result_name(r));
        VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                                     .size = VK_PUSH_BYTES};
        VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                          .setLayoutCount = 1,
                                          .pSetLayouts = &vk->set_layout[n],
                                          .pushConstantRangeCount = 1,
                                          .pPushConstantRanges = &range};
        r = vkCreatePipelineLayout(vk->device, &lci, NULL, &vk->layout[n]);
        if (r != VK_SUCCESS)
            return pm_fail(be, "open", "vkCreatePipelineLayout: %s", vk_result_name(r));
    }
    return PM_OK;
}

void vk_kernels_destroy(vk_ctx *vk) {
    for (int k = 0; k < VK_KERNEL_COUNT; k++)
        if (vk->pipeline[k]) vkDestroyPipeline(vk->device, vk->pipeline[k], NULL);
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        if (vk->layout[n]) vkDestroyPipelineLayout(vk->device, vk->layout[n], NULL);
        if (vk->set_layout[n]) vkDestroyDescriptorSetLayout(vk->device, vk->set_layout[n], NULL);
    }
    if (vk->cache) vkDestroyPipelineCache(vk->device, vk->cache, NULL);
}

VkPipeline vk_pipeline(pm_backend *be, const char *op, vk_kernel kernel) {
    vk_ctx *vk = vk_of(be);
    if (vk->pipeline[kernel]) return vk->pipeline[kernel];
    const vk_kernel_info *k = &kernels[kernel];
    size_t size = vk->subgroups ? *k->size_sg : *k->size;
    /* SPIR-V is read as 32-bit words: copy the embedded bytes to aligned memory */
    uint32_t *code = malloc(size + 4);
    if (!code) {
        pm_fail(be, op, "out of host memory");
        return VK_NULL_HANDLE;
    }
    memcpy(code, vk->subgroups ? k->spv_sg : k->spv, size);
    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = size, .pCode = code};
    VkShaderModule module;
    VkResult r = vkCreateShaderModule(vk->device, &mci, NULL, &module);
    free(code);
    if (r != VK_SUCCESS) {
        pm_fail(be, op, "kernel %s: vkCreateShaderModule: %s", k->name, vk_result_name(r));
        return VK_NULL_HANDLE;
    }
    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (int i = 0; i < vk->nspec[kernel]; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i,
                                                .offset = (uint32_t)(i * sizeof(uint32_t)),
                                                .size = sizeof(uint32_t)};
    VkSpecializationInfo spec = {.mapEntryCount = (uint32_t)vk->nspec[kernel],
                                 .pMapEntries = entries,
                                 .dataSize = vk->nspec[kernel] * sizeof(uint32_t),
                                 .pData = vk->spec[kernel]};
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = &spec},
        .layout = vk->layout[k->bindings]};
    r = vkCreateComputePipelines(vk->device, vk->cache, 1, &pci, NULL, &vk->pipeline[kernel]);
    vkDestroyShaderModule(vk->device, module, NULL);
    if (r != VK_SUCCESS) {
        vk->pipeline[kernel] = VK_NULL_HANDLE;
        pm_fail(be, op, "kernel %s: building the compute pipeline failed: %s", k->name,
                vk_result_name(r));
    }
    return vk->pipeline[kernel];
}
