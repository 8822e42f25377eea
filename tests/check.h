/* The C tests' rows and tally: `pass`/`FAIL` per check, then "N passed, N failed" (the line
 * CI reads) and the exit status. Each test program includes this once. */
#ifndef POLYMOE_TEST_CHECK_H
#define POLYMOE_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

__attribute__((format(printf, 2, 3))) static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s  ", ok ? "pass" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) passed++;
    else failed++;
}

static int check_tally(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
