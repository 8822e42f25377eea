#define _POSIX_C_SOURCE 200809L
#include "train/util/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/util/error_text.h"

int pm_mkdir_p(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0755) && errno != EEXIST) return -1;
        if (!c) break;
        *p = c;
    }
    struct stat st;
    if (stat(dir, &st)) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int pm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? -1 : write_all(fd, data, len);
    if (!rc) rc = fsync(fd);
    if (fd >= 0 && close(fd) && !rc) rc = -1;
    if (!rc) rc = rename(tmp, path);
    if (rc) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0) unlink(tmp);
    }
    return rc;
}

int pm_append_json_line(int fd, const char *path, cJSON *o, char *err, size_t errlen) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        snprintf(err, errlen, "out of memory formatting a line for %s", path);
        return -1;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* overwrites the terminator: the buffer is written by length */
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    int rc = write_all(fd, s, n + 1);
    if (rc) {
        int why = errno;
        if (regular && ftruncate(fd, st.st_size) == 0)
            snprintf(err, errlen, "cannot write %s: %s (the partial line was removed)", path, strerror(why));
        else
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(why));
    }
    free(s);
    return rc;
}

char *pm_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        pm_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        pm_errorf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    if ((uintmax_t)st.st_size > cap) {
        pm_errorf(err, errlen, "%s: %jd bytes, more than the %zu allowed", path, (intmax_t)st.st_size, cap);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    FILE *f = fopen(path, "rb");
    if (!f) {
        pm_errorf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(size + 1);
    size_t got = buf ? fread(buf, 1, size, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || got != size) {
        pm_errorf(err, errlen, "%s: %s", path, !buf ? "out of memory" : "read error");
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    if (len) *len = size;
    return buf;
}
