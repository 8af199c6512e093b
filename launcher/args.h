/*
 * Command-line options of the form "--name value" and "--flag" (also
 * "--name=value"), declared in a table per command. Unknown options and
 * missing or malformed values are usage errors naming the option.
 */
#ifndef STC_LAUNCHER_ARGS_H
#define STC_LAUNCHER_ARGS_H

typedef enum { STC_OPT_STRING, STC_OPT_INT, STC_OPT_FLAG } stc_opt_kind;

typedef struct {
    const char *name;   /* without the leading "--" */
    stc_opt_kind kind;
    void *dst;          /* const char ** / int * / int * (flag set to 1) */
    const char *help;
} stc_opt;

/* Parses argv[1..argc) (argv[0] is the command name). Returns 0, 1 if --help
 * was given (help printed), or STC_ERR_USAGE with a message recorded. */
int stc_args_parse(const char *cmd, int argc, char **argv, const stc_opt *opts, int n_opts);

#endif
