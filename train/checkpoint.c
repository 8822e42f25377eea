#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"

#define KEEP 2
#define PATH_LEN 4096

/* dir/name into dst; -1 when it does not fit. */
static int path_join(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, PATH_LEN, "%s/%s", dir, name);
    return n < 0 || n >= PATH_LEN ? -1 : 0;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int mkdir_p(const char *dir) {
    char tmp[PATH_LEN];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= PATH_LEN) return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_LEN];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (path_join(path, dir, e->d_name) == 0) unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Deletes step folders older than the KEEP newest, and leftover temporary folders. */
static void prune(const char *ck) {
    DIR *d = opendir(ck);
    if (!d) return;
    int steps[4096], n = 0;
    struct dirent *e;
    char path[PATH_LEN], name[64];
    while ((e = readdir(d))) {
        int s;
        char tail[8] = "";
        if (sscanf(e->d_name, "step-%d%7s", &s, tail) < 1) continue;
        if (tail[0]) { /* step-N.tmp from an interrupted save */
            if (path_join(path, ck, e->d_name) == 0) remove_tree(path);
        } else if (n < 4096) {
            steps[n++] = s;
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer >= KEEP) {
            snprintf(name, sizeof name, "step-%07d", steps[i]);
            if (path_join(path, ck, name) == 0) remove_tree(path);
        }
    }
}

static int save_model(const char *dir, pm_model *m, float *host, char *err, size_t errlen) {
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts);
    pm_st_tensor *st = malloc(sizeof *st * (size_t)n);
    if (!st || pm_model_get_params(m, host) != PM_OK) {
        free(st);
        snprintf(err, errlen, "reading parameters back failed");
        return -1;
    }
    for (int i = 0; i < n; i++)
        st[i] = (pm_st_tensor){ts[i].name, host + ts[i].offset, ts[i].ndim, {ts[i].shape[0], ts[i].shape[1]}};
    char *cfg = pm_config_to_json(pm_model_config(m)), path[PATH_LEN];
    const char *meta[] = {"format", "pt", "polymoe_config", cfg};
    int rc = path_join(path, dir, "model.safetensors");
    if (!rc) rc = pm_st_write(path, st, n, meta, 2, err, errlen);
    free(cfg);
    free(st);
    return rc;
}

static int save_optimizer(const char *dir, pm_model *m, const pm_train_state *s, float *mv,
                          char *err, size_t errlen) {
    size_t n = pm_model_num_params(m);
    if (pm_model_get_moments(m, mv, mv + n) != PM_OK) {
        snprintf(err, errlen, "reading optimiser state back failed");
        return -1;
    }
    char step[32], data[PM_DATA_STATE_LEN * 24] = "", path[PATH_LEN];
    snprintf(step, sizeof step, "%d", s->step);
    size_t used = 0;
    for (int i = 0; i < PM_DATA_STATE_LEN; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "%s%" PRIu64, i ? "," : "", s->data_state[i]);
    const char *meta[] = {"step", step, "data_state", data};
    pm_st_tensor t[2] = {{"adamw.m", mv, 1, {(int)n, 0}}, {"adamw.v", mv + n, 1, {(int)n, 0}}};
    if (path_join(path, dir, "optimizer.safetensors")) return -1;
    return pm_st_write(path, t, 2, meta, 2, err, errlen);
}

int pm_checkpoint_save(const char *run_dir, pm_model *m, const pm_train_state *st, char *err,
                       size_t errlen) {
    char ck[PATH_LEN], tmp[PATH_LEN], final[PATH_LEN], link_tmp[PATH_LEN], link[PATH_LEN],
        target[64], target_tmp[64];
    snprintf(target, sizeof target, "step-%07d", st->step);
    snprintf(target_tmp, sizeof target_tmp, "step-%07d.tmp", st->step);
    if (path_join(ck, run_dir, "checkpoints") || path_join(tmp, ck, target_tmp) ||
        path_join(final, ck, target) || path_join(link_tmp, ck, "latest.tmp") ||
        path_join(link, ck, "latest")) {
        snprintf(err, errlen, "run folder path too long");
        return -1;
    }
    remove_tree(tmp);
    if (mkdir_p(tmp)) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    float *host = malloc(pm_model_num_params(m) * 2 * sizeof(float));
    if (!host) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    int rc = save_model(tmp, m, host, err, errlen);
    if (!rc) rc = save_optimizer(tmp, m, st, host, err, errlen);
    free(host);
    if (rc) return rc;
    remove_tree(final); /* a re-save of the same step */
    if (fsync_dir(tmp) || rename(tmp, final) || fsync_dir(ck)) {
        snprintf(err, errlen, "cannot move %s into place: %s", tmp, strerror(errno));
        return -1;
    }
    unlink(link_tmp);
    if (symlink(target, link_tmp) || rename(link_tmp, link) || fsync_dir(ck)) {
        snprintf(err, errlen, "cannot point %s at %s: %s", link, target, strerror(errno));
        return -1;
    }
    prune(ck);
    return 0;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int pm_checkpoint_find(const char *dir, char *step_dir, size_t len, pm_config *cfg, char *err,
                       size_t errlen) {
    const char *tries[] = {"", "latest", "checkpoints/latest"};
    char probe[PATH_LEN];
    step_dir[0] = 0;
    for (int i = 0; i < 3 && !step_dir[0]; i++) {
        int n = snprintf(step_dir, len, "%s%s%s", dir, i ? "/" : "", tries[i]);
        if (n < 0 || (size_t)n >= len || path_join(probe, step_dir, "model.safetensors") ||
            !is_file(probe))
            step_dir[0] = 0;
    }
    if (!step_dir[0]) {
        snprintf(err, errlen, "no checkpoint in %s (looked for model.safetensors in it, in latest/ and in checkpoints/latest/)", dir);
        return -1;
    }
    pm_st_file *f = pm_st_open(probe, err, errlen);
    if (!f) return -1;
    const char *json = pm_st_meta(f, "polymoe_config");
    char inner[400];
    pm_config_defaults(cfg);
    int rc = !json ? -1 : pm_config_apply_json(cfg, json, inner, sizeof inner);
    if (rc) snprintf(err, errlen, "%s: %s", probe, json ? inner : "no polymoe_config in its metadata");
    else if (pm_config_validate(cfg, inner, sizeof inner)) {
        snprintf(err, errlen, "%s: %s", probe, inner);
        rc = -1;
    }
    pm_st_close(f);
    return rc;
}

static int load_optimizer(const char *path, pm_model *m, pm_train_state *st, char *err,
                          size_t errlen) {
    pm_st_file *f = pm_st_open(path, err, errlen);
    if (!f) return -1;
    size_t n = pm_model_num_params(m);
    float *mv = malloc(n * 2 * sizeof *mv);
    const char *step = pm_st_meta(f, "step"), *data = pm_st_meta(f, "data_state");
    int rc = -1;
    if (!mv) snprintf(err, errlen, "out of host memory");
    else if (!step || !data) snprintf(err, errlen, "%s: no step or data_state in its metadata", path);
    else if (!pm_st_read(f, "adamw.m", mv, n, err, errlen) &&
             !pm_st_read(f, "adamw.v", mv + n, n, err, errlen)) {
        st->step = atoi(step);
        const char *p = data;
        for (int i = 0; i < PM_DATA_STATE_LEN; i++) {
            char *end;
            st->data_state[i] = strtoull(p, &end, 10);
            p = *end == ',' ? end + 1 : end;
        }
        rc = pm_model_set_moments(m, mv, mv + n) == PM_OK ? 0 : -1;
        if (rc) snprintf(err, errlen, "uploading the optimiser state failed");
    }
    free(mv);
    pm_st_close(f);
    return rc;
}

int pm_checkpoint_load(const char *step_dir, pm_model *m, pm_train_state *st, char *err,
                       size_t errlen) {
    char path[PATH_LEN];
    if (path_join(path, step_dir, "model.safetensors")) {
        snprintf(err, errlen, "checkpoint path too long");
        return -1;
    }
    pm_st_file *f = pm_st_open(path, err, errlen);
    if (!f) return -1;
    const pm_tensor *ts;
    int n = pm_model_tensors(m, &ts);
    float *host = malloc(pm_model_num_params(m) * sizeof *host);
    int rc = host ? 0 : -1;
    if (!host) snprintf(err, errlen, "out of host memory");
    for (int i = 0; i < n && !rc; i++) {
        char inner[300];
        rc = pm_st_read(f, ts[i].name, host + ts[i].offset, ts[i].size, inner, sizeof inner);
        if (rc) snprintf(err, errlen, "%s: %s", path, inner);
    }
    pm_st_close(f);
    if (!rc && pm_model_set_params(m, host) != PM_OK) {
        snprintf(err, errlen, "uploading parameters failed");
        rc = -1;
    }
    free(host);
    if (!rc && st) {
        rc = path_join(path, step_dir, "optimizer.safetensors");
        if (!rc) rc = load_optimizer(path, m, st, err, errlen);
    }
    return rc;
}
