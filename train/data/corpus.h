/* The default corpus: three domains made only of files Debian packages ship and of the math
 * generator, written as JSON Lines beside a manifest that pm_data_open reads.
 *   code   Python standard library sources, a deterministic subset of the *.py files
 *          of /usr/lib/python3.N, one file per document (package libpython3-stdlib).
 *   math   pm_mathgen problems, one per document, about as many bytes as code.
 *   prose  the King James Bible, one chapter per document, read through the `bible` program
 *          (package bible-kjv, which pulls in the text, bible-kjv-text). */
#ifndef POLYMOE_CORPUS_H
#define POLYMOE_CORPUS_H

#include <stddef.h>

/* Writes dir/manifest.json, dir/code.jsonl, dir/math.jsonl and dir/prose.jsonl, creating dir
 * as needed. Returns 0, or -1 with `err` filled (a missing package is named). The manifest is
 * written last, so a failed build leaves none. */
int pm_corpus_build(const char *dir, char *err, size_t errlen);

#endif
