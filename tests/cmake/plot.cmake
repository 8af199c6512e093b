stc_add_test(test_loss_plot test_loss_plot.c)
