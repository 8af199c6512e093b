#!/usr/bin/env bash
# Without gather_across_devices, in-batch negatives are rank-local, as in
# Sentence Transformers under DDP: the loss 2 ranks x 8 rows log for a step
# is the average of the two ranks' own batch-8 losses. Each rank's rows of
# the first step are recorded (STC_DEBUG_ROWS); each set of 8 rows is then
# trained alone on 1 rank (batch 8, the same first-step weights) and the
# mean of those two first-step losses must equal the 2-rank loss (1e-5
# relative). MultipleNegativesRankingLoss with a hard-negative column,
# dropout off, the tiny fixture model.
# usage: test_dist_local_negatives.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
nodropout_model fixtures/encode/tiny-bert "$tmp/model"
cp fixtures/train/mnrl/train.jsonl "$tmp/"
cd "$tmp" || exit 1
cfg() { # dataset batch out
  printf '{"model": "model", "train_dataset": "%s", "output_dir": "%s", "per_device_train_batch_size": %d,
    "max_steps": 1, "logging_steps": 1, "learning_rate": 1e-3, "seed": 5,
    "loss": {"type": "MultipleNegativesRankingLoss"}}\n' "$1" "$3" "$2"
}
cfg train.jsonl 8 two >two.json
STC_DEBUG_ROWS=$tmp/rows mpirun --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1 \
  -x OPENBLAS_NUM_THREADS=1 -x STC_DEBUG_ROWS "$stc" train two.json >mpi.out 2>&1 \
  || { echo "FAIL: mpirun -np 2: $(tail -3 mpi.out)" >&2; exit 1; }
for r in 0 1; do
  $py - train.jsonl "rows.$r" "part$r.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
ids = [int(x) for x in open(sys.argv[2]).readline().split()]
assert len(ids) == 8, ids
open(sys.argv[3], "w").write("".join(lines[i] + "\n" for i in ids))
PY
  cfg "part$r.jsonl" 8 "one$r" >"one$r.json"
  OMP_NUM_THREADS=1 "$stc" train "one$r.json" >/dev/null 2>&1 || { echo "FAIL: 1-rank run on part $r" >&2; exit 1; }
done
cfg train.jsonl 16 global >global.json
OMP_NUM_THREADS=1 "$stc" train global.json >/dev/null 2>&1 || { echo "FAIL: 1-rank x 16 run" >&2; exit 1; }
$py - two/log.jsonl one0/log.jsonl one1/log.jsonl rows.0 rows.1 global/log.jsonl <<'PY'
import json, sys
loss = lambda p: json.loads(open(p).readline())["loss"]
two, a, b = loss(sys.argv[1]), loss(sys.argv[2]), loss(sys.argv[3])
r0 = set(open(sys.argv[4]).readline().split()); r1 = set(open(sys.argv[5]).readline().split())
assert not (r0 & r1), "the ranks' rows overlap"
rel = abs(two - (a + b) / 2) / abs(two)
print(f"test_dist_local_negatives: 2 ranks {two:.9g}, mean of the ranks' own losses {(a + b) / 2:.9g} "
      f"({a:.6g}, {b:.6g}), rel diff {rel:.2e}")
assert rel <= 1e-5, rel
# Rank-local negatives really differ from the global batch's: a 1-rank x 16
# step over the same rows gives another loss (so the check above can fail).
g = loss(sys.argv[6])
assert abs(g - two) / abs(g) > 1e-3, (g, two)
PY
