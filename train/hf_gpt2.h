/* A Hugging Face GPT-2 folder as it comes from the hub: config.json (GPT2Config),
 * model.safetensors or a sharded model.safetensors.index.json, tensors named with or without
 * the `transformer.` prefix in F32, F16 or BF16 (widened to float32), and the tokenizer files
 * (tokenizer.json, or vocab.json and merges.txt). eval, generate and train --init-from take
 * such a folder wherever they take a checkpoint (train/checkpoint.c dispatches here). */
#ifndef POLYMOE_HF_GPT2_H
#define POLYMOE_HF_GPT2_H

#include <stddef.h>

#include "model/config.h"
#include "model/model.h"

/* 1 when dir holds config.json and Hugging Face weights: an index of shards, or a
 * model.safetensors that is not a polymoe checkpoint (no polymoe_config in its metadata). */
int pm_hf_is_folder(const char *dir);

/* The model config of the folder: the polymoe defaults with config.json's shape (n_embd,
 * n_layer, n_head, n_positions as block_size, vocab_size) and tokenizer=bpe:DIR. What polymoe
 * does not implement (another activation or layernorm epsilon, an inner width other than
 * 4 n_embd, cross-attention, attention scaled by layer index, an untied LM head) is refused,
 * named. */
int pm_hf_config(const char *dir, pm_config *cfg, char *err, size_t errlen);

/* Loads the folder's weights into m (a dense model of pm_hf_config's shape). An lm_head.weight
 * in the files must equal wte: polymoe's LM head is tied. */
int pm_hf_load(const char *dir, pm_model *m, char *err, size_t errlen);

#endif
