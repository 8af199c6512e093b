#!/usr/bin/env bash
# `stc train` matches Sentence Transformers step for step.
#
# For each case in fixtures/train/ (written by tools/make_train_fixtures.py
# from SentenceTransformerTrainer runs), train tiny-bert with dropout off
# on the case's config and dataset, then compare with the Python reference:
#   - every logged step's loss (1e-5 relative), grad_norm (1e-4 relative),
#     learning_rate and every param group's learning rate (1e-12 relative),
#     epoch and step (exact); the number of param groups;
#   - every final parameter (root model.safetensors key) against the
#     reference's final weights (the case's final.safetensors): every value
#     to 1e-5 absolute, except attention.self.key.bias (see below); the L2
#     norm of each parameter's change from the initial weights to 5e-5
#     relative; parameters Python never updates (BERT's pooler) must be
#     bit-identical to the initial ones;
#   - `stc encode` of the saved model on fixtures/train/texts.txt against
#     Python's model.encode of its trained model (1e-4 absolute).
# The cases run 30 optimizer steps: MNRL with a hard-negative column,
# CachedMNRL on the same rows and settings with mini_batch_size 4 < 16 rows
# (GradCache; identical to MNRL up to rounding), MatryoshkaLoss(MNRL),
# CoSENT, GISTEmbedLoss and CachedGISTEmbedLoss (guide: tiny-bert-dense, a
# second tiny model with a Dense layer, dropout off); linear/cosine/constant schedules with warmup, weight decay, and
# learning_rate_mapping patterns.
# Each row of a case's dataset is in the single batch of every step (batch
# size = rows) and the losses are permutation-invariant, so stc's sampler
# order, which is not torch's, cannot matter.
#
# Why the tolerances: stc and torch sum in different orders (BLAS kernels,
# padding lengths, the batch order), so each step differs by float32
# rounding (~1e-7 relative); Adam divides by sqrt(v) + eps, which amplifies
# differences in gradient entries near eps = 1e-8: an element whose first
# gradients are ~1e-8 (one per case or so, by chance) ends up to ~lr x
# (gradient rounding) / eps apart, a few 1e-6 with the fixtures' learning
# rates (see tools/make_train_fixtures.py), the rest a few 1e-7; the
# relative drift of the weights' *changes* is larger than that of the
# weights themselves, whose change is small against their size.
# attention.self.key.bias is the exception: its true gradient is exactly 0
# (softmax over keys is invariant to adding the per-query constant q.b_k to
# every score), so each program's computed gradient is pure rounding noise
# (~1e-9), which Adam normalizes (m / sqrt(v)) into steps of up to ~lr in a
# direction set by that noise: the bias random-walks by ~lr per step in
# both programs independently, and no implementation could reproduce
# torch's walk. It is bounded by 3 x the summed learning rates instead.
#
# usage: test_train_parity.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
source ./lib.sh      # tmp, py, nodropout_model
export STC_TESTS_DIR=$PWD   # parity_common.py (run from tests/)
fix=$PWD/fixtures/train
model=$PWD/fixtures/encode/tiny-bert

for dir in "$fix"/*/; do
  case=$(basename "$dir")
  [ -f "$dir/expected.json" ] || continue
  w=$tmp/$case
  mkdir -p "$w"
  # Dropout off (stc's masks can never be torch's).
  nodropout_model "$model" "$w/model"
  # GIST cases: the guide, a second tiny model (stc runs it without dropout;
  # the reference's copy has dropout off too).
  if grep -q '"guide"' "$dir/config.json"; then
    nodropout_model "$PWD/fixtures/encode/tiny-bert-dense" "$w/guide"
  fi
  cp "$dir/config.json" "$dir/train.jsonl" "$fix/texts.txt" "$w/"
  if ! (cd "$w" && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$stc" train config.json >"$w/train.out" 2>&1); then
    fails=$((fails+1)); echo "FAIL: $case: stc train: $(tail -5 "$w/train.out")" >&2; continue
  fi
  if ! (cd "$w" && OMP_NUM_THREADS=1 "$stc" encode --model out --input texts.txt --output emb.h5 >"$w/enc.out" 2>&1); then
    fails=$((fails+1)); echo "FAIL: $case: stc encode: $(tail -5 "$w/enc.out")" >&2; continue
  fi
  if $py - "$case" "$dir/expected.json" "$dir/final.safetensors" "$w/out/log.jsonl" "$model/model.safetensors" \
       "$w/out/model.safetensors" "$w/emb.h5" <<'PY'
import json, os, struct, sys
import numpy as np
import h5py
sys.path.insert(0, os.environ["STC_TESTS_DIR"])
from parity_common import check_log, rel, safetensors

case, exp_path, ref_path, log_path, init_path, final_path, emb_path = sys.argv[1:]
exp = json.load(open(exp_path))
verbose = os.environ.get("STC_PARITY_VERBOSE") == "1"
bad = []

# 1. The log, step by step.
steps = exp["steps"]
check_log(log_path, steps, case, bad)

# 2. The final parameters, against the reference's final weights (every
# parameter training changed; the others must equal the initial weights).
init, final = safetensors(init_path), safetensors(final_path)
ref_w = safetensors(ref_path)
lr_sum = sum(max(s["learning_rates"]) for s in steps)
wa = wd = kb = 0.0
wa_at = wd_at = kb_at = ""
names = {p["name"] for p in exp["params"]}
if set(final) != names:
    bad.append(f"saved tensors differ from Python's: missing {sorted(names - set(final))}, "
               f"extra {sorted(set(final) - names)}")
moved = {p["name"] for p in exp["params"] if p["delta_norm"] != 0.0}
if set(ref_w) != moved:
    bad.append(f"{ref_path}: holds {sorted(ref_w)}, the trained parameters are {sorted(moved)}")
for p in exp["params"]:
    name = p["name"]
    if name not in final:
        continue
    t, t0 = final[name], init[name]
    if list(t.shape) != p["shape"]:
        bad.append(f"{name}: shape {list(t.shape)} != {p['shape']}")
        continue
    if p["delta_norm"] == 0.0:  # never updated in Python (no gradient)
        if not np.array_equal(t, t0):
            bad.append(f"{name}: changed, Python leaves it alone (max change {np.abs(t - t0).max():.3g})")
        continue
    if name not in ref_w or ref_w[name].shape != t.shape:
        continue  # reported above
    d = float(np.abs(t - ref_w[name]).max())
    if name.endswith(".attention.self.key.bias"):
        # Zero true gradient: Adam random-walks it on rounding noise (see
        # the head of this file); bounded by 3 x the summed lrs only.
        if d > kb: kb, kb_at = d, name
        if d > 3 * lr_sum:
            bad.append(f"{name}: {d:.3g} from Python's, more than Adam noise can move it ({3 * lr_sum:.3g})")
        continue
    if d > wa: wa, wa_at = d, name
    r = rel(float(np.linalg.norm(t - t0)), p["delta_norm"])
    if r > wd: wd, wd_at = r, name
    if verbose:
        print(f"    {name}: max abs {d:.3g} delta {r:.3g} (|delta| {p['delta_norm']:.3g}, "
              f"norm {p['norm']:.3g})")
print(f"  {case}: final weights: worst max abs deviation {wa:.3g} ({wa_at})")
print(f"  {case}: change from the initial weights: worst relative deviation {wd:.3g} ({wd_at})")
print(f"  {case}: attention.self.key.bias (zero gradient, Adam noise): max abs {kb:.3g} "
      f"(bound {3 * lr_sum:.3g}, {kb_at})")
if wa > 1e-5: bad.append(f"final weights deviate {wa:.3g} max abs ({wa_at})")
if wd > 5e-5: bad.append(f"weight change deviates {wd:.3g} relative ({wd_at})")

# 3. The trained model's embeddings.
e = h5py.File(emb_path, "r")["embeddings"][:].astype(np.float64)
ref = np.array(exp["embeddings"])
if e.shape != ref.shape:
    bad.append(f"embeddings shape {e.shape} != {ref.shape}")
else:
    d = float(np.abs(e - ref).max())
    print(f"  {case}: embeddings: max abs deviation {d:.3g} (values up to {np.abs(ref).max():.3g})")
    if d > 1e-4: bad.append(f"embeddings deviate {d:.3g}")

for b in bad:
    print(f"  {case}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: $case" >&2; fi
done

[ $((passes + fails)) -gt 0 ] || { echo "FAIL: no cases in $fix" >&2; exit 1; }
echo "test_train_parity: $passes cases passed, $fails failed"
[ "$fails" -eq 0 ]
