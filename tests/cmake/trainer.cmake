stc_add_test(test_training_args test_training_args.c)
stc_add_test(test_dropout test_dropout.c)
