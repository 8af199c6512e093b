#!/usr/bin/env bash
# Multi-rank `stc encode`: 1, 2 and 3 ranks write byte-identical
# `embeddings` datasets into one HDF5 file (parallel HDF5); a run whose last
# rank is killed (SIGKILL, as a lost node) part-way ends on every rank within
# 60 s with a message naming the rank, leaves "<out>.tmp" with its finished
# chunks recorded, and a rerun (on another number of ranks) resumes and
# equals the uninterrupted run; an existing output is never touched by the
# failed run.
# usage: test_dist_encode.sh STC_BINARY   (run from tests/)
set -uo pipefail
stc=$1
model=$PWD/fixtures/encode/tiny-bert
. "$(dirname "$0")/lib.sh"

# 2,500 varied texts from the tokenizer fixtures, as JSONL.
$py - fixtures/tokenizer/texts.jsonl "$tmp/in.jsonl" <<'PY'
import json, sys
texts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for i in range(2500):
        f.write(json.dumps({"id": i, "text": f"{i}: " + texts[i % len(texts)]}, ensure_ascii=False) + "\n")
PY
enc() { # enc NP OUT [args]
  mpi "$1" "$stc" encode --model "$model" --input "$tmp/in.jsonl" --output "$2" --chunk-size 300 --normalize "${@:3}"
}
same() { # same A B: identical embeddings datasets
  $py - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r"); b = h5py.File(sys.argv[2], "r")
assert a.attrs["complete"] == 1 and b.attrs["complete"] == 1
x, y = a["embeddings"][:], b["embeddings"][:]
assert x.shape == (2500, 32) and x.dtype == y.dtype and x.tobytes() == y.tobytes()
PY
}

for np_ in 1 2 3; do
  enc "$np_" "$tmp/e$np_.h5" >"$tmp/log$np_" 2>&1 || fail "encode with $np_ ranks: $(tail -3 "$tmp/log$np_")"
done
same "$tmp/e1.h5" "$tmp/e2.h5" && ok || fail "2 ranks differ from 1"
same "$tmp/e1.h5" "$tmp/e3.h5" && ok || fail "3 ranks differ from 1"
enc 2 "$tmp/f16.h5" --precision float16 >/dev/null 2>&1 && enc 1 "$tmp/f16b.h5" --precision float16 >/dev/null 2>&1 \
  && cmp -s <($py -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$tmp/f16.h5')['embeddings'][:].tobytes())") \
            <($py -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$tmp/f16b.h5')['embeddings'][:].tobytes())") \
  && ok || fail "float16 over 2 ranks differs from 1 rank"

# int8 / uint8: ranges over every rank's rows, so the bytes equal one rank's.
for prec in int8 uint8; do
  enc 1 "$tmp/q1.h5" --precision $prec >/dev/null 2>&1 && enc 3 "$tmp/q3.h5" --precision $prec >"$tmp/q.log" 2>&1 \
    && cmp -s <($py -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$tmp/q1.h5')['embeddings'][:].tobytes())") \
              <($py -c "import h5py,sys; sys.stdout.buffer.write(h5py.File('$tmp/q3.h5')['embeddings'][:].tobytes())") \
    && ok || fail "$prec over 3 ranks differs from 1 rank: $(tail -2 "$tmp/q.log")"
done

# stc launch runs the same without mpirun flags.
OMP_NUM_THREADS=1 "$stc" launch --nproc 2 encode --model "$model" --input "$tmp/in.jsonl" --output "$tmp/l.h5" \
  --chunk-size 300 --normalize >"$tmp/launch.log" 2>&1 || fail "stc launch: $(tail -3 "$tmp/launch.log")"
grep -q "2 ranks" "$tmp/launch.log" && same "$tmp/e1.h5" "$tmp/l.h5" && ok || fail "stc launch --nproc 2 differs"

# Killed part-way: the last of 3 ranks dies after writing 2 chunks.
echo "keep me" >"$tmp/k.h5"
start=$(date +%s)
STC_FAULT_KILL_AFTER_CHUNKS=2 mpirun --oversubscribe --allow-run-as-root -np 3 -x OMP_NUM_THREADS=1 \
  -x STC_FAULT_KILL_AFTER_CHUNKS "$stc" encode --model "$model" --input "$tmp/in.jsonl" --output "$tmp/k.h5" \
  --chunk-size 300 --normalize >"$tmp/kill.log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
[ "$rc" -ne 0 ] && ok || fail "a killed run exited 0"
[ "$elapsed" -le 60 ] && ok || fail "ranks took $elapsed s to exit after a rank died"
grep -q "rank 2" "$tmp/kill.log" && ok || fail "no message naming the dead rank: $(tail -3 "$tmp/kill.log")"
[ "$(cat "$tmp/k.h5")" = "keep me" ] && ok || fail "the failed run touched the existing output"
[ -f "$tmp/k.h5.tmp" ] && ok || fail "no .tmp left to resume from"
# The rerun (2 ranks) resumes from the recorded chunks and equals the clean run.
enc 2 "$tmp/k.h5" >"$tmp/resume.log" 2>&1 || fail "rerun failed: $(tail -3 "$tmp/resume.log")"
grep -q "resuming" "$tmp/resume.log" && ok || fail "the rerun did not resume: $(cat "$tmp/resume.log")"
same "$tmp/e1.h5" "$tmp/k.h5" && ok || fail "the resumed file differs from an uninterrupted run"
[ ! -e "$tmp/k.h5.tmp" ] && ok || fail ".tmp left after the resumed run"

finish test_dist_encode
