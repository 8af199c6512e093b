# Batch samplers and multi-dataset samplers (data/sampler*.c,
# data/batch_sampler.c, data/multi_sampler.c) and the custom-sampler API with
# its worked example configs/samplers/temperature_sampler.c (compiled into
# the tests directly: cmake/samplers.cmake links it into the stc executable
# only). test_sampler_10m plans a 10-million-row epoch and prints timings.
set(STC_SAMPLER_EXAMPLE ${CMAKE_SOURCE_DIR}/configs/samplers/temperature_sampler.c)
stc_add_test(test_sampler test_sampler.c)
target_sources(test_sampler PRIVATE ${STC_SAMPLER_EXAMPLE})
stc_add_test(test_sampler_10m test_sampler.c ARGS --big TIMEOUT 600)
target_sources(test_sampler_10m PRIVATE ${STC_SAMPLER_EXAMPLE})
