# SPDX-License-Identifier: MIT
# Build options. Each option is one concern; see README.md for use.

include(CMakeDependentOption)
option(PVCALLS_TESTS "Build the Check test suite (needs libcheck)" ON)
option(PVCALLS_TOOLS "Build and install pvcallsd, pvcallsctl and pvcalls-conformance (tools/; needs libinih)" ON)
option(PVCALLS_EXAMPLES "Build and install the example programs pvcalls-demo, pvcalls-nc, pvcalls-ring-demo (examples/)" ON)
cmake_dependent_option(PVCALLS_BENCH "Build and install pvcalls-bench (bench/; uses pvcallsd's audit queue)"
  ON "PVCALLS_TOOLS" OFF)
option(PVCALLS_DOCS "Install the man pages and the example sources" ON)
option(PVCALLS_WERROR "Treat warnings as errors (CI turns this on)" OFF)
option(PVCALLS_FUZZ "Build libFuzzer targets (needs clang)" OFF)
set(PVCALLS_XEN "AUTO" CACHE STRING
    "Xen support: AUTO (when libxen-dev's pkg-config modules are found), ON or OFF")
set_property(CACHE PVCALLS_XEN PROPERTY STRINGS AUTO ON OFF)
# The shared-memory hub every tool and document uses unless told otherwise
# (pvcallsd's shm_path, pvcalls-nc --shm, pvcalls-conformance --shm).
set(PVCALLS_SHM_HUB "/run/pvcalls/hub" CACHE STRING
    "Default path of the shared-memory hub socket")
set(PVCALLS_SANITIZER "" CACHE STRING
    "Sanitizers: empty, address, undefined, address,undefined or thread")

if(PVCALLS_SANITIZER)
  string(REPLACE "," ";" _san_list "${PVCALLS_SANITIZER}")
  foreach(_san IN LISTS _san_list)
    if(NOT _san MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "PVCALLS_SANITIZER: unknown sanitizer '${_san}'")
    endif()
  endforeach()
  if("thread" IN_LIST _san_list AND "address" IN_LIST _san_list)
    message(FATAL_ERROR "PVCALLS_SANITIZER: thread cannot be combined with address")
  endif()
  add_compile_options(-fsanitize=${PVCALLS_SANITIZER} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${PVCALLS_SANITIZER})
  if("thread" IN_LIST _san_list AND CMAKE_C_COMPILER_ID STREQUAL "GNU")
    # GCC warns that TSan does not model atomic_thread_fence. Our fences
    # only order a store before a load of another index (the Dekker step
    # of notification suppression); everything TSan checks is already
    # synchronised by acquire/release pairs, so the warning is noise.
    add_compile_options(-Wno-tsan)
  endif()
  if("undefined" IN_LIST _san_list)
    # Make UBSan reports fatal so Check counts them (docs/design-notes.md, "Tests under sanitizers").
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()

# Xen development files: the stable libraries only (no libxenctrl).
set(PVCALLS_HAVE_XEN OFF)
if(NOT PVCALLS_XEN STREQUAL "OFF")
  find_package(PkgConfig)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(XEN IMPORTED_TARGET xenevtchn xengnttab xenstore xentoollog)
  endif()
  if(XEN_FOUND)
    set(PVCALLS_HAVE_XEN ON)
  elseif(PVCALLS_XEN STREQUAL "ON")
    message(FATAL_ERROR "PVCALLS_XEN=ON but libxen-dev's pkg-config modules "
                        "(xenevtchn xengnttab xenstore xentoollog) were not found")
  endif()
endif()
