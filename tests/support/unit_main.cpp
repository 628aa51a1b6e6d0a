// The unit tests need nothing before they run (Catch2 v2; v3 links Catch2::Catch2WithMain).
#include "test_main.hpp"

int tunkit_test::before_tests(int /*argc*/, char** /*argv*/) {
  return -1;
}

int tunkit_test::after_tests(int status) {
  return status;
}
