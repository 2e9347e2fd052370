# SPDX-License-Identifier: MIT
get_filename_component(_n ${HEADER} NAME_WE)
set(_src ${OUT}/hdr_${_n}.c)
file(WRITE ${_src} "#include <pvcalls/${_n}.h>\nint pvcalls_header_check_${_n}(void);\nint pvcalls_header_check_${_n}(void) { return 0; }\n")
execute_process(COMMAND ${CC} -std=c11 -Wall -Wextra -Werror -pedantic -I${INC} -c ${_src} -o ${_src}.o
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${_n}.h does not compile alone as C11")
endif()
find_program(_cxx NAMES c++ g++ clang++)
if(_cxx)
  set(_cc ${OUT}/hdr_${_n}.cc)
  file(WRITE ${_cc} "#include <pvcalls/${_n}.h>\nint pvcalls_header_check_${_n}();\nint pvcalls_header_check_${_n}() { return 0; }\n")
  execute_process(COMMAND ${_cxx} -std=c++17 -Wall -Wextra -Werror -I${INC} -c ${_cc} -o ${_cc}.o
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${_n}.h does not compile alone as C++17")
  endif()
endif()
