#!/usr/bin/env bash
# End-to-end `stc train` with the losses added after OnlineContrastiveLoss
# (MarginMSE, DistillKLDiv, Batch{All,Hard,SemiHard,HardSoftMargin}Triplet,
# MegaBatchMargin, GlobalOrthogonalRegularization, MatryoshkaLoss around one
# of them) on the tiny fixture model: each trains 3 steps on a generated
# dataset with the columns and label it needs, and its logged losses must be
# finite and change; GOR logs its two parts; two MPI ranks train the
# per-rank losses; a dataset that does not fit is refused before any work.
# GISTEmbedLoss and CachedGISTEmbedLoss train 3 steps with a guide of the
# model's tokenizer; guides stc cannot feed the model's tokens are refused.
# usage: test_losses_train.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
model=$PWD/fixtures/encode/tiny-bert

$py - "$tmp" <<'PY'
import json, os, random, sys
d = sys.argv[1]
rng = random.Random(7)
words = ["cat", "dog", "river", "mountain", "music", "guitar", "ocean", "forest", "city", "train", "bread", "snow"]
def sent(w, i):
    return f"a sentence about the {w} number {i} and {rng.choice(words)}"
def write(name, rows):
    with open(os.path.join(d, name), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
# one text column, integer class labels (12 classes of 4 rows)
write("classes.jsonl", [{"text": sent(words[i % 12], i), "label": i % 12} for i in range(48)])
# (query, positive, negative) with teacher scores [pos, neg], and with a margin
write("margin.jsonl", [{"query": sent(words[i % 12], i), "positive": f"{words[i % 12]} {i}",
                        "negative": f"{words[(i + 5) % 12]} {i}",
                        "label": [round(rng.uniform(5, 10), 3), round(rng.uniform(0, 5), 3)]} for i in range(48)])
write("margin1.jsonl", [{"query": sent(words[i % 12], i), "positive": f"{words[i % 12]} {i}",
                         "negative": f"{words[(i + 5) % 12]} {i}", "label": round(rng.uniform(1, 4), 3)}
                        for i in range(48)])
# (query, positive, negative_1, negative_2) with teacher scores [pos, neg_1, neg_2]
write("distill.jsonl", [{"query": sent(words[i % 12], i), "positive": f"{words[i % 12]} {i}",
                         "negative_1": f"{words[(i + 3) % 12]} {i}", "negative_2": f"{words[(i + 7) % 12]} {i}",
                         "label": [round(rng.uniform(3, 6), 3), round(rng.uniform(0, 3), 3),
                                   round(rng.uniform(-1, 2), 3)]} for i in range(48)])
# (anchor, positive) pairs
write("pairs.jsonl", [{"anchor": sent(words[i % 12], i), "positive": f"{words[i % 12]} {i}"} for i in range(48)])
PY

# train NAME DATASET LOSS_JSON [extra config JSON fields] [-- launcher prefix...]
train() {
  local name=$1 data=$2 loss=$3 extra=${4:-}
  shift 4 2>/dev/null || shift $#
  printf '{"model": "%s", "train_dataset": "%s", "loss": %s, "output_dir": "%s",
 "per_device_train_batch_size": 8, "max_steps": 3, "learning_rate": 1e-3, "logging_steps": 1,
 "save_strategy": "no"%s}\n' "$model" "$tmp/$data" "$loss" "$tmp/out-$name" "$extra" >"$tmp/$name.json"
  "$@" "$stc" train "$tmp/$name.json" >"$tmp/$name.out" 2>&1
}

# check NAME [PART...]: 3 logged steps, finite losses that change, the parts logged
check() {
  local name=$1; shift
  $py - "$tmp/out-$name/log.jsonl" "$@" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
assert [r["step"] for r in rows] == [1, 2, 3], rows
losses = [r["loss"] for r in rows]
assert all(math.isfinite(x) for x in losses), losses
assert len(set(losses)) > 1, f"the loss never changed: {losses}"
assert all(math.isfinite(r["grad_norm"]) for r in rows), rows
for part in sys.argv[2:]:
    assert all(math.isfinite(r["loss_" + part]) for r in rows), (part, rows)
print("   ", " ".join(f"{x:.6g}" for x in losses))
PY
}

run() { # NAME DATASET LOSS_JSON EXTRA [PARTS...]
  local name=$1 data=$2 loss=$3 extra=$4; shift 4
  if train "$name" "$data" "$loss" "$extra" env OMP_NUM_THREADS=1; then
    echo "  $name"
    if check "$name" "$@"; then ok; else fail "$name: log.jsonl"; fi
  else fail "$name: $(tail -5 "$tmp/$name.out")"; fi
}

by_label=', "batch_sampler": "group_by_label"'
run margin_mse_scores margin.jsonl '{"type": "MarginMSELoss"}' ''
run margin_mse_margin margin1.jsonl '{"type": "MarginMSELoss", "similarity_fct": "pairwise_cos_sim"}' ''
run distill_kl distill.jsonl '{"type": "DistillKLDivLoss", "temperature": 2.0}' ''
run batch_all classes.jsonl '{"type": "BatchAllTripletLoss", "margin": 5.0}' "$by_label"
run batch_hard classes.jsonl '{"type": "BatchHardTripletLoss", "margin": 5.0, "distance_metric": "eucledian_distance"}' "$by_label"
run batch_semi_hard classes.jsonl '{"type": "BatchSemiHardTripletLoss", "distance_metric": "cosine_distance", "margin": 0.5}' "$by_label"
run batch_hard_soft_margin classes.jsonl '{"type": "BatchHardSoftMarginTripletLoss"}' "$by_label"
run mega_batch pairs.jsonl '{"type": "MegaBatchMarginLoss", "mini_batch_size": 4}' ''
run gor pairs.jsonl '{"type": "GlobalOrthogonalRegularizationLoss"}' '' gor_mean gor_second_moment
run matryoshka_batch_all classes.jsonl '{"type": "MatryoshkaLoss", "loss": {"type": "BatchAllTripletLoss", "margin": 1.0}, "matryoshka_dims": [32, 16]}' "$by_label"

# Two ranks: each rank's own loss (no gathering), gradients averaged.
mpi=(mpirun --oversubscribe --allow-run-as-root -np 2 -x OMP_NUM_THREADS=1)
for spec in "batch_hard_mpi classes.jsonl BatchHardTripletLoss" "distill_kl_mpi distill.jsonl DistillKLDivLoss" \
            "gor_mpi pairs.jsonl GlobalOrthogonalRegularizationLoss"; do
  set -- $spec
  extra=''; [ "$3" = BatchHardTripletLoss ] && extra=$by_label
  if train "$1" "$2" "{\"type\": \"$3\"}" "$extra" "${mpi[@]}"; then
    echo "  $1 (2 ranks)"
    if check "$1"; then ok; else fail "$1: log.jsonl"; fi
  else fail "$1 (mpirun -np 2): $(tail -5 "$tmp/$1.out")"; fi
done

# A dataset that does not fit: exit code 2, the message says what is needed.
expect() { # name pattern dataset loss
  train "$1" "$3" "$4" '' env OMP_NUM_THREADS=1; local rc=$?
  if [ "$rc" -eq 2 ] && grep -Eq -- "$2" "$tmp/$1.out"; then ok; else fail "$1: exit $rc: $(cat "$tmp/$1.out")"; fi
}
expect wrong_columns 'BatchHardTripletLoss: needs 1 text column and an integer label' pairs.jsonl '{"type": "BatchHardTripletLoss"}'
expect wrong_label 'DistillKLDivLoss: needs a label per example with 2 teacher scores' margin1.jsonl '{"type": "DistillKLDivLoss"}'
expect unknown_key "MegaBatchMarginLoss has no argument 'margin'" pairs.jsonl '{"type": "MegaBatchMarginLoss", "margin": 1}'
expect matryoshka_gor 'MatryoshkaLoss cannot wrap GlobalOrthogonalRegularizationLoss' pairs.jsonl '{"type": "MatryoshkaLoss", "loss": {"type": "GlobalOrthogonalRegularizationLoss"}, "matryoshka_dims": [16]}'

# GISTEmbedLoss / CachedGISTEmbedLoss: a guide with the model's tokenizer
# trains; one with another vocabulary or a shorter max_seq_length (Python
# would re-tokenize for it) is refused, as are a missing guide and 4 columns.
guide=$PWD/fixtures/encode/tiny-bert-dense
run gist pairs.jsonl "{\"type\": \"GISTEmbedLoss\", \"guide\": \"$guide\"}" ''
run cached_gist margin.jsonl "{\"type\": \"CachedGISTEmbedLoss\", \"guide\": \"$guide\", \"mini_batch_size\": 5}" ''
cp -r "$guide" "$tmp/guide_short" && cp -r "$guide" "$tmp/guide_vocab"
$py - "$tmp" <<'PY'
import json, os, sys
d = sys.argv[1]
p = os.path.join(d, "guide_short", "sentence_bert_config.json")
c = json.load(open(p)); c["max_seq_length"] = 16; json.dump(c, open(p, "w"))
p = os.path.join(d, "guide_vocab", "tokenizer.json")
t = json.load(open(p)); v = t["model"]["vocab"]
k = next(k for k in v if k.isalpha() and len(k) > 3); v["zz" + k] = v.pop(k); json.dump(t, open(p, "w"))
p = os.path.join(d, "guide_vocab", "vocab.txt")
lines = open(p).read().split("\n"); lines[lines.index(k)] = "zz" + k; open(p, "w").write("\n".join(lines))
PY
expect gist_short 'shorter max_seq_length than the model.*does not do' pairs.jsonl "{\"type\": \"GISTEmbedLoss\", \"guide\": \"$tmp/guide_short\"}"
expect gist_vocab 'another tokenizer vocabulary than the model' pairs.jsonl "{\"type\": \"CachedGISTEmbedLoss\", \"guide\": \"$tmp/guide_vocab\"}"
expect gist_no_guide 'GISTEmbedLoss needs "guide"' pairs.jsonl '{"type": "GISTEmbedLoss"}'
expect gist_columns 'GISTEmbedLoss: needs at least 2 \(anchor, positive\)' distill.jsonl "{\"type\": \"GISTEmbedLoss\", \"guide\": \"$guide\"}"

# MegaBatchMarginLoss's mini-batched version is GradCache in the trainer (3
# texts embedded and back-propagated at a time): with dropout off it trains
# as the whole batch at once (use_mini_batched_version false), up to float
# rounding.
nodropout_model "$model" "$tmp/nd"
model=$tmp/nd
train mega_chunks pairs.jsonl '{"type": "MegaBatchMarginLoss", "mini_batch_size": 3}' ''
train mega_whole pairs.jsonl '{"type": "MegaBatchMarginLoss", "use_mini_batched_version": false}' ''
$py - "$tmp/out-mega_chunks/log.jsonl" "$tmp/out-mega_whole/log.jsonl" <<'PY' && ok || fail "MegaBatchMarginLoss: mini-batched != whole batch"
import json, sys
a, b = ([r["loss"] for r in map(json.loads, open(p))] for p in sys.argv[1:])
assert len(a) == 3 and all(abs(x - y) <= 1e-5 * abs(y) for x, y in zip(a, b)), (a, b)
PY

# A guide whose Pooling leaves prompts out (include_prompt false) behind a
# model whose Pooling keeps them: Python's collator then passes no prompt
# lengths, so the guide keeps the prompt too, and trains exactly as a guide
# that keeps it by its own setting.
cp -r "$guide" "$tmp/guide_np"
$py - "$tmp/guide_np/1_Pooling/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["include_prompt"] = False; json.dump(c, open(sys.argv[1], "w"), indent=4)
PY
train gist_p1 pairs.jsonl "{\"type\": \"GISTEmbedLoss\", \"guide\": \"$guide\"}" ', "prompts": {"anchor": "query: "}'
train gist_p2 pairs.jsonl "{\"type\": \"GISTEmbedLoss\", \"guide\": \"$tmp/guide_np\"}" ', "prompts": {"anchor": "query: "}'
cmp -s "$tmp/out-gist_p1/model.safetensors" "$tmp/out-gist_p2/model.safetensors" && ok \
  || fail "a guide's include_prompt false changed training behind a model that keeps prompts"

finish test_losses_train
