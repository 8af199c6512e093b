stc_add_test(test_training_args test_training_args.c)
stc_add_test(test_dropout test_dropout.c)
add_test(NAME test_train_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train_cli.sh $<TARGET_FILE:stc>
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_train_cli PROPERTIES TIMEOUT 600 RESOURCE_LOCK mpi ENVIRONMENT "OMP_NUM_THREADS=1")
stc_add_test(test_collate test_collate.c)
