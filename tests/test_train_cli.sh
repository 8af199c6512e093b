#!/usr/bin/env bash
# End-to-end checks of `stc train` on the tiny fixture model: a run writes
# log.jsonl and a model directory that `stc encode` loads; two identical runs
# agree; config errors name the key before any work; a diverging run stops
# with exit code 5 after ten bad steps; two MPI ranks train.
# usage: test_train_cli.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
model=$PWD/fixtures/encode/tiny-bert

# 40 (anchor, positive) pairs.
make_pairs "$tmp/train.jsonl" 40
printf '{"model": "%s", "train_dataset": "%s",
 "loss": {"type": "MultipleNegativesRankingLoss"}, "output_dir": "%s",
 "per_device_train_batch_size": 8, "num_train_epochs": 2, "learning_rate": 1e-3,
 "warmup_ratio": 0.1, "logging_steps": 2, "batch_sampler": "no_duplicates"}\n' \
  "$model" "$tmp/train.jsonl" "$tmp/out" >"$tmp/cfg.json"

# 1. A run: 5 batches per epoch x 2 epochs = 10 steps, logged every 2.
if OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" 2>"$tmp/err"; then
  $py - "$tmp/out/log.jsonl" <<'PY' && ok || fail "log.jsonl content"
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [2, 4, 6, 8, 10], rows
for r in rows:
    for k in ("epoch", "loss", "grad_norm", "learning_rate", "learning_rates", "samples_per_second", "tokens_per_second"):
        assert k in r, (k, r)
    assert math.isfinite(r["loss"]) and r["grad_norm"] > 0
assert abs(rows[-1]["epoch"] - 2.0) < 1e-9
PY
  for f in model.safetensors config.json modules.json tokenizer.json 1_Pooling/config.json training_config.json; do
    [ -f "$tmp/out/$f" ] && ok || fail "missing $f in output_dir"
  done
  printf 'hello world\nthe cat sat\n' >"$tmp/texts.txt"
  if "$stc" encode --model "$tmp/out" --input "$tmp/texts.txt" --output "$tmp/e.h5" 2>"$tmp/err2"; then ok
  else fail "the trained model does not encode: $(cat "$tmp/err2")"; fi
  "$stc" encode --model "$model" --input "$tmp/texts.txt" --output "$tmp/e0.h5" 2>/dev/null
  $py - "$tmp/e.h5" "$tmp/e0.h5" <<'PY' && ok || fail "training did not change the model"
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1])["embeddings"][:]; b = h5py.File(sys.argv[2])["embeddings"][:]
assert np.abs(a - b).max() > 1e-3
PY
else fail "train: $(cat "$tmp/err")"; fi

# 2. The same run again (with an override of output_dir) logs the same
# steps, epochs, losses and gradient norms.
OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/out2" 2>/dev/null
cmp -s <(cut -d, -f1-4 "$tmp/out/log.jsonl") <(cut -d, -f1-4 "$tmp/out2/log.jsonl") && ok || fail "two identical runs differ"

# 3. Config errors: the exit code, a message naming the key, nothing written.
expect() { # name code pattern cmd...
  local name=$1 code=$2 pat=$3; shift 3
  "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$tmp/e"; then ok; else fail "$name: exit $rc: $(cat "$tmp/e")"; fi
}
expect "unknown key" 2 'learning_rat: unknown key' "$stc" train "$tmp/cfg.json" --learning_rat 1 --output_dir "$tmp/none"
expect "bad type" 2 '"per_device_train_batch_size" must be an integer' "$stc" train "$tmp/cfg.json" --per_device_train_batch_size '"x"' --output_dir "$tmp/none"
expect "bad loss" 2 'NoSuchLoss' "$stc" train "$tmp/cfg.json" --loss '{"type": "NoSuchLoss"}' --output_dir "$tmp/none"
expect "pattern matches nothing" 2 'zzz' "$stc" train "$tmp/cfg.json" --learning_rate_mapping '{"zzz": 1e-3}' --output_dir "$tmp/none"
expect "negative learning rate" 2 '"learning_rate" = -0.001 is out of range' "$stc" train "$tmp/cfg.json" --learning_rate -1e-3 --output_dir "$tmp/none"
expect "loss needs more columns" 2 'TripletLoss: needs 3 \(anchor, positive, negative\) columns, the dataset gives 2' "$stc" train "$tmp/cfg.json" --loss '{"type": "TripletLoss"}' --output_dir "$tmp/none"
expect "loss needs a label" 2 'CoSENTLoss: needs a label' "$stc" train "$tmp/cfg.json" --loss '{"type": "CoSENTLoss"}' --output_dir "$tmp/none"
expect "loss per dataset, one dataset" 2 '"loss" maps dataset names to losses but train_dataset is a single path' "$stc" train "$tmp/cfg.json" --loss '{"a": {"type": "CoSENTLoss"}}' --output_dir "$tmp/none"
printf '{"anchor": "a", "positive": "b"}\n{"anchor": "c"}\n' >"$tmp/missing.jsonl"
expect "dataset with a missing column" 2 'missing.jsonl:2: .*positive' "$stc" train "$tmp/cfg.json" --train_dataset "$tmp/missing.jsonl" --output_dir "$tmp/none"
printf '{"anchor": "a", "positive": "b"}\nnot json\n{"anchor": "c", "positive": "d"}\n' >"$tmp/bad.jsonl"
expect "a malformed row names file and line" 2 'bad.jsonl:2' "$stc" train "$tmp/cfg.json" --train_dataset "$tmp/bad.jsonl" --output_dir "$tmp/none"
# A dataset smaller than one global batch: an error (exit 3, data) with
# drop_last, as under DDP; one short batch without it, as in Python.
printf '{"anchor": "a", "positive": "b"}\n{"anchor": "c", "positive": "d"}\n{"anchor": "e", "positive": "f"}\n' >"$tmp/small.jsonl"
expect "dataset smaller than a global batch (drop_last)" 3 'small.jsonl: the training data gives no batch \(3 rows, global batch 8' \
  "$stc" train "$tmp/cfg.json" --train_dataset "$tmp/small.jsonl" --dataloader_drop_last true --output_dir "$tmp/none"
if OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" --train_dataset "$tmp/small.jsonl" --batch_sampler '"batch_sampler"' \
     --max_steps 2 --output_dir "$tmp/small-out" 2>"$tmp/e" && [ -f "$tmp/small-out/model.safetensors" ]; then ok
else fail "a dataset smaller than a batch without drop_last: $(cat "$tmp/e")"; fi
[ ! -e "$tmp/none" ] && ok || fail "a failed config created output_dir"
expect "skip_bad_rows counts and trains" 0 '1 bad rows skipped' env OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" \
  --train_dataset "$tmp/bad.jsonl" --skip_bad_rows true --per_device_train_batch_size 2 --output_dir "$tmp/skip"

# 4. Divergence: a huge learning rate makes the loss non-finite; ten bad
# steps in a row stop training with exit code 5.
expect "divergence stops" 5 "non-finite" env OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" --learning_rate 1e30 \
  --max_grad_norm 0 --num_train_epochs 20 --output_dir "$tmp/nan"
grep -Eq "rank 0: step [0-9]+: non-finite loss on rows [0-9 ]+.* of .*train.jsonl" "$tmp/e" && ok \
  || fail "a non-finite step does not name its rows: $(cat "$tmp/e")"

# 5. Two MPI ranks (global batch 2 x 4 = the single-rank batch of 8).
if mpirun --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1 "$stc" train "$tmp/cfg.json" \
     --per_device_train_batch_size 4 --output_dir "$tmp/mpi" >"$tmp/mo" 2>&1; then
  if [ -f "$tmp/mpi/model.safetensors" ] && [ -s "$tmp/mpi/log.jsonl" ]; then ok; else fail "mpirun run wrote no model/log"; fi
else fail "mpirun -np 2 train: $(tail -5 "$tmp/mo")"; fi

# 6. A rank dies during training: every rank exits non-zero within 60 s,
# mpirun names the rank, and no model is left in output_dir.
start=$(date +%s)
STC_FAULT_KILL_AFTER_STEPS=2 mpirun --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1 \
  -x STC_FAULT_KILL_AFTER_STEPS "$stc" train "$tmp/cfg.json" --per_device_train_batch_size 4 \
  --output_dir "$tmp/dead" >"$tmp/dead.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ $(( $(date +%s) - start )) -le 60 ] && ok || fail "a dead rank: exit $rc after $(( $(date +%s) - start )) s"
grep -q "rank 1" "$tmp/dead.log" && ok || fail "no message naming the dead rank: $(tail -3 "$tmp/dead.log")"
[ ! -e "$tmp/dead/model.safetensors" ] && ok || fail "a model was written by a failed run"

finish test_train_cli
