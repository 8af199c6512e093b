# Custom samplers (data/SAMPLERS.md): every C file in configs/samplers/ is
# compiled into the stc executable itself — not into the stc_core static
# library, whose unreferenced objects the linker would leave out — so that
# the STC_SAMPLER_REGISTER constructor in each one registers its sampler
# before main() runs. Include this file after add_executable(stc ...).
# CONFIGURE_DEPENDS: a new file is picked up by the next build.
file(GLOB STC_USER_SAMPLER_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/configs/samplers/*.c)
if(STC_USER_SAMPLER_SOURCES)
  target_sources(stc PRIVATE ${STC_USER_SAMPLER_SOURCES})
  message(STATUS "stc: custom samplers: ${STC_USER_SAMPLER_SOURCES}")
endif()
