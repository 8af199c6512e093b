# Optimizer side of training: param groups (learning_rate_mapping), AdamW,
# gradient clipping and schedules against the Python reference
# (fixtures/optim, from tools/make_optim_fixtures.py).
stc_add_test(test_optim test_optim.c)
