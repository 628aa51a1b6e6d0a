# Warnings (and optional sanitizers) for tunkit's own targets: a PRIVATE interface target that is
# never exported, so consumers never inherit tunkit's warning policy.
add_library(tunkit_warnings INTERFACE)
target_compile_options(tunkit_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
  -Wformat=2 -Wimplicit-fallthrough)
if(TUNKIT_WARNINGS_AS_ERRORS)
  target_compile_options(tunkit_warnings INTERFACE -Werror)
endif()
if(TUNKIT_SANITIZE)
  target_compile_options(tunkit_warnings INTERFACE -fsanitize=${TUNKIT_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(tunkit_warnings INTERFACE -fsanitize=${TUNKIT_SANITIZE})
endif()
