#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's Router training parity
test (tests/test_router_train.sh).

Dev-only: needs /work/venv (torch, transformers 5.x, sentence-transformers
6.x, datasets, accelerate); the test only reads what this writes. The model
is tests/fixtures/router/model (tools/make_router_fixtures.py: a Router with
a "query" route = tiny BERT A + mean pooling, max_seq_length 16, and a
"document" route = tiny BERT B + cls pooling + Dense(tanh), then Normalize),
copied with dropout set to 0 in both routes' BERT config.json, as the test
does. For each case it writes, under tests/fixtures/router_train/<case>/:

  config.json    the stc training config ("model" is that copy, "out" the
                 output_dir, "train.jsonl" the dataset), with its
                 router_mapping {column: task}
  train.jsonl    N rows of WordNet text (N = per_device_train_batch_size)
  expected.json  what SentenceTransformerTrainer(router_mapping=...) does:
                 per logging step (every step) loss, grad_norm,
                 learning_rate, epoch and every param group's lr; the param
                 groups (stc's parameter names, see below); per parameter of
                 each routed module (module folder, module-relative key as
                 saved in <folder>/model.safetensors) its shape, L2 norm, the
                 L2 norm of its change and its first 8 values; the word
                 embedding rows the data uses (see below); the trained
                 model's encode_query and encode_document of texts.txt
  final/<folder>.safetensors
                 the reference's final weights of each routed module with
                 parameters (query_0_Transformer, document_0_Transformer,
                 document_2_Dense), module-relative keys as stc and Python
                 save them, every parameter training changed. To stay small
                 the word embeddings hold only the rows of the tokens the
                 case's data uses ("word_rows" in expected.json lists them):
                 the other rows get no gradient, so AdamW only decays them
                 (p *= 1 - lr * weight_decay each step; Adam's m = v = 0 adds
                 nothing) and they end as the initial rows times one factor,
                 "decay" in expected.json (checked here against every such
                 row of Python's result, to float32 rounding)

and tests/fixtures/router_train/texts.txt (the texts embedded after
training).

Parameter names: learning_rate_mapping patterns are matched against the
loss module's named_parameters(). Sentence Transformers 6.3 names a routed
Transformer's BERT "model" ("model.0.sub_modules.query.0.model.encoder...");
stc keeps ST_SPEC's "auto_model" ("model.0.sub_modules.query.0.auto_model.
encoder...", model/st_model.c). Everything up to the route's module index
is the same ("model.0.sub_modules.<route>.<i>."), and so are the names of
modules other than Transformer (Dense: "model.0.sub_modules.document.2.
linear.weight"), so the patterns used here (r"sub_modules\\.query\\.",
r"sub_modules\\.document\\.2\\.") match the same parameters in both; a
pattern that spells out ".0.model." or ".0.auto_model." would not.
expected.json's param group names are stc's spelling.

Why the results do not depend on batch order, why dropout is off, and the
choice of learning rates: see tools/make_train_fixtures.py (same reasoning,
same tolerances). Each case runs 30 optimizer steps on a single batch that
holds every row.

Deterministic: fixed data, CPU float32, one thread, seeded.

Usage: /work/venv/bin/python tools/make_router_train_fixtures.py
       [--out tests/fixtures/router_train] [--model tests/fixtures/router/model]
       [--wordnet /usr/share/wordnet] [--check-stc build/stc]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_train_fixtures import (COMMON, TEXTS, fixture_args, run_trainer,  # noqa: E402
                                 write_case_inputs, write_expected, write_safetensors)

N_FIRST = 8

MNRL_MAPPING = {"anchor": "query", "positive": "document", "negative": "document"}
MNRL_CONFIG = {
    "max_steps": 30,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "linear",
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "learning_rate_mapping": {"sub_modules\\.query\\.": 5e-4},
    "max_grad_norm": 4.0,
}
CASES = {
    # MNRL with a hard negative: anchors through the query route, positives
    # and negatives through the document route (in one forward); linear
    # schedule with warmup_ratio (3 warmup steps), weight decay 0.01, the
    # query route at half the learning rate (a mapping pattern on one
    # route: a decay and a no-decay group).
    "mnrl": {
        "rows": 16,
        "columns": ("anchor", "positive", "negative"),
        "config": dict({"loss": {"type": "MultipleNegativesRankingLoss"},
                        "router_mapping": MNRL_MAPPING}, **MNRL_CONFIG),
    },
    # The same rows and settings through CachedMultipleNegativesRankingLoss
    # with mini_batch_size 4 < 16 rows: Python embeds each column in chunks
    # of 4 under its task; stc chunks each route's texts (the document
    # route's 32 positives and negatives, column after column) by 4.
    # Mathematically the same training as "mnrl".
    "cached_mnrl": {
        "rows": 16,
        "rows_from": "mnrl",
        "columns": ("anchor", "positive", "negative"),
        "config": dict({"loss": {"type": "CachedMultipleNegativesRankingLoss", "mini_batch_size": 4},
                        "router_mapping": MNRL_MAPPING}, **MNRL_CONFIG),
    },
    # CoSENT on scored pairs, sentence1 through the query route and
    # sentence2 through the document route; cosine schedule with warmup
    # steps; the document route's Dense at a higher learning rate.
    "cosent": {
        "rows": 20,
        "columns": ("sentence1", "sentence2", "score"),
        "config": {
            "loss": {"type": "CoSENTLoss", "scale": 20.0},
            "router_mapping": {"sentence1": "query", "sentence2": "document"},
            "max_steps": 30,
            "learning_rate": 5e-4,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 2,
            "weight_decay": 0.01,
            "learning_rate_mapping": {"sub_modules\\.document\\.2\\.": 1e-3},
            "max_grad_norm": 10.0,
        },
    },
}

# COMMON and TEXTS: the same as the plain cases'.


def nodropout_copy(src, dst):
    """Copy of the Router model with dropout 0 in every routed BERT."""
    shutil.copytree(src, dst)
    for sub in sorted(os.listdir(dst)):
        p = os.path.join(dst, sub, "config.json")
        if not sub.endswith("_Transformer") or not os.path.isfile(p):
            continue
        cfg = json.load(open(p))
        cfg["hidden_dropout_prob"] = 0.0
        cfg["attention_probs_dropout_prob"] = 0.0
        json.dump(cfg, open(p, "w"), indent=2)


def module_key(structure, name):
    """'0.sub_modules.query.0.model.embeddings.x' -> ('query_0_Transformer',
    'embeddings.x'); '0.sub_modules.document.2.linear.weight' ->
    ('document_2_Dense', 'linear.weight') (the folder and the key that
    <folder>/model.safetensors holds)."""
    m = re.match(r"^(?:model\.)?0\.sub_modules\.([^.]+)\.(\d+)\.(.*)$", name)
    if not m:
        sys.exit(f"unexpected parameter name {name}")
    route, i, rest = m.group(1), int(m.group(2)), m.group(3)
    folder = structure[route][i]
    if folder.endswith("_Transformer"):
        rest = rest[len("model."):] if rest.startswith("model.") else rest
    return folder, rest


def stc_name(name):
    """The loss module's 6.3 name -> stc's (auto_model for a Transformer)."""
    return re.sub(r"^(model\.0\.sub_modules\.[^.]+\.\d+\.)model\.", r"\1auto_model.", name)


def used_tokens(model, rows, mapping, columns):
    """{route: sorted token ids} of every text a route tokenizes."""
    out = {}
    for c in columns:
        if c not in mapping:
            continue
        route = mapping[c]
        feats = model.preprocess([r[c] for r in rows], task=route)
        ids = set(int(x) for x in feats["input_ids"].flatten().tolist())
        out.setdefault(route, set()).update(ids)
    return {k: sorted(v) for k, v in out.items()}


def run_reference(name, spec, rows, model_dir, work):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = dict(COMMON, **spec["config"])
    structure = json.load(open(os.path.join(model_dir, "router_config.json")))["structure"]
    model = SentenceTransformer(model_dir, device="cpu")
    init = {n: p.detach().double().numpy().copy() for n, p in model.named_parameters()}
    steps, groups = run_trainer(name, model, rows, spec["columns"], cfg, work, stc_name)
    grad_norms = [s["grad_norm"] for s in steps]
    if not min(grad_norms) < cfg["max_grad_norm"] < max(grad_norms):
        print(f"{name}: warning: max_grad_norm {cfg['max_grad_norm']} outside the gradient norms "
              f"[{min(grad_norms):.3g}, {max(grad_norms):.3g}]")

    # The data's tokens per route: the word embedding rows with a gradient.
    tokens = used_tokens(model, rows, spec["config"]["router_mapping"], spec["columns"])

    weights, params, word_rows = {}, [], {}
    for n, p in model.named_parameters():
        folder, key = module_key(structure, n)
        a = p.detach().double().numpy()
        a0 = init[n]
        params.append({"module": folder, "name": key, "shape": list(a.shape),
                       "norm": float(np.linalg.norm(a)), "delta_norm": float(np.linalg.norm(a - a0)),
                       "first": [float(x) for x in a.ravel()[:N_FIRST]]})
        if np.array_equal(a, a0):
            continue
        f = p.detach().float().numpy().copy()
        if key == "embeddings.word_embeddings.weight":
            route = folder.split("_")[0]
            ids = tokens[route]
            rest = np.setdiff1d(np.arange(a.shape[0]), ids)
            # the rows without gradient: the initial rows times one factor
            num = float((a[rest] * a0[rest]).sum())
            den = float((a0[rest] * a0[rest]).sum())
            decay = num / den
            dev = float(np.abs(a[rest] - decay * a0[rest]).max())
            if dev > 1e-6:
                sys.exit(f"{name}: {folder}: word embedding rows without gradient are not a decayed copy "
                         f"(max dev {dev:.3g})")
            word_rows[folder] = {"rows": ids, "decay": decay, "decay_dev": dev}
            f = f[ids]
        weights.setdefault(folder, {})[key] = f

    emb = {
        "query": model.encode_query(TEXTS, convert_to_numpy=True, batch_size=len(TEXTS)),
        "document": model.encode_document(TEXTS, convert_to_numpy=True, batch_size=len(TEXTS)),
    }
    return weights, {
        "case": name,
        "rows": len(rows),
        "steps": steps,
        "param_groups": groups,
        "params": params,
        "word_rows": word_rows,
        "embeddings": {k: [[float(x) for x in e] for e in v] for k, v in emb.items()},
    }


def check_stc(stc, out_dir, model_src):
    """Train with stc, load its output with Python, compare the embeddings
    (stc's output directory must be a valid Sentence Transformers model)."""
    import h5py
    from sentence_transformers import SentenceTransformer
    for name in CASES:
        with tempfile.TemporaryDirectory() as w:
            nodropout_copy(model_src, os.path.join(w, "model"))
            for f in ("config.json", "train.jsonl"):
                shutil.copy(os.path.join(out_dir, name, f), w)
            shutil.copy(os.path.join(out_dir, "texts.txt"), w)
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
            subprocess.run([stc, "train", "config.json"], cwd=w, env=env, check=True, stderr=subprocess.DEVNULL)
            m = SentenceTransformer(os.path.join(w, "out"), device="cpu")
            ref = json.load(open(os.path.join(out_dir, name, "expected.json")))["embeddings"]
            for task in ("query", "document"):
                subprocess.run([stc, "encode", "--model", "out", "--input", "texts.txt", "--output", "e.h5",
                                "--task", task, "--prompt-name", task],
                               cwd=w, env=env, check=True, stderr=subprocess.DEVNULL)
                e_stc = h5py.File(os.path.join(w, "e.h5"))["embeddings"][:].astype(np.float64)
                enc = m.encode_query if task == "query" else m.encode_document
                e_py = enc(TEXTS, convert_to_numpy=True).astype(np.float64)
                d1 = np.abs(e_py - e_stc).max()
                d2 = np.abs(e_py - np.array(ref[task])).max()
                print(f"check-stc {name} {task}: Python on stc's model vs stc encode: max abs {d1:.3g}; "
                      f"vs the Python-trained reference: max abs {d2:.3g}")


def main():
    a, nouns = fixture_args(__doc__.split("\n")[0], "tests/fixtures/router_train", "tests/fixtures/router/model")
    for name, spec in CASES.items():
        d = os.path.join(a.out, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "final"))
        rows = write_case_inputs(d, name, spec, nouns)
        with tempfile.TemporaryDirectory() as w:
            nodropout_copy(a.model, os.path.join(w, "model"))
            weights, exp = run_reference(name, spec, rows, os.path.join(w, "model"), w)
        for folder, ts in weights.items():
            write_safetensors(os.path.join(d, "final", folder + ".safetensors"), ts)
        write_expected(d, exp)
        s = exp["steps"]
        gn = [x["grad_norm"] for x in s]
        print(f"{name}: {len(rows)} rows, {len(s)} steps, loss {s[0]['loss']:.4f} -> {s[-1]['loss']:.4f}, "
              f"grad_norm {min(gn):.3g}..{max(gn):.3g}, {len(exp['param_groups'])} param groups, "
              f"word rows " + ", ".join(f"{k}: {len(v['rows'])}" for k, v in exp["word_rows"].items()))
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(a.out) for f in fs)
    print(f"wrote {a.out} ({size / 1024:.0f} KiB)")
    if a.check_stc:
        check_stc(os.path.abspath(a.check_stc), a.out, a.model)


if __name__ == "__main__":
    main()
