# Router models (model/router.c, routes in model/st_model.c): parity with
# Sentence Transformers per task, parameter names, training a route, errors,
# save -> load; fixtures from tools/make_router_fixtures.py.
stc_add_test(test_router test_router.c ARGS fixtures/router)
# `stc encode --task` end to end, checked with Debian's python3 (h5py).
add_test(NAME test_router_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_router_cli.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_router_cli PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
# `stc train` with router_mapping against SentenceTransformerTrainer, step
# by step (fixtures/router_train/ from tools/make_router_train_fixtures.py),
# and router_mapping config errors.
add_test(NAME test_router_train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_router_train.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_router_train PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
# router_config.json's parser: seed corpus replayed under ASan/UBSan (with
# clang also a libFuzzer target, see tests/cmake/safetensors.cmake).
stc_add_fuzzer(router ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_router.c
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/router/corpus
  SOURCES ${CMAKE_SOURCE_DIR}/model/router.c ${CMAKE_SOURCE_DIR}/util/error.c ${CMAKE_SOURCE_DIR}/util/fileio.c
          ${CMAKE_SOURCE_DIR}/util/json.c ${CMAKE_SOURCE_DIR}/util/pyfloat.c
  LIBS PkgConfig::CJSON m)
