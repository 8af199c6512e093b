# WordPiece tokenizer (data/tokenizer*.c): parity with Sentence Transformers /
# Hugging Face tokenizers on tests/fixtures/tokenizer (written by
# tools/make_tokenizer_fixtures.py), and the tokenizer.json / vocab.txt
# parsers' fuzz corpus replayed under ASan/UBSan (with clang also a libFuzzer
# target, see tests/cmake/safetensors.cmake for how to run it).
#
# Speed: build/tests/test_tokenizer --bench 100000 (run from tests/).

stc_add_test(test_tokenizer test_tokenizer.c)

stc_add_fuzzer(tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_tokenizer.c
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tokenizer/corpus
  DICT ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tokenizer/tokenizer.dict
  SOURCES ${CMAKE_SOURCE_DIR}/data/tokenizer.c ${CMAKE_SOURCE_DIR}/data/tokenizer_unicode.c
          ${CMAKE_SOURCE_DIR}/data/tokenizer_tables.c ${CMAKE_SOURCE_DIR}/util/error.c
          ${CMAKE_SOURCE_DIR}/util/fileio.c
  LIBS PkgConfig::CJSON PkgConfig::UTF8PROC m)
