/* Joining and leaving an mpirun job (see cmd_ranks.h). */
#include "launcher/cmd_ranks.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

int stc_cmd_ranks_join(stc_comm *c, int *use_mpi, int *argc, char ***argv)
{
    c->rank = 0;
    c->world = 1;
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    *use_mpi = ws && atoi(ws) > 1;
    if (!*use_mpi)
        return 0;
    int rc = stc_comm_init(c, argc, argv);
    return rc ? rc : stc_comm_set_timeout(c, STC_CMD_COLLECTIVE_TIMEOUT);
}

void stc_cmd_rank_failed(const stc_comm *c, int use_mpi, int rc)
{
    if (!rc || !use_mpi)
        return;
    fprintf(stderr, "stc: rank %d: error: %s\n", c->rank, stc_error_message());
    stc_comm_abort(rc);
}

int stc_cmd_ranks_leave(stc_comm *c, int use_mpi, int rc)
{
    if (rc)
        fprintf(stderr, "stc: error: %s\n", stc_error_message());
    if (use_mpi) {
        if (rc)
            stc_comm_abort(rc);
        stc_comm_finalize(c);
    }
    return rc;
}
