# cmake -P script: install tunkit, then build and run a consumer of it in three ways (see
# CMakeLists.txt here). With BUILD_DIR, that build is installed; without, the library alone is
# configured (BUILD_SHARED_LIBS from KIND, TUNKIT_ASIO from EXPECT_ASIO, TUNKIT_BOOST_ASIO from
# EXPECT_BOOST_ASIO), built and installed first.
# Inputs: SOURCE_DIR WORK_DIR CXX NM JOBS KIND (shared|static) EXPECT_ASIO [EXPECT_BOOST_ASIO]
#   [BUILD_DIR]
#   [SANITIZE: the sanitizers BUILD_DIR was built with; consumers then link their runtimes]
#   [DOCS: OFF leaves out the documentation's programs (one kind of library checks them)]
cmake_minimum_required(VERSION 3.20)  # policies for this script (cmake -P)

include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)  # run()

file(REMOVE_RECURSE ${WORK_DIR})
if(NOT DEFINED EXPECT_BOOST_ASIO)
  set(EXPECT_BOOST_ASIO OFF)
endif()
set(sanitize_flags "")
if(SANITIZE)
  set(sanitize_flags "-fsanitize=${SANITIZE}")
endif()
set(prefix ${WORK_DIR}/prefix)
if(KIND STREQUAL "shared")
  set(shared ON)
  set(expect_type SHARED_LIBRARY)
else()
  set(shared OFF)
  set(expect_type STATIC_LIBRARY)
endif()

if(NOT BUILD_DIR)
  # The library only, warnings as errors; build type None (no optimisation, no debug
  # information) as a unity build is the quickest, and proves tunkit builds that way (the main
  # build checks optimised code, one file at a time).
  set(BUILD_DIR ${WORK_DIR}/library)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR} -DCMAKE_BUILD_TYPE=None
      -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_COMPILER=${CXX} -DBUILD_SHARED_LIBS=${shared} -DTUNKIT_BUILD_TESTS=OFF
      -DTUNKIT_BUILD_EXAMPLES=OFF -DTUNKIT_WARNINGS_AS_ERRORS=ON -DTUNKIT_ASIO=${EXPECT_ASIO}
      -DTUNKIT_BOOST_ASIO=${EXPECT_BOOST_ASIO})
  run(${CMAKE_COMMAND} --build ${BUILD_DIR} --parallel ${JOBS})
endif()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

file(GLOB_RECURSE pc_files ${prefix}/*/tunkit.pc)
list(LENGTH pc_files pc_count)
if(NOT pc_count EQUAL 1)
  message(FATAL_ERROR "expected one installed tunkit.pc, found: ${pc_files}")
endif()
get_filename_component(pc_dir ${pc_files} DIRECTORY)
get_filename_component(libdir ${pc_dir} DIRECTORY)
foreach(header tunkit/tunkit.hpp tunkit/version.hpp tunkit/export.hpp tunkit/testing/export.hpp
               tunkit/testing/fake_kernel.hpp)
  if(NOT EXISTS ${prefix}/include/${header})
    message(FATAL_ERROR "${header} was not installed")
  endif()
endforeach()
# tunkit/asio.hpp comes with tunkit::asio only.
if(EXPECT_ASIO AND NOT EXISTS ${prefix}/include/tunkit/asio.hpp)
  message(FATAL_ERROR "tunkit/asio.hpp was not installed")
elseif(NOT EXPECT_ASIO AND EXISTS ${prefix}/include/tunkit/asio.hpp)
  message(FATAL_ERROR "tunkit/asio.hpp was installed without tunkit::asio")
endif()
# tunkit/boost_asio.hpp with tunkit::boost_asio only; their shared implementation with either.
if(EXPECT_BOOST_ASIO AND NOT EXISTS ${prefix}/include/tunkit/boost_asio.hpp)
  message(FATAL_ERROR "tunkit/boost_asio.hpp was not installed")
elseif(NOT EXPECT_BOOST_ASIO AND EXISTS ${prefix}/include/tunkit/boost_asio.hpp)
  message(FATAL_ERROR "tunkit/boost_asio.hpp was installed without tunkit::boost_asio")
endif()
if((EXPECT_ASIO OR EXPECT_BOOST_ASIO) AND
   NOT EXISTS ${prefix}/include/tunkit/detail/asio_queue_impl.hpp)
  message(FATAL_ERROR "tunkit/detail/asio_queue_impl.hpp was not installed")
elseif(NOT EXPECT_ASIO AND NOT EXPECT_BOOST_ASIO AND
       EXISTS ${prefix}/include/tunkit/detail/asio_queue_impl.hpp)
  message(FATAL_ERROR "tunkit/detail/asio_queue_impl.hpp was installed without an Asio adapter")
endif()

if(shared)
  # SOVERSION: libtunkit.so -> libtunkit.so.MAJOR -> libtunkit.so.MAJOR.MINOR.PATCH.
  file(STRINGS ${prefix}/include/tunkit/version.hpp version_line
    REGEX "define TUNKIT_VERSION_STRING")
  string(REGEX MATCH "\"([0-9]+)\\.[0-9]+\\.[0-9]+\"" _ "${version_line}")
  set(major ${CMAKE_MATCH_1})
  foreach(lib tunkit tunkit-testing)
    if(NOT IS_SYMLINK ${libdir}/lib${lib}.so OR NOT IS_SYMLINK ${libdir}/lib${lib}.so.${major})
      message(FATAL_ERROR "lib${lib}.so and lib${lib}.so.${major} must be links to the library")
    endif()
  endforeach()
  # Visibility: the API is exported, internals are not.
  run(${NM} -D -C --defined-only ${libdir}/libtunkit.so)
  set(symbols "${last_output}")
  foreach(public "tunkit::TunDevice::open" "tunkit::parse_ip" "tunkit::library_version")
    string(FIND "${symbols}" "${public}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${public} is not exported from libtunkit.so")
    endif()
  endforeach()
  # Mangled names, so that a function is matched by its own namespace only (internal types may
  # appear in the parameters of an exported class's private members, such as Link's constructor
  # taking a netlink socket): tunkit::detail::setiff_hint, shown_name, tunkit::detail::netlink::.
  run(${NM} -D --defined-only ${libdir}/libtunkit.so)
  foreach(internal _ZN6tunkit6detail11setiff_hint _ZN6tunkit6detail10shown_name
                   _ZN6tunkit6detail7netlink)
    string(FIND "${last_output}" " ${internal}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "an internal symbol (${internal}...) is exported from libtunkit.so")
    endif()
  endforeach()
endif()

# The documentation's complete programs: every ```cpp block of README.md and docs/*.md (```c++
# marks fragments), compiled by the consumer against the installed package, so the documentation
# cannot rot; those that say "no privileges needed" are run too. Those that use tunkit::asio
# only where the package has it.
set(doc_examples "")
set(doc_runnable "")
set(doc_sources "")
if(NOT DEFINED DOCS OR DOCS)
  file(GLOB doc_files ${SOURCE_DIR}/docs/*.md)
  set(doc_sources ${SOURCE_DIR}/README.md ${doc_files})
endif()
foreach(doc ${doc_sources})
  file(READ ${doc} text)
  get_filename_component(stem ${doc} NAME_WE)
  string(REPLACE "-" "_" stem "${stem}")
  set(n 0)
  while(TRUE)
    # string(FIND)/SUBSTRING rather than lists: code is full of semicolons.
    string(FIND "${text}" "```cpp\n" start)
    if(start EQUAL -1)
      break()
    endif()
    math(EXPR start "${start} + 7")
    string(SUBSTRING "${text}" ${start} -1 text)
    string(FIND "${text}" "```" end)
    string(SUBSTRING "${text}" 0 ${end} code)
    string(SUBSTRING "${text}" ${end} -1 text)
    math(EXPR n "${n} + 1")
    string(FIND "${code}" "<tunkit/asio.hpp>" uses_asio)
    if(NOT EXPECT_ASIO AND NOT uses_asio EQUAL -1)
      continue()
    endif()
    set(source ${WORK_DIR}/doc_examples/${stem}_${n}.cpp)
    file(WRITE ${source} "${code}")
    list(APPEND doc_examples ${source})
    string(FIND "${code}" "no privileges needed" runnable)
    if(NOT runnable EQUAL -1)
      list(APPEND doc_runnable doc_${stem}_${n})
    endif()
  endwhile()
endforeach()
if(doc_sources AND NOT doc_examples)
  message(FATAL_ERROR "no ```cpp example found in README.md and docs/")
endif()
string(REPLACE ";" "|" doc_examples_arg "${doc_examples}")

# 1. find_package(tunkit CONFIG REQUIRED)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
    -DDOC_EXAMPLES=${doc_examples_arg} -DEXPECT_TYPE=${expect_type}
    "-DCMAKE_EXE_LINKER_FLAGS=${sanitize_flags}"
    -DEXPECT_ASIO=${EXPECT_ASIO} -DEXPECT_BOOST_ASIO=${EXPECT_BOOST_ASIO})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel ${JOBS})
run(${WORK_DIR}/build/consumer)
message(STATUS "${last_output}")
run(${WORK_DIR}/build/consumer_testing)
if(EXPECT_ASIO)
  run(${WORK_DIR}/build/consumer_asio)
  message(STATUS "${last_output}")
endif()
if(EXPECT_BOOST_ASIO)
  run(${WORK_DIR}/build/consumer_boost_asio)
  message(STATUS "${last_output}")
endif()
foreach(program IN LISTS doc_runnable)
  run(${WORK_DIR}/build/${program})
  message(STATUS "${program}: ${last_output}")
endforeach()

# 2. pkg-config, exactly as README.md says: `pkg-config --cflags --libs tunkit` links with either
# kind of library, static (its dependencies are in Requires and Libs) or shared (found at run time
# through an rpath: a prefix the dynamic linker does not search). The same for tunkit-testing.
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
foreach(pc tunkit tunkit-testing)
  if(pc STREQUAL "tunkit")
    set(source ${SOURCE_DIR}/tests/package/consumer/main.cpp)
    set(program ${WORK_DIR}/consumer_pc)
  else()
    set(source ${SOURCE_DIR}/tests/package/consumer/testing.cpp)
    set(program ${WORK_DIR}/consumer_testing_pc)
  endif()
  run(pkg-config --cflags --libs ${pc})
  string(STRIP "${last_output}" flags)
  message(STATUS "pkg-config --cflags --libs ${pc}: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -Wall -Wextra -Werror ${sanitize_flags} -o ${program} ${source} ${flags}
      -Wl,-rpath,${libdir})
  run(${program})
  message(STATUS "${last_output}")
endforeach()
