#!/usr/bin/env python3
"""Retrieval metrics from stc's embedding files, named as Sentence
Transformers' InformationRetrievalEvaluator names them (cosine_accuracy@k,
cosine_ndcg@10, cosine_mrr@10, ...), for a BEIR-layout set.

The demo scores with `stc eval` now; this script stays as an independent
check of it (tests/test_eval_cli.sh).

usage: ir_eval.py QUERIES.jsonl CORPUS.jsonl QRELS.tsv Q_EMB.h5 C_EMB.h5 [--name NAME]
Row i of an embeddings file belongs to record i of its JSONL file.
Needs numpy and h5py (Debian: python3-numpy, python3-h5py).
"""

import argparse
import json
import math

import h5py
import numpy as np


def ids_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["_id"] for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    for a in ("queries", "corpus", "qrels", "q_emb", "c_emb"):
        ap.add_argument(a)
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    qids, cids = ids_of(args.queries), ids_of(args.corpus)
    rel = {}
    with open(args.qrels, encoding="utf-8") as f:
        next(f)
        for line in f:
            q, c, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                rel.setdefault(q, set()).add(c)
    q = h5py.File(args.q_emb, "r")["embeddings"][:].astype(np.float32)
    c = h5py.File(args.c_emb, "r")["embeddings"][:].astype(np.float32)
    assert q.shape[0] == len(qids) and c.shape[0] == len(cids), "embeddings and records differ in count"
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    ks = (1, 3, 5, 10)
    acc = {k: 0.0 for k in ks}
    ndcg = mrr = 0.0
    n = 0
    for start in range(0, len(qids), 1024):
        scores = q[start:start + 1024] @ c.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        for i, row in enumerate(top):
            r = rel.get(qids[start + i])
            if not r:
                continue  # Python drops queries without relevant documents
            n += 1
            hits = [cids[j] in r for j in row]
            for k in ks:
                acc[k] += any(hits[:k])
            first = next((i for i, h in enumerate(hits) if h), None)
            mrr += 0.0 if first is None else 1.0 / (first + 1)
            dcg = sum(1.0 / math.log2(i + 2) for i, h in enumerate(hits) if h)
            idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(r), 10)))
            ndcg += dcg / idcg
    prefix = f"{args.name}_" if args.name else ""
    metrics = {f"{prefix}cosine_accuracy@{k}": acc[k] / n for k in ks}
    metrics[f"{prefix}cosine_mrr@10"] = mrr / n
    metrics[f"{prefix}cosine_ndcg@10"] = ndcg / n
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()}, indent=1))


if __name__ == "__main__":
    main()
