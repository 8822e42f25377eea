/* polymoe devices: every backend compiled in, its devices, or why it has none. */
#include <stdio.h>

#include "backends/backend.h"
#include "train/cli/commands.h"

int cmd_devices(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: polymoe devices\n\n"
               "Lists every backend compiled into this binary and its devices (index, name,\n"
               "memory, API and driver version), or one line saying why it is unavailable.\n"
               "The index is what --device takes.\n");
        return 0;
    }
    if (argc > 0) {
        fprintf(stderr, "polymoe devices: unexpected argument '%s' (see --help)\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < pm_backend_count(); i++) {
        const char *name = pm_backend_name(i);
        pm_device_info infos[16];
        char why[256] = "";
        int n = pm_backend_devices(name, infos, 16, why, sizeof why);
        printf("%s:\n", name);
        if (n == 0) printf("  unavailable: %s\n", why);
        for (int d = 0; d < n; d++) {
            const pm_device_info *x = &infos[d];
            printf("  [%d] %s%s\n      %s; %s; memory %.1f GiB\n", d, x->name,
                   x->is_gpu ? "" : " (CPU implementation)", x->api, x->driver,
                   (double)x->memory_bytes / (1024.0 * 1024.0 * 1024.0));
        }
    }
    return 0;
}
