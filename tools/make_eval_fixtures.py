#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's evaluator parity tests.

Dev-only: needs /work/venv (torch, sentence-transformers 6.x); the C tests
only read what this writes. It runs sentence-transformers' own evaluators
on the tiny test models (tests/fixtures/encode/tiny-bert-dense, prompts
{"query": "query: ", "document": "passage: "}, normalised outputs; and the
Router model tests/fixtures/router/model) and small synthetic data:

  tests/fixtures/eval/
    queries.jsonl, corpus.jsonl, qrels.tsv   BEIR layout: 30 queries (3 without
        relevant documents, 1 whose only qrels row has score 0), 80 documents
        (10 exact duplicates of others under other ids: exact score ties that
        Python breaks by corpus id; ids whose string order differs from file
        order), qrels naming a document missing from the corpus and a query
        missing from the queries
    similarity.csv   40 pairs (sentence1, sentence2, score; tied gold scores)
    triplets.jsonl   30 triplets (anchor, positive, negative)
    binary.tsv       40 pairs (sentence1, sentence2, label; repeated pairs)
    reranking.jsonl  14 samples {"query", "positive": [...], "negative": [...]} (a positive given
        as one string, a sample without negatives that Python drops, documents shared between
        samples, a negative equal to its sample's positive: an exact score tie)
    paraphrase_sentences.jsonl, paraphrase_duplicates.tsv   45 {"_id", "text"} sentences (exact
        repeats under other ids, near paraphrases) and 18 duplicate pairs "id1<TAB>id2" (one id
        not among the sentences)
    translation.tsv  30 pairs (source, target; repeated targets)
    teacher.npy      tiny-bert's embeddings of translation.tsv's sources, truncated to 16
    expected.json    {"meta": versions, "cases": [{"name", "model" (relative to tests/), "spec":
        the evaluator config stc reads (paths relative to tests/), "metrics":
        Python's dict in its order, "primary": primary_metric, "csv": {file:
        text after two calls, (epoch -1, steps -1) then (epoch 0.5, steps 7)}}]}

The cases of the later evaluators (RerankingEvaluator, MSEEvaluator,
ParaphraseMiningEvaluator, TranslationEvaluator) come after the first ones,
from their own random stream, so the files above them stay byte-identical.

Deterministic (seeded data, CPU float32, one thread).
Usage: /work/venv/bin/python tools/make_eval_fixtures.py [--out tests/fixtures/eval]
"""

import argparse
import csv
import json
import os
import random
import shutil
import tempfile

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "tests", "fixtures", "encode", "tiny-bert-dense")
# A Router model (query and document routes, tests/fixtures/router): the IR
# and triplet evaluators encode queries and anchors through "query", the rest
# through "document"; the pair evaluators' plain encode takes the default route.
ROUTER = "fixtures/router/model"
REL = "fixtures/eval"  # the specs' paths, relative to tests/ (where the tests run)
CALLS = [(-1, -1), (0.5, 7)]


def vocab_words():
    with open(os.path.join(MODEL, "vocab.txt"), encoding="utf-8") as f:
        words = [w.strip() for w in f]
    return [w for w in words if w.isascii() and w.isalpha() and len(w) > 3][:400]


def sentence(rng, words, n):
    return " ".join(rng.choice(words) for _ in range(n))


def make_data(rng, words):
    # Corpus: 70 distinct documents, then 10 copies of earlier ones under new ids.
    ids = [f"d{i}" for i in rng.sample(range(80), 80)]
    texts = [sentence(rng, words, rng.randint(4, 9)) for _ in range(70)]
    texts += [texts[i] for i in rng.sample(range(70), 10)]
    corpus = [{"_id": i, "title": rng.choice(words), "text": t} for i, t in zip(ids, texts)]
    dup_of = {i: next(j for j in range(70) if texts[j] == texts[i]) for i in range(70, 80)}

    queries, qrels = [], []
    for q in range(30):
        qid = f"q{q}"
        rel = rng.sample(range(70), rng.randint(1, 4))
        # Some queries are relevant to a duplicated document but only one
        # of its copies: the tie order then decides a hit.
        for i, j in dup_of.items():
            if j in rel and rng.random() < 0.5:
                rel.append(i)
        base = texts[rel[0]].split()
        text = " ".join(rng.sample(base, min(3, len(base))) + [rng.choice(words)])
        queries.append({"_id": qid, "text": text})
        if q >= 27:
            continue  # no relevant documents: Python drops the query
        if q == 26:
            qrels.append((qid, ids[rel[0]], 0))  # score 0 only: dropped too
            continue
        qrels += [(qid, ids[r], rng.choice([1, 2])) for r in rel]
    qrels.append(("q3", "d999", 1))  # relevant, absent from the corpus: counts in recall
    qrels.append(("q-unknown", ids[0], 1))  # a query not in the queries file
    qrels.append(("q5", ids[1], 0))

    sim = []
    for i in range(40):
        a = sentence(rng, words, rng.randint(3, 8))
        b = " ".join(a.split()[: rng.randint(1, 4)] + [sentence(rng, words, rng.randint(0, 4))]).strip()
        sim.append((a, b, rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])))
    sim[39] = sim[3]  # a repeated pair
    trip = []
    for i in range(30):
        a = sentence(rng, words, rng.randint(3, 7))
        p = " ".join(rng.sample(a.split(), max(1, len(a.split()) - 2)) + [rng.choice(words)])
        trip.append((a, p, sentence(rng, words, rng.randint(3, 7))))
    binary = []
    for i in range(40):
        a = sentence(rng, words, rng.randint(3, 8))
        label = i % 2
        b = (" ".join(a.split()[:3] + [rng.choice(words)]) if label else sentence(rng, words, rng.randint(3, 8)))
        binary.append((a, b, label))
    binary[38] = binary[2]
    binary[39] = binary[5]
    return corpus, queries, qrels, sim, trip, binary


def write_files(out, corpus, queries, qrels, sim, trip, binary):
    def jsonl(name, rows):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")

    jsonl("queries.jsonl", queries)
    jsonl("corpus.jsonl", corpus)
    with open(os.path.join(out, "qrels.tsv"), "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, c, s in qrels:
            f.write(f"{q}\t{c}\t{s}\n")
    with open(os.path.join(out, "similarity.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["sentence1", "sentence2", "score"])
        w.writerows(sim)
    jsonl("triplets.jsonl", [{"anchor": a, "positive": p, "negative": n} for a, p, n in trip])
    with open(os.path.join(out, "binary.tsv"), "w", encoding="utf-8") as f:
        f.write("sentence1\tsentence2\tlabel\n")
        for a, b, l in binary:
            f.write(f"{a}\t{b}\t{l}\n")


def make_data2(rng, words):
    """The later evaluators' data (its own random stream)."""
    docs = [sentence(rng, words, rng.randint(3, 8)) for _ in range(50)]
    rerank = []
    for s in range(14):
        pos = rng.sample(docs, rng.randint(1, 3))
        neg = rng.sample([d for d in docs if d not in pos], rng.randint(2, 7))
        base = pos[0].split()
        query = " ".join(rng.sample(base, min(3, len(base))) + [rng.choice(words)])
        rerank.append({"query": query, "positive": pos, "negative": neg, "source": f"s{s}"})
    rerank[3]["positive"] = rerank[3]["positive"][0]  # one text instead of a list
    rerank[6]["negative"] = []  # dropped by Python
    rerank[9]["negative"].insert(1, rerank[9]["positive"][0])  # an exact tie with a positive

    sents, dups = [], []
    for i in range(30):
        sents.append(sentence(rng, words, rng.randint(4, 9)))
    for i in range(10):  # near paraphrases: a sentence with one word changed
        j = rng.randrange(30)
        w = sents[j].split()
        w[rng.randrange(len(w))] = rng.choice(words)
        sents.append(" ".join(w))
        dups.append((j, 30 + i))
    for i in range(5):  # exact repeats
        j = rng.randrange(40)
        sents.append(sents[j])
        dups.append((j, 40 + i))
    ids = [f"p{i}" for i in rng.sample(range(100), 45)]
    sentences = [{"_id": ids[i], "text": t} for i, t in enumerate(sents)]
    pairs = [(ids[a], ids[b]) for a, b in dups]
    pairs += [(ids[rng.randrange(45)], ids[rng.randrange(45)]) for _ in range(2)]
    pairs.append((ids[0], "p-missing"))

    trans = []
    for i in range(30):
        src = sentence(rng, words, rng.randint(3, 8))
        w = src.split()
        rng.shuffle(w)
        trans.append((src, " ".join(w[: max(2, len(w) - 1)])))
    trans[20] = (trans[20][0], trans[4][1])  # a repeated target
    trans[21] = (trans[21][0], trans[4][1])
    return rerank, sentences, pairs, trans


def write_files2(out, rerank, sentences, pairs, trans):
    with open(os.path.join(out, "reranking.jsonl"), "w", encoding="utf-8") as f:
        for r in rerank:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "paraphrase_sentences.jsonl"), "w", encoding="utf-8") as f:
        for r in sentences:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "paraphrase_duplicates.tsv"), "w", encoding="utf-8") as f:
        f.write("id1\tid2\n")
        for a, b in pairs:
            f.write(f"{a}\t{b}\n")
    with open(os.path.join(out, "translation.tsv"), "w", encoding="utf-8") as f:
        f.write("source\ttarget\n")
        for a, b in trans:
            f.write(f"{a}\t{b}\n")
    import numpy as np
    from sentence_transformers import SentenceTransformer

    teacher = SentenceTransformer(os.path.join(REPO, "tests", "fixtures", "encode", "tiny-bert"), device="cpu")
    emb = teacher.encode([a for a, _ in trans], batch_size=32, truncate_dim=16, convert_to_numpy=True)
    np.save(os.path.join(out, "teacher.npy"), emb.astype(np.float32))


def cases2(rerank, sentences, pairs, trans):
    """The later evaluators' cases (after the first ones in expected.json)."""
    src, trg = [list(x) for x in zip(*trans)]
    smap = {s["_id"]: s["text"] for s in sentences[:12] + sentences[30:38] + sentences[40:45]}
    ids = list(smap)
    small_pairs = [[a, b] for a, b in pairs if a in smap and b in smap] + [[ids[0], ids[5]], [ids[5], ids[9]]]
    ddict = {ids[2]: {ids[3]: True, ids[4]: False}, ids[4]: {ids[7]: True}, "elsewhere": {ids[7]: True, ids[11]: True},
             ids[11]: {}}
    samples = [{k: r[k] for k in ("query", "positive", "negative")} for r in rerank[:9]]
    return [
        ("reranking_file", {"type": "RerankingEvaluator", "name": "rr", "dataset": f"{REL}/reranking.jsonl"}),
        ("reranking_inline", {"type": "RerankingEvaluator", "samples": samples, "at_k": 3, "similarity_fct": "dot",
                              "batch_size": 4, "use_batched_encoding": False}),
        ("reranking_mrr", {"type": "RerankingEvaluator", "name": "rr-mrr", "dataset": f"{REL}/reranking.jsonl",
                           "mrr_at_k": 5, "similarity_fct": "euclidean", "batch_size": 7}),
        ("mse_teacher_model", {"type": "MSEEvaluator", "name": "mse", "source_sentences": src,
                               "target_sentences": trg, "teacher_model": "fixtures/encode/tiny-bert",
                               "truncate_dim": 16, "batch_size": 8}),
        ("mse_npy", {"type": "MSEEvaluator", "dataset": f"{REL}/translation.tsv",
                     "teacher_embeddings": f"{REL}/teacher.npy"}),
        ("paraphrase_file", {"type": "ParaphraseMiningEvaluator", "name": "pm",
                             "sentences_map": f"{REL}/paraphrase_sentences.jsonl",
                             "duplicates_list": f"{REL}/paraphrase_duplicates.tsv"}),
        ("paraphrase_small", {"type": "ParaphraseMiningEvaluator", "sentences_map": smap,
                              "duplicates_list": small_pairs, "duplicates_dict": ddict,
                              "add_transitive_closure": True, "top_k": 3, "max_pairs": 15, "batch_size": 5,
                              "query_chunk_size": 7, "corpus_chunk_size": 5}),
        ("translation_file", {"type": "TranslationEvaluator", "name": "tr", "dataset": f"{REL}/translation.tsv"}),
        ("translation_inline", {"type": "TranslationEvaluator", "source_sentences": trg, "target_sentences": src,
                                "truncate_dim": 8, "batch_size": 6}),
        ("reranking_router", {"type": "RerankingEvaluator", "name": "router", "dataset": f"{REL}/reranking.jsonl"},
         ROUTER),
    ]


def cases(sim, trip, binary):
    """(name, spec[, model relative to tests/]) tuples; the spec is what stc reads."""
    ir = {"queries": f"{REL}/queries.jsonl", "corpus": f"{REL}/corpus.jsonl", "relevant_docs": f"{REL}/qrels.tsv"}
    s1, s2, sc = [list(x) for x in zip(*sim)]
    a, p, n = [list(x) for x in zip(*trip)]
    b1, b2, bl = [list(x) for x in zip(*binary)]
    return [
        ("ir_default", {"type": "InformationRetrievalEvaluator", "name": "dev", **ir}),
        ("ir_custom", {"type": "InformationRetrievalEvaluator", "name": "custom", **ir,
                       "score_functions": ["dot", "cosine"], "mrr_at_k": [1, 5], "ndcg_at_k": [3, 10, 3],
                       "accuracy_at_k": [1, 2], "precision_recall_at_k": [2, 4], "map_at_k": [5, 10],
                       "corpus_chunk_size": 7, "batch_size": 5, "query_prompt": "search: ",
                       "corpus_prompt_name": "query"}),
        ("ir_distance", {"type": "InformationRetrievalEvaluator", **ir,
                         "score_functions": ["manhattan", "euclidean"], "main_score_function": "euclidean",
                         "ndcg_at_k": [5, 20], "map_at_k": [20], "corpus_chunk_size": 16,
                         "query_prompt_name": "document"}),
        ("similarity_file", {"type": "EmbeddingSimilarityEvaluator", "name": "sts",
                             "dataset": f"{REL}/similarity.csv"}),
        ("similarity_all_fns", {"type": "EmbeddingSimilarityEvaluator", "sentences1": s1, "sentences2": s2,
                                "scores": sc, "similarity_fn_names": ["manhattan", "cosine", "dot", "euclidean"],
                                "batch_size": 3}),
        ("triplet_file", {"type": "TripletEvaluator", "name": "tri", "dataset": f"{REL}/triplets.jsonl"}),
        ("triplet_margin", {"type": "TripletEvaluator", "anchors": a, "positives": p, "negatives": n,
                            "similarity_fn_names": ["cosine", "euclidean"], "margin": {"euclidean": 0.05},
                            "main_similarity_function": "euclidean"}),
        ("binary_file", {"type": "BinaryClassificationEvaluator", "name": "bin", "dataset": f"{REL}/binary.tsv"}),
        ("binary_all_fns", {"type": "BinaryClassificationEvaluator", "sentences1": b1, "sentences2": b2,
                            "labels": bl, "similarity_fn_names": ["cosine", "dot", "manhattan", "euclidean"]}),
        ("ir_router", {"type": "InformationRetrievalEvaluator", "name": "router", **ir, "corpus_chunk_size": 30},
         ROUTER),
        ("triplet_router", {"type": "TripletEvaluator", "name": "router", "dataset": f"{REL}/triplets.jsonl"},
         ROUTER),
        ("binary_router", {"type": "BinaryClassificationEvaluator", "dataset": f"{REL}/binary.tsv"}, ROUTER),
        ("sequential", [{"type": "TripletEvaluator", "name": "seq-tri", "dataset": f"{REL}/triplets.jsonl"},
                        {"type": "InformationRetrievalEvaluator", "name": "seq-ir", **ir, "map_at_k": [10]},
                        {"type": "BinaryClassificationEvaluator", "name": "seq-bin",
                         "dataset": f"{REL}/binary.tsv"}]),
    ]


def python_evaluator(spec, data):
    """The sentence-transformers evaluator a spec describes."""
    from sentence_transformers.sentence_transformer import evaluation as ev
    from sentence_transformers import util

    corpus, queries, qrels, sim, trip, binary = data
    if isinstance(spec, list):
        return ev.SequentialEvaluator([python_evaluator(s, data) for s in spec])
    kw = {k: v for k, v in spec.items() if k not in ("type", "dataset", "queries", "corpus", "relevant_docs")}
    t = spec["type"]
    if t == "InformationRetrievalEvaluator":
        rel = {}
        for q, c, s in qrels:
            if s > 0:
                rel.setdefault(q, set()).add(c)
        fns = {"cosine": util.cos_sim, "dot": util.dot_score, "euclidean": util.euclidean_sim,
               "manhattan": util.manhattan_sim}
        if "score_functions" in kw:
            kw["score_functions"] = {name: fns[name] for name in kw["score_functions"]}
        return ev.InformationRetrievalEvaluator({q["_id"]: q["text"] for q in queries},
                                                {c["_id"]: c["text"] for c in corpus}, rel, **kw)
    if t == "EmbeddingSimilarityEvaluator":
        if "dataset" in spec:
            kw.update(sentences1=[x[0] for x in sim], sentences2=[x[1] for x in sim], scores=[x[2] for x in sim])
        return ev.EmbeddingSimilarityEvaluator(**kw)
    if t == "TripletEvaluator":
        if "dataset" in spec:
            kw.update(anchors=[x[0] for x in trip], positives=[x[1] for x in trip], negatives=[x[2] for x in trip])
        return ev.TripletEvaluator(**kw)
    if t == "BinaryClassificationEvaluator":
        if "dataset" in spec:
            kw.update(sentences1=[x[0] for x in binary], sentences2=[x[1] for x in binary],
                      labels=[x[2] for x in binary])
        return ev.BinaryClassificationEvaluator(**kw)
    if t == "RerankingEvaluator":
        fns = {"cosine": util.cos_sim, "dot": util.dot_score, "euclidean": util.euclidean_sim,
               "manhattan": util.manhattan_sim}
        if "similarity_fct" in kw:
            kw["similarity_fct"] = fns[kw["similarity_fct"]]
        samples = kw.pop("samples", None)
        if "dataset" in spec:
            with open(os.path.join(REPO, "tests", spec["dataset"]), encoding="utf-8") as f:
                samples = [json.loads(line) for line in f]
        return ev.RerankingEvaluator(samples, **kw)
    if t == "MSEEvaluator":
        if "dataset" in spec:
            with open(os.path.join(REPO, "tests", spec["dataset"]), encoding="utf-8") as f:
                rows = [line.rstrip("\n").split("\t") for line in f][1:]
            kw.update(source_sentences=[r[0] for r in rows], target_sentences=[r[1] for r in rows])
        if "teacher_embeddings" in kw:
            import numpy as np

            class Given:  # the file's embeddings as the teacher's encode
                def __init__(self, emb):
                    self.emb = emb

                def encode(self, sentences, **_):
                    return self.emb

            kw["teacher_model"] = Given(np.load(os.path.join(REPO, "tests", kw.pop("teacher_embeddings"))))
        else:
            from sentence_transformers import SentenceTransformer

            kw["teacher_model"] = SentenceTransformer(os.path.join(REPO, "tests", kw["teacher_model"]), device="cpu")
        return ev.MSEEvaluator(**kw)
    if t == "ParaphraseMiningEvaluator":
        from collections import defaultdict

        smap = kw["sentences_map"]
        if isinstance(smap, str):
            with open(os.path.join(REPO, "tests", smap), encoding="utf-8") as f:
                kw["sentences_map"] = {r["_id"]: r["text"] for r in map(json.loads, f)}
        if isinstance(kw.get("duplicates_list"), str):
            with open(os.path.join(REPO, "tests", kw["duplicates_list"]), encoding="utf-8") as f:
                kw["duplicates_list"] = [tuple(line.rstrip("\n").split("\t")) for line in f][1:]
        if "duplicates_dict" in kw:  # stc reads a missing entry as false: Python's defaultdict
            dd = defaultdict(lambda: defaultdict(bool))
            for a, inner in kw["duplicates_dict"].items():
                dd[a].update(inner)
            kw["duplicates_dict"] = dd
        return ev.ParaphraseMiningEvaluator(**kw)
    if t == "TranslationEvaluator":
        if "dataset" in spec:
            with open(os.path.join(REPO, "tests", spec["dataset"]), encoding="utf-8") as f:
                rows = [line.rstrip("\n").split("\t") for line in f][1:]
            kw.update(source_sentences=[r[0] for r in rows], target_sentences=[r[1] for r in rows])
        return ev.TranslationEvaluator(**kw)
    raise SystemExit(f"unknown type {t}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "eval"))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    rng = random.Random(1234)
    data = make_data(rng, vocab_words())
    os.makedirs(args.out, exist_ok=True)
    write_files(args.out, *data)
    data2 = make_data2(random.Random(5678), vocab_words())
    write_files2(args.out, *data2)
    models = {}
    out_cases = []
    for name, spec, *model_dir in cases(*data[3:]) + cases2(*data2):
        model_rel = model_dir[0] if model_dir else "fixtures/encode/tiny-bert-dense"
        if model_rel not in models:
            models[model_rel] = SentenceTransformer(os.path.join(REPO, "tests", model_rel), device="cpu")
        model = models[model_rel]
        evaluator = python_evaluator(spec, data)
        tmp = tempfile.mkdtemp()
        try:
            for epoch, steps in CALLS:
                metrics = evaluator(model, output_path=tmp, epoch=epoch, steps=steps)
            csvs = {}
            for f in sorted(os.listdir(tmp)):
                with open(os.path.join(tmp, f), encoding="utf-8", newline="") as fh:
                    csvs[f] = fh.read()
        finally:
            shutil.rmtree(tmp)
        out_cases.append({"name": name, "model": model_rel, "spec": spec, "metrics": {k: float(v) for k, v in metrics.items()},
                          "primary": evaluator.primary_metric, "csv": csvs})
        print(name, evaluator.primary_metric, metrics[evaluator.primary_metric])
    meta = {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__}
    with open(os.path.join(args.out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "calls": CALLS, "cases": out_cases}, f,
                  indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
