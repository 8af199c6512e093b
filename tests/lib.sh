# Shared by the shell tests: source it from tests/ after `set -uo pipefail`.
#   tmp        a temporary folder, removed at exit (KEEP=1 keeps it)
#   py         Debian's python3 with numpy and h5py (scripts/setup)
#   ok / fail  count a passed / failed check (fail prints why)
#   finish     prints the counts and returns non-zero if a check failed
#   mpi N CMD...
#              CMD on N Open MPI ranks of this machine, one thread each
#   make_pairs FILE N
#              N (anchor, positive) rows of JSONL: "a sentence about the
#              <word> number <i>" and "<word> <i>", ten words in turn
#   nodropout_model SRC DST
#              a copy of model SRC with dropout off (two programs', or two
#              ranks', dropout masks never agree)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fails=0; passes=0
ok()   { passes=$((passes+1)); }
fail() { fails=$((fails+1)); echo "FAIL: $*" >&2; }
mpi() { mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$1" -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 "${@:2}"; }
finish() {
  echo "$1: $passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
nodropout_model() {
  mkdir -p "$2" && cp -r "$1"/. "$2/"
  $py - "$2/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["hidden_dropout_prob"] = c["attention_probs_dropout_prob"] = 0.0
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
}
make_pairs() {
  $py - "$1" "$2" <<'PY'
import json, sys
words = ["cat", "dog", "river", "mountain", "music", "guitar", "ocean", "forest", "city", "train"]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        w = words[i % 10]
        f.write(json.dumps({"anchor": f"a sentence about the {w} number {i}", "positive": f"{w} {i}"}) + "\n")
PY
}
