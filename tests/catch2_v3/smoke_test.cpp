// Every Catch2 feature tunkit's suite uses, through tests/support/catch.hpp in its v3 branch.
#include <stdexcept>
#include <string>
#include <tuple>

#include "catch.hpp"

TEST_CASE("the Catch2 features tunkit's tests use", "[catch2]") {
  const int base = GENERATE(1, 2);
  const auto [in, out] = GENERATE(table<int, int>({{1, 2}, {2, 4}}));
  const int scaled = GENERATE_COPY(base * 10);
  CAPTURE(base, in, scaled);
  INFO("doubling " << in);
  CHECK(in * 2 == out);
  REQUIRE_FALSE(scaled == 0);
  SECTION("exceptions and string matchers") {
    CHECK_THROWS_AS(throw std::runtime_error("tunkit: open \"tun0\": device busy"),
                    std::runtime_error);
    CHECK_THROWS_WITH(throw std::runtime_error("tunkit: open \"tun0\": device busy"),
                      Catch::Matchers::ContainsSubstring("device busy"));
  }
  SECTION("warnings") {
    WARN("a warning is not a failure");
  }
  SECTION("the running test's name (privilege_skip.hpp logs it)") {
    CHECK(Catch::getResultCapture().getCurrentTestName() ==
          "the Catch2 features tunkit's tests use");
  }
}
