# SPDX-License-Identifier: MIT
# The exported ABI, three ways that must agree: the PVCALLS_API
# declarations in the public headers, the names the version script lists,
# and the dynamic symbols the shared library defines.
#
#   cmake -DHEADERS="a.h;b.h" -P PvcallsSymbols.cmake
#       prints the names declared PVCALLS_API, one per line, sorted: paste
#       the new ones into the version script's newest node.
#       -DHEADERS_DIR=include/pvcalls [-DEXCLUDE=xen.h | -DONLY=xen.h]
#       instead of HEADERS: every *.h there, but EXCLUDE (or only ONLY).
#   cmake -DHEADERS=... -DMAP=lib.map [-DLIB=lib.so -DNM=nm] -P PvcallsSymbols.cmake
#       checks (ctest pvcalls.symbols.*): every declared name is in the map
#       and exported, the map has no wildcard in global: and no name that is
#       not declared, and the library exports nothing else.

# The end of each pvcalls_*_names(): _names, sorted and without
# duplicates, into the caller's variable @_var. (A macro, so PARENT_SCOPE
# is the calling function's caller.)
macro(pvcalls_return_names _var)
  list(REMOVE_DUPLICATES _names)
  list(SORT _names)
  set(${_var} ${_names} PARENT_SCOPE)
endmacro()

# Names declared with PVCALLS_API at the start of a line (the declaration
# may go on over the following lines until its '(').
function(pvcalls_api_names _out)
  set(_names)
  foreach(_h IN LISTS ARGN)
    file(STRINGS ${_h} _lines)
    set(_decl "")
    foreach(_l IN LISTS _lines)
      if(_decl STREQUAL "" AND _l MATCHES "^[ \t]*PVCALLS_API[ \t]")
        set(_decl "${_l}")
      elseif(NOT _decl STREQUAL "")
        string(APPEND _decl " ${_l}")
      endif()
      if(NOT _decl STREQUAL "" AND _decl MATCHES "\\(")
        string(REGEX REPLACE "^([^(]*)\\(.*" "\\1" _head "${_decl}")
        string(REGEX REPLACE ".*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[ \t]*$" "\\1" _n "${_head}")
        list(APPEND _names ${_n})
        set(_decl "")
      endif()
    endforeach()
  endforeach()
  pvcalls_return_names(${_out})
endfunction()

# Names in the global: parts of a version script (every node).
function(pvcalls_map_names _map _out)
  file(READ ${_map} _t)
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" _t "${_t}")  # C comments
  string(REGEX REPLACE "#[^\n]*" "" _t "${_t}")
  string(REGEX MATCHALL "global:[^}]*" _globals "${_t}")
  set(_names)
  foreach(_g IN LISTS _globals)
    string(REGEX REPLACE "local:.*" "" _g "${_g}")
    string(REGEX REPLACE "^global:" "" _g "${_g}")
    string(REGEX MATCHALL "[^; \t\n]+" _toks "${_g}")
    foreach(_tok IN LISTS _toks)
      if(_tok MATCHES "[*?\\[]")
        message(SEND_ERROR "${_map}: wildcard '${_tok}' in global: -- list every "
          "exported name (cmake -DHEADERS=... -P cmake/PvcallsSymbols.cmake prints them)")
      endif()
      list(APPEND _names ${_tok})
    endforeach()
  endforeach()
  pvcalls_return_names(${_out})
endfunction()

# Dynamic symbols the library defines (version node names excluded).
function(pvcalls_lib_names _lib _nm _out)
  execute_process(COMMAND ${_nm} -D --defined-only ${_lib}
    OUTPUT_VARIABLE _o RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${_nm} -D ${_lib} failed")
  endif()
  string(REPLACE "\n" ";" _o "${_o}")
  set(_names)
  foreach(_l IN LISTS _o)
    if(_l MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^@ ]+)")
      if(NOT CMAKE_MATCH_1 STREQUAL "A")
        list(APPEND _names ${CMAKE_MATCH_2})
      endif()
    endif()
  endforeach()
  pvcalls_return_names(${_out})
endfunction()

# a - b, as a string for messages
function(pvcalls_minus _a _b _out)
  set(_r ${${_a}})
  if(_r AND ${_b})
    list(REMOVE_ITEM _r ${${_b}})
  endif()
  string(REPLACE ";" " " _r "${_r}")
  set(${_out} "${_r}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE AND DEFINED HEADERS_DIR)
  if(DEFINED ONLY)
    set(HEADERS ${HEADERS_DIR}/${ONLY})
  else()
    file(GLOB HEADERS ${HEADERS_DIR}/*.h)
    if(DEFINED EXCLUDE)
      list(REMOVE_ITEM HEADERS ${HEADERS_DIR}/${EXCLUDE})
    endif()
  endif()
endif()
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE AND DEFINED HEADERS)
  pvcalls_api_names(_api ${HEADERS})
  if(NOT DEFINED MAP)
    foreach(_n IN LISTS _api)
      message("\t\t${_n};")
    endforeach()
    return()
  endif()
  list(LENGTH _api _count)
  pvcalls_map_names(${MAP} _map)
  set(_fail FALSE)
  pvcalls_minus(_api _map _missing)
  if(_missing)
    message(SEND_ERROR "declared PVCALLS_API but missing from ${MAP} "
      "(add them to its newest node): ${_missing}")
    set(_fail TRUE)
  endif()
  pvcalls_minus(_map _api _extra)
  if(_extra)
    message(SEND_ERROR "listed in ${MAP} but declared PVCALLS_API in no header: ${_extra}")
    set(_fail TRUE)
  endif()
  if(DEFINED LIB)
    pvcalls_lib_names(${LIB} ${NM} _lib)
    pvcalls_minus(_api _lib _unexported)
    if(_unexported)
      message(SEND_ERROR "declared PVCALLS_API but not exported by ${LIB} "
        "(not defined, or not PVCALLS_API in the .c file?): ${_unexported}")
      set(_fail TRUE)
    endif()
    pvcalls_minus(_lib _api _leaked)
    if(_leaked)
      message(SEND_ERROR "exported by ${LIB} but not declared PVCALLS_API: ${_leaked}")
      set(_fail TRUE)
    endif()
  endif()
  if(_fail)
    message(FATAL_ERROR "symbol check failed")
  endif()
  if(DEFINED LIB)
    message("${_count} symbols: the headers, ${MAP} and ${LIB} agree")
  else()
    message("${_count} symbols: the headers and ${MAP} agree")
  endif()
endif()
