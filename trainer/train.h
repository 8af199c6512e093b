/*
 * `stc train`: the training loop (DESIGN.md, "Data flow of one training
 * step"): sampler -> rows -> collate -> forward of every text column ->
 * loss -> backward -> gradient average across ranks -> clip -> AdamW with
 * learning_rate_mapping groups -> scheduler; logging to
 * output_dir/log.jsonl; the final model saved into output_dir as a
 * Sentence Transformers directory with the resolved config beside it.
 */
#ifndef STC_TRAINER_TRAIN_H
#define STC_TRAINER_TRAIN_H

#include "dist/comm.h"
#include "trainer/training_args.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs training as configured. Every rank calls it; rank 0 logs and writes
 * files. Returns 0 or an stc_status with a message. */
int stc_train_run(const stc_train_config *cfg, const stc_comm *comm);

#ifdef __cplusplus
}
#endif

#endif
