/* The documents of a dataset as text again, for what needs words rather than ids (training a
 * BPE vocabulary on exactly the documents a run trains on). */
#ifndef POLYMOE_DOC_TEXTS_H
#define POLYMOE_DOC_TEXTS_H

#include <stddef.h>

#include "train/data/data.h"

/* Document i is docs[i][0..lens[i]); all of them lie back to back in text. */
typedef struct {
    char *text;
    const char **docs;
    size_t *lens, n_docs, n_bytes;
} pm_doc_texts;

/* Every domain's train documents, and the held-out ones too with `all`, in domain and manifest
 * order, from a dataset opened with the byte tokenizer. 0, or -1 when out of memory or when
 * the dataset has another tokenizer. */
int pm_doc_texts_get(const pm_dataset *ds, int all, pm_doc_texts *out);
void pm_doc_texts_free(pm_doc_texts *t);

#endif
