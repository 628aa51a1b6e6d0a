# Warnings (and optional sanitizers) for tunkit's own targets: a PRIVATE interface target that is
# never exported, so consumers never inherit tunkit's warning policy.
add_library(tunkit_warnings INTERFACE)
target_compile_options(tunkit_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
  -Wformat=2 -Wimplicit-fallthrough)
# GCC warns of a class whose member's type is in an anonymous namespace only outside the main
# file, where another file including it would break the one-definition rule. A unity build
# includes every source file once into a generated main file: there the warning means nothing.
if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(tunkit_warnings INTERFACE -Wno-subobject-linkage)
endif()
if(TUNKIT_WARNINGS_AS_ERRORS)
  target_compile_options(tunkit_warnings INTERFACE -Werror)
endif()
if(TUNKIT_SANITIZE)
  target_compile_options(tunkit_warnings INTERFACE -fsanitize=${TUNKIT_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(tunkit_warnings INTERFACE -fsanitize=${TUNKIT_SANITIZE})
endif()

# Asio's scheduler (asio/detail/impl/scheduler.ipp) trips GCC 12's flow-based -Wnull-dereference
# once inlined at -O2: a false positive inside /usr/include that the system-header exemption does
# not cover. Turned off for the translation units that use Asio, and only there: as a source file
# property (COMPILE_OPTIONS), which comes after the target's flags on the command line.
set(TUNKIT_ASIO_WARNING_FLAGS -Wno-null-dereference)
# With ThreadSanitizer, GCC 12 warns (-Wtsan) that Asio's std::atomic_thread_fence is not
# supported: TSan does not model fences, so a report inside Asio needs a second look.
if(TUNKIT_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
   AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  list(APPEND TUNKIT_ASIO_WARNING_FLAGS -Wno-tsan)
endif()
