// tunkit/version.hpp (generated from cmake/version.hpp.in) and the library agree.
#include "tunkit/version.hpp"

#include <string>

#include "catch.hpp"

TEST_CASE("the version macros and library_version() agree", "[version]") {
  const std::string text = std::to_string(TUNKIT_VERSION_MAJOR) + "." +
                           std::to_string(TUNKIT_VERSION_MINOR) + "." +
                           std::to_string(TUNKIT_VERSION_PATCH);
  CHECK(text == TUNKIT_VERSION_STRING);
  CHECK(TUNKIT_VERSION ==
        TUNKIT_VERSION_MAJOR * 10000 + TUNKIT_VERSION_MINOR * 100 + TUNKIT_VERSION_PATCH);
  CHECK(std::string(tunkit::library_version()) == TUNKIT_VERSION_STRING);
}
