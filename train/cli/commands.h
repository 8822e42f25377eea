/* The subcommands of the polymoe command line, one file each (cmd_<name>.c). Each takes the
 * arguments after its name and returns the process exit status. */
#ifndef POLYMOE_COMMANDS_H
#define POLYMOE_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_tokenizer_train(int argc, char **argv); /* polymoe tokenizer train */
int cmd_devices(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* 1 when argv holds -h or --help. */
int wants_help(int argc, char **argv);

#endif
