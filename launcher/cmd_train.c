/*
 * `stc train CONFIG.json [--key value ...]`: loads and checks the whole
 * config before any work, then trains (trainer/train.h). Under mpirun every
 * rank runs this; a failure on any rank prints the rank and the reason and
 * brings every rank down (MPI_Abort), so no rank hangs in a collective.
 */
#include "dist/comm.h"
#include "launcher/commands.h"
#include "trainer/train.h"
#include "trainer/training_args.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

int stc_cmd_train(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: stc train CONFIG.json [--key value ...]\n\n"
                   "CONFIG.json holds model, train_dataset, loss (and eval_dataset, evaluator) and any\n"
                   "SentenceTransformerTrainingArguments field under its Python name; --key value\n"
                   "overrides a top-level key. Run under mpirun for several ranks.\n");
        return argc < 2 ? STC_ERR_USAGE : 0;
    }
    stc_comm comm;
    int rc = stc_comm_init(&comm, &argc, &argv);
    if (rc) {
        fprintf(stderr, "stc: error: %s\n", stc_error_message());
        return rc;
    }
    stc_train_config cfg;
    rc = stc_train_config_load(&cfg, argv[1], argc - 2, argv + 2);
    if (!rc) {
        rc = stc_train_run(&cfg, &comm);
        stc_train_config_free(&cfg);
    }
    if (rc) {
        fprintf(stderr, "stc: rank %d: error: %s\n", comm.rank, stc_error_message());
        if (comm.world > 1)
            stc_comm_abort(rc); /* the other ranks may be waiting in a collective */
    }
    stc_comm_finalize(&comm);
    return rc;
}
