# cmake -P script: install, then build and run a consumer three ways (see CMakeLists.txt here).
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "ok: ${ARGN}")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
# A sanitizer build of tunkit needs its runtime in the consumer's link too.
set(extra_flags "")
if(SANITIZE)
  set(extra_flags "-fsanitize=${SANITIZE}")
endif()
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# The README's first C++ example, compiled as part of the consumer.
file(READ ${SOURCE_DIR}/README.md readme)
string(REGEX MATCH "```cpp\n([^`]*)```" _ "${readme}")
if(NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "README.md has no ```cpp example")
endif()
file(WRITE ${WORK_DIR}/readme_example.cpp "${CMAKE_MATCH_1}")

# And the complete link-management example ("Create, address, route, up").
string(FIND "${readme}" "## Create, address, route, up" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no \"Create, address, route, up\" section")
endif()
string(SUBSTRING "${readme}" ${at} -1 link_section)
string(REGEX MATCH "```cpp\n([^`]*)```" _ "${link_section}")
file(WRITE ${WORK_DIR}/readme_link_example.cpp "${CMAKE_MATCH_1}")

# And the batch I/O example ("Batch I/O").
string(FIND "${readme}" "## Batch I/O" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no \"Batch I/O\" section")
endif()
string(SUBSTRING "${readme}" ${at} -1 batch_section)
string(REGEX MATCH "```cpp\n([^`]*)```" _ "${batch_section}")
file(WRITE ${WORK_DIR}/readme_batch_example.cpp "${CMAKE_MATCH_1}")

# 1. find_package(tunkit CONFIG REQUIRED)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
    -DREADME_EXAMPLE=${WORK_DIR}/readme_example.cpp
    -DREADME_LINK_EXAMPLE=${WORK_DIR}/readme_link_example.cpp
    -DREADME_BATCH_EXAMPLE=${WORK_DIR}/readme_batch_example.cpp "-DCMAKE_CXX_FLAGS=${extra_flags}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
message(STATUS "${last_output}")

# 2. pkg-config --cflags --libs tunkit (static archive: --static pulls libmnl in)
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig:${prefix}/lib/x86_64-linux-gnu/pkgconfig")
run(pkg-config --cflags --libs --static tunkit)
string(STRIP "${last_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(${CXX} ${extra_flags} -o ${WORK_DIR}/consumer_pc ${SOURCE_DIR}/tests/package/consumer/main.cpp
    ${flags})
run(${WORK_DIR}/consumer_pc)
