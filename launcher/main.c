/* stc entry point: dispatches subcommands (see launcher/commands.h). */
#include "launcher/commands.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: stc <command> [options]\n"
            "\n"
            "commands:\n"
            "  train     fine-tune a Sentence Transformers model (JSON config; mpirun for ranks)\n"
            "  encode    embed texts with a Sentence Transformers model into HDF5\n"
            "  eval      run Sentence Transformers evaluators (IR, similarity, triplet, binary) on a model\n"
            "  prepare   tokenize a training dataset once into HDF5 (mpirun splits the work)\n"
            "  tokenize  print the token ids the model sees, one JSON array per text\n"
            "  launch    run a command on N ranks of this node (mpirun without the flags)\n"
            "\n"
            "'stc <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train"))
        return stc_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "encode"))
        return stc_cmd_encode(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return stc_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "launch"))
        return stc_cmd_launch(argc - 1, argv + 1);
    if (!strcmp(cmd, "prepare"))
        return stc_cmd_prepare(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize"))
        return stc_cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "stc: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
