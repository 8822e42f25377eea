/* polymoe tokenizer train: builds a byte-level BPE vocabulary from a manifest. */
#include <stdio.h>

#include "train/cli/commands.h"

int cmd_tokenizer_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "polymoe tokenizer train: not built yet\n");
    return 1;
}
