#include "tunkit/mac.hpp"

#include <fmt/format.h>

#include <set>
#include <string>

#include "catch.hpp"
#include "tunkit/error.hpp"
#include "tunkit/format.hpp"

using tunkit::MacAddress;

TEST_CASE("MacAddress is a constexpr value type", "[mac]") {
  constexpr MacAddress a({0x02, 0x00, 0x5e, 0x00, 0x53, 0x01});
  static_assert(!a.is_multicast());
  static_assert(MacAddress::broadcast().is_multicast());
  static_assert(MacAddress({0x01, 0x00, 0x5e, 0, 0, 1}).is_multicast());
  static_assert(a == MacAddress({0x02, 0x00, 0x5e, 0x00, 0x53, 0x01}));
  static_assert(a != MacAddress::broadcast());
  static_assert(a.bytes[5] == 0x01);
  CHECK(a.to_string() == "02:00:5e:00:53:01");
  CHECK(MacAddress::broadcast().to_string() == "ff:ff:ff:ff:ff:ff");
  CHECK(fmt::format("{:>19}", a) == "  02:00:5e:00:53:01");
}

TEST_CASE("MacAddress::parse accepts the usual spellings", "[mac]") {
  CHECK(MacAddress::parse("aa:bb:cc:0d:0e:ff") == MacAddress({0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0xff}));
  CHECK(MacAddress::parse("AA:BB:CC:0D:0E:FF").to_string() == "aa:bb:cc:0d:0e:ff");
  CHECK(MacAddress::parse("aa-bb-cc-0d-0e-ff").to_string() == "aa:bb:cc:0d:0e:ff");
  const std::string bad = GENERATE(as<std::string>{}, "", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00",
                                   "aa:bb:cc:dd:ee:fg", "aa-bb:cc:dd:ee:ff", "a:bb:cc:dd:ee:fff",
                                   "aabbccddeeff", "aa:bb:cc:dd:ee:f ", "aa.bb.cc.dd.ee.ff");
  CAPTURE(bad);
  CHECK_FALSE(MacAddress::try_parse(bad));
  try {
    (void)MacAddress::parse(bad);
    FAIL("no exception");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::invalid_address);
    CHECK(std::string(e.what()) == "tunkit: parse MAC address \"" + bad +
                                       "\": invalid MAC address (expected six hex bytes like "
                                       "aa:bb:cc:dd:ee:ff)");
  }
}

TEST_CASE("MacAddress::random is locally administered unicast and varies", "[mac]") {
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    const MacAddress m = MacAddress::random();
    CHECK_FALSE(m.is_multicast());
    CHECK((m.bytes[0] & 0x02U) != 0);
    seen.insert(m.to_string());
  }
  CHECK(seen.size() > 60);  // 46 random bits: a repeat among 64 is practically impossible
}
