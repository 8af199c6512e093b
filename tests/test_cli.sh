#!/usr/bin/env bash
# End-to-end checks of `stc encode` and `stc tokenize` on the tiny fixture
# model: outputs h5py can read, every precision, JSONL input, and bad input
# (clear message, right exit code, nothing half-written left behind).
# usage: test_cli.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
model=fixtures/encode/tiny-bert
. "$(dirname "$0")/lib.sh"

# expect_error NAME EXIT_CODE PATTERN -- command...: the command must exit
# with EXIT_CODE and print PATTERN (a grep -E regex) on stderr.
expect_error() {
  local name=$1 code=$2 pat=$3; shift 4
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$name: exit $rc, expected $code: $(cat "$tmp/err")"; return; fi
  if ! grep -Eq -- "$pat" "$tmp/err"; then fail "$name: stderr lacks /$pat/: $(cat "$tmp/err")"; return; fi
  ok
}

printf 'The cat sat on the mat.\n\nA second, longer sentence about embeddings and clusters.\ncafé naïve 東京\n' >"$tmp/in.txt"

# 1. float32 output readable by h5py, row i = line i (4 lines, one empty).
if "$stc" encode --model $model --input "$tmp/in.txt" --output "$tmp/e.h5" 2>"$tmp/err"; then
  $py - "$tmp/e.h5" <<'PY' && ok || fail "float32 output check"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
e = f["embeddings"][:]
assert e.shape == (4, 32) and e.dtype == np.float32, (e.shape, e.dtype)
assert f.attrs["complete"] == 1
assert np.isfinite(e).all()
PY
else fail "encode float32: $(cat "$tmp/err")"; fi
[ ! -e "$tmp/e.h5.tmp" ] && ok || fail "temporary file left behind"

# 2. Same texts through JSONL give identical embeddings; batch size does not matter.
$py - "$tmp/in.txt" "$tmp/in.jsonl" <<'PY'
import sys, json
with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as o:
    for line in f.read().split("\n")[:-1]:
        o.write(json.dumps({"id": 1, "body": line}, ensure_ascii=False) + "\n")
PY
if "$stc" encode --model $model --input "$tmp/in.jsonl" --text-field body --batch-size 1 --output "$tmp/j.h5" 2>"$tmp/err"; then
  $py - "$tmp/e.h5" "$tmp/j.h5" <<'PY' && ok || fail "jsonl differs from txt"
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["embeddings"][:]; b = h5py.File(sys.argv[2], "r")["embeddings"][:]
assert a.shape == b.shape and np.abs(a - b).max() <= 1e-6, np.abs(a - b).max()
PY
else fail "encode jsonl: $(cat "$tmp/err")"; fi

# 3. Every precision: dtype and shape as Sentence Transformers returns them.
for spec in "float16 float16 32" "int8 int8 32" "uint8 uint8 32" "binary int8 4" "ubinary uint8 4"; do
  set -- $spec
  if "$stc" encode --model $model --input "$tmp/in.txt" --output "$tmp/p.h5" --precision "$1" --normalize 2>"$tmp/err"; then
    $py - "$tmp/p.h5" "$2" "$3" <<'PY' && ok || fail "precision $1"
import sys, h5py, numpy as np
e = h5py.File(sys.argv[1], "r")["embeddings"][:]
assert e.dtype == np.dtype(sys.argv[2]) and e.shape == (4, int(sys.argv[3])), (e.dtype, e.shape)
PY
  else fail "precision $1: $(cat "$tmp/err")"; fi
done

# 4. tokenize: one JSON array per record, [CLS] first and [SEP] last.
if "$stc" tokenize --model $model --input "$tmp/in.txt" >"$tmp/tok" 2>"$tmp/err"; then
  $py - "$tmp/tok" <<'PY' && ok || fail "tokenize output"
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 4 and all(r[0] == rows[0][0] and r[-1] == rows[0][-1] for r in rows), rows
assert len(rows[1]) == 2  # the empty line: [CLS] [SEP]
PY
else fail "tokenize: $(cat "$tmp/err")"; fi

# 5. Bad input.
: >"$tmp/empty.txt"
expect_error "empty input" 3 "empty.txt.*no texts" -- "$stc" encode --model $model --input "$tmp/empty.txt" --output "$tmp/x.h5"
[ ! -e "$tmp/x.h5" ] && [ ! -e "$tmp/x.h5.tmp" ] && ok || fail "output written for empty input"

printf 'ok text\nbad \xff\xfe bytes \xc3\n' >"$tmp/bad_utf8.txt"
expect_error "invalid UTF-8 is replaced and counted" 0 "3 invalid UTF-8" -- "$stc" encode --model $model --input "$tmp/bad_utf8.txt" --output "$tmp/u.h5"

printf '{"text": "fine"}\n{"text": 3}\n' >"$tmp/badtype.jsonl"
expect_error "jsonl wrong type" 3 "badtype.jsonl:2: field \"text\" is not a string" -- "$stc" encode --model $model --input "$tmp/badtype.jsonl" --output "$tmp/x.h5"
printf '{"text": "fine"}\n{"text": \n' >"$tmp/badjson.jsonl"
expect_error "jsonl bad line" 3 "badjson.jsonl:2: not valid JSON" -- "$stc" encode --model $model --input "$tmp/badjson.jsonl" --output "$tmp/x.h5"

cp -r $model "$tmp/nomodules"; rm "$tmp/nomodules/modules.json"
expect_error "missing modules.json" 3 "nomodules/modules.json: not found" -- "$stc" encode --model "$tmp/nomodules" --input "$tmp/in.txt" --output "$tmp/x.h5"

cp -r $model "$tmp/roberta"
$py - "$tmp/roberta/config.json" <<'PY'
import sys, json
c = json.load(open(sys.argv[1])); c["model_type"] = "roberta"; c["architectures"] = ["RobertaModel"]
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "unsupported architecture" 3 "unsupported architecture: model_type \"roberta\" \(architectures\[0\] \"RobertaModel\"\)" -- "$stc" encode --model "$tmp/roberta" --input "$tmp/in.txt" --output "$tmp/x.h5"

cp -r $model "$tmp/trunc"; truncate -s 5000 "$tmp/trunc/model.safetensors"
expect_error "truncated safetensors" 3 "trunc/model.safetensors" -- "$stc" encode --model "$tmp/trunc" --input "$tmp/in.txt" --output "$tmp/x.h5"

# A failed run leaves an existing output untouched.
cp "$tmp/e.h5" "$tmp/keep.h5"; cksum <"$tmp/keep.h5" >"$tmp/sum1"
expect_error "failure keeps old output" 3 "empty.txt" -- "$stc" encode --model $model --input "$tmp/empty.txt" --output "$tmp/keep.h5"
cksum <"$tmp/keep.h5" | cmp -s - "$tmp/sum1" && ok || fail "existing output changed by a failed run"

expect_error "missing required option" 2 "--model, --input and --output are required" -- "$stc" encode --input "$tmp/in.txt"
expect_error "unknown option" 2 "unknown option '--frobnicate'" -- "$stc" encode --frobnicate 1
expect_error "bad precision" 2 "unknown precision \"float8\"" -- "$stc" encode --model $model --input "$tmp/in.txt" --output "$tmp/x.h5" --precision float8
expect_error "unknown prompt name" 2 "prompt \"nope\" is not in" -- "$stc" encode --model $model --input "$tmp/in.txt" --output "$tmp/x.h5" --prompt-name nope

finish test_cli
