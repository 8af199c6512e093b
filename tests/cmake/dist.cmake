# Collectives under mpirun with CPU ranks (Open MPI, oversubscribed on a
# small machine, one OpenMP thread per rank).
add_executable(test_dist test_dist.c)
target_link_libraries(test_dist PRIVATE stc_core)
set(STC_MPIRUN ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root)
foreach(np 1 2 3)
  add_test(NAME test_dist_np${np} COMMAND ${STC_MPIRUN} -np ${np} -x OMP_NUM_THREADS=1 $<TARGET_FILE:test_dist> ${np})
  set_tests_properties(test_dist_np${np} PROPERTIES TIMEOUT 120 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
endforeach()
# The same with MPI's int-count limit made tiny: the collectives' pieced paths.
add_test(NAME test_dist_pieces_np3 COMMAND ${STC_MPIRUN} -np 3 -x OMP_NUM_THREADS=1 -x STC_TEST_MPI_PIECE=7
         $<TARGET_FILE:test_dist> 3)
set_tests_properties(test_dist_pieces_np3 PROPERTIES TIMEOUT 120 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
# N ranks = 1 rank with the same global batch (gather_across_devices).
add_test(NAME test_dist_train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_train.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_dist_train PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
# Multi-rank encoding into one HDF5 file; a killed rank; resume.
add_test(NAME test_dist_encode COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_encode.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_dist_encode PROPERTIES TIMEOUT 300 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
# A hung peer: the watchdog ends the job within the timeout, naming the rank,
# the collective and the step.
add_test(NAME test_dist_watchdog COMMAND bash -c
  "start=$(date +%s); ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root -np 2 -x STC_TEST_HANG=1 $<TARGET_FILE:test_dist> 2>&1 | tee /dev/stderr | grep -q 'rank 0: barrier at step 7 timed out' && [ $(( $(date +%s) - start )) -lt 20 ]")
set_tests_properties(test_dist_watchdog PROPERTIES TIMEOUT 60 RESOURCE_LOCK mpi)
foreach(op reduce_scatter allgather)
  add_test(NAME test_dist_watchdog_${op} COMMAND bash -c
    "start=$(date +%s); ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root -np 2 -x STC_TEST_HANG=${op} $<TARGET_FILE:test_dist> 2>&1 | tee /dev/stderr | grep -q 'rank 0: ${op} at step 7 timed out' && [ $(( $(date +%s) - start )) -lt 20 ]")
  set_tests_properties(test_dist_watchdog_${op} PROPERTIES TIMEOUT 60 RESOURCE_LOCK mpi)
endforeach()
# The NCCL transport against the MPI one (GPU machines; elsewhere it prints
# why it is skipped and exits 77). One rank per GPU.
if(TARGET stc_nccl)
  add_executable(test_nccl test_nccl.c)
  target_link_libraries(test_nccl PRIVATE stc_nccl)
  add_test(NAME test_nccl COMMAND ${STC_MPIRUN} -np 1 $<TARGET_FILE:test_nccl>)
  set_tests_properties(test_nccl PROPERTIES TIMEOUT 120 RESOURCE_LOCK mpi SKIP_RETURN_CODE 77)
endif()
# Without gather_across_devices: 2 ranks' loss = the mean of their own losses.
add_test(NAME test_dist_local_negatives COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_local_negatives.sh
         $<TARGET_FILE:stc> WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_dist_local_negatives PROPERTIES TIMEOUT 120 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
