#include "tunkit/packet/checksum.hpp"

#include <random>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using Bytes = std::vector<std::byte>;
using tunkit_test::hex;
using tunkit_test::reference_checksum;

Bytes random_bytes(std::mt19937& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b)
    x = static_cast<std::byte>(rng() & 0xFFU);
  return b;
}

std::uint16_t load16(const Bytes& b, std::size_t i) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[i]) << 8) |
                                    std::to_integer<unsigned>(b[i + 1]));
}

void store16(Bytes& b, std::size_t i, std::uint16_t v) {
  b[i] = static_cast<std::byte>(v >> 8);
  b[i + 1] = static_cast<std::byte>(v & 0xFFU);
}

}  // namespace

TEST_CASE("internet checksum: RFC 1071 and RFC 791 worked examples", "[checksum]") {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
  const Bytes rfc1071 = hex("0001 f203 f4f5 f6f7");
  CHECK(tunkit::Checksum().add(rfc1071).fold() == 0xddf2);
  CHECK(tunkit::internet_checksum(rfc1071) == 0x220d);

  // A classic IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) whose checksum is b861.
  Bytes header = hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7");
  CHECK(tunkit::Checksum().add(header).verifies());
  store16(header, 10, 0);
  CHECK(tunkit::internet_checksum(header) == 0xb861);

  CHECK(tunkit::internet_checksum({}) == 0xFFFF);
  CHECK(tunkit::internet_checksum(hex("0000 0000 00")) == 0xFFFF);
  CHECK(tunkit::internet_checksum(hex("ff")) == 0x00FF);  // odd byte is the high-order byte
}

TEST_CASE("internet checksum equals a byte-loop reference at every length and alignment",
          "[checksum]") {
  std::mt19937 rng(1071);
  const Bytes pool = random_bytes(rng, 2000 + 16);
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t len = 0; len <= 2000; ++len) {
      const std::span<const std::byte> data = std::span(pool).subspan(align, len);
      const std::uint16_t expected = reference_checksum(data);
      if (tunkit::internet_checksum(data) != expected) {
        FAIL("len " << len << " align " << align);
      }
    }
  }
  // All-ones data maximises carries: every 64-bit add overflows.
  const Bytes ones(70000, std::byte{0xFF});
  for (const std::size_t len : {8U, 31U, 32U, 33U, 1500U, 65535U, 70000U}) {
    CHECK(tunkit::internet_checksum(std::span(ones).first(len)) ==
          reference_checksum(std::span(ones).first(len)));
  }
  SUCCEED();
}

TEST_CASE("Checksum chains over pieces of any length", "[checksum]") {
  std::mt19937 rng(1624);
  for (int round = 0; round < 500; ++round) {
    const Bytes data = random_bytes(rng, rng() % 600);
    tunkit::Checksum sum;
    std::size_t off = 0;
    while (off < data.size()) {
      const std::size_t piece = std::min<std::size_t>(rng() % 17, data.size() - off);
      sum.add(std::span(data).subspan(off, piece));
      off += piece;
    }
    REQUIRE(sum.checksum() == reference_checksum(data));
  }
}

TEST_CASE("add_u16 and add_u32 append big-endian bytes at any position", "[checksum]") {
  const Bytes odd = hex("abcdef");
  const Bytes even = hex("abcd");
  for (const Bytes* prefix : {&odd, &even}) {
    tunkit::Checksum words;
    words.add(*prefix).add_u16(0x1234).add_u32(0xdeadbeef);
    Bytes all = *prefix;
    for (const char* h : {"1234", "dead", "beef"}) {
      const Bytes w = hex(h);
      all.insert(all.end(), w.begin(), w.end());
    }
    CHECK(words.checksum() == reference_checksum(all));
  }
}

TEST_CASE("pseudo headers match RFC 768 (IPv4) and RFC 8200 (IPv6) layouts", "[checksum]") {
  const auto src4 = tunkit::IpAddress::v4({10, 0, 0, 2});
  const auto dst4 = tunkit::IpAddress::v4({10, 0, 0, 1});
  CHECK(tunkit::pseudo_header_sum(src4, dst4, 17, 50).checksum() ==
        reference_checksum(hex("0a00 0002 0a00 0001 0011 0032")));
  const auto src6 = tunkit::IpAddress::parse("fd00::2");
  const auto dst6 = tunkit::IpAddress::parse("fd00::1");
  CHECK(tunkit::pseudo_header_sum(src6, dst6, 58, 70000).checksum() ==
        reference_checksum(hex("fd00 0000 0000 0000 0000 0000 0000 0002"
                               "fd00 0000 0000 0000 0000 0000 0000 0001"
                               "0001 1170 0000 003a")));
}

TEST_CASE("RFC 1624 incremental update equals full recomputation", "[checksum]") {
  std::mt19937 rng(791);
  for (int round = 0; round < 5000; ++round) {
    Bytes header = random_bytes(rng, 20);
    store16(header, 10, 0);
    const std::uint16_t before = reference_checksum(header);
    store16(header, 10, before);

    // A 16-bit word (not the checksum itself).
    std::size_t word = 2 * (rng() % 10);
    if (word == 10) word = 8;
    const std::uint16_t old_word = load16(header, word);
    const auto new_word = static_cast<std::uint16_t>(rng() & 0xFFFFU);
    store16(header, word, new_word);
    const std::uint16_t updated = tunkit::update16(before, old_word, new_word);
    store16(header, 10, 0);
    REQUIRE(updated == reference_checksum(header));
    store16(header, 10, updated);

    // A 32-bit field (the source address).
    const std::uint32_t old_addr = (std::uint32_t{load16(header, 12)} << 16) | load16(header, 14);
    const auto new_addr = static_cast<std::uint32_t>(rng());
    store16(header, 12, static_cast<std::uint16_t>(new_addr >> 16));
    store16(header, 14, static_cast<std::uint16_t>(new_addr & 0xFFFFU));
    const std::uint16_t updated32 = tunkit::update32(updated, old_addr, new_addr);
    store16(header, 10, 0);
    REQUIRE(updated32 == reference_checksum(header));
  }
  static_assert(tunkit::update16(0xb861, 0x4011, 0x3f11) == 0xb961);  // TTL 64 -> 63
}

TEST_CASE("packet checksum helpers on the golden packets", "[checksum]") {
  for (const std::string_view s :
       {tunkit_test::kUdp4, tunkit_test::kTcp4Psh, tunkit_test::kTcp4Syn, tunkit_test::kIcmp4Echo,
        tunkit_test::kIcmp6Echo, tunkit_test::kIpv4Options, tunkit_test::kIpv6Ext}) {
    Bytes b = hex(s);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(tunkit::transport_checksum_ok(*pkt));
    if (const auto* v4 = pkt->ipv4()) {
      CHECK(tunkit::ipv4_header_checksum_ok(*v4));
      CHECK(tunkit::ipv4_header_checksum(*v4) == v4->checksum());
    }
    // Corrupt one payload byte: the transport checksum no longer verifies.
    const std::uint16_t good = tunkit::transport_checksum(*pkt);
    b.back() ^= std::byte{0x01};
    const auto bad = tunkit::parse_ip(b);
    REQUIRE(bad);
    CHECK_FALSE(tunkit::transport_checksum_ok(*bad));
    CHECK(tunkit::transport_checksum(*bad) != good);
  }
}

TEST_CASE("transport checksums of odd-length messages", "[checksum]") {
  // ICMP echo request with 3 data bytes: 11 bytes of ICMP (the fuzzer's first find).
  Bytes b = hex("4500 001f 0001 0000 4001 0000 0a00 0001 0a00 0002 0800 0000 0007 0001 6162 63");
  for (const unsigned type : {0U, 8U, 13U}) {
    b[20] = static_cast<std::byte>(type);
    b[22] = b[23] = std::byte{0};
    const Bytes icmp(b.begin() + 20, b.end());
    const std::uint16_t expected = reference_checksum(icmp);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(tunkit::transport_checksum(*pkt) == expected);
    store16(b, 22, expected);
    const auto fixed = tunkit::parse_ip(b);
    REQUIRE(fixed);
    CHECK(tunkit::transport_checksum_ok(*fixed));
    CHECK(tunkit::transport_checksum(*fixed) == expected);
  }
}

TEST_CASE("a message that sums to zero gets checksum ffff, not 0000", "[checksum]") {
  // An ICMP echo reply of zeros (the fuzzer's second find): the data sums to (+)0, whose
  // complement is ffff; subtracting the old field instead would give the other zero.
  Bytes b = hex("4500 0024 0001 0000 4001 0000 0a00 0001 0a00 0002");
  b.resize(36);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  REQUIRE(pkt->icmp());
  CHECK(tunkit::transport_checksum(*pkt) == 0xFFFF);
  CHECK_FALSE(tunkit::transport_checksum_ok(*pkt));
  store16(b, 22, 0xFFFF);
  CHECK(tunkit::transport_checksum_ok(*tunkit::parse_ip(b)));
}

TEST_CASE("UDP checksum special cases (RFC 768)", "[checksum]") {
  Bytes b = hex(tunkit_test::kUdp4);
  SECTION("zero over IPv4 means none") {
    store16(b, 26, 0);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(tunkit::transport_checksum_ok(*pkt));
    CHECK(tunkit::transport_checksum(*pkt) == 0x30af);
  }
  SECTION("a computed zero is sent as ffff") {
    // Make the data sum to the complement of the rest, so the checksum computes to zero.
    store16(b, 28, 0);
    const auto zeroed = tunkit::parse_ip(b);
    REQUIRE(zeroed);
    const std::uint16_t c = tunkit::transport_checksum(*zeroed);
    store16(b, 28, c);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(tunkit::transport_checksum(*pkt) == 0xFFFF);
    store16(b, 26, 0xFFFF);
    CHECK(tunkit::transport_checksum_ok(*tunkit::parse_ip(b)));
  }
  SECTION("zero over IPv6 is wrong") {
    Bytes v6 = hex(tunkit_test::kIpv6Ext);
    store16(v6, 96 + 6, 0);
    const auto pkt = tunkit::parse_ip(v6);
    REQUIRE(pkt);
    CHECK_FALSE(tunkit::transport_checksum_ok(*pkt));
  }
  SECTION("unknown protocols and short segments give 0") {
    const auto a = tunkit::IpAddress::v4({1, 2, 3, 4});
    CHECK(tunkit::transport_checksum(a, a, 47, b) == 0);
    CHECK(tunkit::transport_checksum(a, a, 6, std::span(b).first(17)) == 0);
  }
}
