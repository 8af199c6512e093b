# Dataset readers (data/dataset*.c, data/row_index.c): the unit test (small
# fixtures, the row index cache, a generated 1M-row JSONL file whose timings
# it prints), and the JSONL/CSV/TSV record parsers' fuzz harness, whose seed
# corpus is every fixture file (good and bad) in fixtures/dataset/corpus.
#
#   CC=clang cmake -S . -B build-fuzz -DSTC_CUDA=OFF
#   cmake --build build-fuzz --target fuzz_run_dataset   # 30 s
#   build-fuzz/tests/fuzz_dataset -dict=tests/fixtures/dataset/dataset.dict \
#       -max_total_time=600 build-fuzz/fuzz/dataset/corpus tests/fixtures/dataset/corpus

stc_add_test(test_dataset test_dataset.c)

# Prepared (HDF5) datasets: reader, writer, identity checks, bad files.
stc_add_test(test_prepared test_prepared.c)

stc_add_fuzzer(dataset ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_dataset.c
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/dataset/corpus
  DICT ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/dataset/dataset.dict
  SOURCES ${CMAKE_SOURCE_DIR}/data/dataset.c ${CMAKE_SOURCE_DIR}/data/dataset_jsonl.c
          ${CMAKE_SOURCE_DIR}/data/dataset_csv.c ${CMAKE_SOURCE_DIR}/data/row_index.c
          ${CMAKE_SOURCE_DIR}/data/tokenizer_unicode.c ${CMAKE_SOURCE_DIR}/data/tokenizer_tables.c
          ${CMAKE_SOURCE_DIR}/data/prepared_read.c ${CMAKE_SOURCE_DIR}/data/text_hash.c
          ${CMAKE_SOURCE_DIR}/data/h5_attrs.c
          ${CMAKE_SOURCE_DIR}/util/error.c ${CMAKE_SOURCE_DIR}/util/fileio.c
  LIBS m PkgConfig::UTF8PROC PkgConfig::HDF5 PkgConfig::CJSON)

# `stc prepare`: 1/2/3 ranks write the same file; training from it equals
# training from its source; mismatches and bad files are clear errors.
add_test(NAME test_prepare COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_prepare.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_prepare PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
