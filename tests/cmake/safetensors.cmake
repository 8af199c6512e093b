# safetensors reader/writer (model/safetensors.c): the unit test, the fuzz
# seed corpus replayed under ASan/UBSan in ctest (any compiler), and with
# clang a libFuzzer target:
#
#   CC=clang cmake -S . -B build-fuzz -DSTC_CUDA=OFF
#   cmake --build build-fuzz --target fuzz              # every fuzzer, ~30 s each
#   cmake --build build-fuzz --target fuzz_safetensors  # just build it, then e.g.
#   build-fuzz/tests/fuzz_safetensors -dict=tests/fixtures/safetensors/safetensors.dict \
#       -max_total_time=600 build-fuzz/fuzz/safetensors/corpus tests/fixtures/safetensors/corpus
#
# New inputs go to the build tree (build-fuzz/fuzz/<name>/corpus), crashes to
# build-fuzz/fuzz/<name>/artifacts/; the committed corpus is only read. A
# crash found there belongs in the committed corpus once fixed.

stc_add_test(test_safetensors test_safetensors.c)

stc_add_fuzzer(safetensors ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_safetensors.c
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/safetensors/corpus
  DICT ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/safetensors/safetensors.dict
  SOURCES ${CMAKE_SOURCE_DIR}/model/safetensors.c ${CMAKE_SOURCE_DIR}/util/error.c
          ${CMAKE_SOURCE_DIR}/util/fileio.c
  LIBS PkgConfig::CJSON)
