/* Subcommands of the stc binary. Each takes argv starting at its own name and
 * returns the process exit status (util/error.h's stc_status values). */
#ifndef STC_LAUNCHER_COMMANDS_H
#define STC_LAUNCHER_COMMANDS_H

int stc_cmd_encode(int argc, char **argv);
int stc_cmd_eval(int argc, char **argv);
int stc_cmd_prepare(int argc, char **argv);
int stc_cmd_tokenize(int argc, char **argv);
int stc_cmd_train(int argc, char **argv);
int stc_cmd_launch(int argc, char **argv);

#endif
