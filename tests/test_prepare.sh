#!/usr/bin/env bash
# `stc prepare` end to end on the tiny fixture model:
#   1. under mpirun -np 2 and -np 3 (small blocks, so every rank tokenizes
#      several) the file's content (every dataset and attribute) equals
#      -np 1's;
#   2. training from the prepared file equals training from the JSONL it
#      came from, bit for bit (log.jsonl losses and the saved weights), for
#      MNRL with a hard negative, CoSENT (a score label), NO_DUPLICATES
#      (text hashes from the file), a prompt (texts re-tokenized from the
#      file), 2 MPI ranks, and two datasets (a loss each, one prepared);
#   3. errors: a tokenizer or max_seq_length mismatch, a truncated file, a
#      bad source row (file:line; --skip-bad-rows counts it), a non-.h5
#      output; a failed prepare leaves no file under the output name.
# usage: test_prepare.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
model=$PWD/fixtures/encode/tiny-bert
fix=$tmp/fix   # copies: opening a dataset writes its row index beside it
mkdir -p "$fix/mnrl" "$fix/cosent"
cp fixtures/train/mnrl/train.jsonl "$fix/mnrl/"; cp fixtures/train/cosent/train.jsonl "$fix/cosent/"

# 1. 1, 2 and 3 ranks write the same content.
data=$fix/mnrl/train.jsonl
"$stc" prepare --model "$model" --input "$data" --output "$tmp/np1.h5" 2>"$tmp/e" && ok || fail "prepare: $(cat "$tmp/e")"
mpi 2 "$stc" prepare --model "$model" --input "$data" --output "$tmp/np2.h5" --block-rows 3 >"$tmp/o" 2>&1 \
  && ok || fail "prepare -np 2: $(tail -3 "$tmp/o")"
mpi 3 "$stc" prepare --model "$model" --input "$data" --output "$tmp/np3.h5" --block-rows 5 >"$tmp/o" 2>&1 \
  && ok || fail "prepare -np 3: $(tail -3 "$tmp/o")"
$py - "$tmp/np1.h5" "$tmp/np2.h5" "$tmp/np3.h5" "$data" <<'PY' && ok || fail "np1/np2/np3 files differ"
import sys, json, h5py, numpy as np
def content(p):
    f = h5py.File(p, "r")
    out = {"attrs": {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}}
    f.visititems(lambda n, o: out.__setitem__(n, o[()].tolist()) if isinstance(o, h5py.Dataset) else None)
    return out
a = content(sys.argv[1])
for p in sys.argv[2:4]:
    assert content(p) == a, p
rows = [json.loads(l) for l in open(sys.argv[4])]
f = h5py.File(sys.argv[1], "r")
assert json.loads(f.attrs["columns"]) == ["anchor", "positive", "negative"]
assert f.attrs["n_rows"] == len(rows) and f.attrs["stc_format"] == b"stc-prepared"
for c in ["anchor", "positive", "negative"]:
    o, t = f[f"columns/{c}/text_offsets"][:], f[f"columns/{c}/text"][:]
    assert [t[o[i]:o[i+1]].tobytes().decode() for i in range(len(rows))] == [r[c] for r in rows]
    io = f[f"columns/{c}/offsets"][:]
    assert io[-1] == len(f[f"columns/{c}/input_ids"]) and (np.diff(io) >= 2).all()
PY

# 2. Training from the prepared file = training from its source.
train_pair() { # name src h5 extra-json [np]   (src, h5: JSON values of train_dataset)
  local name=$1 src=$2 h5=$3 extra=$4 np=${5:-1}
  for kind in jsonl h5; do
    local d=$src; [ $kind = h5 ] && d=$h5
    printf '{"model": "%s", "train_dataset": %s, "output_dir": "%s", "per_device_train_batch_size": %d,
      "logging_steps": 1, "max_steps": 6, "learning_rate": 1e-3, "seed": 3 %s}\n' \
      "$model" "$d" "$tmp/$name-$kind" $((8 / np)) "$extra" >"$tmp/$name-$kind.json"
    if [ "$np" = 1 ]; then "$stc" train "$tmp/$name-$kind.json" >"$tmp/o" 2>&1
    else mpi "$np" "$stc" train "$tmp/$name-$kind.json" >"$tmp/o" 2>&1; fi \
      || { fail "$name ($kind): $(tail -3 "$tmp/o")"; return; }
  done
  if cmp -s <(cut -d, -f1-3 "$tmp/$name-jsonl/log.jsonl") <(cut -d, -f1-3 "$tmp/$name-h5/log.jsonl") &&
     cmp -s "$tmp/$name-jsonl/model.safetensors" "$tmp/$name-h5/model.safetensors"; then ok
  else fail "$name: training from the prepared file differs from its source"; fi
}
train_pair mnrl "\"$data\"" "\"$tmp/np2.h5\"" ', "loss": {"type": "MultipleNegativesRankingLoss"}'
train_pair nodup "\"$data\"" "\"$tmp/np2.h5\"" ', "loss": {"type": "MultipleNegativesRankingLoss"}, "batch_sampler": "no_duplicates"'
train_pair prompt "\"$data\"" "\"$tmp/np2.h5\"" ', "loss": {"type": "MultipleNegativesRankingLoss"}, "prompts": {"anchor": "query: "}'
train_pair mnrl2 "\"$data\"" "\"$tmp/np2.h5\"" ', "loss": {"type": "MultipleNegativesRankingLoss", "gather_across_devices": true}' 2
"$stc" prepare --model "$model" --input "$fix/cosent/train.jsonl" --output "$tmp/cosent.h5" 2>"$tmp/e" \
  && ok || fail "prepare cosent: $(cat "$tmp/e")"
train_pair cosent "\"$fix/cosent/train.jsonl\"" "\"$tmp/cosent.h5\"" ', "loss": {"type": "CoSENTLoss"}'
# Two datasets (proportional sampling, a loss each, a prompt on one), one of them prepared.
train_pair multi "{\"pairs\": \"$data\", \"scores\": \"$fix/cosent/train.jsonl\"}" \
  "{\"pairs\": \"$tmp/np1.h5\", \"scores\": \"$tmp/cosent.h5\"}" \
  ', "loss": {"pairs": {"type": "MultipleNegativesRankingLoss"}, "scores": {"type": "CoSENTLoss"}}, "prompts": {"scores": "q: "}'

# 3. Errors.
expect() { # name code pattern cmd...
  local name=$1 code=$2 pat=$3; shift 3
  "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$tmp/e"; then ok; else fail "$name: exit $rc: $(cat "$tmp/e")"; fi
}
"$stc" prepare --model "$model" --input "$data" --output "$tmp/short.h5" --max-seq-length 16 2>/dev/null
expect "max_seq_length mismatch" 2 'short.h5: prepared with max_seq_length 16 but training uses 48' \
  "$stc" train "$tmp/mnrl-h5.json" --train_dataset "$tmp/short.h5" --output_dir "$tmp/none"
minilm=$tmp/other-model
cp -r "$model" "$minilm"
sed -i '1000s/.*/zzzzzz/' "$minilm/vocab.txt"; rm -f "$minilm/tokenizer.json"
expect "tokenizer mismatch" 2 'prepared with another tokenizer' \
  "$stc" train "$tmp/mnrl-h5.json" --model "$minilm" --output_dir "$tmp/none"
head -c 3000 "$tmp/np1.h5" >"$tmp/trunc.h5"
expect "truncated file" 2 'trunc.h5: .*(truncated|damaged)' \
  "$stc" train "$tmp/mnrl-h5.json" --train_dataset "$tmp/trunc.h5" --output_dir "$tmp/none"
printf '{"anchor": "a", "positive": "b"}\nnot json\n{"anchor": "c", "positive": "d"}\n' >"$tmp/bad.jsonl"
expect "bad source row" 3 'bad.jsonl:2' "$stc" prepare --model "$model" --input "$tmp/bad.jsonl" --output "$tmp/bad.h5"
[ ! -e "$tmp/bad.h5" ] && [ ! -e "$tmp/bad.h5.tmp" ] && ok || fail "a failed prepare left a file"
"$stc" prepare --model "$model" --input "$tmp/bad.jsonl" --output "$tmp/bad.h5" --skip-bad-rows 2>"$tmp/e" \
  && grep -q '1 bad rows' "$tmp/e" && $py -c "
import h5py, sys; f = h5py.File(sys.argv[1], 'r'); assert f.attrs['n_rows'] == 2 and f.attrs['n_bad_rows'] == 1" "$tmp/bad.h5" \
  && ok || fail "--skip-bad-rows: $(cat "$tmp/e")"
expect "output not .h5" 2 'must end in .h5' "$stc" prepare --model "$model" --input "$data" --output "$tmp/x.jsonl"
expect "router model" 2 'is a Router model' "$stc" prepare --model "$PWD/fixtures/router/model" --input "$data" --output "$tmp/r.h5"
[ ! -e "$tmp/none" ] && [ ! -e "$tmp/r.h5" ] && ok || fail "a refused run created output"

finish test_prepare
