/* Errors as text for the caller: formats into err (when given) and returns -1, so that a
 * failing path reads `return pm_errorf(err, errlen, "...", ...);`. */
#ifndef POLYMOE_ERROR_TEXT_H
#define POLYMOE_ERROR_TEXT_H

#include <stddef.h>

int pm_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
