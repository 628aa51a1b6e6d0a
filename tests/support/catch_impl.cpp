// Catch2 v2's implementation and the test programs' main(), compiled once for both (v3 ships its
// implementation as a library). The program's own before_tests() runs first, after_tests() last.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "test_main.hpp"

int main(int argc, char** argv) {
  if (const int rc = tunkit_test::before_tests(argc, argv); rc >= 0) return rc;
  return tunkit_test::after_tests(Catch::Session().run(argc, argv));
}
