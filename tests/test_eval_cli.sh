#!/usr/bin/env bash
# `stc eval`: the metrics JSON on stdout equals sentence-transformers'
# (fixtures/eval/expected.json, every evaluator class in one list), --json
# writes the same bytes, --output-dir writes Python's CSV files under
# DIR/eval, a training config's "evaluator" is used; 2 and 3 ranks print
# exactly what 1 rank prints; config errors exit 2 naming the key; and a
# WordNet-layout IR set scores as tools/ir_eval.py scores `stc encode`'s
# embeddings (the demo's former path).
# usage: test_eval_cli.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
model=fixtures/encode/tiny-bert-dense
. "$(dirname "$0")/lib.sh"

# Every tiny-bert-dense case's evaluators in one list, and the metrics Python's
# SequentialEvaluator of that list returns (a later evaluator's key wins
# over an earlier one's, in the earlier one's place).
$py - fixtures/eval/expected.json "$tmp" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
specs, want = [], {}
cases = [c for c in exp["cases"] if c["model"] == "fixtures/encode/tiny-bert-dense"]  # Router: test_evaluators
for c in cases:
    specs += c["spec"] if isinstance(c["spec"], list) else [c["spec"]]
    want.update({k: v for k, v in c["metrics"].items() if k != "sequential_score"})
want["sequential_score"] = cases[-1]["metrics"][cases[-1]["primary"]]  # the last evaluator's primary metric
json.dump(specs, open(sys.argv[2] + "/all.json", "w"))
json.dump({"model": "unused", "train_dataset": "unused.jsonl", "evaluator": specs}, open(sys.argv[2] + "/cfg.json", "w"))
json.dump(want, open(sys.argv[2] + "/want.json", "w"))
PY
same_metrics() { # same_metrics GOT.json WANT.json: same keys in the same order, values within 1e-6
  $py - "$1" "$2" <<'PY'
import json, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert list(got) == list(want), f"keys differ: {list(got)[:5]}... vs {list(want)[:5]}..."
bad = [k for k in want if abs(got[k] - want[k]) > 1e-6]
assert not bad, f"values differ: {[(k, got[k], want[k]) for k in bad[:5]]}"
PY
}

"$stc" eval --model "$model" --evaluator "$tmp/all.json" --output-dir "$tmp/out1" --json "$tmp/j1.json" \
  >"$tmp/o1.json" 2>"$tmp/e1" || fail "stc eval: $(tail -3 "$tmp/e1")"
same_metrics "$tmp/o1.json" "$tmp/want.json" && ok || fail "stc eval metrics differ from sentence-transformers"
cmp -s "$tmp/o1.json" "$tmp/j1.json" && ok || fail "--json differs from stdout"
[ "$(ls "$tmp/out1/eval" | wc -l)" -ge 8 ] && [ -f "$tmp/out1/eval/Information-Retrieval_evaluation_dev_results.csv" ] \
  && [ -f "$tmp/out1/eval/similarity_evaluation_sts_results.csv" ] && ok || fail "CSV files missing: $(ls "$tmp/out1/eval")"
"$stc" eval --model "$model" --evaluator "$tmp/cfg.json" >"$tmp/cfg.out" 2>"$tmp/cfg.err" \
  && cmp -s "$tmp/o1.json" "$tmp/cfg.out" && ok || fail "a training config's evaluator: $(tail -2 "$tmp/cfg.err")"

# Ranks: the same bytes on stdout, the same CSV files.
for np_ in 2 3; do
  mpi "$np_" "$stc" eval --model "$model" --evaluator "$tmp/all.json" --output-dir "$tmp/out$np_" \
    >"$tmp/o$np_.json" 2>"$tmp/e$np_" || fail "$np_ ranks: $(tail -3 "$tmp/e$np_")"
  cmp -s "$tmp/o1.json" "$tmp/o$np_.json" && ok || fail "$np_ ranks print other metrics than 1 rank"
  diff -r "$tmp/out1/eval" "$tmp/out$np_/eval" >/dev/null && ok || fail "$np_ ranks write other CSV files"
done

# MSEEvaluator's teacher embeddings from `stc encode` (HDF5): the teacher
# model's case of the fixtures, on 1 and 2 ranks.
$py - fixtures/eval/expected.json "$tmp" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
c = next(c for c in exp["cases"] if c["name"] == "mse_teacher_model")
with open(sys.argv[2] + "/src.jsonl", "w") as f:
    for s in c["spec"]["source_sentences"]:
        f.write(json.dumps({"text": s}) + "\n")
spec = {k: v for k, v in c["spec"].items() if k not in ("teacher_model", "truncate_dim")}
spec["teacher_embeddings"] = sys.argv[2] + "/teacher.h5"
json.dump(spec, open(sys.argv[2] + "/mse_h5.json", "w"))
json.dump(c["metrics"], open(sys.argv[2] + "/mse_want.json", "w"))
spec.update(teacher_model="fixtures/encode/tiny-bert")
del spec["teacher_embeddings"]
json.dump(spec, open(sys.argv[2] + "/mse_dims.json", "w"))
PY
"$stc" encode --model fixtures/encode/tiny-bert --input "$tmp/src.jsonl" --output "$tmp/teacher.h5" \
  --truncate-dim 16 --batch-size 8 2>/dev/null || fail "stc encode (teacher)"
for np_ in 1 2; do
  mpi "$np_" "$stc" eval --model "$model" --evaluator "$tmp/mse_h5.json" >"$tmp/mse$np_.json" 2>"$tmp/mse$np_.err" \
    && same_metrics "$tmp/mse$np_.json" "$tmp/mse_want.json" && ok \
    || fail "MSEEvaluator with stc encode's HDF5 ($np_ ranks): $(tail -2 "$tmp/mse$np_.err")"
done
# Teacher (32 dimensions) and student (16) differ without truncate_dim: an error naming both.
"$stc" eval --model "$model" --evaluator "$tmp/mse_dims.json" >/dev/null 2>"$tmp/mse_dims.err"
[ $? -ne 0 ] && grep -q "32 dimensions, the model's 16" "$tmp/mse_dims.err" && ok \
  || fail "MSEEvaluator dimension mismatch: $(cat "$tmp/mse_dims.err")"

# Errors: exit code 2 and the key named; nothing on stdout.
echo '{"type": "InformationRetrievalEvaluator", "queries": "fixtures/eval/queries.jsonl", "corpus": "fixtures/eval/corpus.jsonl", "relevant_docs": "fixtures/eval/qrels.tsv", "k": 3}' >"$tmp/bad.json"
"$stc" eval --model "$model" --evaluator "$tmp/bad.json" >"$tmp/bad.out" 2>"$tmp/bad.err"
[ $? -eq 2 ] && grep -q 'unknown key "k"' "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ] && ok \
  || fail "unknown key: $(cat "$tmp/bad.err")"
echo '{"model": "m"}' >"$tmp/noeval.json"
"$stc" eval --model "$model" --evaluator "$tmp/noeval.json" >/dev/null 2>"$tmp/noeval.err"
[ $? -eq 2 ] && grep -q 'evaluator' "$tmp/noeval.err" && ok || fail "config without evaluator: $(cat "$tmp/noeval.err")"
"$stc" eval --evaluator "$tmp/all.json" >/dev/null 2>&1
[ $? -eq 2 ] && ok || fail "missing --model is not a usage error"

# The WordNet layout (tools/wordnet_convert.py): definitions -> words, ids
# w0.., every query relevant to 1-3 words. stc eval against ir_eval.py on
# stc encode's normalised embeddings (no prompts, as the demo encoded).
$py - "$tmp/wn" <<'PY'
import json, os, random, sys
d = sys.argv[1]; os.makedirs(d + "/qrels")
rng = random.Random(7)
vocab = [w.strip() for w in open("fixtures/encode/tiny-bert-dense/vocab.txt") if w.strip().isalpha() and len(w.strip()) > 3][:300]
words = sorted({" ".join(rng.sample(vocab, rng.randint(1, 2))) for _ in range(120)})
rng.shuffle(words)
with open(d + "/corpus.jsonl", "w") as f:
    for i, w in enumerate(words):
        f.write(json.dumps({"_id": f"w{i}", "text": w}) + "\n")
with open(d + "/queries.jsonl", "w") as q, open(d + "/qrels/dev.tsv", "w") as r:
    r.write("query-id\tcorpus-id\tscore\n")
    for i in range(40):
        rel = rng.sample(range(len(words)), rng.randint(1, 3))
        q.write(json.dumps({"_id": f"s{i}", "text": words[rel[0]] + " " + " ".join(rng.sample(vocab, 4))}) + "\n")
        for j in rel:
            r.write(f"s{i}\tw{j}\t1\n")
json.dump({"type": "InformationRetrievalEvaluator", "name": "wordnet-dev", "queries": d + "/queries.jsonl",
           "corpus": d + "/corpus.jsonl", "relevant_docs": d + "/qrels/dev.tsv",
           "query_prompt": "", "corpus_prompt": ""}, open(d + "/spec.json", "w"))
PY
for part in queries corpus; do
  "$stc" encode --model "$model" --input "$tmp/wn/$part.jsonl" --output "$tmp/wn/$part.h5" --normalize 2>/dev/null \
    || fail "stc encode $part"
done
$py ../tools/ir_eval.py "$tmp/wn/queries.jsonl" "$tmp/wn/corpus.jsonl" "$tmp/wn/qrels/dev.tsv" \
  "$tmp/wn/queries.h5" "$tmp/wn/corpus.h5" --name wordnet-dev >"$tmp/wn/ir_eval.json" || fail "ir_eval.py"
"$stc" eval --model "$model" --evaluator "$tmp/wn/spec.json" >"$tmp/wn/stc.json" 2>"$tmp/wn/stc.err" \
  || fail "stc eval (wordnet layout): $(tail -2 "$tmp/wn/stc.err")"
$py - "$tmp/wn/ir_eval.json" "$tmp/wn/stc.json" <<'PY' && ok || fail "stc eval differs from tools/ir_eval.py"
import json, sys
ref, got = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(ref) == 6 and "wordnet-dev_cosine_ndcg@10" in ref, ref
bad = [(k, v, got.get(k)) for k, v in ref.items() if k not in got or round(got[k], 4) != v]
assert not bad, bad
print("stc eval = ir_eval.py:", ", ".join(f"{k} {v}" for k, v in ref.items()))
PY

finish test_eval_cli
