#!/usr/bin/env bash
# `stc encode --task` on the Router fixture (fixtures/router/): each task's
# embeddings equal Python's (expected.json, tools/make_router_fixtures.py),
# the route is recorded in the output, an unknown task is a usage error.
# usage: test_router_cli.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
fx=fixtures/router
. "$(dirname "$0")/lib.sh"

# The fixture's texts, one per line, as JSONL (one is empty).
$py - "$fx/expected.json" "$tmp/in.jsonl" <<'PY' || fail "writing the input"
import json, sys
exp = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    for t in exp["texts"]:
        fh.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
PY

# case name, then the stc flags that make Python's call.
run_case() {
  local name=$1; shift
  if "$stc" encode --model $fx/model --input "$tmp/in.jsonl" --output "$tmp/$name.h5" --batch-size 3 "$@" 2>"$tmp/err"; then
    $py - "$fx/expected.json" "$tmp/$name.h5" "$name" <<'PY' && ok || fail "$name: embeddings differ from Python's"
import json, sys, h5py, numpy as np
exp = json.load(open(sys.argv[1], encoding="utf-8"))["cases"][sys.argv[3]]
f = h5py.File(sys.argv[2], "r")
got, ref = f["embeddings"][:], np.asarray(exp["embeddings"], dtype=np.float32)
diff = float(np.abs(got - ref).max())
route = exp["task"] or "document"
assert f["embeddings"].attrs["route"].decode() == route, f["embeddings"].attrs["route"]
print("%s: max abs diff %.3g" % (sys.argv[3], diff))
assert diff <= 1e-5, diff
PY
  else fail "$name: $(cat "$tmp/err")"; fi
}
run_case encode
run_case encode_task_query --task query
run_case encode_query --task query --prompt-name query
run_case encode_document --task document --prompt-name document

"$stc" encode --model $fx/model --input "$tmp/in.jsonl" --output "$tmp/bad.h5" --task nope >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q 'no route for task "nope"' "$tmp/err" && grep -q '"query", "document"' "$tmp/err" \
   && [ ! -e "$tmp/bad.h5" ] && [ ! -e "$tmp/bad.h5.tmp" ]; then ok
else fail "unknown task: exit $rc: $(cat "$tmp/err")"; fi

# stc tokenize with a task uses that route's tokenizer and max_seq_length
# (the query route's is 16).
printf 'Hello World, this is a longer sentence for the query route truncation\n' >"$tmp/long.txt"
q=$("$stc" tokenize --model $fx/model --input "$tmp/long.txt" --task query 2>"$tmp/err")
d=$("$stc" tokenize --model $fx/model --input "$tmp/long.txt" --task document 2>>"$tmp/err")
if [ "$(echo "$q" | tr -cd , | wc -c)" -eq 15 ] && [ "$(echo "$d" | tr -cd , | wc -c)" -gt 15 ]; then ok
else fail "tokenize --task: query $q, document $d: $(cat "$tmp/err")"; fi

finish test_router_cli
