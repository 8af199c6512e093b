#!/usr/bin/env bash
# `stc train` of a Router model with router_mapping matches Sentence
# Transformers step for step.
#
# For each case in fixtures/router_train/ (written by
# tools/make_router_train_fixtures.py from SentenceTransformerTrainer runs
# with router_mapping), train the Router fixture (fixtures/router/model:
# query route = tiny BERT + mean pooling, document route = another tiny
# BERT + cls pooling + Dense, then Normalize) with dropout off in both
# routes, then compare with the Python reference, as test_train_parity.sh
# does for a model without a Router (the tolerances and why: see there):
#   - every logged step's loss (1e-5 relative), grad_norm (1e-4 relative),
#     learning_rate and every param group's learning rate (1e-12 relative),
#     epoch and step (exact); the number of param groups;
#   - per routed module with parameters (query_0_Transformer,
#     document_0_Transformer, document_2_Dense: <folder>/model.safetensors
#     of stc's output) every final parameter against the reference's
#     (final/<folder>.safetensors): every value to 1e-5 absolute, except
#     attention.self.key.bias (zero true gradient, Adam random-walks it on
#     rounding noise: bounded by 3 x the summed learning rates); the L2 norm
#     of each parameter's change to 5e-5 relative; parameters Python never
#     updates (the BERT poolers) bit-identical to the initial ones. The
#     reference keeps only the word embedding rows of the tokens the data
#     uses (expected.json "word_rows"); every other row must be the initial
#     row times Python's weight-decay factor ("decay"), to 1e-5 absolute;
#   - `stc encode --task query --prompt-name query` and `--task document
#     --prompt-name document` of the saved model on texts.txt against
#     Python's encode_query / encode_document of its trained model (1e-4
#     absolute).
# Cases: MNRL with a hard negative (anchor -> query, positive and negative
# -> document; a learning_rate_mapping pattern on the query route; warmup +
# linear schedule; weight decay), the same through CachedMNRL with
# mini_batch_size 4 < 16 rows (GradCache chunks per route), and CoSENT with
# sentence1 -> query, sentence2 -> document.
# Then config errors: an unknown task in router_mapping, a Router model
# trained without router_mapping, and a column without a task on a Router
# without a default route: exit 2, the message names router_mapping (and
# the column), nothing written.
#
# usage: test_router_train.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
export STC_TESTS_DIR=$PWD   # parity_common.py (run from tests/)
fix=$PWD/fixtures/router_train
model=$PWD/fixtures/router/model
. "$(dirname "$0")/lib.sh"

# A copy of the Router model with dropout 0 in every routed BERT, as
# tools/make_router_train_fixtures.py makes it.
nodropout_copy() { # dst
  cp -r "$model" "$1"
  $py - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
for sub in sorted(os.listdir(d)):
    p = os.path.join(d, sub, "config.json")
    if not sub.endswith("_Transformer") or not os.path.isfile(p):
        continue
    c = json.load(open(p))
    c["hidden_dropout_prob"] = 0.0
    c["attention_probs_dropout_prob"] = 0.0
    json.dump(c, open(p, "w"), indent=2)
PY
}

for dir in "$fix"/*/; do
  case=$(basename "$dir")
  [ -f "$dir/expected.json" ] || continue
  w=$tmp/$case
  mkdir -p "$w"
  nodropout_copy "$w/model"
  cp "$dir/config.json" "$dir/train.jsonl" "$fix/texts.txt" "$w/"
  if ! (cd "$w" && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$stc" train config.json >"$w/train.out" 2>&1); then
    fails=$((fails+1)); echo "FAIL: $case: stc train: $(tail -5 "$w/train.out")" >&2; continue
  fi
  enc_ok=1
  for task in query document; do
    if ! (cd "$w" && OMP_NUM_THREADS=1 "$stc" encode --model out --input texts.txt --output "emb_$task.h5" \
            --task $task --prompt-name $task >"$w/enc.out" 2>&1); then
      enc_ok=0; echo "FAIL: $case: stc encode --task $task: $(tail -5 "$w/enc.out")" >&2
    fi
  done
  [ $enc_ok -eq 1 ] || { fails=$((fails+1)); continue; }
  if $py - "$case" "$dir" "$w" <<'PY'
import json, os, struct, sys
import numpy as np
import h5py
sys.path.insert(0, os.environ["STC_TESTS_DIR"])
from parity_common import check_log, rel, safetensors

case, fdir, w = sys.argv[1:]
exp = json.load(open(os.path.join(fdir, "expected.json")))
verbose = os.environ.get("STC_PARITY_VERBOSE") == "1"
bad = []

# 1. The log, step by step.
steps = exp["steps"]
check_log(os.path.join(w, "out", "log.jsonl"), steps, case, bad)

# 2. The final parameters of each routed module, against the reference's.
lr_sum = sum(max(s["learning_rates"]) for s in steps)
wa = wd = kb = wr = 0.0
wa_at = wd_at = kb_at = wr_at = ""
by_mod = {}
for p in exp["params"]:
    by_mod.setdefault(p["module"], []).append(p)
for mod, plist in by_mod.items():
    init = safetensors(os.path.join(w, "model", mod, "model.safetensors"))
    fpath = os.path.join(w, "out", mod, "model.safetensors")
    if not os.path.isfile(fpath):
        bad.append(f"{mod}: stc saved no {mod}/model.safetensors")
        continue
    final = safetensors(fpath)
    rpath = os.path.join(fdir, "final", mod + ".safetensors")
    ref_w = safetensors(rpath) if os.path.isfile(rpath) else {}
    names = {p["name"] for p in plist}
    if set(final) != names:
        bad.append(f"{mod}: saved tensors differ from Python's: missing {sorted(names - set(final))}, "
                   f"extra {sorted(set(final) - names)}")
    moved = {p["name"] for p in plist if p["delta_norm"] != 0.0}
    if set(ref_w) != moved:
        bad.append(f"{rpath}: holds {sorted(ref_w)}, the trained parameters are {sorted(moved)}")
    rows = exp["word_rows"].get(mod)
    for p in plist:
        name, at = p["name"], f"{mod}/{p['name']}"
        if name not in final:
            continue
        t, t0 = final[name], init[name]
        if list(t.shape) != p["shape"]:
            bad.append(f"{at}: shape {list(t.shape)} != {p['shape']}")
            continue
        if p["delta_norm"] == 0.0:  # never updated in Python (no gradient)
            if not np.array_equal(t, t0):
                bad.append(f"{at}: changed, Python leaves it alone (max change {np.abs(t - t0).max():.3g})")
            continue
        if name not in ref_w:
            continue  # reported above
        ref = ref_w[name]
        if name == "embeddings.word_embeddings.weight" and rows is not None:
            # the reference holds the data's rows; the others only decay
            ids = np.array(rows["rows"], dtype=np.int64)
            rest = np.setdiff1d(np.arange(t.shape[0]), ids)
            d = float(np.abs(t[rest] - rows["decay"] * t0[rest]).max())
            if d > wr: wr, wr_at = d, at
            if d > 1e-5:
                bad.append(f"{at}: rows without gradient are {d:.3g} from the decayed initial rows")
            t = t[ids]
        if ref.shape != t.shape:
            bad.append(f"{at}: reference shape {list(ref.shape)} != {list(t.shape)}")
            continue
        d = float(np.abs(t - ref).max())
        if name.endswith(".attention.self.key.bias"):
            # Zero true gradient: Adam random-walks it on rounding noise
            # (see test_train_parity.sh); bounded by 3 x the summed lrs.
            if d > kb: kb, kb_at = d, at
            if d > 3 * lr_sum:
                bad.append(f"{at}: {d:.3g} from Python's, more than Adam noise can move it ({3 * lr_sum:.3g})")
            continue
        if d > wa: wa, wa_at = d, at
        r = rel(float(np.linalg.norm(final[name] - t0)), p["delta_norm"])
        if r > wd: wd, wd_at = r, at
        if verbose:
            print(f"    {at}: max abs {d:.3g} delta {r:.3g} (|delta| {p['delta_norm']:.3g}, norm {p['norm']:.3g})")
print(f"  {case}: final weights: worst max abs deviation {wa:.3g} ({wa_at})")
print(f"  {case}: change from the initial weights: worst relative deviation {wd:.3g} ({wd_at})")
print(f"  {case}: word embedding rows without gradient vs decayed initial rows: max abs {wr:.3g} ({wr_at})")
print(f"  {case}: attention.self.key.bias (zero gradient, Adam noise): max abs {kb:.3g} "
      f"(bound {3 * lr_sum:.3g}, {kb_at})")
if wa > 1e-5: bad.append(f"final weights deviate {wa:.3g} max abs ({wa_at})")
if wd > 5e-5: bad.append(f"weight change deviates {wd:.3g} relative ({wd_at})")

# 3. The trained model's embeddings per task.
for task in ("query", "document"):
    f = h5py.File(os.path.join(w, f"emb_{task}.h5"), "r")["embeddings"]
    e = f[:].astype(np.float64)
    ref = np.array(exp["embeddings"][task])
    if f.attrs["route"].decode() != task:
        bad.append(f"{task}: embeddings from route {f.attrs['route'].decode()}")
    if e.shape != ref.shape:
        bad.append(f"{task}: embeddings shape {e.shape} != {ref.shape}")
        continue
    d = float(np.abs(e - ref).max())
    print(f"  {case}: {task} embeddings: max abs deviation {d:.3g} (values up to {np.abs(ref).max():.3g})")
    if d > 1e-4: bad.append(f"{task} embeddings deviate {d:.3g}")

for b in bad:
    print(f"  {case}: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: $case" >&2; fi
done
[ $passes -gt 0 ] || { fails=$((fails+1)); echo "FAIL: no cases in $fix" >&2; }

# Config errors: exit 2, a message naming router_mapping and the column,
# nothing written.
expect() { # name code pattern cmd...
  local name=$1 code=$2 pat=$3; shift 3
  "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$tmp/e"; then passes=$((passes+1))
  else fails=$((fails+1)); echo "FAIL: $name: exit $rc: $(cat "$tmp/e")" >&2; fi
}
e=$tmp/errors
mkdir -p "$e"
cp "$fix/mnrl/train.jsonl" "$e/"
cp -r "$model" "$e/model"
printf '{"model": "model", "train_dataset": "train.jsonl", "output_dir": "none",
 "per_device_train_batch_size": 8, "max_steps": 1,
 "loss": {"type": "MultipleNegativesRankingLoss"},
 "router_mapping": {"anchor": "query", "positive": "document", "negative": "document"}}\n' >"$e/cfg.json"
cd "$e"
expect "unknown task" 2 'router_mapping: column "positive".*no route for task "doc"' \
  "$stc" train cfg.json --router_mapping '{"anchor": "query", "positive": "doc", "negative": "document"}'
expect "no router_mapping" 2 'the model has a Router, so "router_mapping" is required.*"query", "document"' "$stc" train cfg.json --router_mapping '{}'
# A Router without a default route: every column needs a task.
$py - model/router_config.json <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["parameters"]["default_route"] = None
c["parameters"]["allow_empty_key"] = False
json.dump(c, open(p, "w"), indent=4)
PY
expect "column without a task, no default route" 2 'router_mapping: column "negative".*default_route' \
  "$stc" train cfg.json --router_mapping '{"anchor": "query", "positive": "document"}'
[ ! -e none ] && passes=$((passes+1)) || { fails=$((fails+1)); echo "FAIL: a failed config created output_dir" >&2; }

finish test_router_train
