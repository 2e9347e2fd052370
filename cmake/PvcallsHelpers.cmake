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

# pvcalls_check_header_version(): include/pvcalls/common.h repeats the
# version for the preprocessor (PVCALLS_VERSION_MAJOR/MINOR/PATCH); it must
# say what project(VERSION) says, or configuring stops here.
function(pvcalls_check_header_version)
  file(STRINGS ${PROJECT_SOURCE_DIR}/include/pvcalls/common.h _lines
       REGEX "^#define PVCALLS_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    set(_found "")
    foreach(_l IN LISTS _lines)
      if(_l MATCHES "^#define PVCALLS_VERSION_${_part} +([0-9]+)")
        set(_found ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(NOT _found STREQUAL PROJECT_VERSION_${_part})
      message(FATAL_ERROR "include/pvcalls/common.h: PVCALLS_VERSION_${_part} is "
        "'${_found}', project(VERSION) says ${PROJECT_VERSION_${_part}}")
    endif()
  endforeach()
endfunction()

# pvcalls_tool(target): a program of the project: it reads the generated
# <pvcalls_tools.h> (version, default paths, --version helper).
function(pvcalls_tool _t)
  target_link_libraries(${_t} PRIVATE pvcalls_tools)
endfunction()
