# WordPiece tokenizer (data/tokenizer*.c): parity with Sentence Transformers /
# Hugging Face tokenizers on tests/fixtures/tokenizer (written by
# tools/make_tokenizer_fixtures.py), and the tokenizer.json / vocab.txt
# parsers' fuzz corpus replayed under ASan/UBSan (with clang also a libFuzzer
# target, see tests/cmake/safetensors.cmake for how to run it).
#
# Speed: build/tests/test_tokenizer --bench 100000 (run from tests/).

stc_add_test(test_tokenizer test_tokenizer.c)
