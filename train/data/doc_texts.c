#include "train/data/doc_texts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The byte tokenizer's ids are the bytes, with end-of-text after each document. */
int pm_doc_texts_get(const pm_dataset *ds, int all, pm_doc_texts *c) {
    memset(c, 0, sizeof *c);
    if (strcmp(pm_tokenizer_kind(pm_data_tokenizer(ds)), "byte") != 0) return -1;
    size_t n_ids = 0, n_docs = 0;
    for (int d = 0; d < pm_data_domains(ds); d++)
        for (int eval = 0; eval <= all; eval++) {
            size_t n;
            pm_data_stream(ds, d, eval, &n);
            n_ids += n;
            n_docs += pm_data_documents(ds, d, eval);
        }
    c->text = malloc(n_ids ? n_ids : 1);
    c->docs = malloc((n_docs ? n_docs : 1) * sizeof *c->docs);
    c->lens = malloc((n_docs ? n_docs : 1) * sizeof *c->lens);
    if (!c->text || !c->docs || !c->lens) {
        pm_doc_texts_free(c);
        return -1;
    }
    int32_t eot = pm_tokenizer_eot(pm_data_tokenizer(ds));
    for (int d = 0; d < pm_data_domains(ds); d++)
        for (int eval = 0; eval <= all; eval++) {
            size_t n;
            const int32_t *ids = pm_data_stream(ds, d, eval, &n);
            size_t start = c->n_bytes;
            for (size_t i = 0; i < n; i++) {
                if (ids[i] != eot) {
                    c->text[c->n_bytes++] = (char)ids[i];
                    continue;
                }
                c->docs[c->n_docs] = c->text + start;
                c->lens[c->n_docs++] = c->n_bytes - start;
                start = c->n_bytes;
            }
        }
    return 0;
}

void pm_doc_texts_free(pm_doc_texts *t) {
    free(t->text);
    free(t->docs);
    free(t->lens);
    memset(t, 0, sizeof *t);
}
