/* Upcycling: an MoE model's parameters from a dense model's. Every tensor is copied by name;
 * an expert's tensor (part PM_PART_EXPERTS) becomes a copy of the dense MLP tensor it stands
 * for (its expert_of) plus N(0, noise_std), drawn from (seed, its global_offset); the router starts at
 * zero. LoRA adapters (PM_PART_ADAPTERS) keep the values `moe` holds on entry (the MoE model's
 * fresh initialisation, B = 0), and their layer's dense MLP is copied by name. The position
 * embedding may come from a model with more positions: its first rows are taken. Narrower experts (expert_width) take a slice of the dense MLP's hidden units each,
 * expert e from unit e * width on, wrapping. With noise 0, top-1 and full-width experts the MoE
 * model computes exactly what the dense one did. */
#ifndef POLYMOE_UPCYCLE_H
#define POLYMOE_UPCYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

int pm_upcycle(const pm_tensor *dense_t, int n_dense, const float *dense,
               const pm_tensor *moe_t, int n_moe, float *moe, float noise_std, uint32_t seed,
               char *err, size_t errlen);

#endif
