/* libFuzzer target: the config parser. The input is applied as a JSON object and, line by
 * line, as key=value overrides; each result is validated, and a config that validates must
 * survive its own JSON (pm_config_to_json, applied again, validates again). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"

/* A validated config written out and read back must validate again. */
static void round_trip(const pm_config *c) {
    char err[512];
    if (pm_config_validate(c, err, sizeof err)) return;
    char *json = pm_config_to_json(c);
    pm_config again;
    pm_config_defaults(&again);
    if (!json || pm_config_apply_json(&again, json, err, sizeof err) ||
        pm_config_validate(&again, err, sizeof err))
        __builtin_trap(); /* a property violation: let libFuzzer report it */
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1), err[512];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    pm_config c;
    pm_config_defaults(&c);
    if (!pm_config_apply_json(&c, text, err, sizeof err)) round_trip(&c);
    pm_config_defaults(&c);
    int ok = 1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        ok &= !pm_config_apply_kv(&c, line, err, sizeof err);
    if (ok) round_trip(&c);
    free(text);
    return 0;
}
