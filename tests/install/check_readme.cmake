# SPDX-License-Identifier: MIT
# ctest pvcalls.readme: every ```c block of README.md compiles against the
# public headers. A block's #include lines go first, the rest becomes the
# body of a function, so snippets can be written as a reader would.
#   cmake -DREADME=README.md -DINC=include -DCC=cc -DOUT=dir -P check_readme.cmake
file(READ ${README} _t)
string(REPLACE ";" "\\;" _t "${_t}")
string(REPLACE "\n" ";" _lines "${_t}")
set(_in FALSE)
set(_n 0)
foreach(_l IN LISTS _lines)
  if(NOT _in AND _l STREQUAL "```c")
    set(_in TRUE)
    set(_inc "#include <arpa/inet.h>\n#include <netinet/in.h>\n#include <stdio.h>\n#include <sys/socket.h>\n")
    set(_body "")
  elseif(_in AND _l STREQUAL "```")
    set(_in FALSE)
    math(EXPR _n "${_n} + 1")
    set(_src ${OUT}/readme_${_n}.c)
    file(WRITE ${_src} "${_inc}\nint readme_snippet_${_n}(void);\nint readme_snippet_${_n}(void)\n{\n${_body}\treturn 0;\n}\n")
    execute_process(COMMAND ${CC} -std=c11 -D_GNU_SOURCE -Wall -Werror
                    -Wno-unused-variable -Wno-unused-but-set-variable -Wno-unused-result
                    -I${INC} -c ${_src} -o ${_src}.o
                    RESULT_VARIABLE _rc ERROR_VARIABLE _err OUTPUT_VARIABLE _err2)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "README.md's C block ${_n} does not compile (${_src}):\n${_err}${_err2}")
    endif()
    message("README.md C block ${_n}: compiles")
  elseif(_in AND _l MATCHES "^#include")
    string(APPEND _inc "${_l}\n")
  elseif(_in)
    string(APPEND _body "\t${_l}\n")
  endif()
endforeach()
if(_n EQUAL 0)
  message(FATAL_ERROR "no ```c block in ${README}")
endif()
