/* Host memory as device memory: the driver hooks the ref and cpu backends share (their
 * buffers are aligned host allocations and their ops read them in place). */
#ifndef POLYMOE_HOST_H
#define POLYMOE_HOST_H

#include "../backend_impl.h"

/* The host CPU as a device: its model name, OpenMP threads, installed memory; `driver` says
 * what runs the ops. */
void pm_host_describe(pm_device_info *d, const char *driver);
int pm_host_alloc(pm_backend *be, pm_buf *buf);
void pm_host_free(pm_backend *be, pm_buf *buf);
int pm_host_upload(pm_backend *be, pm_buf *buf, const void *src, size_t off, size_t bytes);
int pm_host_download(pm_backend *be, const pm_buf *buf, void *dst, size_t off, size_t bytes);
int pm_host_sync(pm_backend *be);

#endif
