/* The default corpus: code, math and prose domains built from Debian-shipped files and the
 * math generator. */
#ifndef POLYMOE_CORPUS_H
#define POLYMOE_CORPUS_H

#include <stddef.h>

/* Writes dir/manifest.json and one JSON Lines file per domain. */
int pm_corpus_build(const char *dir, char *err, size_t errlen);

#endif
