stc_add_test(test_losses test_losses.c)
