#include "tunkit/address.hpp"

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/error.hpp"

using tunkit::IpAddress;
using tunkit::IpPrefix;

namespace {

using test::thrown_by;  // the exception a call throws, to check its code and exact message

}  // namespace

TEST_CASE("IpAddress is a constexpr value type", "[address]") {
  constexpr IpAddress zero;
  static_assert(zero.is_v4() && !zero.is_v6());
  constexpr auto a = IpAddress::v4({10, 0, 0, 1});
  static_assert(a.family() == IpAddress::Family::v4);
  static_assert(a.max_prefix_length() == 32);
  constexpr auto b = IpAddress::v6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  static_assert(b.is_v6() && b.max_prefix_length() == 128);
  static_assert(a != b && a == IpAddress::v4({10, 0, 0, 1}));
  CHECK(a.bytes().size() == 4);
  CHECK(b.bytes().size() == 16);
  CHECK(std::vector<std::uint8_t>(a.bytes().begin(), a.bytes().end()) ==
        std::vector<std::uint8_t>{10, 0, 0, 1});
}

TEST_CASE("IpAddress parses and prints canonical text", "[address]") {
  const auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"10.0.0.1", "10.0.0.1"},
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"fd00::1", "fd00::1"},
      {"FD00:0:0:0:0:0:0:1", "fd00::1"},
      {"::", "::"},
      {"::1", "::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // RFC 5952: the first longest run
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // a single zero group stays
      {"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
      {"fe80::1:2", "fe80::1:2"},
  }));
  CAPTURE(text);
  const IpAddress a = IpAddress::parse(text);
  CHECK(a.to_string() == canonical);
  CHECK(IpAddress::try_parse(text) == a);
  CHECK(IpAddress::parse(a.to_string()) == a);
  CHECK(a.is_v4() == (text.find(':') == std::string::npos));
}

TEST_CASE("IpAddress rejects everything that is not exactly an address", "[address]") {
  const std::string text =
      GENERATE(as<std::string>{}, "10.0.0.300", "10.0.0", "10.0.0.1.2", "010.0.0.1", "0x0a.0.0.1",
               " 10.0.0.1", "10.0.0.1 ", "", "10.0.0.1/24", "fe80::1%eth0", "1::2::3", "fd00::g",
               "12345::", "localhost", std::string("10.0.0.1\0", 9), std::string(100, '1'));
  CAPTURE(text);
  CHECK_FALSE(IpAddress::try_parse(text).has_value());
  const tunkit::Error e = thrown_by([&] { (void)IpAddress::parse(text); });
  CHECK(e.code() == tunkit::errc::invalid_address);
}

TEST_CASE("IpAddress parse errors name the text", "[address]") {
  const tunkit::Error e = thrown_by([] { (void)IpAddress::parse("10.0.0.300"); });
  CHECK(std::string(e.what()) ==
        "tunkit: parse address \"10.0.0.300\": invalid IP address or prefix");
  CHECK(e.code() == tunkit::errc::invalid_address);
  CHECK(e.code().category() == tunkit::error_category());
}

TEST_CASE("IpAddress orders IPv4 before IPv6, then by bytes", "[address]") {
  const auto a = IpAddress::parse("10.0.0.1");
  const auto b = IpAddress::parse("10.0.0.2");
  const auto c = IpAddress::parse("::1");
  CHECK(a < b);
  CHECK(b < c);
  CHECK(IpAddress::parse("255.255.255.255") < IpAddress::parse("::"));
  CHECK(std::is_eq(a <=> IpAddress::parse("10.0.0.1")));
}

TEST_CASE("IpPrefix parses ADDRESS/LEN", "[address]") {
  const auto [text, address, length, canonical] =
      GENERATE(table<std::string, std::string, int, std::string>({
          {"10.0.0.1/24", "10.0.0.1", 24, "10.0.0.1/24"},
          {"0.0.0.0/0", "0.0.0.0", 0, "0.0.0.0/0"},
          {"10.0.0.1/32", "10.0.0.1", 32, "10.0.0.1/32"},
          {"10.0.0.1", "10.0.0.1", 32, "10.0.0.1/32"},
          {"fd00::1/64", "fd00::1", 64, "fd00::1/64"},
          {"FD00::1/128", "fd00::1", 128, "fd00::1/128"},
          {"::1", "::1", 128, "::1/128"},
          {"10.0.0.1/024", "10.0.0.1", 24, "10.0.0.1/24"},
      }));
  CAPTURE(text);
  const IpPrefix p = IpPrefix::parse(text);
  CHECK(p.address == IpAddress::parse(address));
  CHECK(p.length == length);
  CHECK(p.is_valid());
  CHECK(p.to_string() == canonical);
  CHECK(IpPrefix::try_parse(text) == p);
  CHECK(IpPrefix::parse(p.to_string()) == p);
}

TEST_CASE("IpPrefix rejects bad addresses and lengths", "[address]") {
  const std::string text = GENERATE(as<std::string>{}, "10.0.0.1/33", "fd00::/129", "10.0.0.1/",
                                    "10.0.0.1/+1", "10.0.0.1/-1", "10.0.0.1/1a", "10.0.0.1/ 24",
                                    "10.0.0.1/1000", "/24", "10.0.0.1/24/1", "10.0.0/24", "");
  CAPTURE(text);
  CHECK_FALSE(IpPrefix::try_parse(text).has_value());
  const tunkit::Error e = thrown_by([&] { (void)IpPrefix::parse(text); });
  CHECK(e.code() == tunkit::errc::invalid_address);
}

TEST_CASE("IpPrefix parse errors say why when the length is out of range", "[address]") {
  CHECK_THROWS_WITH(IpPrefix::parse("10.0.0.1/33"),
                    "tunkit: parse prefix \"10.0.0.1/33\": invalid IP address or prefix (the "
                    "prefix length of an IPv4 address is at most 32)");
  CHECK_THROWS_WITH(IpPrefix::parse("fd00::1/200"),
                    "tunkit: parse prefix \"fd00::1/200\": invalid IP address or prefix (the "
                    "prefix length of an IPv6 address is at most 128)");
  CHECK_THROWS_WITH(IpPrefix::parse("10.0.0.300/24"),
                    "tunkit: parse prefix \"10.0.0.300/24\": invalid IP address or prefix");
}

TEST_CASE("IpPrefix built by hand is checked by is_valid", "[address]") {
  CHECK(IpPrefix{IpAddress::parse("10.0.0.1"), 32}.is_valid());
  CHECK_FALSE(IpPrefix{IpAddress::parse("10.0.0.1"), 33}.is_valid());
  CHECK(IpPrefix{IpAddress::parse("fd00::1"), 128}.is_valid());
  CHECK_FALSE(IpPrefix{IpAddress::parse("fd00::1"), 129}.is_valid());
  constexpr IpPrefix zero;
  static_assert(zero.is_valid() && zero.length == 0);
  CHECK(zero.to_string() == "0.0.0.0/0");
  CHECK(IpPrefix::parse("10.0.0.1/24") < IpPrefix::parse("10.0.0.1/25"));
  CHECK(IpPrefix::parse("10.0.0.1/24") != IpPrefix::parse("10.0.0.1/25"));
}

TEST_CASE("IpPrefix network clears the host bits", "[address]") {
  CHECK(IpPrefix::parse("10.1.2.3/24").network() == IpAddress::parse("10.1.2.0"));
  CHECK(IpPrefix::parse("10.1.2.3/20").network() == IpAddress::parse("10.1.0.0"));
  CHECK(IpPrefix::parse("10.1.2.3/32").network() == IpAddress::parse("10.1.2.3"));
  CHECK(IpPrefix::parse("10.1.2.3/0").network() == IpAddress::parse("0.0.0.0"));
  CHECK(IpPrefix::parse("fd00:1:2:3::77/64").network() == IpAddress::parse("fd00:1:2:3::"));
  CHECK(IpPrefix::parse("fd00:1:2:3::77/57").network() == IpAddress::parse("fd00:1:2::"));
  CHECK(IpPrefix::parse("fd00::1/128").network() == IpAddress::parse("fd00::1"));
}

TEST_CASE("IpPrefix contains the addresses of its network, of its family only", "[address]") {
  const IpPrefix v4 = IpPrefix::parse("10.0.0.1/24");
  CHECK(v4.contains(IpAddress::parse("10.0.0.200")));
  CHECK(v4.contains(IpAddress::parse("10.0.0.0")));
  CHECK_FALSE(v4.contains(IpAddress::parse("10.0.1.1")));
  CHECK_FALSE(v4.contains(IpAddress::parse("::ffff:10.0.0.2")));
  const IpPrefix v6 = IpPrefix::parse("fd00::1/64");
  CHECK(v6.contains(IpAddress::parse("fd00::ffff")));
  CHECK_FALSE(v6.contains(IpAddress::parse("fd00:0:0:1::1")));
  CHECK_FALSE(v6.contains(IpAddress::parse("10.0.0.1")));
  CHECK(IpPrefix::parse("0.0.0.0/0").contains(IpAddress::parse("192.0.2.1")));
  CHECK_FALSE((IpPrefix{IpAddress::parse("10.0.0.1"), 40}.contains(IpAddress::parse("10.0.0.1"))));
}
