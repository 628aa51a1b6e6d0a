#include "tunkit/vnet.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "offload_samples.hpp"
#include "tunkit/offload.hpp"

namespace {

using tunkit::GsoType;
using tunkit::OffloadReason;
using tunkit::VirtioNetHeader;
using tunkit_test::Bytes;
using tunkit_test::fill_ipv4_checksum;
using tunkit_test::hex;
using tunkit_test::make_super;
using tunkit_test::put16;
using tunkit_test::Super;

// The tunkit 0.1 name stays usable (deprecated) in 0.2.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(std::is_same_v<tunkit::OffloadErrc, tunkit::OffloadReason>);
#pragma GCC diagnostic pop

}  // namespace

TEST_CASE("GsoType names", "[offload]") {
  CHECK(tunkit::to_string(GsoType::udp_l4) == "UDP_L4");
  CHECK(tunkit::to_string(static_cast<GsoType>(2)) == "unknown");
}

TEST_CASE("VirtioNetHeader parses and serializes 10, 12 and 20 bytes, both byte orders",
          "[offload]") {
  // flags NEEDS_CSUM, gso TCPV4|ECN, hdr_len 66, gso_size 1448, csum_start 20, csum_offset 16,
  // num_buffers 1.
  const Bytes le = hex("0181 4200 a805 1400 1000 0100");
  const Bytes be = hex("0181 0042 05a8 0014 0010 0001");
  VirtioNetHeader want;
  want.needs_csum = true;
  want.gso_type = GsoType::tcpv4;
  want.gso_ecn = true;
  want.hdr_len = 66;
  want.gso_size = 1448;
  want.csum_start = 20;
  want.csum_offset = 16;
  want.num_buffers = 1;

  const auto h12 = VirtioNetHeader::parse(le, 12);
  REQUIRE(h12.has_value());
  CHECK(*h12 == want);
  const auto h12be = VirtioNetHeader::parse(be, 12, false);
  REQUIRE(h12be.has_value());
  CHECK(*h12be == want);
  const auto h10 = VirtioNetHeader::parse(le);  // 10 bytes: no num_buffers
  REQUIRE(h10.has_value());
  CHECK(h10->num_buffers == 0);
  CHECK(h10->gso_size == 1448);

  Bytes out(20, std::byte{0xEE});
  REQUIRE(want.serialize(out, 12).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 12) == le);
  CHECK(out[12] == std::byte{0xEE});  // nothing past the header size
  REQUIRE(want.serialize(out, 12, false).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 12) == be);
  const auto n20 = want.serialize(out, 20);
  REQUIRE(n20.has_value());
  CHECK(*n20 == 20);
  CHECK(std::all_of(out.begin() + 12, out.end(), [](std::byte b) { return b == std::byte{0}; }));
  REQUIRE(want.serialize(out, 10).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 10) == Bytes(le.begin(), le.begin() + 10));

  // DATA_VALID and unknown flag bits.
  const auto dv = VirtioNetHeader::parse(hex("0600 0000 0000 0000 0000"));
  REQUIRE(dv.has_value());
  CHECK(dv->data_valid);
  CHECK_FALSE(dv->needs_csum);

  // Sizes and lengths.
  CHECK(VirtioNetHeader::parse(le, 4).error().reason == OffloadReason::bad_header_size);
  CHECK(tunkit::to_string(VirtioNetHeader::parse(le, 4).error()) ==
        "virtio-net header: size 4 below 10");
  const auto short_buf = VirtioNetHeader::parse(std::span(le).first(9));
  CHECK(short_buf.error().reason == OffloadReason::header_truncated);
  CHECK(tunkit::to_string(short_buf.error()) == "virtio-net header: 9 bytes, the header needs 10");
  CHECK(want.serialize(std::span(out).first(11), 12).error().reason ==
        OffloadReason::buffer_too_small);
}

TEST_CASE("Bad virtio-net headers are rejected with the reason", "[offload]") {
  const Super tcp4 = make_super({.payload = 3000});
  const Super udp6 = make_super({.version = 6, .tcp = false, .payload = 3000});
  CHECK_FALSE(tcp4.header.check(tcp4.packet).has_value());
  CHECK_FALSE(udp6.header.check(udp6.packet).has_value());
  CHECK_FALSE(tcp4.header.validate(tcp4.packet));

  struct Case {
    std::string name;
    VirtioNetHeader header;
    const Bytes* packet;
    OffloadReason code;
    std::string reason;
    tunkit::errc errc;
  };
  std::vector<Case> cases;
  const auto with = [](VirtioNetHeader h, auto edit) {
    edit(h);
    return h;
  };
  cases.push_back({"gso_size 0", with(tcp4.header, [](auto& h) { h.gso_size = 0; }), &tcp4.packet,
                   OffloadReason::gso_size_zero,
                   "virtio-net header: gso_size 0 with gso_type TCPV4",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"unknown gso type",
                   with(tcp4.header, [](auto& h) { h.gso_type = static_cast<GsoType>(2); }),
                   &tcp4.packet, OffloadReason::unknown_gso_type,
                   "virtio-net header: unknown gso_type 0x02", tunkit::errc::invalid_vnet_header});
  cases.push_back({"ECN alone", with(VirtioNetHeader{}, [](auto& h) { h.gso_ecn = true; }),
                   &tcp4.packet, OffloadReason::unknown_gso_type,
                   "virtio-net header: unknown gso_type 0x80", tunkit::errc::invalid_vnet_header});
  cases.push_back({"hdr_len beyond", with(tcp4.header, [](auto& h) { h.hdr_len = 4000; }),
                   &tcp4.packet, OffloadReason::hdr_len_beyond_packet,
                   "virtio-net header: hdr_len 4000 beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"csum_start beyond", with(tcp4.header, [](auto& h) { h.csum_start = 3053; }),
                   &tcp4.packet, OffloadReason::csum_start_beyond_packet,
                   "virtio-net header: csum_start 3053 beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"csum_offset beyond",
                   with(VirtioNetHeader{},
                        [](auto& h) {
                          h.needs_csum = true;
                          h.csum_start = 3000;
                          h.csum_offset = 51;
                        }),
                   &tcp4.packet, OffloadReason::csum_offset_beyond_packet,
                   "virtio-net header: checksum field ends at 3053 (csum_start + csum_offset + 2), "
                   "beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  // The kernel's own rules come first (check_fields); the packet's version and protocol are
  // compared for headers that pass them (here: without NEEDS_CSUM, as the kernel compares).
  cases.push_back({"TCPV6 on IPv4",
                   with(tcp4.header,
                        [](auto& h) {
                          h.gso_type = GsoType::tcpv6;
                          h.needs_csum = false;
                        }),
                   &tcp4.packet, OffloadReason::gso_type_mismatch,
                   "virtio-net header: gso_type TCPV6 does not fit an IPv4 TCP packet",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"TCPV4 on IPv6 UDP",
                   with(udp6.header,
                        [](auto& h) {
                          h.gso_type = GsoType::tcpv4;
                          h.needs_csum = false;
                        }),
                   &udp6.packet, OffloadReason::gso_type_mismatch,
                   "virtio-net header: gso_type TCPV4 does not fit an IPv6 UDP packet",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"TCP GSO with the UDP checksum offset",
                   with(tcp4.header, [](auto& h) { h.csum_offset = 6; }), &tcp4.packet,
                   OffloadReason::gso_csum_offset,
                   "virtio-net header: csum_offset 6 with GSO, the transport checksum field is at "
                   "16",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"checksum field not the TCP checksum",
                   with(tcp4.header, [](auto& h) { h.csum_start = 24; }), &tcp4.packet,
                   OffloadReason::csum_field_mismatch,
                   "virtio-net header: checksum field at 40 (csum_start + csum_offset) is not the "
                   "transport checksum at 36",
                   tunkit::errc::invalid_vnet_header});
  const Bytes truncated = [&] {
    Bytes b = tcp4.packet;
    b.resize(1000);  // the IPv4 total length says 3052
    return b;
  }();
  cases.push_back({"IP length beyond the buffer", with(tcp4.header, [](auto& h) { h.hdr_len = 0; }),
                   &truncated, OffloadReason::malformed_packet,
                   "malformed packet: IPv4: total length 3052 beyond buffer 1000",
                   tunkit::errc::malformed_packet});
  const Bytes fragment = [&] {
    Bytes b = tcp4.packet;
    put16(b, 6, 0x2000);  // MF
    fill_ipv4_checksum(b);
    return b;
  }();
  cases.push_back({"fragment", tcp4.header, &fragment, OffloadReason::fragment,
                   "packet is an IP fragment", tunkit::errc::malformed_packet});

  for (const auto& c : cases) {
    INFO(c.name);
    const auto why = c.header.check(*c.packet);
    REQUIRE(why.has_value());
    CHECK(why->reason == c.code);
    CHECK(tunkit::to_string(*why) == c.reason);
    CHECK(c.header.validate(*c.packet) == tunkit::make_error_code(c.errc));
    CHECK(tunkit::make_error_code(*why) == tunkit::make_error_code(c.errc));
    // gso_split refuses it the same way, before writing anything.
    Bytes buf(2048);
    std::array<std::span<std::byte>, 1> out{buf};
    std::array<std::size_t, 1> sizes{};
    const auto r = tunkit::gso_split(c.header, *c.packet, out, sizes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == *why);
  }
}
