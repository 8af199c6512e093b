# `stc train` against Sentence Transformers, step by step: fixtures from
# tools/make_train_fixtures.py (tests/fixtures/train/), compared by
# test_train_parity.sh with Debian's python3 (numpy, h5py; no torch).
add_test(NAME test_train_parity COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train_parity.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_train_parity PROPERTIES TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")

# Checkpoints: exact resume after a kill or SIGTERM (1 and 2 ranks), rotation,
# refused checkpoints.
add_test(NAME test_checkpoint COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_checkpoint.sh $<TARGET_FILE:stc>
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_checkpoint PROPERTIES TIMEOUT 600 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")

# The eval loss during training: Python parity (fixtures/train/eval), ranks,
# a dict of eval datasets.
add_test(NAME test_eval_loss COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_eval_loss.sh $<TARGET_FILE:stc>
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_eval_loss PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")

# checkpoint.c alone: commit, verify, a file rank 0 cannot see, rotation.
stc_add_test(test_checkpoint_unit test_checkpoint_unit.c)
