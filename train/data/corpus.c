/* Builds the default corpus (see corpus.h). Each domain is written to a temporary file that
 * is renamed into place once complete; nothing is invented for code or prose: those
 * documents are the packaged files and the packaged Bible text, byte for byte (the Bible's
 * verse lines only lose their indentation). */
#define _POSIX_C_SOURCE 200809L
#include "train/data/corpus.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/data/data.h"
#include "train/util/error_text.h"
#include "train/util/files.h"
#include "train/data/mathgen.h"

#define PATH_LEN 4096
/* code and math each get about this much text */
#define DOMAIN_BYTES ((size_t)2500000)
#define PYTHON_FILE_MAX ((size_t)16 << 20)
#define MATH_SEED 1
#define BIBLE_PROGRAM "/usr/bin/bible"
#define BIBLE_DATA "/usr/lib/bible.data"
#define BIBLE_CHAPTERS 1189

typedef struct {
    const char *name;
    char description[512];
    char path[PATH_LEN], tmp[PATH_LEN + 8];
    FILE *f;
    size_t docs, bytes;
} jsonl_writer;


static int writer_open(jsonl_writer *w, const char *dir, char *err, size_t errlen) {
    snprintf(w->path, sizeof w->path, "%s/%s.jsonl", dir, w->name);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->path);
    w->f = fopen(w->tmp, "wb");
    if (!w->f) return pm_errorf(err, errlen, "corpus: cannot write %s: %s", w->tmp, strerror(errno));
    return 0;
}

/* One document as one JSON Lines record {"text": ...}. */
static int writer_add(jsonl_writer *w, const char *text, char *err, size_t errlen) {
    cJSON *record = cJSON_CreateObject();
    char *line = record && cJSON_AddStringToObject(record, "text", text) ? cJSON_PrintUnformatted(record) : NULL;
    int ok = line && fputs(line, w->f) >= 0 && fputc('\n', w->f) != EOF;
    free(line);
    cJSON_Delete(record);
    if (!ok) return pm_errorf(err, errlen, "corpus: cannot write %s", w->tmp);
    w->docs++;
    w->bytes += strlen(text);
    return 0;
}

/* Closes the file and, when `keep`, moves it into place; otherwise removes it. */
static int writer_close(jsonl_writer *w, int keep, char *err, size_t errlen) {
    if (!w->f) return 0;
    int ok = fclose(w->f) == 0;
    w->f = NULL;
    if (keep && ok && rename(w->tmp, w->path) == 0) return 0;
    remove(w->tmp);
    return keep ? pm_errorf(err, errlen, "corpus: cannot write %s: %s", w->path, strerror(errno)) : 0;
}

/* ---- code: the Python standard library ---- */

/* The newest /usr/lib/python3.N folder, or -1 when there is none. */
static int python_minor(void) {
    glob_t g;
    int best = -1;
    if (glob("/usr/lib/python3.*", 0, NULL, &g) != 0) return -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        int minor, end = 0;
        if (sscanf(g.gl_pathv[i], "/usr/lib/python3.%d%n", &minor, &end) == 1 && g.gl_pathv[i][end] == '\0' &&
            minor > best)
            best = minor;
    }
    globfree(&g);
    return best;
}

/* Every k-th top-level module (sorted by name; no symlinks, no files holding NUL bytes), k
 * chosen so the subset is about DOMAIN_BYTES. */
static int fill_code(jsonl_writer *w, char *err, size_t errlen) {
    int minor = python_minor();
    glob_t g;
    char pattern[64];
    snprintf(pattern, sizeof pattern, "/usr/lib/python3.%d/*.py", minor);
    if (minor < 0 || glob(pattern, 0, NULL, &g) != 0)
        return pm_errorf(err, errlen, "corpus: no Python standard library sources in /usr/lib/python3.*/ (apt-get "
                    "install libpython3-stdlib)");
    size_t total = 0, kept = 0;
    unsigned char *usable = calloc(g.gl_pathc, 1);
    for (size_t i = 0; usable && i < g.gl_pathc; i++) {
        struct stat st;
        if (lstat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            (size_t)st.st_size <= PYTHON_FILE_MAX) {
            usable[i] = 1;
            total += (size_t)st.st_size;
        }
    }
    size_t stride = total > DOMAIN_BYTES ? (total + DOMAIN_BYTES - 1) / DOMAIN_BYTES : 1;
    int rc = usable ? 0 : pm_errorf(err, errlen, "corpus: out of memory");
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        if (!usable[i] || kept++ % stride != 0) continue;
        size_t len;
        char *text = pm_read_file(g.gl_pathv[i], PYTHON_FILE_MAX, &len, err, errlen);
        if (!text) rc = -1;
        else if (strlen(text) == len) rc = writer_add(w, text, err, errlen);
        free(text);
    }
    snprintf(w->description, sizeof w->description,
             "Python 3.%d standard library: one in every %zu of /usr/lib/python3.%d/*.py by name (Debian "
             "packages libpython3.%d-minimal and libpython3.%d-stdlib), one file per document", minor, stride,
             minor, minor, minor);
    free(usable);
    globfree(&g);
    if (rc == 0 && w->docs < 2)
        return pm_errorf(err, errlen, "corpus: too few Python sources in /usr/lib/python3.%d (apt-get install "
                    "libpython3-stdlib)", minor);
    return rc;
}

/* ---- math: the generator ---- */

static int fill_math(jsonl_writer *w, char *err, size_t errlen) {
    char problem[PM_MATHGEN_MAX_LEN];
    for (uint64_t i = 0; w->bytes < DOMAIN_BYTES; i++) {
        pm_mathgen_problem(MATH_SEED, i, problem, sizeof problem);
        if (writer_add(w, problem, err, errlen)) return -1;
    }
    snprintf(w->description, sizeof w->description,
             "polymoe math generator (train/mathgen.c), seed %d: arithmetic and algebra problems with worked "
             "solutions, one problem per document", MATH_SEED);
    return 0;
}

/* ---- prose: the King James Bible ---- */

static int finish_chapter(FILE *out, char **chapter, jsonl_writer *w, char *err, size_t errlen) {
    if (fclose(out) != 0 || !*chapter) return pm_errorf(err, errlen, "corpus: out of memory");
    return writer_add(w, *chapter, err, errlen);
}

/* Reads `bible`'s pretty-printed output: a chapter heading ("Genesis 1") on its own line,
 * then one indented line per verse ("  1 In the beginning..."). Each chapter becomes
 * "Genesis 1\n\n1 In the beginning...\n2 ...\n". */
static int read_chapters(FILE *in, jsonl_writer *w, char *err, size_t errlen) {
    char *line = NULL, *chapter = NULL;
    size_t line_cap = 0, chapter_len = 0;
    FILE *out = NULL;
    int rc = 0;
    ssize_t n;
    while (rc == 0 && (n = getline(&line, &line_cap, in)) >= 0) {
        if (n == 0 || line[0] == '\n') continue;
        if (line[0] != ' ') { /* a heading: the previous chapter is complete */
            if (out) rc = finish_chapter(out, &chapter, w, err, errlen);
            free(chapter);
            chapter = NULL;
            out = open_memstream(&chapter, &chapter_len);
            if (!out) rc = pm_errorf(err, errlen, "corpus: out of memory");
            else fprintf(out, "%.*s\n\n", (int)strcspn(line, "\n"), line);
        } else if (out) {
            fputs(line + strspn(line, " "), out);
        }
    }
    if (out && rc == 0) rc = finish_chapter(out, &chapter, w, err, errlen);
    else if (out) fclose(out);
    free(chapter);
    free(line);
    return rc;
}

static int fill_prose(jsonl_writer *w, char *err, size_t errlen) {
    /* -l: lines wide enough never to wrap a verse; -p: only the packaged data file */
    FILE *in = popen(BIBLE_PROGRAM " -l 4000 -p /usr/lib 'Gen1:1-Rev22:21' </dev/null 2>/dev/null", "r");
    if (!in) return pm_errorf(err, errlen, "corpus: cannot run %s: %s", BIBLE_PROGRAM, strerror(errno));
    int rc = read_chapters(in, w, err, errlen), status = pclose(in);
    if (rc) return rc;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return pm_errorf(err, errlen, "corpus: %s failed (%s %d); reinstall bible-kjv and bible-kjv-text", BIBLE_PROGRAM,
                    status != -1 && WIFSIGNALED(status) ? "signal" : "exit status",
                    status == -1 ? -1 : WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    if (w->docs != BIBLE_CHAPTERS)
        return pm_errorf(err, errlen, "corpus: %s printed %zu chapters, expected %d", BIBLE_PROGRAM, w->docs,
                    BIBLE_CHAPTERS);
    snprintf(w->description, sizeof w->description,
             "King James Bible (public domain), printed by the bible program of the Debian packages bible-kjv "
             "and bible-kjv-text, one chapter per document (%d chapters)", BIBLE_CHAPTERS);
    return 0;
}

/* ---- the manifest ---- */

static int write_manifest(const char *dir, const jsonl_writer *w, int n, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject(), *domains = cJSON_AddArrayToObject(root, "domains");
    for (int i = 0; domains && i < n; i++) {
        char file[64];
        snprintf(file, sizeof file, "%s.jsonl", w[i].name);
        const char *files[] = {file};
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(domains, d);
        cJSON_AddStringToObject(d, "name", w[i].name);
        cJSON_AddItemToObject(d, "jsonl", cJSON_CreateStringArray(files, 1));
        cJSON_AddStringToObject(d, "text_field", "text");
        cJSON_AddStringToObject(d, "description", w[i].description);
    }
    char *text = cJSON_Print(root), path[PATH_LEN], tmp[PATH_LEN + 8];
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = text ? fopen(tmp, "wb") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok && rename(tmp, path) == 0;
    free(text);
    if (!ok) {
        remove(tmp);
        return pm_errorf(err, errlen, "corpus: cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

/* Every package the corpus needs, checked before anything is written. */
static int check_packages(char *err, size_t errlen) {
    if (python_minor() < 0)
        return pm_errorf(err, errlen, "corpus: no Python standard library in /usr/lib/python3.N (apt-get install "
                    "libpython3-stdlib)");
    if (access(BIBLE_PROGRAM, X_OK) != 0)
        return pm_errorf(err, errlen, "corpus: %s is missing (apt-get install bible-kjv)", BIBLE_PROGRAM);
    if (access(BIBLE_DATA, R_OK) != 0)
        return pm_errorf(err, errlen, "corpus: %s is missing (apt-get install bible-kjv-text)", BIBLE_DATA);
    return 0;
}

int pm_corpus_build(const char *dir, char *err, size_t errlen) {
    static int (*const fill[])(jsonl_writer *, char *, size_t) = {fill_code, fill_math, fill_prose};
    jsonl_writer w[] = {{.name = "code"}, {.name = "math"}, {.name = "prose"}};
    enum { n = sizeof w / sizeof w[0] };
    if (!dir || strlen(dir) + 32 >= PATH_LEN) return pm_errorf(err, errlen, "corpus: no folder, or a path too long");
    if (check_packages(err, errlen)) return -1;
    if (pm_mkdir_p(dir)) return pm_errorf(err, errlen, "corpus: cannot create %s: %s", dir, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = writer_open(&w[i], dir, err, errlen);
        if (rc == 0) rc = fill[i](&w[i], err, errlen);
        if (rc == 0) rc = writer_close(&w[i], 1, err, errlen);
    }
    for (int i = 0; i < n; i++) writer_close(&w[i], 0, NULL, 0);
    return rc ? rc : write_manifest(dir, w, n, err, errlen);
}
