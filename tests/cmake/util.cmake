stc_add_test(test_util test_util.c)
