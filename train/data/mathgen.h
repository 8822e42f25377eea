/* The math problem generator: arithmetic and algebra word problems with worked, step-by-step
 * solutions, one problem per document. Problem i of seed s is always the same text. */
#ifndef POLYMOE_MATHGEN_H
#define POLYMOE_MATHGEN_H

#include <stddef.h>
#include <stdint.h>

/* No problem is longer: a buffer of this many bytes never truncates. */
#define PM_MATHGEN_MAX_LEN 2048

/* Writes problem `index` of the stream for `seed` (statement, worked solution, answer) into
 * out as a 0-terminated string of at most cap-1 bytes; returns its length. */
size_t pm_mathgen_problem(uint64_t seed, uint64_t index, char *out, size_t cap);

#endif
