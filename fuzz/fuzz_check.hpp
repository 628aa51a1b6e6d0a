// The check of tunkit's fuzz targets: a property that does not hold is a crash, which libFuzzer
// reports with the input that caused it (and keeps it as crash-*). Unlike assert, it stays on in
// every build type.
#pragma once

#include <cstdio>
#include <cstdlib>

/// Aborts with "FILE:LINE: check failed: COND" on stderr when `cond` is false.
#define TUNKIT_FUZZ_CHECK(cond)                                                     \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)
