/* Small file-system helpers that every writer of run folders, corpora and reports shares:
 * mkdir -p, an atomic whole-file write, and an all-or-nothing JSON line append. */
#ifndef POLYMOE_FILES_H
#define POLYMOE_FILES_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Creates dir and every missing parent; 0, or -1 with errno set. */
int pm_mkdir_p(const char *dir);

/* Writes len bytes to path through a temporary file, fsync and rename: the file is either
 * the old one or the whole new one, never a part. */
int pm_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Appends o (consumed) as one JSON line to fd. On a failed write (a full disk) the file is cut
 * back to its length before the call, so it never ends in a partial line. */
int pm_append_json_line(int fd, const char *path, cJSON *o, char *err, size_t errlen);

/* Reads a whole regular file into a 0-terminated buffer (free() it); NULL with `err` filled
 * when it is missing, not a regular file, unreadable or longer than `cap` bytes. */
char *pm_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen);

#endif
