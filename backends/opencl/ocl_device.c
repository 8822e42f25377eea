/* OpenCL devices: every platform's devices as one flat list, their description, and the
 * names of OpenCL status codes for messages. */
#include "ocl.h"

#include <CL/cl_ext.h>
#include <stdio.h>
#include <string.h>

enum { MAX_PLATFORMS = 16 };

int ocl_list_devices(cl_device_id *out, int max, char *why, size_t whylen) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        snprintf(why, whylen, "no OpenCL platform: the ICD loader found no driver (install "
                              "one: a GPU vendor's, or pocl-opencl-icd for the CPU)");
        return 0;
    }
    if (err != CL_SUCCESS) {
        snprintf(why, whylen, "clGetPlatformIDs failed: %s", ocl_strerror(err));
        return 0;
    }
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    int n = 0;
    for (cl_uint p = 0; p < np && n < max; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, (cl_uint)(max - n), out + n, &nd) !=
            CL_SUCCESS)
            continue; /* CL_DEVICE_NOT_FOUND: a platform without devices */
        n += nd < (cl_uint)(max - n) ? (int)nd : max - n;
    }
    if (n == 0) snprintf(why, whylen, "%u OpenCL platform(s) but no device on any", np);
    return n;
}

/* CUDA cores per streaming multiprocessor by compute capability (NVIDIA's tables). */
static int nv_cores_per_sm(cl_uint major, cl_uint minor) {
    switch (major) {
    case 2: return minor == 1 ? 48 : 32;
    case 3: return 192;
    case 5: return 128;
    case 6: return minor == 0 ? 64 : 128;
    case 7: return 64;
    case 8: return minor == 0 ? 64 : 128;
    default: return major >= 9 ? 128 : 0;
    }
}

/* float32 peak in GFLOP/s (an FMA a lane a cycle) where the driver tells the lane count:
 * NVIDIA and AMD through their attribute extensions; 0 elsewhere. */
static double peak_gflops(cl_device_id dev) {
    char ext[8192] = "";
    cl_uint units = 0, mhz = 0, lanes = 0;
    clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL);
    if (strstr(ext, "cl_nv_device_attribute_query")) {
        cl_uint major = 0, minor = 0;
        clGetDeviceInfo(dev, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor, NULL);
        lanes = (cl_uint)nv_cores_per_sm(major, minor);
    } else if (strstr(ext, "cl_amd_device_attribute_query")) {
        cl_uint simds = 0, width = 0, instr = 0;
        clGetDeviceInfo(dev, CL_DEVICE_SIMD_PER_COMPUTE_UNIT_AMD, sizeof simds, &simds, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_SIMD_WIDTH_AMD, sizeof width, &width, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_SIMD_INSTRUCTION_WIDTH_AMD, sizeof instr, &instr, NULL);
        lanes = simds * width * instr;
    }
    return 2.0 * units * lanes * mhz / 1000.0;
}

void ocl_describe(cl_device_id dev, pm_device_info *info) {
    memset(info, 0, sizeof *info);
    cl_platform_id platform = NULL;
    char version[128] = "", platform_name[64] = "", driver[64] = "";
    cl_device_type type = 0;
    cl_ulong memory = 0;
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof info->name - 1, info->name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof version - 1, version, NULL);
    clGetDeviceInfo(dev, CL_DRIVER_VERSION, sizeof driver - 1, driver, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof memory, &memory, NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof platform_name - 1, platform_name, NULL);
    /* CL_DEVICE_VERSION is "OpenCL <major.minor> <vendor text>": keep the first two words */
    char major_minor[16] = "?";
    sscanf(version, "OpenCL %15s", major_minor);
    snprintf(info->api, sizeof info->api, "OpenCL %s", major_minor);
    snprintf(info->driver, sizeof info->driver, "%s %s", platform_name, driver);
    info->memory_bytes = memory;
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->peak_gflops = peak_gflops(dev);
}

const char *ocl_strerror(cl_int err) {
    switch (err) {
#define NAME(code) case code: return #code;
        NAME(CL_SUCCESS)
        NAME(CL_DEVICE_NOT_FOUND)
        NAME(CL_DEVICE_NOT_AVAILABLE)
        NAME(CL_COMPILER_NOT_AVAILABLE)
        NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
        NAME(CL_OUT_OF_RESOURCES)
        NAME(CL_OUT_OF_HOST_MEMORY)
        NAME(CL_BUILD_PROGRAM_FAILURE)
        NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
        NAME(CL_INVALID_VALUE)
        NAME(CL_INVALID_DEVICE)
        NAME(CL_INVALID_CONTEXT)
        NAME(CL_INVALID_COMMAND_QUEUE)
        NAME(CL_INVALID_MEM_OBJECT)
        NAME(CL_INVALID_BUILD_OPTIONS)
        NAME(CL_INVALID_PROGRAM_EXECUTABLE)
        NAME(CL_INVALID_KERNEL_NAME)
        NAME(CL_INVALID_KERNEL)
        NAME(CL_INVALID_ARG_INDEX)
        NAME(CL_INVALID_ARG_VALUE)
        NAME(CL_INVALID_ARG_SIZE)
        NAME(CL_INVALID_KERNEL_ARGS)
        NAME(CL_INVALID_WORK_DIMENSION)
        NAME(CL_INVALID_WORK_GROUP_SIZE)
        NAME(CL_INVALID_WORK_ITEM_SIZE)
        NAME(CL_INVALID_GLOBAL_WORK_SIZE)
        NAME(CL_INVALID_OPERATION)
        NAME(CL_INVALID_BUFFER_SIZE)
        NAME(CL_PLATFORM_NOT_FOUND_KHR)
#undef NAME
    default: return "an OpenCL error";
    }
}
