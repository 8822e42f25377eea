/* The outcome of a long job (train, the study, bench), which is also the process's exit
 * status: 0 done, 1 failed (the message says why), 2 bad arguments, 130 stopped by a signal
 * (as a shell reports a SIGINT), with the last checkpoint written. */
#ifndef POLYMOE_STATUS_H
#define POLYMOE_STATUS_H

typedef enum {
    PM_DONE = 0,
    PM_FAILED = 1,
    PM_BAD_ARGS = 2,
    PM_INTERRUPTED = 130,
} pm_status;

#endif
