# SPDX-License-Identifier: MIT
# One helper per concern, so each directory's CMakeLists.txt stays tiny.

# pvcalls_sources(file...): add library sources from the calling directory.
function(pvcalls_sources)
  foreach(_f IN LISTS ARGN)
    set_property(GLOBAL APPEND PROPERTY PVCALLS_SOURCES
                 ${CMAKE_CURRENT_SOURCE_DIR}/${_f})
  endforeach()
endfunction()

# pvcalls_test(NAME name SOURCES files... [LIBS libs...] [TIMEOUT s] [LABELS ...])
# builds a Check test against the static twin of the library and registers
# it with ctest as pvcalls.<name>. Exit code 77 means "skipped".
function(pvcalls_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  string(REPLACE "." "_" _exe "check_${T_NAME}")
  add_executable(${_exe} ${T_SOURCES})
  target_link_libraries(${_exe} PRIVATE pvcalls_testing PkgConfig::CHECK
                        Threads::Threads ${T_LIBS})
  target_include_directories(${_exe} PRIVATE ${PROJECT_SOURCE_DIR}/src
                             ${PROJECT_SOURCE_DIR}/tests/common)
  add_test(NAME pvcalls.${T_NAME} COMMAND ${_exe} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(_env "CK_DEFAULT_TIMEOUT=60")
  if(PVCALLS_SANITIZER)
    list(APPEND _env "CK_TIMEOUT_MULTIPLIER=4")
  endif()
  set_tests_properties(pvcalls.${T_NAME} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${_env}"
    LABELS "${T_LABELS}")
endfunction()
