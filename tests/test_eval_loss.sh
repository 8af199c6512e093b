#!/usr/bin/env bash
# The eval loss (eval_dataset) during `stc train`:
#   - Python parity: fixtures/train/eval/ (tools/make_train_fixtures.py) holds
#     SentenceTransformerTrainer's eval_loss before training and after each
#     evaluated step for MNRL and CoSENT, on the tiny model with dropout off;
#     stc's must agree to 1e-5 relative;
#   - ranks: for a loss that is a mean over rows (CosineSimilarityLoss), 2 ranks
#     x per-device eval batch 3 give 1 rank x 6's eval_loss (each rank scores
#     its own slice; the weighted mean is over all rows);
#   - a dict of eval datasets logs eval_<name>_loss for each;
#   - a config error: eval_strategy "steps" without eval_dataset or evaluator.
# usage: test_eval_loss.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
model=$PWD/fixtures/encode/tiny-bert
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# tiny-bert with dropout off: Python's reference ran so, and ranks draw
# different masks than one rank.
nodropout_model "$model" "$tmp/model"

# 1. Python parity.
fix=$PWD/fixtures/train/eval
if [ -d "$fix" ]; then
  for case in "$fix"/*/; do
    name=$(basename "$case")
    # On a copy: the row index stc caches beside a dataset stays out of the source tree.
    cp -r "$case" "$tmp/case-$name"
    (cd "$tmp/case-$name" && "$stc" train config.json --model "$tmp/model" --output_dir "$tmp/py-$name" 2>"$tmp/err") \
      || { fail "$name: $(cat "$tmp/err")"; continue; }
    $py - "$case/expected.json" "$tmp/py-$name/log.jsonl" <<'PY' && ok || fail "$name: eval_loss differs from Python"
import json, sys
exp = json.load(open(sys.argv[1]))["eval"]
got = [r for r in map(json.loads, open(sys.argv[2])) if any(k.endswith("loss") and k.startswith("eval_") for k in r)]
assert [r["step"] for r in got] == [e["step"] for e in exp], (got, exp)
for g, e in zip(got, exp):
    for k, v in e.items():
        if k.startswith("eval_") and k.endswith("loss"):
            assert abs(g[k] - v) <= 1e-5 * abs(v), (g["step"], k, g[k], v)
print("max rel diff", max(abs(g[k] - e[k]) / abs(e[k]) for g, e in zip(got, exp) for k in e if k.endswith("loss") and k.startswith("eval_")))
PY
  done
else
  fail "fixtures/train/eval missing (tools/make_train_fixtures.py writes it)"
fi

# 2. Ranks, for a per-row loss.
$py - "$tmp/sim.jsonl" "$tmp/sim-dev.jsonl" <<'PY'
import json, sys
words = ["cat", "dog", "river", "mountain", "music", "guitar", "ocean", "forest", "city", "train"]
for path, n, off in ((sys.argv[1], 24, 0), (sys.argv[2], 14, 5)):
    with open(path, "w") as f:
        for i in range(n):
            w, v = words[(i + off) % 10], words[(3 * i + off) % 10]
            f.write(json.dumps({"sentence1": f"a note on the {w} {i}", "sentence2": f"the {v} and more {i}",
                                "score": ((i * 7 + off) % 11) / 10.0}) + "\n")
PY
printf '{"model": "%s", "train_dataset": "%s", "eval_dataset": "%s", "loss": {"type": "CosineSimilarityLoss"},
 "output_dir": "unset", "per_device_train_batch_size": 4, "max_steps": 2, "learning_rate": 1e-3,
 "eval_strategy": "steps", "eval_steps": 2, "eval_on_start": true, "save_strategy": "no"}\n' \
  "$tmp/model" "$tmp/sim.jsonl" "$tmp/sim-dev.jsonl" >"$tmp/sim.json"
"$stc" train "$tmp/sim.json" --output_dir "$tmp/r1" --per_device_eval_batch_size 6 2>"$tmp/err" || fail "1 rank: $(cat "$tmp/err")"
mpi 2 "$stc" train "$tmp/sim.json" --output_dir "$tmp/r2" --per_device_eval_batch_size 3 \
  --per_device_train_batch_size 2 >/dev/null 2>"$tmp/err" || fail "2 ranks: $(cat "$tmp/err")"
$py - "$tmp/r1/log.jsonl" "$tmp/r2/log.jsonl" <<'PY' && ok || fail "2 ranks x 3 eval rows != 1 rank x 6"
import json, sys
a = [r["eval_loss"] for r in map(json.loads, open(sys.argv[1])) if "eval_loss" in r]
b = [r["eval_loss"] for r in map(json.loads, open(sys.argv[2])) if "eval_loss" in r]
assert len(a) == 2 and len(b) == 2, (a, b)
# Step 0: the same model. Step 2: 2 ranks x 2 = 1 rank x 4 trained the same.
for x, y in zip(a, b):
    assert abs(x - y) <= 1e-6 * abs(x), (a, b)
PY

# 3. A dict of eval datasets.
"$stc" train "$tmp/sim.json" --output_dir "$tmp/d" --eval_dataset "{\"a\": \"$tmp/sim-dev.jsonl\", \"b\": \"$tmp/sim.jsonl\"}" \
  --max_steps 1 --eval_on_start false --eval_steps 1 2>"$tmp/err" || fail "eval dict: $(cat "$tmp/err")"
grep -q '"eval_a_loss"' "$tmp/d/log.jsonl" && grep -q '"eval_b_loss"' "$tmp/d/log.jsonl" && ok \
  || fail "eval dict: $(cat "$tmp/d/log.jsonl")"

# 4. eval_strategy without anything to evaluate.
"$stc" train "$tmp/sim.json" --output_dir "$tmp/e" --eval_dataset null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "needs an eval_dataset or an evaluator" "$tmp/err" && ok || fail "no eval data: rc $rc $(cat "$tmp/err")"


# 5. Evaluators during training: the metrics logged at a step are `stc
# eval`'s on that step's weights (the initial model at step 0, checkpoint-3
# at step 3), named eval_<name>_<metric>, with Python's CSVs in
# output_dir/eval; metric_for_best_model on an evaluator metric picks the
# checkpoint load_best_model_at_end loads; 2 ranks log 1 rank's metrics.
emodel=$PWD/fixtures/encode/tiny-bert-dense
printf '[{"type": "InformationRetrievalEvaluator", "name": "ir", "queries": "%s", "corpus": "%s", "relevant_docs": "%s"},
 {"type": "EmbeddingSimilarityEvaluator", "name": "sts", "dataset": "%s"}]\n' "$PWD/fixtures/eval/queries.jsonl" \
  "$PWD/fixtures/eval/corpus.jsonl" "$PWD/fixtures/eval/qrels.tsv" "$PWD/fixtures/eval/similarity.csv" >"$tmp/evals.json"
"$stc" train "$tmp/sim.json" --model "$emodel" --output_dir "$tmp/ev1" --eval_dataset null --evaluator "$(cat "$tmp/evals.json")" \
  --eval_steps 3 --save_strategy steps --save_steps 3 --max_steps 6 --metric_for_best_model ir_cosine_ndcg@10 \
  --load_best_model_at_end true 2>"$tmp/err" || fail "training with evaluators: $(cat "$tmp/err")"
"$stc" eval --model "$emodel" --evaluator "$tmp/evals.json" >"$tmp/m0.json" 2>/dev/null || fail "stc eval (initial model)"
"$stc" eval --model "$tmp/ev1/checkpoint-3" --evaluator "$tmp/evals.json" >"$tmp/m3.json" 2>/dev/null \
  || fail "stc eval (checkpoint-3)"
$py - "$tmp/ev1" "$tmp/m0.json" "$tmp/m3.json" <<'PY' && ok || fail "metrics logged in training differ from stc eval"
import json, os, sys
out = sys.argv[1]
evals = {r["step"]: r for r in map(json.loads, open(os.path.join(out, "log.jsonl"))) if "eval_ir_cosine_ndcg@10" in r}
assert sorted(evals) == [0, 3, 6], sorted(evals)
for step, path in ((0, sys.argv[2]), (3, sys.argv[3])):
    ref = json.load(open(path))
    for k, v in ref.items():
        assert evals[step]["eval_" + k] == v, (step, k, evals[step]["eval_" + k], v)
assert "eval_sequential_score" in evals[3]
rows = open(os.path.join(out, "eval", "Information-Retrieval_evaluation_ir_results.csv")).read().splitlines()
assert rows[0].startswith("epoch,steps,") and [r.split(",")[1] for r in rows[1:]] == ["0", "3", "6"], rows
assert os.path.exists(os.path.join(out, "eval", "similarity_evaluation_sts_results.csv"))
best = max((3, 6), key=lambda s: (evals[s]["eval_ir_cosine_ndcg@10"], -s))   # the first of equal values wins
ts = json.load(open(os.path.join(out, "checkpoint-6", "trainer_state.json")))
assert ts["best_global_step"] == best, (ts["best_global_step"], best)
assert open(os.path.join(out, "model.safetensors"), "rb").read() == \
    open(os.path.join(out, f"checkpoint-{best}", "model.safetensors"), "rb").read()
PY
mpi 2 "$stc" train "$tmp/sim.json" --model "$emodel" --output_dir "$tmp/ev2" --eval_dataset null \
  --evaluator "$(cat "$tmp/evals.json")" --eval_steps 3 --save_strategy no --max_steps 3 --per_device_train_batch_size 2 \
  >/dev/null 2>"$tmp/err" || fail "2 ranks with evaluators: $(cat "$tmp/err")"
$py - "$tmp/ev1/log.jsonl" "$tmp/ev2/log.jsonl" <<'PY' && ok || fail "2 ranks log other metrics than 1 rank at step 0"
import json, sys
a, b = ([r for r in map(json.loads, open(p)) if r.get("step") == 0 and "eval_sequential_score" in r] for p in sys.argv[1:])
assert len(a) == 1 and len(b) == 1
for k, v in a[0].items():
    if k.startswith("eval_") and k != "eval_runtime":
        assert b[0][k] == v, (k, b[0][k], v)
PY
finish test_eval_loss
