/* The Vulkan instance and devices: listing, opening (queue, extensions, subgroup support),
 * closing, validation messages, and the driver record the registry holds.
 *
 * Environment: POLYMOE_VK_VALIDATION=1 enables VK_LAYER_KHRONOS_validation; validation
 * errors (from that layer or one enabled through VK_INSTANCE_LAYERS) fail the backend like
 * any other error. POLYMOE_VK_NO_PUSH_DESCRIPTORS=1 and POLYMOE_VK_NO_SUBGROUPS=1 force the
 * fallbacks that devices without those features take. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const vk_gemm_impls[] = {"own", NULL};

const char *vk_result_name(VkResult r) {
#define NAME(x) {x, #x}
    static const struct {
        VkResult r;
        const char *name;
    } names[] = {NAME(VK_NOT_READY),
                 NAME(VK_TIMEOUT),
                 NAME(VK_INCOMPLETE),
                 NAME(VK_ERROR_OUT_OF_HOST_MEMORY),
                 NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY),
                 NAME(VK_ERROR_INITIALIZATION_FAILED),
                 NAME(VK_ERROR_DEVICE_LOST),
                 NAME(VK_ERROR_MEMORY_MAP_FAILED),
                 NAME(VK_ERROR_LAYER_NOT_PRESENT),
                 NAME(VK_ERROR_EXTENSION_NOT_PRESENT),
                 NAME(VK_ERROR_FEATURE_NOT_PRESENT),
                 NAME(VK_ERROR_INCOMPATIBLE_DRIVER),
                 NAME(VK_ERROR_TOO_MANY_OBJECTS),
                 NAME(VK_ERROR_FRAGMENTED_POOL),
                 NAME(VK_ERROR_OUT_OF_POOL_MEMORY)};
#undef NAME
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].r == r) return names[i].name;
    return r < 0 ? "VK_ERROR (unknown)" : "VK_SUCCESS";
}

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static int has_layer(const char *name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *p = calloc(n ? n : 1, sizeof *p);
    int found = 0;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static int has_extension(VkPhysicalDevice phys, const char *name) {
    uint32_t n = 0;
    VkResult r = phys ? vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL)
                      : vkEnumerateInstanceExtensionProperties(NULL, &n, NULL);
    if (r != VK_SUCCESS) return 0;
    VkExtensionProperties *p = calloc(n ? n : 1, sizeof *p);
    int found = 0;
    r = phys ? vkEnumerateDeviceExtensionProperties(phys, NULL, &n, p)
             : vkEnumerateInstanceExtensionProperties(NULL, &n, p);
    if (p && r == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

/* Validation messages are printed, and validation errors fail the backend that is open
 * (user data) so that a test run catches them; loader chatter (general type) is printed only
 * when it is an error. */
static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user) {
    pm_backend *be = user;
    int error = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
    int validation = (types & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT) != 0;
    if (!validation && !error) return VK_FALSE;
    fprintf(stderr, "polymoe vulkan: %s: %s\n", error ? "error" : "warning", data->pMessage);
    if (error && validation && be) pm_fail(be, "validation", "%s", data->pMessage);
    return VK_FALSE;
}

/* An instance (and a messenger when VK_EXT_debug_utils exists; `be` receives its errors). */
static int create_instance(pm_backend *be, VkInstance *inst, VkDebugUtilsMessengerEXT *msgr,
                           PFN_vkDestroyDebugUtilsMessengerEXT *destroy, char *why, size_t len) {
    uint32_t version = VK_API_VERSION_1_0;
    PFN_vkEnumerateInstanceVersion enum_version =
        (PFN_vkEnumerateInstanceVersion)vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    if (enum_version) enum_version(&version);
    if (version < VK_API_VERSION_1_1) {
        snprintf(why, len, "the Vulkan loader is version 1.0; polymoe needs 1.1");
        return PM_ERR;
    }
    const char *layers[1], *exts[1];
    uint32_t nlayers = 0, nexts = 0;
    if (env_on("POLYMOE_VK_VALIDATION")) {
        if (!has_layer("VK_LAYER_KHRONOS_validation")) {
            snprintf(why, len,
                     "POLYMOE_VK_VALIDATION is set but VK_LAYER_KHRONOS_validation is "
                     "not installed (apt-get install vulkan-validationlayers)");
            return PM_ERR;
        }
        layers[nlayers++] = "VK_LAYER_KHRONOS_validation";
    }
    /* layers listed in VK_INSTANCE_LAYERS add their extensions too, hence the query */
    int debug = has_extension(VK_NULL_HANDLE, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) || nlayers > 0;
    if (debug) exts[nexts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
        .pfnUserCallback = on_message,
        .pUserData = be,
    };
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "polymoe",
        .pEngineName = "polymoe",
        .apiVersion = version < VK_API_VERSION_1_3 ? version : VK_API_VERSION_1_3,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = debug ? &mci : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = nlayers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = nexts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, inst);
    if (r != VK_SUCCESS) {
        snprintf(why, len,
                 "vkCreateInstance failed (%s): no Vulkan driver installed? "
                 "(apt-get install mesa-vulkan-drivers gives lavapipe)",
                 vk_result_name(r));
        return PM_ERR;
    }
    *msgr = VK_NULL_HANDLE;
    *destroy = NULL;
    PFN_vkCreateDebugUtilsMessengerEXT create =
        debug ? (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                    *inst, "vkCreateDebugUtilsMessengerEXT")
              : NULL;
    if (create && create(*inst, &mci, NULL, msgr) == VK_SUCCESS)
        *destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            *inst, "vkDestroyDebugUtilsMessengerEXT");
    return PM_OK;
}

static void destroy_instance(VkInstance inst, VkDebugUtilsMessengerEXT msgr,
                             PFN_vkDestroyDebugUtilsMessengerEXT destroy) {
    if (destroy && msgr) destroy(inst, msgr, NULL);
    vkDestroyInstance(inst, NULL);
}

/* The physical devices of an instance (caller frees), 0 with `why` when there are none. */
static uint32_t physical_devices(VkInstance inst, VkPhysicalDevice **out, char *why, size_t len) {
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    *out = calloc(n ? n : 1, sizeof **out);
    if (r == VK_SUCCESS && *out) r = vkEnumeratePhysicalDevices(inst, &n, *out);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) n = 0;
    if (n == 0)
        snprintf(why, len, "the Vulkan loader reports no device (%s)",
                 r == VK_SUCCESS ? "no driver found" : vk_result_name(r));
    return n;
}

static void describe(VkPhysicalDevice phys, pm_device_info *d) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(phys, &p);
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    int has_driver = p.apiVersion >= VK_API_VERSION_1_2 ||
                     has_extension(phys, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = has_driver ? &drv : NULL};
    if (p.apiVersion >= VK_API_VERSION_1_1) vkGetPhysicalDeviceProperties2(phys, &p2);
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%.127s", p.deviceName);
    snprintf(d->api, sizeof d->api, "Vulkan %u.%u.%u", VK_API_VERSION_MAJOR(p.apiVersion),
             VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion));
    if (has_driver && drv.driverName[0])
        snprintf(d->driver, sizeof d->driver, "%.40s %.54s", drv.driverName, drv.driverInfo);
    else
        snprintf(d->driver, sizeof d->driver, "driver version 0x%x", p.driverVersion);
    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(phys, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if ((mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            mem.memoryHeaps[i].size > d->memory_bytes)
            d->memory_bytes = mem.memoryHeaps[i].size;
    d->is_gpu = p.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

static int vk_devices(pm_device_info *out, int max, char *why, size_t whylen) {
    VkInstance inst;
    VkDebugUtilsMessengerEXT msgr;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy;
    if (create_instance(NULL, &inst, &msgr, &destroy, why, whylen) != PM_OK) return 0;
    VkPhysicalDevice *phys;
    uint32_t n = physical_devices(inst, &phys, why, whylen);
    for (uint32_t i = 0; i < n && (int)i < max; i++) describe(phys[i], &out[i]);
    free(phys);
    destroy_instance(inst, msgr, destroy);
    return (int)n;
}

static int pick_queue_family(VkPhysicalDevice phys, uint32_t *family) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    int found = 0;
    if (q) vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, q);
    for (uint32_t i = 0; q && i < n && !found; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *family = i;
            found = 1;
        }
    free(q);
    return found;
}

static int create_device(pm_backend *be, vk_ctx *vk) {
    VkPhysicalDeviceSubgroupProperties sub = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sub};
    vkGetPhysicalDeviceProperties2(vk->phys, &p2);
    vk->subgroups = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                    (sub.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
                    (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                    !env_on("POLYMOE_VK_NO_SUBGROUPS");
    int push = has_extension(vk->phys, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) &&
               !env_on("POLYMOE_VK_NO_PUSH_DESCRIPTORS");
    if (!pick_queue_family(vk->phys, &vk->queue_family))
        return pm_fail(be, "open", "the device has no compute queue");
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = vk->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &priority};
    const char *ext = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = push ? 1 : 0,
                              .ppEnabledExtensionNames = &ext};
    VkResult r = vkCreateDevice(vk->phys, &dci, NULL, &vk->device);
    if (r != VK_SUCCESS) return pm_fail(be, "open", "vkCreateDevice: %s", vk_result_name(r));
    vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    if (push)
        vk->push_descriptors = (PFN_vkCmdPushDescriptorSetKHR)vkGetDeviceProcAddr(
            vk->device, "vkCmdPushDescriptorSetKHR");
    return PM_OK;
}

static void vk_close(pm_backend *be) {
    vk_ctx *vk = vk_of(be);
    if (!vk) return;
    if (vk->device) {
        if (!be->failed) vk_sync(be);
        vkDeviceWaitIdle(vk->device);
        vk_stream_destroy(vk);
        vk_kernels_destroy(vk);
        vk_buf_destroy(vk, &vk->scratch);
        vk_buf_destroy(vk, &vk->fault);
        vk_mem_destroy(vk, &vk->download);
        vkDestroyDevice(vk->device, NULL);
    }
    if (vk->instance) destroy_instance(vk->instance, vk->messenger, vk->destroy_messenger);
    free(vk);
    be->ctx = NULL;
}

static int vk_open(pm_backend *be, int device) {
    vk_ctx *vk = calloc(1, sizeof *vk);
    if (!vk) return pm_fail(be, "open", "out of host memory");
    be->ctx = vk;
    char why[256];
    if (create_instance(be, &vk->instance, &vk->messenger, &vk->destroy_messenger, why,
                        sizeof why) != PM_OK) {
        pm_fail(be, "open", "%s", why);
        vk_close(be);
        return PM_ERR;
    }
    VkPhysicalDevice *phys;
    uint32_t n = physical_devices(vk->instance, &phys, why, sizeof why);
    if (device < 0 || (uint32_t)device >= n) {
        free(phys);
        pm_fail(be, "open", "no device %d (%u found%s%s)", device, n, n ? "" : ": ", n ? "" : why);
        vk_close(be);
        return PM_ERR;
    }
    vk->phys = phys[device];
    free(phys);
    describe(vk->phys, &be->info);
    vkGetPhysicalDeviceProperties(vk->phys, &vk->props);
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &vk->mem);
    vk->max_binding = vk->props.limits.maxStorageBufferRange;
    const char *limit = getenv("POLYMOE_VK_MAX_BINDING"); /* bytes; lower only: for testing */
    if (limit && strtoull(limit, NULL, 10) >= 4096 && strtoull(limit, NULL, 10) < vk->max_binding)
        vk->max_binding = strtoull(limit, NULL, 10);
    if (vk->props.apiVersion < VK_API_VERSION_1_1) {
        pm_fail(be, "open", "the device supports %s; polymoe needs Vulkan 1.1", be->info.api);
        vk_close(be);
        return PM_ERR;
    }
    if (create_device(be, vk) != PM_OK || vk_stream_init(be) != PM_OK ||
        vk_kernels_init(be) != PM_OK ||
        vk_buf_create(be, "open", &vk->fault, sizeof(pm_fault), 1) != PM_OK) {
        vk_close(be);
        return PM_ERR;
    }
    memset(((vk_mem *)vk->fault.handle)->mapped, 0, sizeof(pm_fault));
    be->gemm_impls = vk_gemm_impls;
    be->ops = PM_OP_TABLE(vk);
    return PM_OK;
}

const pm_driver pm_vulkan_driver = {
    .name = "vulkan",
    .devices = vk_devices,
    .open = vk_open,
    .close = vk_close,
    .alloc = vk_alloc,
    .free = vk_free,
    .upload = vk_upload,
    .download = vk_download,
    .sync = vk_sync,
};
