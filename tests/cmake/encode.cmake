stc_add_test(test_encode_parity_tiny test_encode_parity.c ARGS fixtures/encode/cases.jsonl tiny)
add_test(NAME test_encode_parity_minilm COMMAND test_encode_parity_tiny fixtures/encode/cases.jsonl all-MiniLM-L6-v2
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_encode_parity_minilm PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1;STC_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
add_test(NAME test_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_cli PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
stc_add_test(test_pooling test_pooling.c)
