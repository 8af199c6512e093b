# `stc train` with each loss added after OnlineContrastiveLoss: 3 steps on the
# tiny model per loss, 2 MPI ranks for the per-rank ones, datasets that do not
# fit (test_losses_train.sh).
add_test(NAME test_losses_train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_losses_train.sh $<TARGET_FILE:stc>
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_losses_train PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
