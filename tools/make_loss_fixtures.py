#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's loss parity test.

Dev-only: needs /work/venv (torch, sentence-transformers); the C test
(tests/test_losses.c) only reads what this writes:

  tests/fixtures/losses/cases.json
      {"meta": {versions}, "cases": [case, ...]}, one case per loss setting:
      {"name", "loss": <the loss object as stc's training config writes it>,
       "B", "D", "columns": [[B*D floats], ...] (dataset column order),
       "labels": null | {"ndim", "cols", "width", "values": [...]},
       "value": loss, "grads": [[B*D floats], ...] d(loss)/d(column)}

Every loss is the real sentence_transformers class, constructed around a
stand-in model whose forward returns the given embeddings (requires_grad,
float64), called through its own forward() (so MatryoshkaLoss's forward
decorator, label slicing and re-normalisation run as in training) or, for
CachedMultipleNegativesRankingLoss, through calculate_loss() on mini-batch
chunks (its loss-on-embeddings step). The gradients come from autograd.

Inputs are random float32 values stored as float64, so the C test can feed
the same numbers to its float32 and float64 paths.

Deterministic (seeded numpy, CPU float64, one thread).

Usage: /work/venv/bin/python tools/make_loss_fixtures.py [--out tests/fixtures/losses]
"""

import argparse
import json
import os
import warnings

import numpy as np
import torch
from torch import nn

import sentence_transformers
from sentence_transformers.sentence_transformer import losses as L
from sentence_transformers.sentence_transformer.losses.contrastive import SiameseDistanceMetric
from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import BatchHardTripletLossDistanceFunction
from sentence_transformers import util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "losses")


class StandIn(nn.Sequential):
    """A 'SentenceTransformer' whose forward returns preset embeddings:
    features {"col": c} -> {"sentence_embedding": emb[c]}."""

    def __init__(self, embeddings):
        super().__init__(nn.Identity())
        self.embeddings = embeddings

    def forward(self, features, **kwargs):
        return {"sentence_embedding": self.embeddings[features["col"]]}

    def get_embedding_dimension(self):
        return self.embeddings[0].shape[1]

    def _get_untruncated_embedding_dimension(self):
        return self.embeddings[0].shape[1]


def rand_cols(rng, n_cols, B, D, scale=1.0):
    return [(rng.standard_normal((B, D)) * scale).astype(np.float32).astype(np.float64) for _ in range(n_cols)]


def guided(embs, guide):
    """The student stand-in and a guide stand-in (GISTEmbedLoss): both get
    tiny-bert's tokenizer, so the loss feeds the guide the student's
    features (must_retokenize false) and the guide returns its preset
    embeddings of the same columns."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(os.path.join(REPO, "tests", "fixtures", "encode", "tiny-bert"))
    model, guide_model = StandIn(embs), StandIn(guide)
    for m in (model, guide_model):
        m.tokenizer = tok
        m.max_seq_length = 48
    return model, guide_model


def run_case(name, loss_json, make_loss, cols, labels=None, cached_chunk=None, grad_cache=False, guide=None):
    """Evaluates the loss on cols (list of [B, D] arrays) and records it.

    guide: the guide model's embeddings of each column (GISTEmbedLoss; then
    make_loss takes (model, guide)); recorded as inputs, they get no
    gradient.

    grad_cache: call calculate_loss(with_backward=True) on detached chunk
    leaves, as a GradCache loss's first pass does (MegaBatchMarginLoss's
    mini-batched version); the chunks' gradients are the cached ones that
    the second pass back-propagates through the model."""
    embs = [torch.tensor(c, dtype=torch.float64, requires_grad=True) for c in cols]
    greps = []
    if guide is None:
        model = StandIn(embs)
        loss_mod = make_loss(model)
    else:
        gembs = [torch.tensor(g, dtype=torch.float64) for g in guide]
        model, guide_model = guided(embs, gembs)
        loss_mod = make_loss(model, guide_model)
        if cached_chunk is not None:  # CachedGISTEmbedLoss.calculate_loss(reps, reps_guided)
            greps = [[g[b : b + cached_chunk] for b in range(0, g.shape[0], cached_chunk)] for g in gembs]
    lab_t = None
    if labels is not None:
        # float32 values: the dataset's labels are float32, and
        # CosineSimilarityLoss/ContrastiveLoss call labels.float() anyway
        labels = np.asarray(labels, dtype=np.float32).astype(np.float64)
        lab_t = torch.tensor(labels, dtype=torch.float64)
    features = [{"col": i} for i in range(len(cols))]
    parts = None
    if grad_cache:
        reps = [[e[b : b + cached_chunk].detach().requires_grad_() for b in range(0, e.shape[0], cached_chunk)]
                for e in embs]
        value = loss_mod.calculate_loss(reps, lab_t, with_backward=True)
        grads = [torch.cat([r.grad if r.grad is not None else torch.zeros_like(r) for r in col]).numpy()
                 for col in reps]
    else:
        if cached_chunk is not None:
            reps = [[e[b : b + cached_chunk] for b in range(0, e.shape[0], cached_chunk)] for e in embs]
            value = loss_mod.calculate_loss(reps, greps if guide is not None else lab_t, with_backward=False)
        else:
            value = loss_mod(features, lab_t)
        if isinstance(value, dict):  # a loss with named parts: the trainer sums them
            parts = {k: float(v.detach()) for k, v in value.items()}
            value = sum(value.values())
        value.backward()
        grads = [(e.grad if e.grad is not None else torch.zeros_like(e)).detach().numpy() for e in embs]
    B, D = cols[0].shape
    case = {
        "name": name,
        "loss": loss_json,
        "B": B,
        "D": D,
        "columns": [c.reshape(-1).tolist() for c in cols],
        "labels": None,
        "value": float(value.detach()),
        "grads": [g.reshape(-1).tolist() for g in grads],
    }
    if labels is not None:
        arr = np.asarray(labels, dtype=np.float64)
        case["labels"] = {
            "ndim": arr.ndim,
            "cols": arr.shape[1] if arr.ndim == 3 else 0,
            "width": arr.shape[-1] if arr.ndim >= 2 else 0,
            "values": arr.reshape(-1).tolist(),
        }
    if parts is not None:
        case["components"] = parts
    if guide is not None:
        case["guide"] = {"D": guide[0].shape[1], "columns": [g.reshape(-1).tolist() for g in guide]}
    return case


def build_cases():
    rng = np.random.default_rng(20240611)
    cases = []
    add = cases.append

    # ---- MultipleNegativesRankingLoss and relatives
    add(run_case("mnrl_pairs", {"type": "MultipleNegativesRankingLoss"},
                 lambda m: L.MultipleNegativesRankingLoss(m), rand_cols(rng, 2, 5, 8)))
    add(run_case("mnrl_two_hard_negatives", {"type": "MultipleNegativesRankingLoss", "scale": 20.0},
                 lambda m: L.MultipleNegativesRankingLoss(m), rand_cols(rng, 4, 6, 7)))
    add(run_case("mnrl_dot", {"type": "MultipleNegativesRankingLoss", "scale": 1.0, "similarity_fct": "dot_score"},
                 lambda m: L.MultipleNegativesRankingLoss(m, scale=1.0, similarity_fct=util.dot_score),
                 rand_cols(rng, 3, 4, 9, scale=0.7)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        add(run_case("mnrl_symmetric", {"type": "MultipleNegativesSymmetricRankingLoss"},
                     lambda m: L.MultipleNegativesSymmetricRankingLoss(m), rand_cols(rng, 3, 5, 6)))
    add(run_case("mnrl_gte_joint",
                 {"type": "MultipleNegativesRankingLoss",
                  "directions": ["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"],
                  "partition_mode": "joint"},
                 lambda m: L.MultipleNegativesRankingLoss(
                     m, directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"),
                     partition_mode="joint"),
                 rand_cols(rng, 3, 5, 6)))
    for mode, strength in (("hard_negatives", 5.0), ("in_batch_negatives", 9.0), ("all_negatives", 3.0)):
        add(run_case(f"mnrl_hardness_{mode}",
                     {"type": "MultipleNegativesRankingLoss", "hardness_mode": mode, "hardness_strength": strength},
                     lambda m, mode=mode, strength=strength: L.MultipleNegativesRankingLoss(
                         m, hardness_mode=mode, hardness_strength=strength),
                     rand_cols(rng, 3, 4, 5)))
    zero = rand_cols(rng, 3, 4, 6)
    zero[0][2, :] = 0.0  # an all-zero anchor: F.normalize's eps clamp, gradient dy / 1e-12
    add(run_case("mnrl_zero_anchor", {"type": "MultipleNegativesRankingLoss"},
                 lambda m: L.MultipleNegativesRankingLoss(m), zero))
    add(run_case("cached_mnrl_chunks_of_2",
                 {"type": "CachedMultipleNegativesRankingLoss", "mini_batch_size": 2},
                 lambda m: L.CachedMultipleNegativesRankingLoss(m, mini_batch_size=2),
                 rand_cols(rng, 3, 7, 5), cached_chunk=2))

    # ---- CoSENT / AnglE
    ties = [0.0, 1.0, 0.5, 1.0, 0.0, 0.25]
    add(run_case("cosent_ties", {"type": "CoSENTLoss"}, lambda m: L.CoSENTLoss(m), rand_cols(rng, 2, 6, 7), ties))
    add(run_case("cosent_dot", {"type": "CoSENTLoss", "scale": 2.0, "similarity_fct": "pairwise_dot_score"},
                 lambda m: L.CoSENTLoss(m, scale=2.0, similarity_fct=util.pairwise_dot_score),
                 rand_cols(rng, 2, 5, 4, scale=0.5), [0.1, 0.9, 0.4, 0.4, 0.7]))
    add(run_case("angle_odd_dim", {"type": "AnglELoss"}, lambda m: L.AnglELoss(m), rand_cols(rng, 2, 5, 7),
                 [1.0, 0.0, 0.6, 0.3, 0.6]))
    add(run_case("angle_triplets_labels", {"type": "AnglELoss"}, lambda m: L.AnglELoss(m), rand_cols(rng, 3, 4, 6),
                 [0.9, 0.7, 1.0, 0.8]))
    add(run_case("angle_triplets_no_labels", {"type": "AnglELoss", "scale": 10.0},
                 lambda m: L.AnglELoss(m, scale=10.0), rand_cols(rng, 4, 3, 8)))

    # ---- CosineSimilarityLoss, MSELoss
    add(run_case("cosine_similarity", {"type": "CosineSimilarityLoss"}, lambda m: L.CosineSimilarityLoss(m),
                 rand_cols(rng, 2, 5, 6), [0.2, -0.1, 0.9, 0.5, 0.0]))
    tiny = rand_cols(rng, 2, 4, 5)
    tiny[0][1, :] *= 1e-10  # norm below torch.cosine_similarity's eps (1e-8)
    tiny[1][3, :] = 0.0     # a zero row
    add(run_case("cosine_similarity_tiny_rows", {"type": "CosineSimilarityLoss"}, lambda m: L.CosineSimilarityLoss(m),
                 tiny, [0.5, 0.3, -0.2, 0.7]))
    add(run_case("contrastive_cosine_tiny_rows", {"type": "ContrastiveLoss"}, lambda m: L.ContrastiveLoss(m),
                 [c.copy() for c in tiny], [1.0, 1.0, 0.0, 1.0]))
    teacher = rng.standard_normal((4, 6)).astype(np.float32).astype(np.float64)
    add(run_case("mse_two_columns", {"type": "MSELoss"}, lambda m: L.MSELoss(m), rand_cols(rng, 2, 4, 6), teacher))
    teacher3 = rng.standard_normal((3, 2, 5)).astype(np.float32).astype(np.float64)
    add(run_case("mse_per_column_teacher", {"type": "MSELoss"}, lambda m: L.MSELoss(m), rand_cols(rng, 2, 3, 5),
                 teacher3))

    # ---- TripletLoss (6.3: real distances, as stc decided)
    add(run_case("triplet_euclidean", {"type": "TripletLoss", "triplet_margin": 1.0},
                 lambda m: L.TripletLoss(m, triplet_margin=1.0), rand_cols(rng, 3, 7, 5)))
    add(run_case("triplet_default_margin", {"type": "TripletLoss"}, lambda m: L.TripletLoss(m),
                 rand_cols(rng, 3, 4, 6)))
    add(run_case("triplet_manhattan",
                 {"type": "TripletLoss", "distance_metric": "TripletDistanceMetric.MANHATTAN", "triplet_margin": 2.0},
                 lambda m: L.TripletLoss(m, distance_metric=TripletDistanceMetric.MANHATTAN, triplet_margin=2.0),
                 rand_cols(rng, 3, 6, 4)))
    add(run_case("triplet_cosine",
                 {"type": "TripletLoss", "distance_metric": "TripletDistanceMetric.COSINE", "triplet_margin": 0.3},
                 lambda m: L.TripletLoss(m, distance_metric=TripletDistanceMetric.COSINE, triplet_margin=0.3),
                 rand_cols(rng, 3, 7, 6)))

    # ---- ContrastiveLoss, OnlineContrastiveLoss
    y = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    add(run_case("contrastive_cosine", {"type": "ContrastiveLoss", "margin": 1.0},
                 lambda m: L.ContrastiveLoss(m, margin=1.0), rand_cols(rng, 2, 6, 5), y))
    add(run_case("contrastive_euclidean_sum",
                 {"type": "ContrastiveLoss", "distance_metric": "SiameseDistanceMetric.EUCLIDEAN", "margin": 4.0,
                  "size_average": False},
                 lambda m: L.ContrastiveLoss(m, distance_metric=SiameseDistanceMetric.EUCLIDEAN, margin=4.0,
                                             size_average=False),
                 rand_cols(rng, 2, 6, 5), y))
    add(run_case("contrastive_manhattan",
                 {"type": "ContrastiveLoss", "distance_metric": "SiameseDistanceMetric.MANHATTAN", "margin": 6.0},
                 lambda m: L.ContrastiveLoss(m, distance_metric=SiameseDistanceMetric.MANHATTAN, margin=6.0),
                 rand_cols(rng, 2, 6, 5), y))
    add(run_case("online_contrastive", {"type": "OnlineContrastiveLoss", "margin": 1.2},
                 lambda m: L.OnlineContrastiveLoss(m, margin=1.2), rand_cols(rng, 2, 7, 5),
                 [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]))
    add(run_case("online_contrastive_euclidean",
                 {"type": "OnlineContrastiveLoss", "distance_metric": "SiameseDistanceMetric.EUCLIDEAN",
                  "margin": 3.5},
                 lambda m: L.OnlineContrastiveLoss(m, distance_metric=SiameseDistanceMetric.EUCLIDEAN, margin=3.5),
                 rand_cols(rng, 2, 6, 5), [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]))

    # ---- MatryoshkaLoss (dims given unsorted: Python sorts them descending with their weights)
    add(run_case("matryoshka_mnrl",
                 {"type": "MatryoshkaLoss", "loss": {"type": "MultipleNegativesRankingLoss"},
                  "matryoshka_dims": [4, 8, 2], "matryoshka_weights": [0.5, 1.0, 0.25]},
                 lambda m: L.MatryoshkaLoss(m, L.MultipleNegativesRankingLoss(m), [4, 8, 2], [0.5, 1.0, 0.25]),
                 rand_cols(rng, 3, 5, 8)))
    add(run_case("matryoshka_cosent",
                 {"type": "MatryoshkaLoss", "loss": {"type": "CoSENTLoss"}, "matryoshka_dims": [9, 5, 3]},
                 lambda m: L.MatryoshkaLoss(m, L.CoSENTLoss(m), [9, 5, 3]),
                 rand_cols(rng, 2, 6, 9), [0.3, 0.8, 0.3, 0.1, 0.95, 0.5]))
    add(run_case("matryoshka_mse_sliced_teacher",
                 {"type": "MatryoshkaLoss", "loss": {"type": "MSELoss"}, "matryoshka_dims": [6, 3],
                  "matryoshka_weights": [1.0, 2.0]},
                 lambda m: L.MatryoshkaLoss(m, L.MSELoss(m), [6, 3], [1.0, 2.0]),
                 rand_cols(rng, 1, 4, 6), rng.standard_normal((4, 6)).astype(np.float32).astype(np.float64)))
    build_more_cases(rng, add)
    build_gist_cases(rng, add)
    return cases


def teacher_scores(rng, B, n, scale=1.0):
    return (rng.standard_normal((B, n)) * scale).astype(np.float32).astype(np.float64)


def build_more_cases(rng, add):
    """MarginMSE, DistillKLDiv, the batch triplet losses, MegaBatchMargin,
    GlobalOrthogonalRegularization (appended: the cases above keep their
    random inputs)."""
    # ---- MarginMSELoss: [B] margins, [B, k] margins, [B, 1+k] scores
    add(run_case("margin_mse_one_negative", {"type": "MarginMSELoss"}, lambda m: L.MarginMSELoss(m),
                 rand_cols(rng, 3, 5, 6), rng.standard_normal(5)))
    add(run_case("margin_mse_one_negative_scores", {"type": "MarginMSELoss"}, lambda m: L.MarginMSELoss(m),
                 rand_cols(rng, 3, 4, 5), teacher_scores(rng, 4, 2)))
    add(run_case("margin_mse_two_negatives_scores", {"type": "MarginMSELoss"}, lambda m: L.MarginMSELoss(m),
                 rand_cols(rng, 4, 6, 5), teacher_scores(rng, 6, 3)))
    add(run_case("margin_mse_three_negatives_margins_cos",
                 {"type": "MarginMSELoss", "similarity_fct": "pairwise_cos_sim"},
                 lambda m: L.MarginMSELoss(m, similarity_fct=util.pairwise_cos_sim),
                 rand_cols(rng, 5, 4, 7), teacher_scores(rng, 4, 3, 0.3)))

    # ---- DistillKLDivLoss
    add(run_case("distill_kl_default", {"type": "DistillKLDivLoss"}, lambda m: L.DistillKLDivLoss(m),
                 rand_cols(rng, 3, 5, 6), teacher_scores(rng, 5, 2, 3.0)))
    add(run_case("distill_kl_temperature_2", {"type": "DistillKLDivLoss", "temperature": 2.0},
                 lambda m: L.DistillKLDivLoss(m, temperature=2.0), rand_cols(rng, 4, 6, 5),
                 teacher_scores(rng, 6, 3, 4.0)))
    # student_temperature before temperature in the config: the override still wins
    add(run_case("distill_kl_student_teacher_cos",
                 {"type": "DistillKLDivLoss", "student_temperature": 0.05, "temperature": 2.0,
                  "teacher_temperature": 3.0, "similarity_fct": "pairwise_cos_sim"},
                 lambda m: L.DistillKLDivLoss(m, similarity_fct=util.pairwise_cos_sim, temperature=2.0,
                                              student_temperature=0.05, teacher_temperature=3.0),
                 rand_cols(rng, 5, 4, 6), teacher_scores(rng, 4, 4, 5.0)))
    underflow = teacher_scores(rng, 4, 3, 1.0)
    underflow[1] = [900.0, 0.0, -900.0]  # softmax underflows to exact zeros: xlogy's 0 log 0 = 0
    add(run_case("distill_kl_teacher_underflow", {"type": "DistillKLDivLoss"}, lambda m: L.DistillKLDivLoss(m),
                 rand_cols(rng, 4, 4, 5, scale=0.5), underflow))

    # ---- Batch*TripletLoss: one column, class labels
    BH = BatchHardTripletLossDistanceFunction
    batch_losses = [
        ("batch_all", "BatchAllTripletLoss", L.BatchAllTripletLoss, True),
        ("batch_hard", "BatchHardTripletLoss", L.BatchHardTripletLoss, True),
        ("batch_semi_hard", "BatchSemiHardTripletLoss", L.BatchSemiHardTripletLoss, True),
        ("batch_hard_soft_margin", "BatchHardSoftMarginTripletLoss", L.BatchHardSoftMarginTripletLoss, False),
    ]
    label_sets = [
        ("dup_labels", 8, 5, [0, 0, 1, 1, 2, 2, 0, 1]),
        ("lonely_anchors", 6, 4, [0, 0, 1, 2, 2, 3]),   # anchors 2 and 5 have no positive
        ("one_class", 5, 6, [3, 3, 3, 3, 3]),            # no negatives: no valid triplet
        ("all_distinct", 4, 5, [0, 1, 2, 3]),            # no positives: no valid triplet
        ("two_classes", 7, 3, [1, 0, 1, 0, 1, 0, 0]),
    ]
    for short, cls_name, cls, has_margin in batch_losses:
        for lname, B, D, labels in label_sets:
            margin = 1.0 if lname != "two_classes" else 0.2
            j = {"type": cls_name}
            kw = {}
            if has_margin:
                j["margin"] = margin
                kw["margin"] = margin
            add(run_case(f"{short}_{lname}", j, lambda m, cls=cls, kw=kw: cls(m, **kw),
                         rand_cols(rng, 1, B, D), [float(x) for x in labels]))
        # the default margin 5, Python's spelling of the distance function
        add(run_case(f"{short}_default_eucledian",
                     {"type": cls_name, "distance_metric": "BatchHardTripletLossDistanceFunction.eucledian_distance"},
                     lambda m, cls=cls: cls(m, distance_metric=BH.eucledian_distance),
                     rand_cols(rng, 1, 6, 4), [0.0, 1.0, 0.0, 1.0, 2.0, 2.0]))
        j = {"type": cls_name, "distance_metric": "cosine_distance"}
        kw = {"distance_metric": BH.cosine_distance}
        if has_margin:
            j["margin"] = 0.3
            kw["margin"] = 0.3
        add(run_case(f"{short}_cosine", j, lambda m, cls=cls, kw=kw: cls(m, **kw),
                     rand_cols(rng, 1, 7, 5), [0.0, 1.0, 0.0, 1.0, 2.0, 2.0, 1.0]))

    # ---- MegaBatchMarginLoss: whole batch, GradCache chunks, one row, near positives
    add(run_case("mega_batch_whole", {"type": "MegaBatchMarginLoss", "use_mini_batched_version": False},
                 lambda m: L.MegaBatchMarginLoss(m, use_mini_batched_version=False), rand_cols(rng, 2, 6, 5)))
    add(run_case("mega_batch_mini_batched_chunks_of_2", {"type": "MegaBatchMarginLoss", "mini_batch_size": 2},
                 lambda m: L.MegaBatchMarginLoss(m, mini_batch_size=2), rand_cols(rng, 2, 7, 5),
                 cached_chunk=2, grad_cache=True))
    near = rand_cols(rng, 2, 6, 4)
    near[1] = (near[0] + 0.3 * near[1]).astype(np.float32).astype(np.float64)  # some positives past the margin
    add(run_case("mega_batch_near_positives",
                 {"type": "MegaBatchMarginLoss", "positive_margin": 0.9, "negative_margin": 0.1,
                  "use_mini_batched_version": False},
                 lambda m: L.MegaBatchMarginLoss(m, positive_margin=0.9, negative_margin=0.1,
                                                 use_mini_batched_version=False), near))
    add(run_case("mega_batch_one_row", {"type": "MegaBatchMarginLoss", "use_mini_batched_version": False},
                 lambda m: L.MegaBatchMarginLoss(m, use_mini_batched_version=False), rand_cols(rng, 2, 1, 5)))

    # ---- GlobalOrthogonalRegularizationLoss (a dict of parts)
    add(run_case("gor_default", {"type": "GlobalOrthogonalRegularizationLoss"},
                 lambda m: L.GlobalOrthogonalRegularizationLoss(m), rand_cols(rng, 2, 5, 6)))
    add(run_case("gor_sum_dot_weights",
                 {"type": "GlobalOrthogonalRegularizationLoss", "similarity_fct": "dot_score", "mean_weight": 0.5,
                  "second_moment_weight": 2.0, "aggregation": "sum"},
                 lambda m: L.GlobalOrthogonalRegularizationLoss(m, similarity_fct=util.dot_score, mean_weight=0.5,
                                                                second_moment_weight=2.0, aggregation="sum"),
                 rand_cols(rng, 3, 4, 5, scale=0.5)))
    add(run_case("gor_mean_only", {"type": "GlobalOrthogonalRegularizationLoss", "second_moment_weight": None},
                 lambda m: L.GlobalOrthogonalRegularizationLoss(m, second_moment_weight=None),
                 rand_cols(rng, 1, 6, 4)))
    add(run_case("gor_one_row", {"type": "GlobalOrthogonalRegularizationLoss"},
                 lambda m: L.GlobalOrthogonalRegularizationLoss(m), rand_cols(rng, 2, 1, 4)))

    # ---- MatryoshkaLoss around the new losses
    add(run_case("matryoshka_batch_hard_triplet",
                 {"type": "MatryoshkaLoss", "loss": {"type": "BatchHardTripletLoss", "margin": 1.0},
                  "matryoshka_dims": [3, 6], "matryoshka_weights": [2.0, 1.0]},
                 lambda m: L.MatryoshkaLoss(m, L.BatchHardTripletLoss(m, margin=1.0), [3, 6], [2.0, 1.0]),
                 rand_cols(rng, 1, 6, 6), [0.0, 1.0, 0.0, 1.0, 2.0, 2.0]))
    add(run_case("matryoshka_batch_all_triplet",
                 {"type": "MatryoshkaLoss", "loss": {"type": "BatchAllTripletLoss", "margin": 0.5},
                  "matryoshka_dims": [8, 4]},
                 lambda m: L.MatryoshkaLoss(m, L.BatchAllTripletLoss(m, margin=0.5), [8, 4]),
                 rand_cols(rng, 1, 7, 8), [0.0, 1.0, 0.0, 1.0, 2.0, 2.0, 1.0]))
    add(run_case("matryoshka_margin_mse",
                 {"type": "MatryoshkaLoss", "loss": {"type": "MarginMSELoss"}, "matryoshka_dims": [8, 4]},
                 lambda m: L.MatryoshkaLoss(m, L.MarginMSELoss(m), [8, 4]),
                 rand_cols(rng, 4, 5, 8), teacher_scores(rng, 5, 3, 0.5)))
    add(run_case("matryoshka_distill_kl",
                 {"type": "MatryoshkaLoss", "loss": {"type": "DistillKLDivLoss", "temperature": 0.5},
                  "matryoshka_dims": [6, 2], "matryoshka_weights": [1.0, 0.5]},
                 lambda m: L.MatryoshkaLoss(m, L.DistillKLDivLoss(m, temperature=0.5), [6, 2], [1.0, 0.5]),
                 rand_cols(rng, 3, 4, 6), teacher_scores(rng, 4, 2)))
    add(run_case("matryoshka_mega_batch",
                 {"type": "MatryoshkaLoss", "loss": {"type": "MegaBatchMarginLoss", "use_mini_batched_version": False},
                  "matryoshka_dims": [7, 3]},
                 lambda m: L.MatryoshkaLoss(m, L.MegaBatchMarginLoss(m, use_mini_batched_version=False), [7, 3]),
                 rand_cols(rng, 2, 5, 7)))


def build_gist_cases(rng, add):
    """GISTEmbedLoss and CachedGISTEmbedLoss (appended: the cases above keep
    their random inputs). The guide's embeddings are inputs of their own
    width (a guide need not have the student's), correlated with the
    student's so that some in-batch candidates are masked and others not."""
    def guide_of(cols, Dg, noise=0.8):
        w = rng.standard_normal((cols[0].shape[1], Dg))
        return [(c @ w / np.sqrt(cols[0].shape[1]) + noise * rng.standard_normal((c.shape[0], Dg)))
                .astype(np.float32).astype(np.float64) for c in cols]

    def gist(name, j, cls, kw, n_cols, B, D, Dg, cached_chunk=None, matryoshka=None):
        cols = rand_cols(rng, n_cols, B, D)
        guide = guide_of(cols, Dg)
        j = dict({"type": cls.__name__, "guide": "guide"}, **j)
        make = lambda m, g: cls(m, g, **kw)
        if matryoshka is not None:
            j = {"type": "MatryoshkaLoss", "loss": j, "matryoshka_dims": matryoshka}
            make = lambda m, g: L.MatryoshkaLoss(m, cls(m, g, **kw), matryoshka)
        add(run_case(name, j, make, cols, cached_chunk=cached_chunk, guide=guide))

    G, CG = L.GISTEmbedLoss, L.CachedGISTEmbedLoss
    gist("gist_pairs", {}, G, {}, 2, 6, 7, 5)
    gist("gist_triplets_absolute_margin", {"margin": 0.1}, G, {"margin": 0.1}, 3, 5, 6, 6)
    gist("gist_triplets_relative", {"margin_strategy": "relative", "margin": 0.2, "temperature": 0.05}, G,
         {"margin_strategy": "relative", "margin": 0.2, "temperature": 0.05}, 3, 6, 5, 4)
    gist("gist_pairs_relative_no_contrast",
         {"margin_strategy": "relative", "margin": 0.1, "contrast_anchors": False, "contrast_positives": False}, G,
         {"margin_strategy": "relative", "margin": 0.1, "contrast_anchors": False, "contrast_positives": False},
         2, 5, 6, 8)
    gist("gist_triplets_anchors_only", {"contrast_positives": False, "temperature": 0.1}, G,
         {"contrast_positives": False, "temperature": 0.1}, 3, 4, 5, 5)
    gist("gist_triplets_positives_only", {"contrast_anchors": False, "margin": -0.05}, G,
         {"contrast_anchors": False, "margin": -0.05}, 3, 5, 4, 3)
    gist("cached_gist_two_negatives_chunks_of_2", {"mini_batch_size": 2, "margin_strategy": "relative", "margin": 0.1},
         CG, {"mini_batch_size": 2, "margin_strategy": "relative", "margin": 0.1}, 4, 7, 5, 6, cached_chunk=2)
    gist("cached_gist_pairs_chunks_of_3", {"mini_batch_size": 3}, CG, {"mini_batch_size": 3}, 2, 8, 6, 4,
         cached_chunk=3)
    gist("matryoshka_gist", {}, G, {}, 3, 5, 8, 6, matryoshka=[8, 4])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    cases = build_cases()
    os.makedirs(args.out, exist_ok=True)
    doc = {
        "meta": {
            "generator": "tools/make_loss_fixtures.py",
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "dtype": "float64",
        },
        "cases": cases,
    }
    path = os.path.join(args.out, "cases.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
