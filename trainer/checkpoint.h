/*
 * Checkpoint folders that are never half-written (RELIABILITY.md,
 * "Checkpoints"): output_dir/checkpoint-STEP/ appears, by one rename, only
 * after every rank wrote and fsynced its files into
 * output_dir/.tmp-checkpoint-STEP/ and rank 0 wrote manifest.json (each
 * file's size and XXH3-128 hash, the world size, the step, the format
 * version) last. A checkpoint is complete when its manifest exists and the
 * files match it; resume and rotation trust only complete checkpoints.
 *
 * What goes into a checkpoint is the trainer's business (train.c); this
 * file knows folders, files, hashes and ranks.
 */
#ifndef STC_TRAINER_CHECKPOINT_H
#define STC_TRAINER_CHECKPOINT_H

#include "dist/comm.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STC_CKPT_FORMAT "stc-checkpoint"
#define STC_CKPT_VERSION 1

/* --- writing (every rank calls each function, in this order) --- */

typedef struct stc_ckpt_writer stc_ckpt_writer;

/* Starts checkpoint-STEP under output_dir: rank 0 (re)creates the
 * temporary folder, and no rank returns before it exists. */
int stc_ckpt_begin(stc_ckpt_writer **out, const stc_comm *comm, const char *output_dir, int64_t step);

/* The temporary folder every rank writes into. */
const char *stc_ckpt_tmp_dir(const stc_ckpt_writer *w);

/* Writes name (relative to the folder) with len bytes, fsynced, and
 * records its size and hash for the manifest. Any rank. */
int stc_ckpt_put(stc_ckpt_writer *w, const char *name, const void *data, size_t len);

/* Ends the checkpoint on every rank: ok is this rank's verdict on its own
 * writes (0: failed). If every rank succeeded, rank 0 hashes the files it
 * wrote itself outside stc_ckpt_put (the model folder), writes the manifest
 * last, renames the folder to checkpoint-STEP and fsyncs output_dir;
 * otherwise nobody renames and the temporary folder is removed. Returns 0
 * on every rank when the checkpoint exists, an error on every rank when
 * not. Frees w. final_dir (may be NULL) gets the folder's malloc'd path. */
int stc_ckpt_commit(stc_ckpt_writer *w, int ok, char **final_dir);

/* --- reading (any rank; file-system work only) --- */

typedef struct {
    int64_t step;       /* from the manifest */
    int world;          /* ranks that wrote it */
    char *path;         /* output_dir/checkpoint-STEP */
} stc_ckpt_entry;

/* The complete checkpoints under output_dir (manifest present and every
 * listed file of the listed size), sorted by step. Folders named
 * checkpoint-* that are not complete are reported on stderr and left
 * alone. */
int stc_ckpt_list(const char *output_dir, stc_ckpt_entry **out, int *n);
void stc_ckpt_entries_free(stc_ckpt_entry *e, int n);

/* Reads dir's manifest and checks every file's size and hash: an
 * incomplete or corrupted checkpoint is an error naming the file. */
int stc_ckpt_verify(const char *dir, int64_t *step, int *world);

/* Removes .tmp-checkpoint-* leftovers of an interrupted save (reported on
 * stderr). Rank 0 only, before training starts. */
int stc_ckpt_clean_stale(const char *output_dir);

/* Sentence Transformers' rotation (ST_SPEC.md section 6) over the complete
 * checkpoints ordered by step: the best one (best_dir, may be NULL) moves
 * to the second-to-last place, then the oldest beyond save_total_limit are
 * deleted (limit 2 when the limit is 1 and the newest is not the best).
 * save_total_limit <= 0 keeps all. Rank 0 only. */
int stc_ckpt_rotate(const char *output_dir, int save_total_limit, const char *best_dir);

/* Deletes every complete checkpoint but keep_dir (the end of training with
 * save_total_limit 1 and a best checkpoint). Rank 0 only. */
int stc_ckpt_keep_only(const char *output_dir, const char *keep_dir);

/* The name of rank's optimizer shard in a checkpoint of world ranks. */
void stc_ckpt_shard_name(char *buf, size_t cap, const char *stem, int rank, int world);

#ifdef __cplusplus
}
#endif

#endif
