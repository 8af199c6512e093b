#!/usr/bin/env bash
# N ranks equal 1 rank with the same global batch: with gather_across_devices
# every anchor sees every rank's candidates, so 2 ranks x 8 rows train exactly
# like 1 rank x 16 rows (per-step loss within 1e-5 relative, final weights
# within 1e-5 max abs), for MultipleNegativesRankingLoss with a hard-negative
# column and for CachedMultipleNegativesRankingLoss with mini_batch_size 4;
# and 3 ranks x 5 like 1 rank x 15 (uneven: 16 rows, the last global batch
# dropped, as under DDP). CoSENTLoss and AnglELoss (one logsumexp over all
# pairs: scores gathered across ranks by default) likewise, 2 ranks x 8 =
# 1 rank x 16 and 3 ranks x 5 = 1 rank x 15, while "gather_across_devices":
# false (Sentence Transformers' per-rank losses) must differ. The training
# runs compare every logged loss field, so named loss components are
# checked as averaged across ranks too. A Router model with router_mapping
# and gathering: 2 ranks x 8 = 1 rank x 16 (every route's weights compared).
# GISTEmbedLoss and CachedGISTEmbedLoss with gathering: 2 ranks x 8 = 1 rank
# x 16 without contrast_anchors (anchors are never gathered, as in Python);
# with it, the runs must differ.
# Dropout off; the tiny fixture model, the Router fixture model and the
# mnrl and cosent training fixtures (tests/fixtures/).
# usage: test_dist_train.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
nodropout_model fixtures/encode/tiny-bert "$tmp/model"
cp fixtures/train/mnrl/config.json fixtures/train/mnrl/train.jsonl "$tmp/"
cp fixtures/train/cosent/config.json "$tmp/cosent.json"
cp fixtures/train/cosent/train.jsonl "$tmp/cosent.jsonl"
fixtures=$PWD/fixtures
cd "$tmp" || exit 1

# compare NAME DIR1 DIR2: logs and final weights of two runs agree.
compare() {
  if $py - "$2" "$3" <<'PY'; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: $1" >&2; fi
import json, os, struct, sys
import numpy as np
def log(d): return [json.loads(l) for l in open(d + "/log.jsonl")]
def weights(d):
    # every module's weights: model.safetensors at the root and in module
    # folders (a Router model's routes, Dense), keyed "folder/tensor"
    out = {}
    for root, _, files in os.walk(d):
        if "model.safetensors" not in files:
            continue
        raw = open(os.path.join(root, "model.safetensors"), "rb").read(); (n,) = struct.unpack("<Q", raw[:8])
        head = json.loads(raw[8:8 + n])
        for k, v in head.items():
            if k != "__metadata__":
                b, e = v["data_offsets"]
                out[os.path.relpath(root, d) + "/" + k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.float32)
    assert out, d
    return out
a, b = log(sys.argv[1]), log(sys.argv[2])
assert len(a) == len(b) and len(a) >= 5, (len(a), len(b))
keys = [k for k in a[0] if k.startswith("loss")]
assert all(set(k for k in x if k.startswith("loss")) == set(keys) for x in a + b), "loss fields differ"
worst = max(abs(x[k] - y[k]) / abs(x[k]) for x, y in zip(a, b) for k in keys)
wa, wb = weights(sys.argv[1]), weights(sys.argv[2])
assert wa.keys() == wb.keys()
# attention.self.key.bias: its true gradient is exactly zero (softmax ignores
# a per-query constant), so Adam turns rounding noise into lr-sized steps.
wmax = max(np.abs(wa[k] - wb[k]).max() for k in wa if "attention.self.key.bias" not in k)
print(f"  loss rel {worst:.2e}, weights max abs {wmax:.2e}")
assert worst <= 1e-5 and wmax <= 1e-5
PY
}

gather='{"type": "MultipleNegativesRankingLoss", "gather_across_devices": true}'
OMP_NUM_THREADS=1 "$stc" train config.json --output_dir one --max_steps 20 --loss "$gather" 2>/dev/null
mpi 2 "$stc" train config.json --output_dir two --max_steps 20 --loss "$gather" --per_device_train_batch_size 8 >mpi.out 2>&1 \
  || { fails=$((fails+1)); echo "FAIL: mpirun -np 2: $(tail -3 mpi.out)" >&2; }
compare "MNRL + hard negative, gather: 2 ranks x 8 = 1 rank x 16" one two

cached='{"type": "CachedMultipleNegativesRankingLoss", "mini_batch_size": 4, "gather_across_devices": true}'
OMP_NUM_THREADS=1 "$stc" train config.json --output_dir c1 --max_steps 20 --loss "$cached" 2>/dev/null
mpi 2 "$stc" train config.json --output_dir c2 --max_steps 20 --loss "$cached" --per_device_train_batch_size 8 >mpi.out 2>&1 \
  || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 cached: $(tail -3 mpi.out)" >&2; }
compare "CachedMNRL mini_batch_size 4, gather: 2 ranks x 8 = 1 rank x 16" c1 c2

OMP_NUM_THREADS=1 "$stc" train config.json --output_dir u1 --max_steps 20 --loss "$gather" \
  --per_device_train_batch_size 15 --dataloader_drop_last true 2>/dev/null
mpi 3 "$stc" train config.json --output_dir u3 --max_steps 20 --loss "$gather" --per_device_train_batch_size 5 >mpi.out 2>&1 \
  || { fails=$((fails+1)); echo "FAIL: mpirun -np 3: $(tail -3 mpi.out)" >&2; }
compare "uneven: 3 ranks x 5 = 1 rank x 15 (16 rows, last batch dropped)" u1 u3

# (c) CoSENTLoss / AnglELoss: 20 rows, so one global batch of 16 (or 15) per
# epoch; the one-rank runs drop the rest as DDP does.
for loss in CoSENTLoss AnglELoss; do
  spec="{\"type\": \"$loss\"}"
  OMP_NUM_THREADS=1 "$stc" train cosent.json --train_dataset cosent.jsonl --output_dir p1-$loss --max_steps 20 \
    --loss "$spec" --per_device_train_batch_size 16 --dataloader_drop_last true 2>/dev/null
  mpi 2 "$stc" train cosent.json --train_dataset cosent.jsonl --output_dir p2-$loss --max_steps 20 --loss "$spec" \
    --per_device_train_batch_size 8 >mpi.out 2>&1 || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 $loss: $(tail -3 mpi.out)" >&2; }
  compare "$loss, scores gathered: 2 ranks x 8 = 1 rank x 16" p1-$loss p2-$loss
done
OMP_NUM_THREADS=1 "$stc" train cosent.json --train_dataset cosent.jsonl --output_dir q1 --max_steps 20 \
  --loss '{"type": "CoSENTLoss"}' --per_device_train_batch_size 15 --dataloader_drop_last true 2>/dev/null
mpi 3 "$stc" train cosent.json --train_dataset cosent.jsonl --output_dir q3 --max_steps 20 --loss '{"type": "CoSENTLoss"}' \
  --per_device_train_batch_size 5 >mpi.out 2>&1 || { fails=$((fails+1)); echo "FAIL: mpirun -np 3 CoSENT: $(tail -3 mpi.out)" >&2; }
compare "CoSENTLoss, scores gathered: 3 ranks x 5 = 1 rank x 15" q1 q3
mpi 2 "$stc" train cosent.json --train_dataset cosent.jsonl --output_dir n2 --max_steps 20 \
  --loss '{"type": "CoSENTLoss", "gather_across_devices": false}' --per_device_train_batch_size 8 >mpi.out 2>&1 \
  || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 CoSENT without gathering: $(tail -3 mpi.out)" >&2; }
if $py - p1-CoSENTLoss n2 <<'PY'; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: CoSENT gather_across_devices false is per-rank" >&2; fi
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(d + "/log.jsonl")] for d in sys.argv[1:])
# the mean of two batch-8 logsumexps is not the batch-16 one
print(f"  per-rank CoSENT step 1: {b[0]:.6f} vs gathered {a[0]:.6f}")
assert len(a) == len(b) and abs(a[0] - b[0]) > 1e-3 * abs(a[0])
PY

# A Router model (router_mapping: anchors through the query route, the
# rest through the document route), gather: 2 ranks x 8 = 1 rank x 16.
cp -r "$fixtures/router/model" router
for f in router/*_Transformer/config.json; do
  $py - "$f" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["hidden_dropout_prob"] = 0.0; c["attention_probs_dropout_prob"] = 0.0
json.dump(c, open(sys.argv[1], "w"))
PY
done
routes='{"anchor": "query", "positive": "document", "negative": "document"}'
OMP_NUM_THREADS=1 "$stc" train config.json --model router --router_mapping "$routes" --output_dir r1 --max_steps 20 \
  --loss "$gather" 2>/dev/null
mpi 2 "$stc" train config.json --model router --router_mapping "$routes" --output_dir r2 --max_steps 20 --loss "$gather" \
  --per_device_train_batch_size 8 >mpi.out 2>&1 || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 router: $(tail -3 mpi.out)" >&2; }
compare "Router model (router_mapping), gather: 2 ranks x 8 = 1 rank x 16" r1 r2

# GISTEmbedLoss and CachedGISTEmbedLoss (guide: tiny-bert-dense), gather:
# every rank's candidates and the guide's embeddings of them. Python never
# gathers the anchors, so each rank's anchor-anchor block holds only its own
# anchors: with contrast_anchors off 2 ranks x 8 = 1 rank x 16, with it on
# (the default) the runs must differ.
cp -r "$fixtures/encode/tiny-bert-dense" guide
for loss in GISTEmbedLoss CachedGISTEmbedLoss; do
  spec="{\"type\": \"$loss\", \"guide\": \"guide\", \"temperature\": 0.05, \"contrast_anchors\": false,
         \"gather_across_devices\": true$([ $loss = CachedGISTEmbedLoss ] && echo ', "mini_batch_size": 4, "margin_strategy": "relative", "margin": -0.1')}"
  OMP_NUM_THREADS=1 "$stc" train config.json --output_dir g1-$loss --max_steps 20 --loss "$spec" 2>/dev/null
  mpi 2 "$stc" train config.json --output_dir g2-$loss --max_steps 20 --loss "$spec" --per_device_train_batch_size 8 \
    >mpi.out 2>&1 || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 $loss: $(tail -3 mpi.out)" >&2; }
  compare "$loss, gather, no contrast_anchors: 2 ranks x 8 = 1 rank x 16" g1-$loss g2-$loss
done
spec='{"type": "GISTEmbedLoss", "guide": "guide", "temperature": 0.05, "gather_across_devices": true}'
OMP_NUM_THREADS=1 "$stc" train config.json --output_dir ga1 --max_steps 2 --loss "$spec" 2>/dev/null
mpi 2 "$stc" train config.json --output_dir ga2 --max_steps 2 --loss "$spec" --per_device_train_batch_size 8 >mpi.out 2>&1 \
  || { fails=$((fails+1)); echo "FAIL: mpirun -np 2 GIST contrast_anchors: $(tail -3 mpi.out)" >&2; }
if $py - ga1 ga2 <<'PY'; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: GIST contrast_anchors is per rank" >&2; fi
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(d + "/log.jsonl")] for d in sys.argv[1:])
print(f"  GIST with contrast_anchors, step 1: 2 ranks {b[0]:.6f} vs 1 rank {a[0]:.6f} (local anchor-anchor blocks)")
assert len(a) == len(b) == 2 and abs(a[0] - b[0]) > 1e-4 * abs(a[0])
PY

finish test_dist_train
