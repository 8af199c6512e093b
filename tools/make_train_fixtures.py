#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's training parity test.

Dev-only: needs /work/venv (torch, transformers 5.x, sentence-transformers
6.x, datasets, accelerate); tests/test_train_parity.sh only reads what this
writes. For each case it writes, under tests/fixtures/train/<case>/:

  config.json    the stc training config (paths relative to the test's
                 working directory: "model" is a copy of
                 tests/fixtures/encode/tiny-bert with dropout set to 0,
                 "train.jsonl" the dataset, "out" the output_dir; the GIST
                 cases' "guide" a dropout-off copy of the case's
                 guide_model, tests/fixtures/encode/tiny-bert-dense)
  train.jsonl    N rows of WordNet text (N = per_device_train_batch_size)
  expected.json  what SentenceTransformerTrainer does with the same config:
                 per logging step (every step) loss, grad_norm,
                 learning_rate, epoch and the learning rate of every
                 optimizer param group; the param groups (root parameter
                 names, lr, weight_decay); per final parameter (root
                 model.safetensors key) its shape, L2 norm, the L2 norm of
                 its change from the initial weights and its first 8 values;
                 the trained model's embeddings of texts.txt (normalize off)
  final.safetensors
                 the reference's final weights, float32, every parameter
                 training changed (root model.safetensors keys; BERT's
                 pooler, which gets no gradient, is left out: the test
                 checks it is bit-identical to the initial weights)

and tests/fixtures/train/texts.txt (the texts embedded after training).

Why the results do not depend on batch order: every case has exactly N rows
and batch size N, so each optimizer step sees all rows, and each loss used
is invariant under a permutation of the batch's rows; stc's sampler RNG is
not torch's, so any other setup would compare different batches. Dropout is
switched off (hidden_dropout_prob = attention_probs_dropout_prob = 0) in a
temporary copy of tiny-bert, as the test does, because the two programs'
dropout masks can never agree.

The configs are the single source of truth: this script turns each stc
config into SentenceTransformerTrainingArguments (warmup_ratio becomes the
transformers-5 ratio form warmup_steps, which is what stc does too) and a
loss object, so a config edit cannot drift from its reference.

--check-stc STC: after writing the fixtures, run STC train on every case,
load stc's saved model with Python's SentenceTransformer and report how far
its embeddings are from `STC encode`'s and from the Python reference (a
check that stc's output directory is a valid Sentence Transformers model).

Deterministic: fixed data, CPU float32, one thread, seeded.

Usage: /work/venv/bin/python tools/make_train_fixtures.py
       [--out tests/fixtures/train] [--model tests/fixtures/encode/tiny-bert]
       [--wordnet /usr/share/wordnet] [--check-stc build/stc]
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

N_FIRST = 8  # first values recorded per parameter

# The cases: name -> (rows, stc config). Dataset rows are built below; a
# case with "rows_from" uses another case's rows. Every case runs 30
# optimizer steps (the acceptance test: every step's loss to 1e-5
# relative, the final weights to 1e-5 max abs).
#
# The learning rates are chosen so that float32 rounding cannot reach that
# bound. Two programs that sum in different orders get gradients that differ
# by ~1e-9 absolute; Adam's update lr * m / (sqrt(v) + eps) passes that on
# almost unchanged, except for an element whose gradient is comparable to
# eps = 1e-8 in the first steps (while v still holds only that gradient):
# there the update's sensitivity is lr * eps / (|g| + eps)^2, up to lr / eps,
# and the difference is never corrected later (it hardly affects the
# loss). Such elements occur by chance, about one per case here:
# layer 1's attention.self.key.weight [6, 19] in "mnrl" and [31, 29] in
# "matryoshka" have initial gradients of ~2.2e-8 (the next smallest are
# ~1e-6), and end 1.7e-6 and 9e-6 apart between stc and torch with their
# groups' lrs of 5e-4 and 2e-3 (torch float32 itself is 1-10% off the
# float64 gradient there). Hence matryoshka's attention.self pattern is
# 5e-4 (the drift scales with it), and cosent runs at 5e-4: at 2e-3, 30
# epochs drove its loss to ~1e-3 through gradient-norm spikes above 100,
# where a relative loss bound is meaningless and the near-chaotic steps
# amplify rounding to ~1e-5 in the weights.
MNRL_CONFIG = {
    "max_steps": 30,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "linear",
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "learning_rate_mapping": {"embeddings\\.": 1e-4, "encoder\\.layer\\.1\\.": 5e-4},
    "max_grad_norm": 2.0,
}
CASES = {
    # MNRL with a hard-negative column; linear schedule with warmup_ratio
    # (warmup 3 steps, then linear decay to 0 at step 30); weight decay
    # 0.01; per-pattern learning rates (two patterns, each making a decay
    # and a no-decay group). Every case's max_grad_norm lies inside the
    # range of its gradient norms, so some steps are clipped and others
    # not: a clip factor that is the same at every step would be invisible
    # to Adam.
    "mnrl": {
        "rows": 16,
        "columns": ("anchor", "positive", "negative"),
        "config": dict({"loss": {"type": "MultipleNegativesRankingLoss"}}, **MNRL_CONFIG),
    },
    # The same rows and settings through CachedMultipleNegativesRankingLoss
    # with mini_batch_size 4 < 16 rows: GradCache embeds each column in 4
    # chunks, computes the loss in 4 anchor chunks and back-propagates each
    # chunk again; mathematically the same training as "mnrl".
    "cached_mnrl": {
        "rows": 16,
        "rows_from": "mnrl",
        "columns": ("anchor", "positive", "negative"),
        "config": dict({"loss": {"type": "CachedMultipleNegativesRankingLoss", "mini_batch_size": 4}},
                       **MNRL_CONFIG),
    },
    # CoSENT on scored pairs; cosine schedule with an integer warmup_steps;
    # epochs instead of max_steps (one step per epoch).
    "cosent": {
        "rows": 20,
        "columns": ("sentence1", "sentence2", "score"),
        "config": {
            "loss": {"type": "CoSENTLoss", "scale": 20.0},
            "num_train_epochs": 30,
            "learning_rate": 5e-4,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 2,
            "weight_decay": 0.0,
            "max_grad_norm": 4.0,
        },
    },
    # MatryoshkaLoss around MNRL (pairs), dims [32, 16, 8] with weights;
    # constant_with_warmup; a one-pattern mapping.
    "matryoshka": {
        "rows": 24,
        "columns": ("anchor", "positive"),
        "config": {
            "loss": {"type": "MatryoshkaLoss", "matryoshka_dims": [32, 16, 8],
                     "matryoshka_weights": [1.0, 0.5, 0.25],
                     "loss": {"type": "MultipleNegativesRankingLoss", "scale": 10.0}},
            "max_steps": 30,
            "learning_rate": 1e-3,
            "lr_scheduler_type": "constant_with_warmup",
            "warmup_steps": 3,
            "weight_decay": 0.05,
            "learning_rate_mapping": {"attention\\.self\\.": 5e-4},
            "max_grad_norm": 5.0,
        },
    },
    # GISTEmbedLoss on the MNRL rows (anchor, positive, negative), the guide
    # a second tiny model (tiny-bert-dense: other weights, a Dense layer to
    # 16 dimensions and Normalize; the same tokenizer, so the guide reads the
    # model's tokens) with dropout off; absolute margin, both contrasts.
    "gist": {
        "rows": 16,
        "rows_from": "mnrl",
        "columns": ("anchor", "positive", "negative"),
        "guide_model": "tiny-bert-dense",
        "config": dict({"loss": {"type": "GISTEmbedLoss", "guide": "guide", "temperature": 0.05, "margin": 0.02}},
                       **MNRL_CONFIG),
    },
    # CachedGISTEmbedLoss on the same rows, mini_batch_size 4 < 16 rows,
    # relative margin (negative: fewer candidates masked), no anchor-anchor
    # scores. (With a positive relative margin, or at the default temperature
    # 0.01, most negatives are masked or dwarfed and the loss falls below
    # 1e-3 within 20 steps, where float32 rounding in torch's cross-entropy
    # leaves no relative precision to compare.)
    "cached_gist": {
        "rows": 16,
        "rows_from": "mnrl",
        "columns": ("anchor", "positive", "negative"),
        "guide_model": "tiny-bert-dense",
        "config": dict({"loss": {"type": "CachedGISTEmbedLoss", "guide": "guide", "mini_batch_size": 4,
                                 "temperature": 0.05, "margin_strategy": "relative", "margin": -0.1,
                                 "contrast_anchors": False}},
                       **MNRL_CONFIG),
    },
}

COMMON = {"logging_steps": 1, "save_strategy": "no", "seed": 12}

TEXTS = [
    "a domesticated carnivorous mammal",
    "the act of moving quickly on foot",
    "a large body of salt water",
    "music played on a guitar",
    "an instrument for measuring time",
    "a building where people live",
    "the study of living organisms",
    "hello world",
]


# ---- WordNet ----------------------------------------------------------------

def read_nouns(wordnet_dir):
    """{offset: (words, definition, [hypernym offsets])} of WordNet nouns."""
    out = {}
    path = os.path.join(wordnet_dir, "data.noun")
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            head, sep, gloss = line.rstrip("\n").partition(" | ")
            f = head.split()
            if not sep:
                continue
            n_words = int(f[3], 16)
            words = []
            for i in range(n_words):
                w = f[4 + 2 * i].replace("_", " ")
                if w not in words:
                    words.append(w)
            k = 4 + 2 * n_words
            n_ptr = int(f[k])
            hyper = [f[k + 1 + 4 * i + 1] for i in range(n_ptr) if f[k + 1 + 4 * i] in ("@", "@i")]
            cut = gloss.find('; "')
            d = (gloss if cut < 0 else gloss[:cut]).strip().rstrip(";").strip()
            if d and not gloss.startswith('"'):
                out[f[0]] = (words, d, hyper)
    return out


def pick_synsets(nouns, n, salt):
    """n synsets in a stable hash order: short definitions, a hypernym with
    other words, no two alike."""
    order = sorted(nouns, key=lambda o: hashlib.sha256(f"{salt}:{o}".encode()).hexdigest())
    got, seen = [], set()
    for o in order:
        words, d, hyper = nouns[o]
        if not (4 <= len(d.split()) <= 14) or not hyper or hyper[0] not in nouns:
            continue
        hwords = nouns[hyper[0]][0]
        pos, neg = ", ".join(words[:3]), ", ".join(hwords[:3])
        if pos == neg or d in seen or pos in seen:
            continue
        seen.update((d, pos))
        got.append((d, pos, neg))
        if len(got) == n:
            break
    if len(got) < n:
        sys.exit("make_train_fixtures: not enough WordNet synsets")
    return got


def make_rows(name, spec, nouns):
    n = spec["rows"]
    name = spec.get("rows_from", name)
    syn = pick_synsets(nouns, n, name)
    rows = []
    if name == "mnrl":
        for d, pos, neg in syn:
            rows.append({"anchor": d, "positive": pos, "negative": neg})
    elif name == "cosent":
        # graded pairs: the synset's own words 1.0, its hypernym's 0.6,
        # another synset's words 0.1 (cycled, so every grade occurs)
        for i, (d, pos, neg) in enumerate(syn):
            kind = i % 3
            other = syn[(i + 7) % n][1]
            s2, score = ((pos, 1.0), (neg, 0.6), (other, 0.1))[kind]
            rows.append({"sentence1": d, "sentence2": s2, "score": score})
    else:
        for d, pos, _ in syn:
            rows.append({"anchor": d, "positive": pos})
    return rows


# ---- Python reference -------------------------------------------------------

def nodropout_copy(src, dst):
    shutil.copytree(src, dst)
    p = os.path.join(dst, "config.json")
    cfg = json.load(open(p))
    cfg["hidden_dropout_prob"] = 0.0
    cfg["attention_probs_dropout_prob"] = 0.0
    json.dump(cfg, open(p, "w"), indent=2)


def make_loss(spec, model, base):
    """The loss object of an stc loss config; a "guide" path (GISTEmbedLoss)
    is relative to base."""
    from sentence_transformers import SentenceTransformer, losses
    spec = dict(spec)
    cls = getattr(losses, spec.pop("type"))
    if "loss" in spec:
        spec["loss"] = make_loss(spec["loss"], model, base)
    if "guide" in spec:
        spec["guide"] = SentenceTransformer(os.path.join(base, spec["guide"]), device="cpu")
    return cls(model, **spec)


def root_name(loss_name):
    """'model.0.model.encoder...' / 'model.0.auto_model.encoder...' -> 'encoder...'"""
    for pre in ("model.0.auto_model.", "model.0.model.", "0.auto_model.", "0.model."):
        i = loss_name.find(pre)
        if i >= 0:
            return loss_name[i + len(pre):]
    return loss_name


def param_summary(named, init):
    out = []
    for name, t in named:
        a = t.detach().double().cpu().numpy().ravel()
        a0 = init[name].ravel()
        out.append({"name": name, "shape": list(t.shape), "norm": float(np.linalg.norm(a)),
                    "delta_norm": float(np.linalg.norm(a - a0)),
                    "first": [float(x) for x in a[:N_FIRST]]})
    return out


def write_safetensors(path, tensors):
    """Write {name: float32 array} as a safetensors file (names sorted, so
    the bytes depend only on the values)."""
    head, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype="<f4").tobytes()
        head[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run_trainer(name, model, rows, columns, cfg, work, param_name):
    """SentenceTransformerTrainer on `rows` (batch = every row) with the stc
    config `cfg` turned into a loss and SentenceTransformerTrainingArguments
    (cfg's "loss" is removed). Returns (steps, param groups): per optimizer
    step the logged loss, grad_norm, learning rate and each param group's
    learning rate; the groups with their parameters under param_name(name)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    ds = Dataset.from_dict({c: [r[c] for r in rows] for c in columns})
    loss = make_loss(cfg.pop("loss"), model, work)
    if "warmup_ratio" in cfg:  # transformers 5: the ratio form of warmup_steps
        cfg["warmup_steps"] = cfg.pop("warmup_ratio")
    args = SentenceTransformerTrainingArguments(
        output_dir=os.path.join(work, "py-out"), per_device_train_batch_size=len(rows),
        report_to="none", use_cpu=True, disable_tqdm=True, **cfg)

    group_lrs = []

    class GroupLRs(TrainerCallback):
        # after optimizer.step(), before lr_scheduler.step(): the lrs used
        def on_optimizer_step(self, args, state, control, optimizer=None, **kw):
            group_lrs.append([g["lr"] for g in optimizer.param_groups])

    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss,
                                         callbacks=[GroupLRs()])
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h and "grad_norm" in h]
    if len(logs) != trainer.state.global_step or len(group_lrs) != len(logs):
        sys.exit(f"{name}: expected one log per step ({trainer.state.global_step}), got {len(logs)}")

    id2name = {id(p): param_name(n) for n, p in loss.named_parameters()}
    groups = [{"lr": g["initial_lr"], "weight_decay": g["weight_decay"],
               "params": [id2name[id(p)] for p in g["params"]]} for g in trainer.optimizer.param_groups]
    steps = [{"step": h["step"], "epoch": h["epoch"], "loss": h["loss"], "grad_norm": float(h["grad_norm"]),
              "learning_rate": h["learning_rate"], "learning_rates": lrs}
             for h, lrs in zip(logs, group_lrs)]
    return steps, groups


def run_reference(name, spec, rows, model_dir, work):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = dict(COMMON, **spec["config"])
    model = SentenceTransformer(model_dir, device="cpu")
    inner = model[0].auto_model
    init = {n: p.detach().double().numpy().copy() for n, p in inner.named_parameters()}
    steps, groups = run_trainer(name, model, rows, spec["columns"], cfg, work, root_name)
    emb = model.encode(TEXTS, normalize_embeddings=False, convert_to_numpy=True, batch_size=len(TEXTS))
    weights = {n: p.detach().float().numpy().copy() for n, p in inner.named_parameters()
               if not np.array_equal(p.detach().double().numpy(), init[n])}
    return weights, {
        "case": name,
        "rows": len(rows),
        "steps": steps,
        "param_groups": groups,
        "params": param_summary(inner.named_parameters(), init),
        "embeddings": [[float(x) for x in e] for e in emb],
    }


# ---- --check-stc ------------------------------------------------------------

def check_stc(stc, out_dir, model_src):
    """Train with stc, load its output in Python, compare embeddings."""
    import h5py
    from sentence_transformers import SentenceTransformer
    worst = 0.0
    for name in CASES:
        with tempfile.TemporaryDirectory() as w:
            nodropout_copy(model_src, os.path.join(w, "model"))
            if "guide_model" in CASES[name]:
                nodropout_copy(os.path.join(os.path.dirname(model_src), CASES[name]["guide_model"]),
                               os.path.join(w, "guide"))
            for f in ("config.json", "train.jsonl"):
                shutil.copy(os.path.join(out_dir, name, f), w)
            shutil.copy(os.path.join(out_dir, "texts.txt"), w)
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
            subprocess.run([stc, "train", "config.json"], cwd=w, env=env, check=True,
                           stderr=subprocess.DEVNULL)
            subprocess.run([stc, "encode", "--model", "out", "--input", "texts.txt", "--output", "e.h5"],
                           cwd=w, env=env, check=True, stderr=subprocess.DEVNULL)
            e_stc = h5py.File(os.path.join(w, "e.h5"))["embeddings"][:].astype(np.float64)
            m = SentenceTransformer(os.path.join(w, "out"), device="cpu")
            e_py = m.encode(TEXTS, normalize_embeddings=False, convert_to_numpy=True).astype(np.float64)
            ref = np.array(json.load(open(os.path.join(out_dir, name, "expected.json")))["embeddings"])
            d1 = np.abs(e_py - e_stc).max()
            d2 = np.abs(e_py - ref).max()
            worst = max(worst, d1)
            print(f"check-stc {name}: Python on stc's model vs stc encode: max abs {d1:.3g}; "
                  f"vs the Python-trained reference: max abs {d2:.3g}")
    return worst


def write_case_inputs(d, name, spec, nouns):
    """A case's train.jsonl and stc config.json in d; returns the rows."""
    rows = make_rows(name, spec, nouns)
    with open(os.path.join(d, "train.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps({c: r[c] for c in spec["columns"]}, ensure_ascii=False) + "\n")
    cfg = {"model": "model", "train_dataset": "train.jsonl", "output_dir": "out",
           "per_device_train_batch_size": spec["rows"]}
    cfg.update(COMMON)
    cfg.update(spec["config"])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    return rows


def write_expected(d, exp):
    """expected.json in d, with the versions that made it."""
    import sentence_transformers
    import transformers
    exp["meta"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                   "sentence_transformers": sentence_transformers.__version__}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=None)
        f.write("\n")


def fixture_args(description, out, model):
    """The training fixture generators' command line (--out, --model,
    --wordnet, --check-stc; defaults relative to the repository): returns
    the arguments and the WordNet nouns, with --out made and texts.txt
    written in it."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=os.path.join(here, out))
    ap.add_argument("--model", default=os.path.join(here, model))
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--check-stc", metavar="STC")
    a = ap.parse_args()

    import transformers
    transformers.logging.set_verbosity_error()
    nouns = read_nouns(a.wordnet)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "texts.txt"), "w") as f:
        f.write("".join(t + "\n" for t in TEXTS))
    return a, nouns


def main():
    a, nouns = fixture_args(__doc__.split("\n")[0], "tests/fixtures/train", "tests/fixtures/encode/tiny-bert")
    for name, spec in CASES.items():
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        rows = write_case_inputs(d, name, spec, nouns)
        with tempfile.TemporaryDirectory() as w:
            nodropout_copy(a.model, os.path.join(w, "model"))
            if "guide_model" in spec:
                nodropout_copy(os.path.join(os.path.dirname(a.model), spec["guide_model"]), os.path.join(w, "guide"))
            weights, exp = run_reference(name, spec, rows, os.path.join(w, "model"), w)
        write_safetensors(os.path.join(d, "final.safetensors"), weights)
        write_expected(d, exp)
        s = exp["steps"]
        print(f"{name}: {len(rows)} rows, {len(s)} steps, loss {s[0]['loss']:.4f} -> {s[-1]['loss']:.4f}, "
              f"{len(exp['param_groups'])} param groups")
    if a.check_stc:
        check_stc(os.path.abspath(a.check_stc), a.out, a.model)


if __name__ == "__main__":
    main()
