#!/usr/bin/env bash
# Checkpoints (RELIABILITY.md, "Checkpoints"): a run killed part-way and
# resumed from its last checkpoint ends with the same weights, bit for bit,
# and logs the same losses as a run never interrupted — on 1 and 2 ranks,
# mid-epoch and at an epoch boundary, with dropout on, with gradient
# accumulation, for a Router model; SIGTERM makes every
# rank checkpoint and exit 0; save_total_limit rotation; a corrupted
# checkpoint, a missing one, another global batch and a save_only_model
# checkpoint are refused with a clear message; another number of ranks with
# the same global batch resumes with the optimizer state re-sharded;
# leftovers of an interrupted save are removed.
# usage: test_checkpoint.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
model=$PWD/fixtures/encode/tiny-bert
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

make_pairs "$tmp/train.jsonl" 40
# 40 rows, batch 4: 10 steps an epoch, 20 in all; checkpoints every 4 steps
# (4 and 8 inside epoch 0, 12 and 16 inside epoch 1, 20 at the end);
# logged every 3 steps, so a checkpoint falls between two log lines.
printf '{"model": "%s", "train_dataset": "%s",
 "loss": {"type": "MultipleNegativesRankingLoss"}, "output_dir": "unset",
 "per_device_train_batch_size": 4, "num_train_epochs": 2, "learning_rate": 1e-3,
 "warmup_ratio": 0.1, "logging_steps": 3, "save_steps": 4, "batch_sampler": "no_duplicates"}\n' \
  "$model" "$tmp/train.jsonl" >"$tmp/cfg.json"

# same_run A B: identical final weights (bytes) and the same logged values.
same_run() {
  cmp -s "$1/model.safetensors" "$2/model.safetensors" || { echo "weights differ: $1 $2" >&2; return 1; }
  $py - "$1/log.jsonl" "$2/log.jsonl" <<'PY'
import json, sys
keys = ("step", "epoch", "loss", "grad_norm", "learning_rate", "learning_rates")
a = [{k: r[k] for k in keys} for r in map(json.loads, open(sys.argv[1]))]
b = [{k: r[k] for k in keys} for r in map(json.loads, open(sys.argv[2]))]
assert a == b, (a, b)
PY
}

# 1. One rank: the uninterrupted reference.
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/ref" 2>"$tmp/err" || fail "reference run: $(cat "$tmp/err")"
ls -d "$tmp"/ref/checkpoint-* | sed 's,.*/,,' | sort -V | tr '\n' ' ' >"$tmp/list"
[ "$(cat "$tmp/list")" = "checkpoint-4 checkpoint-8 checkpoint-12 checkpoint-16 checkpoint-20 " ] && ok \
  || fail "checkpoints written: $(cat "$tmp/list")"
# Every checkpoint is a model directory, and its manifest lists every file
# with its size.
$py - "$tmp/ref/checkpoint-12" <<'PY' && ok || fail "checkpoint-12 layout or manifest"
import json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["format"] == "stc-checkpoint" and m["global_step"] == 12 and m["world_size"] == 1, m
listed = {f["path"]: f["size"] for f in m["files"]}
present = {}
for root, _, files in os.walk(d):
    for f in files:
        p = os.path.relpath(os.path.join(root, f), d)
        if p != "manifest.json":
            present[p] = os.path.getsize(os.path.join(d, p))
assert listed == present, (listed, present)
for f in ("model.safetensors", "modules.json", "config.json", "tokenizer.json", "1_Pooling/config.json",
          "trainer_state.json", "stc_state.json", "training_config.json", "optimizer-rank00000-of-00001.bin"):
    assert f in listed, f
ts = json.load(open(os.path.join(d, "trainer_state.json")))
assert ts["global_step"] == 12 and abs(ts["epoch"] - 1.2) < 1e-12, ts
assert [h["step"] for h in ts["log_history"]] == [3, 6, 9, 12], ts["log_history"]
st = json.load(open(os.path.join(d, "stc_state.json")))
assert (st["epoch"], st["next_batch"]) == (1, 2), st
PY

# 2. Killed after 14 steps (SIGKILL: no chance to save), resumed from
# checkpoint-12 (mid-epoch): the same run.
STC_FAULT_KILL_AFTER_STEPS=14 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/k1" >/dev/null 2>&1 \
  && fail "the killed run exited 0"
[ -d "$tmp/k1/checkpoint-12" ] && [ ! -e "$tmp/k1/model.safetensors" ] && ok || fail "after the kill: $(ls "$tmp/k1")"
if "$stc" train "$tmp/cfg.json" --output_dir "$tmp/k1" --resume_from_checkpoint true 2>"$tmp/err"; then
  grep -q "resuming at step 12 (epoch 1, batch 2)" "$tmp/err" && ok || fail "resume message: $(cat "$tmp/err")"
  same_run "$tmp/ref" "$tmp/k1" && ok || fail "1 rank: resumed from checkpoint-12 differs from the uninterrupted run"
  cmp -s "$tmp/ref/checkpoint-16/optimizer-rank00000-of-00001.bin" "$tmp/k1/checkpoint-16/optimizer-rank00000-of-00001.bin" \
    && ok || fail "optimizer state at step 16 differs"
else fail "resume: $(cat "$tmp/err")"; fi

# 3. Resumed from an epoch boundary (checkpoint-10 of a run saving every 5).
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/ref5" --save_steps 5 2>/dev/null
mkdir -p "$tmp/e1" && cp -r "$tmp/ref5/checkpoint-10" "$tmp/e1/"
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/e1" --save_steps 5 --resume_from_checkpoint "$tmp/e1/checkpoint-10" \
  2>"$tmp/err" || fail "resume at the epoch boundary: $(cat "$tmp/err")"
same_run "$tmp/ref5" "$tmp/e1" && ok || fail "resumed at the epoch boundary differs"

# 4. SIGTERM after step 6: every rank saves checkpoint-7 and exits 0, no
# final model; resuming finishes the same run.
if STC_FAULT_SIGTERM_AFTER_STEPS=6 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/t1" 2>"$tmp/err"; then
  grep -q "SIGTERM: checkpoint-7 written" "$tmp/err" && [ -d "$tmp/t1/checkpoint-7" ] && [ ! -e "$tmp/t1/model.safetensors" ] \
    && ok || fail "SIGTERM: $(cat "$tmp/err"; ls "$tmp/t1")"
  "$stc" train "$tmp/cfg.json" --output_dir "$tmp/t1" --resume_from_checkpoint true 2>/dev/null
  same_run "$tmp/ref" "$tmp/t1" && ok || fail "resumed after SIGTERM differs"
else fail "SIGTERM run exited $?: $(cat "$tmp/err")"; fi

# 5. Two ranks: killed after 7 steps (checkpoint-6 of a save every 3),
# resumed on two ranks equals the uninterrupted two-rank run; a SIGTERM to
# one rank checkpoints both.
mpi 2 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/ref2" --save_steps 3 >/dev/null 2>&1 \
  || fail "2-rank reference run"
[ -f "$tmp/ref2/checkpoint-6/optimizer-rank00001-of-00002.bin" ] && ok || fail "2 ranks: no shard of rank 1"
STC_FAULT_KILL_AFTER_STEPS=7 mpi 2 -x STC_FAULT_KILL_AFTER_STEPS "$stc" train "$tmp/cfg.json" \
  --output_dir "$tmp/k2" --save_steps 3 >/dev/null 2>&1 && fail "2 ranks: the killed run exited 0"
mpi 2 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/k2" --save_steps 3 --resume_from_checkpoint true \
  >/dev/null 2>"$tmp/err" || fail "2 ranks: resume: $(cat "$tmp/err")"
same_run "$tmp/ref2" "$tmp/k2" && ok || fail "2 ranks: resumed run differs from the uninterrupted one"
STC_FAULT_SIGTERM_AFTER_STEPS=4 mpi 2 -x STC_FAULT_SIGTERM_AFTER_STEPS "$stc" train "$tmp/cfg.json" \
  --output_dir "$tmp/t2" --save_steps 3 >/dev/null 2>"$tmp/err" && [ -d "$tmp/t2/checkpoint-5" ] && ok \
  || fail "2 ranks: SIGTERM: $(cat "$tmp/err")"
mpi 2 "$stc" train "$tmp/cfg.json" --output_dir "$tmp/t2" --save_steps 3 --resume_from_checkpoint true \
  >/dev/null 2>&1
same_run "$tmp/ref2" "$tmp/t2" && ok || fail "2 ranks: resumed after SIGTERM differs"

# 6. Another number of ranks with the same global batch: the optimizer
# state is re-sharded and the run continues as the original would (with
# dropout off and negatives gathered across ranks, up to the float rounding
# of another reduction order); 2 ranks
# -> 1 and 1 -> 2. Another global batch is refused, naming both.
nodropout_model "$model" "$tmp/nd"
# gather_across_devices: 2 ranks x 4 then train exactly as 1 rank x 8.
nd=(--model "$tmp/nd" --save_steps 3 --loss '{"type": "MultipleNegativesRankingLoss", "gather_across_devices": true}')
mpi 2 "$stc" train "$tmp/cfg.json" "${nd[@]}" --output_dir "$tmp/nd2" >/dev/null 2>&1 || fail "2-rank run, dropout off"
"$stc" train "$tmp/cfg.json" "${nd[@]}" --per_device_train_batch_size 8 --output_dir "$tmp/nd1" 2>/dev/null || fail "1-rank run"
# close_run A B: final weights within 1e-5, logged losses within 1e-5
# relative. attention.self.key.bias is bounded apart (1e-3): its true
# gradient is exactly 0, so Adam random-walks it on rounding noise, which
# any change of reduction order redraws (see test_train_parity.sh).
close_run() {
  STC_TESTS_DIR=$PWD $py - "$1" "$2" <<'PY'
import json, os, sys
sys.path.insert(0, os.environ["STC_TESTS_DIR"])
from parity_common import safetensors
a, b = (safetensors(os.path.join(d, "model.safetensors")) for d in sys.argv[1:])
assert a.keys() == b.keys()
diff = {k: float(abs(a[k].astype("float64") - b[k]).max()) for k in a}
worst = max(v for k, v in diff.items() if "attention.self.key.bias" not in k)
walk = max(v for k, v in diff.items() if "attention.self.key.bias" in k)
assert worst <= 1e-5 and walk <= 1e-3, (worst, walk)
la, lb = ([r["loss"] for r in map(json.loads, open(os.path.join(d, "log.jsonl"))) if "loss" in r] for d in sys.argv[1:])
assert len(la) == len(lb) and all(abs(x - y) <= 1e-5 * abs(x) for x, y in zip(la, lb)), (la, lb)
PY
}
mkdir -p "$tmp/w21" && cp -r "$tmp/nd2/checkpoint-6" "$tmp/w21/"
"$stc" train "$tmp/cfg.json" "${nd[@]}" --per_device_train_batch_size 8 --output_dir "$tmp/w21" \
  --resume_from_checkpoint true 2>"$tmp/err" || fail "2 -> 1 rank resume: $(cat "$tmp/err")"
grep -q "written by 2 rank(s), this run has 1: optimizer state re-sharded" "$tmp/err" && close_run "$tmp/nd2" "$tmp/w21" \
  && ok || fail "2 ranks resumed on 1 differ from the uninterrupted run: $(cat "$tmp/err")"
mkdir -p "$tmp/w12" && cp -r "$tmp/nd1/checkpoint-6" "$tmp/w12/"
mpi 2 "$stc" train "$tmp/cfg.json" "${nd[@]}" --output_dir "$tmp/w12" --resume_from_checkpoint true \
  >/dev/null 2>"$tmp/err" || fail "1 -> 2 ranks resume: $(cat "$tmp/err")"
close_run "$tmp/nd1" "$tmp/w12" && ok || fail "1 rank resumed on 2 differs from the uninterrupted run"
"$stc" train "$tmp/cfg.json" "${nd[@]}" --output_dir "$tmp/w21" --resume_from_checkpoint "$tmp/nd2/checkpoint-6" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "global batch is 8 rows (2 rank(s) x 4), this run's 4 (1 x 4)" "$tmp/err" && ok \
  || fail "another global batch: rc $rc $(cat "$tmp/err")"

# 7. Rotation: save every 2 steps, keep 2.
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/rot" --save_steps 2 --save_total_limit 2 2>/dev/null
[ "$(ls -d "$tmp"/rot/checkpoint-* | sed 's,.*/,,' | sort -V | tr '\n' ' ')" = "checkpoint-18 checkpoint-20 " ] && ok \
  || fail "rotation kept: $(ls "$tmp/rot")"

# 8. A corrupted checkpoint (one byte flipped, same size) is refused, naming
# the file; a folder without manifest is not a checkpoint.
mkdir -p "$tmp/bad" && cp -r "$tmp/ref/checkpoint-8" "$tmp/bad/"
$py - "$tmp/bad/checkpoint-8/model.safetensors" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-5] ^= 0x40; open(p, "wb").write(b)
PY
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/bad" --resume_from_checkpoint true 2>"$tmp/err"
rc=$?
[ $rc -eq 3 ] && grep -q "checkpoint-8/model.safetensors: content does not match" "$tmp/err" && ok \
  || fail "corrupted checkpoint: rc $rc $(cat "$tmp/err")"
rm "$tmp/bad/checkpoint-8/manifest.json"
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/bad" --resume_from_checkpoint true 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "not a complete checkpoint" "$tmp/err" && grep -q "holds no complete checkpoint" "$tmp/err" && ok \
  || fail "checkpoint without manifest: rc $rc $(cat "$tmp/err")"

# 9. The leftover of an interrupted save is reported and removed.
mkdir -p "$tmp/stale/.tmp-checkpoint-3" && echo junk >"$tmp/stale/.tmp-checkpoint-3/model.safetensors"
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/stale" --max_steps 2 --save_strategy no 2>"$tmp/err"
[ ! -e "$tmp/stale/.tmp-checkpoint-3" ] && grep -q "leftover of an interrupted checkpoint save" "$tmp/err" && ok \
  || fail "stale temporary folder: $(cat "$tmp/err")"

# 10. save_only_model: a loadable model, no optimizer state, not resumable.
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/som" --max_steps 4 --save_steps 2 --save_only_model true 2>/dev/null
ls "$tmp/som/checkpoint-2" | grep -q optimizer && fail "save_only_model wrote optimizer state" || ok
"$stc" train "$tmp/cfg.json" --output_dir "$tmp/som" --max_steps 6 --resume_from_checkpoint true 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "saved with save_only_model" "$tmp/err" && ok || fail "save_only_model resume: rc $rc $(cat "$tmp/err")"

# 11. Best-model tracking with an eval_dataset: the best eval_loss's
# checkpoint survives rotation (save_total_limit 2), is named in
# trainer_state.json, and load_best_model_at_end makes it the final model;
# with save_total_limit 1 only it stays at the end. Whichever step wins is
# read from the log, so the test does not depend on how the loss moves.
head -12 "$tmp/train.jsonl" >"$tmp/dev.jsonl"
for limit in 2 1; do
  "$stc" train "$tmp/cfg.json" --output_dir "$tmp/best$limit" --eval_dataset "$tmp/dev.jsonl" --eval_strategy steps \
    --eval_steps 3 --save_steps 3 --max_steps 12 --load_best_model_at_end true --save_total_limit $limit \
    --per_device_eval_batch_size 5 2>"$tmp/err" || fail "best model run (limit $limit): $(cat "$tmp/err")"
  $py - "$tmp/best$limit" $limit <<'PY' && ok || fail "best model (save_total_limit $limit)"
import json, os, sys
out, limit = sys.argv[1], int(sys.argv[2])
evals = [r for r in map(json.loads, open(os.path.join(out, "log.jsonl"))) if "eval_loss" in r]
assert [r["step"] for r in evals] == [3, 6, 9, 12], evals
best = min(evals, key=lambda r: r["eval_loss"])["step"]   # strict: the first of equal values wins
left = sorted(int(d.split("-")[1]) for d in os.listdir(out) if d.startswith("checkpoint-"))
want = [best] if limit == 1 else sorted({best, 12})
assert left == want, (left, want, best)
ts = json.load(open(os.path.join(out, f"checkpoint-{left[-1]}", "trainer_state.json")))
assert ts["best_global_step"] == best and ts["best_model_checkpoint"].endswith(f"checkpoint-{best}"), ts
assert ts["best_metric"] == min(r["eval_loss"] for r in evals)
final = open(os.path.join(out, "model.safetensors"), "rb").read()
assert final == open(os.path.join(out, f"checkpoint-{best}", "model.safetensors"), "rb").read()
PY
done

# 12. A Router model (weights in one folder per routed module) resumes
# exactly too.
rmodel=$PWD/fixtures/router/model
rcfg=$PWD/fixtures/router_train/mnrl/config.json
rargs=(--model "$rmodel" --train_dataset "$PWD/fixtures/router_train/mnrl/train.jsonl" --save_strategy steps
       --save_steps 5 --per_device_train_batch_size 4 --max_steps 12 --logging_steps 3)
"$stc" train "$rcfg" "${rargs[@]}" --output_dir "$tmp/rref" 2>/dev/null || fail "Router reference run"
STC_FAULT_KILL_AFTER_STEPS=7 "$stc" train "$rcfg" "${rargs[@]}" --output_dir "$tmp/rk" >/dev/null 2>&1
"$stc" train "$rcfg" "${rargs[@]}" --output_dir "$tmp/rk" --resume_from_checkpoint true 2>"$tmp/err" \
  || fail "Router resume: $(cat "$tmp/err")"
n=0
for f in $(cd "$tmp/rref" && find . -name model.safetensors -not -path "./checkpoint-*"); do
  n=$((n+1)); cmp -s "$tmp/rref/$f" "$tmp/rk/$f" || fail "Router resume: $f differs"
done
[ $n -eq 3 ] && ok || fail "Router model: $n weight files"

# 13. A real SIGTERM sent to mpirun (as a scheduler's preemption does):
# Open MPI forwards it to every rank; they checkpoint together, and no final
# model is written. (mpirun itself then exits non-zero.)
# (mpirun itself, not the mpi function: $! must be mpirun's pid)
mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 -x OMP_NUM_THREADS=1 \
  "$stc" train "$tmp/cfg.json" --output_dir "$tmp/sig" --num_train_epochs 1000 --save_steps 1000000 \
  >"$tmp/sig.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "stc train: .* steps" "$tmp/sig.log" 2>/dev/null && break; sleep 0.1; done
sleep 1
kill -TERM $pid
wait $pid
ls -d "$tmp"/sig/checkpoint-* >/dev/null 2>&1 && [ -f "$(ls -d "$tmp"/sig/checkpoint-* | head -1)/manifest.json" ] \
  && [ ! -e "$tmp/sig/model.safetensors" ] && grep -q "SIGTERM: checkpoint-" "$tmp/sig.log" && ok \
  || fail "SIGTERM to mpirun: $(tail -5 "$tmp/sig.log"; ls "$tmp/sig")"

# 14. Gradient accumulation (3 micro-batches a step, 10 batches an epoch:
# steps of 3, 3, 3, 1 batches): resumed mid-epoch (checkpoint-2, batch 6)
# and at the epoch's end (checkpoint-4), bit for bit.
ga=(--gradient_accumulation_steps 3 --save_steps 2 --logging_steps 1)
"$stc" train "$tmp/cfg.json" "${ga[@]}" --output_dir "$tmp/ga" 2>/dev/null || fail "GA reference run"
for k in 3 5; do
  STC_FAULT_KILL_AFTER_STEPS=$k "$stc" train "$tmp/cfg.json" "${ga[@]}" --output_dir "$tmp/ga$k" >/dev/null 2>&1
  "$stc" train "$tmp/cfg.json" "${ga[@]}" --output_dir "$tmp/ga$k" --resume_from_checkpoint true 2>"$tmp/err" \
    || fail "GA resume after $k: $(cat "$tmp/err")"
  same_run "$tmp/ga" "$tmp/ga$k" && ok || fail "GA: resumed after a kill at step $k differs"
done

finish test_checkpoint
