# cmake -P script: tests/package/subproject adds tunkit with add_subdirectory(), builds and runs;
# then gets it with FetchContent (from this source tree, disconnected), builds and runs its program;
# installing the subproject must install only its own program, nothing of tunkit. Without asking
# for it, the parent gets no tunkit::testing.
# Inputs: SOURCE_DIR WORK_DIR CXX JOBS EXPECT_ASIO
cmake_minimum_required(VERSION 3.20)  # policies for this script (cmake -P)

include(${CMAKE_CURRENT_LIST_DIR}/run.cmake)  # run()

file(REMOVE_RECURSE ${WORK_DIR})
# tunkit::testing is left out unless the parent asks for it (configure only: nothing to build).
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/subproject -B ${WORK_DIR}/no_testing
    -DCMAKE_CXX_COMPILER=${CXX} -DTUNKIT_SOURCE_DIR=${SOURCE_DIR} -DWANT_TESTING=OFF)
# Build type None (no optimisation, no debug information) as a unity build: the quickest build
# (the main build checks optimised code, one file at a time), and a parent that builds
# everything as a unity build is common.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/subproject -B ${WORK_DIR}/build
    -DCMAKE_BUILD_TYPE=None -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_COMPILER=${CXX}
    -DTUNKIT_SOURCE_DIR=${SOURCE_DIR} -DEXPECT_ASIO=${EXPECT_ASIO})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build --parallel ${JOBS})
run(${WORK_DIR}/build/consumer)
message(STATUS "${last_output}")
run(${WORK_DIR}/build/consumer_testing)
if(EXPECT_ASIO)
  run(${WORK_DIR}/build/consumer_asio)
endif()

run(${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${WORK_DIR}/prefix)
file(GLOB_RECURSE installed RELATIVE ${WORK_DIR}/prefix ${WORK_DIR}/prefix/*)
if(NOT installed STREQUAL "bin/consumer")
  message(FATAL_ERROR "installing the subproject installed more than its program: ${installed}")
endif()

# FetchContent, as README.md declares it, redirected to this source tree: no network. Only the
# consumer program is built (tunkit::tunkit and its dependents), without tunkit::testing.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/subproject -B ${WORK_DIR}/fetchcontent
    -DCMAKE_BUILD_TYPE=None -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_COMPILER=${CXX}
    -DUSE_FETCHCONTENT=ON -DFETCHCONTENT_SOURCE_DIR_TUNKIT=${SOURCE_DIR}
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON -DWANT_TESTING=OFF)
if(NOT IS_DIRECTORY ${WORK_DIR}/fetchcontent/_deps/tunkit-build)
  message(FATAL_ERROR "FetchContent did not make tunkit available in _deps/tunkit-build")
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/fetchcontent --parallel ${JOBS} --target consumer)
run(${WORK_DIR}/fetchcontent/consumer)
message(STATUS "FetchContent: ${last_output}")
