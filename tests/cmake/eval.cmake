# Evaluators: parity with sentence-transformers' evaluators (metrics, primary
# metric, CSV files), config errors, Python's number printing.
stc_add_test(test_evaluators test_evaluators.c)
# `stc eval`: the CLI (JSON on stdout, --json, --output-dir CSVs, a training
# config's "evaluator"), 2 and 3 ranks equal 1 rank, and the WordNet-format
# IR set scored as tools/ir_eval.py scores stc encode's embeddings.
add_test(NAME test_eval_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_eval_cli.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_eval_cli PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
