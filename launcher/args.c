/* Command-line option parsing (see args.h). */
#include "launcher/args.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(const char *cmd, const stc_opt *opts, int n)
{
    printf("usage: stc %s [options]\n\noptions:\n", cmd);
    for (int i = 0; i < n; i++) {
        const char *arg = opts[i].kind == STC_OPT_STRING ? " VALUE" : opts[i].kind == STC_OPT_INT ? " N" : "";
        printf("  --%s%s\n      %s\n", opts[i].name, arg, opts[i].help);
    }
}

int stc_args_parse(const char *cmd, int argc, char **argv, const stc_opt *opts, int n_opts)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(cmd, opts, n_opts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0)
            return stc_errorf(STC_ERR_USAGE, "stc %s: unexpected argument '%s'", cmd, a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const stc_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, name, nlen))
                o = &opts[k];
        if (!o)
            return stc_errorf(STC_ERR_USAGE, "stc %s: unknown option '--%.*s' (see stc %s --help)", cmd, (int)nlen, name, cmd);
        if (o->kind == STC_OPT_FLAG) {
            if (eq)
                return stc_errorf(STC_ERR_USAGE, "stc %s: --%s takes no value", cmd, o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val)
            return stc_errorf(STC_ERR_USAGE, "stc %s: --%s needs a value", cmd, o->name);
        if (o->kind == STC_OPT_STRING) {
            *(const char **)o->dst = val;
        } else {
            char *end;
            errno = 0;
            long v = strtol(val, &end, 10);
            if (errno || *end || end == val || v < -2147483647L || v > 2147483647L)
                return stc_errorf(STC_ERR_USAGE, "stc %s: --%s expects an integer, got '%s'", cmd, o->name, val);
            *(int *)o->dst = (int)v;
        }
    }
    return 0;
}
