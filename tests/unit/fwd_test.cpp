// fwd.hpp declares the public types as their headers define them: a mismatch (class vs struct
// is tolerated, an enum's underlying type or a namespace is not) fails to compile here.
#include "tunkit/fwd.hpp"

#include <type_traits>

#include "catch.hpp"
#include "tunkit/tunkit.hpp"

TEST_CASE("fwd.hpp names the types the headers define", "[fwd]") {
  STATIC_REQUIRE(std::is_class_v<tunkit::TunDevice>);
  STATIC_REQUIRE(std::is_enum_v<tunkit::GsoType>);
  STATIC_REQUIRE(std::is_same_v<std::underlying_type_t<tunkit::Mode>, std::uint8_t>);
  STATIC_REQUIRE(std::is_class_v<tunkit::Result<int, tunkit::ParseError>>);
  STATIC_REQUIRE(std::is_abstract_v<tunkit::sys::Syscalls>);
}
