#include "tunkit/packet/ip_packet.hpp"

#include <array>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using tunkit_test::kOurMac;
using Bytes = std::vector<std::byte>;

}  // namespace

// A view parsed from a temporary container would dangle; those overloads are deleted.
template <class R>
concept ParsableIp = requires(R&& r) {
  tunkit::parse_ip(std::forward<R>(r));
};
template <class R>
concept ParsableUdp = requires(R&& r) {
  tunkit::UdpView::parse(std::forward<R>(r));
};
static_assert(!ParsableIp<std::vector<std::byte>>);
static_assert(!ParsableIp<std::array<std::byte, 40>>);
static_assert(ParsableIp<std::vector<std::byte>&>);
static_assert(ParsableIp<const std::vector<std::byte>&>);
static_assert(ParsableIp<std::span<const std::byte>>);
static_assert(!ParsableUdp<std::vector<std::byte>>);
static_assert(ParsableUdp<std::span<std::byte>>);

TEST_CASE("no prefix or random mutation of a golden packet reads out of bounds", "[packet]") {
  // Under ASan (the asan preset) any stray read fails this test; without it, it still proves that
  // parsing copes with every truncation and with arbitrary bytes.
  const std::string_view samples[] = {
      tunkit_test::kUdp4,      tunkit_test::kTcp4Psh,   tunkit_test::kTcp4Syn,
      tunkit_test::kIcmp4Echo, tunkit_test::kIcmp6Echo, tunkit_test::kIpv4Options,
      tunkit_test::kIpv6Ext,   tunkit_test::kIpv6Frag,  tunkit_test::kArpRequest,
      tunkit_test::kNsFrame,   tunkit_test::kDadFrame,  tunkit_test::kVlanFrame,
      tunkit_test::kEchoFrame,
  };
  std::mt19937 rng(20240611);
  std::size_t parsed = 0;
  for (const std::string_view s : samples) {
    const Bytes whole = hex(s);
    for (std::size_t n = 0; n <= whole.size(); ++n) {
      // An exact-size heap copy, so ASan sees a read one past the end.
      const std::vector<std::byte> prefix(whole.begin(),
                                          whole.begin() + static_cast<std::ptrdiff_t>(n));
      if (auto p = tunkit::parse_ip(prefix)) {
        ++parsed;
        CHECK(p->bytes().size() <= n);
        (void)tunkit::transport_checksum_ok(*p);
      }
      if (auto f = tunkit::parse_frame(prefix)) {
        ++parsed;
        CHECK(f->bytes().size() == n);
      }
    }
    for (int round = 0; round < 2000; ++round) {
      Bytes m = whole;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        m[rng() % m.size()] = static_cast<std::byte>(rng() & 0xFFU);
      }
      if (auto p = tunkit::parse_ip(m)) {
        (void)tunkit::transport_checksum(*p);
        std::array<std::byte, 2048> out{};
        if (auto r = tunkit::build_echo_reply(*p, out)) {
          CHECK(tunkit::parse_ip(std::span(out).first(*r)));
        }
      }
      if (auto f = tunkit::parse_frame(m)) {
        std::array<std::byte, 2048> out{};
        (void)tunkit::build_arp_reply(*f, kOurMac, out);
        (void)tunkit::build_neighbor_advertisement(*f, kOurMac, out);
        (void)tunkit::build_echo_reply(*f, out);
      }
    }
  }
  CHECK(parsed > 0);
}
