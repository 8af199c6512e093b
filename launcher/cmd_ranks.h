/*
 * How the file-processing subcommands (encode, prepare) join and leave an
 * mpirun job: started without mpirun, or with one rank, they run alone and
 * never initialise MPI; under mpirun every rank joins, collectives get the
 * default deadline, and a failure on any rank ends them all (MPI_Abort), so
 * no rank waits forever in a collective for a peer that has given up.
 */
#ifndef STC_LAUNCHER_CMD_RANKS_H
#define STC_LAUNCHER_CMD_RANKS_H

#include "dist/comm.h"

/* Seconds a collective may wait for a peer (ddp_timeout's default). */
#define STC_CMD_COLLECTIVE_TIMEOUT 1800.0

/* Under mpirun with more than one rank: initialises c (deadline set) and
 * sets *use_mpi; otherwise c is a world of one and *use_mpi 0. */
int stc_cmd_ranks_join(stc_comm *c, int *use_mpi, int *argc, char ***argv);

/* After rc != 0 on this rank while others may be in (or heading to) a
 * collective: prints "stc: rank R: error: ..." and ends every rank. Does
 * nothing when rc is 0 or the command runs alone. */
void stc_cmd_rank_failed(const stc_comm *c, int use_mpi, int rc);

/* The end of a command: prints the error if rc != 0, ends every rank on an
 * error under mpirun, finalises MPI, and returns rc. */
int stc_cmd_ranks_leave(stc_comm *c, int use_mpi, int rc);

#endif
