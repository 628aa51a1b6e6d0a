#pragma once
// The table of virtio-net header rules: for each header and packet, whether the tun driver takes
// the write and, when it does not, the reason tunkit names before any system call. The same
// table runs against the real driver (tests/netns/vnet_rules_netns_test.cpp) and against the fake
// kernel and VirtioNetHeader::kernel_check (tests/unit/vnet_rules_test.cpp), so that the three
// cannot drift apart. Measured on Linux 6.18 (UDP_MAX_SEGMENTS 128; 64 before 6.9).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tunkit/options.hpp"
#include "tunkit/vnet.hpp"

namespace vnet_rules {

/// The packet behind the header: IP version, transport protocol, payload bytes.
struct Shape {
  int version = 4;
  std::uint8_t protocol = 6;  // TCP; 17 for UDP
  std::size_t payload = 100;
};

struct Rule {
  const char* what;
  std::uint8_t flags;     // the header's flags byte (bit 0 NEEDS_CSUM)
  std::uint8_t gso_type;  // the raw byte, ECN bit included
  std::uint16_t hdr_len;
  std::uint16_t gso_size;
  std::uint16_t csum_start;
  std::uint16_t csum_offset;
  Shape shape;
  tunkit::Mode mode;
  /// Empty: the kernel takes it. Else why it refuses (EINVAL) and tunkit says so first.
  std::optional<tunkit::OffloadReason> refused;
};

using R = tunkit::OffloadReason;
constexpr Shape kTcp4{4, 6, 100};   // 140 bytes
constexpr Shape kUdp4{4, 17, 100};  // 128 bytes
constexpr Shape kTcp6{6, 6, 100};   // 160 bytes
constexpr tunkit::Mode kTun = tunkit::Mode::tun;
constexpr tunkit::Mode kTap = tunkit::Mode::tap;

inline const std::vector<Rule>& rules() {
  static const std::vector<Rule> table = {
      {"no offload", 0, 0, 0, 0, 0, 0, kTcp4, kTun, {}},
      {"flags the kernel ignores (DATA_VALID, bit 2)", 6, 0, 0, 0, 0, 0, kTcp4, kTun, {}},
      {"unknown gso_type 2", 0, 2, 0, 50, 0, 0, kTcp4, kTun, R::unknown_gso_type},
      {"unknown gso_type 0x10", 0, 0x10, 0, 50, 0, 0, kTcp4, kTun, R::unknown_gso_type},
      {"unknown gso_type 0x21", 1, 0x21, 0, 50, 20, 16, kTcp4, kTun, R::unknown_gso_type},
      {"the ECN bit without a GSO type", 0, 0x80, 0, 0, 0, 0, kTcp4, kTun, R::unknown_gso_type},
      {"TCPV4 with gso_size 0", 1, 1, 0, 0, 20, 16, kTcp4, kTun, R::gso_size_zero},
      {"TCPV6 with gso_size 0", 1, 4, 0, 0, 40, 16, kTcp6, kTun, R::gso_size_zero},
      {"UDP_L4 with gso_size 0", 1, 5, 0, 0, 20, 6, kUdp4, kTun, R::gso_size_zero},
      {"TCPV4 with gso_size 65535", 1, 1, 0, 0xFFFF, 20, 16, kTcp4, kTun, R::gso_size_reserved},
      {"hdr_len beyond the packet", 0, 0, 200, 0, 0, 0, kTcp4, kTun, R::hdr_len_beyond_packet},
      {"hdr_len the whole packet", 0, 0, 140, 0, 0, 0, kTcp4, kTun, {}},
      {"NEEDS_CSUM over UDP", 1, 0, 0, 0, 20, 6, kUdp4, kTun, {}},
      {"NEEDS_CSUM at 0", 1, 0, 0, 0, 0, 6, kUdp4, kTun, R::csum_start_before_transport},
      {"NEEDS_CSUM at 19", 1, 0, 0, 0, 19, 16, kTcp4, kTun, R::csum_start_before_transport},
      {"NEEDS_CSUM field past the end", 1, 0, 0, 0, 20, 200, kTcp4, kTun,
       R::csum_offset_beyond_packet},
      {"NEEDS_CSUM field ends at the end", 1, 0, 0, 0, 122, 16, kTcp4, kTun, {}},
      {"NEEDS_CSUM start past the end", 1, 0, 0, 0, 141, 0, kTcp4, kTun,
       R::csum_start_beyond_packet},
      {"TCPV4 with NEEDS_CSUM", 1, 1, 0, 50, 20, 16, kTcp4, kTun, {}},
      {"TCPV4 smaller than gso_size", 1, 1, 0, 500, 20, 16, kTcp4, kTun, {}},
      {"TCPV4 with csum_offset 6", 1, 1, 0, 50, 20, 6, kTcp4, kTun, R::gso_csum_offset},
      {"TCPV4 with the TCP header past the end", 1, 1, 0, 50, 121, 16, kTcp4, kTun,
       R::transport_beyond_packet},
      {"TCPV4 with its checksum field past the end", 1, 1, 0, 50, 125, 16, kTcp4, kTun,
       R::csum_offset_beyond_packet},
      {"TCPV4 with the TCP header at the end", 1, 1, 0, 50, 120, 16, kTcp4, kTun, {}},
      {"TCPV6 with NEEDS_CSUM", 1, 4, 0, 50, 40, 16, kTcp6, kTun, {}},
      {"TCPV6 with csum_start 20", 1, 4, 0, 50, 20, 16, kTcp4, kTun,
       R::csum_start_before_transport},
      {"TCPV4 without NEEDS_CSUM", 0, 1, 0, 50, 0, 0, kTcp4, kTun, {}},
      {"TCPV4 without NEEDS_CSUM over UDP", 0, 1, 0, 50, 0, 0, kUdp4, kTun, R::gso_type_mismatch},
      {"TCPV4 without NEEDS_CSUM over IPv6", 0, 1, 0, 50, 0, 0, kTcp6, kTun, R::gso_type_mismatch},
      {"TCPV6 without NEEDS_CSUM over IPv4", 0, 4, 0, 50, 0, 0, kTcp4, kTun, R::gso_type_mismatch},
      {"UDP (UFO) without NEEDS_CSUM", 0, 3, 0, 50, 0, 0, kUdp4, kTun, {}},
      {"UDP (UFO) with NEEDS_CSUM", 1, 3, 0, 50, 20, 6, kUdp4, kTun, {}},
      {"UDP_L4 without NEEDS_CSUM", 0, 5, 0, 50, 0, 0, kUdp4, kTun, R::gso_needs_csum},
      {"UDP_L4 with NEEDS_CSUM", 1, 5, 0, 50, 20, 6, kUdp4, kTun, {}},
      {"UDP_L4 with csum_offset 16", 1, 5, 0, 50, 20, 16, kUdp4, kTun, R::gso_csum_offset},
      {"UDP_L4 with the UDP header past the end", 1, 5, 0, 50, 125, 6, kUdp4, kTun,
       R::csum_offset_beyond_packet},
      {"UDP_L4 in 128 segments", 1, 5, 0, 1, 20, 6, Shape{4, 17, 128}, kTun, {}},
      {"UDP_L4 in 129 segments", 1, 5, 0, 1, 20, 6, Shape{4, 17, 129}, kTun,
       R::gso_too_many_segments},
      {"TAP: no offload", 0, 0, 0, 0, 0, 0, kTcp4, kTap, {}},
      {"TAP: TCPV4 with NEEDS_CSUM", 1, 1, 0, 50, 34, 16, kTcp4, kTap, {}},
      {"TAP: TCPV4 without NEEDS_CSUM", 0, 1, 0, 50, 0, 0, kTcp4, kTap, {}},
      {"TAP: TCPV4 without NEEDS_CSUM over IPv6", 0, 1, 0, 50, 0, 0, kTcp6, kTap,
       R::gso_type_mismatch},
      {"TAP: UDP_L4 without NEEDS_CSUM", 0, 5, 0, 50, 0, 0, kUdp4, kTap, R::gso_needs_csum},
  };
  return table;
}

/// The packet of `shape` (TCP or UDP over IPv4 or IPv6, zero payload; for TAP in an Ethernet
/// frame), 10.0.0.2 -> 10.0.0.1 or fd00::2 -> fd00::1: a destination on no interface of the
/// namespace, so a packet the kernel takes is dropped by its stack.
inline std::vector<std::byte> packet(const Shape& shape, tunkit::Mode mode) {
  const std::size_t ip = shape.version == 4 ? 20 : 40;
  const std::size_t l4 = shape.protocol == 6 ? 20 : 8;
  const std::size_t total = ip + l4 + shape.payload;
  std::vector<std::byte> p(total);
  auto put = [&](std::size_t at, unsigned v) { p[at] = static_cast<std::byte>(v & 0xFFU); };
  if (shape.version == 4) {
    put(0, 0x45);
    put(2, static_cast<unsigned>(total >> 8));
    put(3, static_cast<unsigned>(total));
    put(8, 64);
    put(9, shape.protocol);
    put(12, 10), put(15, 2), put(16, 10), put(19, 1);
  } else {
    put(0, 0x60);
    put(4, static_cast<unsigned>((total - 40) >> 8));
    put(5, static_cast<unsigned>(total - 40));
    put(6, shape.protocol);
    put(7, 64);
    put(8, 0xFD), put(23, 2), put(24, 0xFD), put(39, 1);
  }
  if (shape.protocol == 6) {
    put(ip + 12, 0x50);  // data offset 5
    put(ip + 13, 0x10);  // ACK
  } else {
    put(ip + 4, static_cast<unsigned>((l4 + shape.payload) >> 8));
    put(ip + 5, static_cast<unsigned>(l4 + shape.payload));
  }
  if (mode == tunkit::Mode::tun) return p;
  std::vector<std::byte> frame(14);
  frame[0] = std::byte{0x02};  // a locally administered unicast destination
  frame[6] = std::byte{0x02};
  frame[11] = std::byte{0x01};
  frame[12] = static_cast<std::byte>(shape.version == 4 ? 0x08 : 0x86);
  frame[13] = static_cast<std::byte>(shape.version == 4 ? 0x00 : 0xDD);
  frame.insert(frame.end(), p.begin(), p.end());
  return frame;
}

/// The 10-byte header of `rule` (little-endian fields, as the driver reads them by default).
inline std::vector<std::byte> header(const Rule& r) {
  std::vector<std::byte> h(10);
  auto put16 = [&](std::size_t at, unsigned v) {
    h[at] = static_cast<std::byte>(v & 0xFFU);
    h[at + 1] = static_cast<std::byte>(v >> 8);
  };
  h[0] = static_cast<std::byte>(r.flags);
  h[1] = static_cast<std::byte>(r.gso_type);
  put16(2, r.hdr_len);
  put16(4, r.gso_size);
  put16(6, r.csum_start);
  put16(8, r.csum_offset);
  return h;
}

/// Header and packet, as one write.
inline std::vector<std::byte> write_of(const Rule& r) {
  auto bytes = header(r);
  const auto p = packet(r.shape, r.mode);
  bytes.insert(bytes.end(), p.begin(), p.end());
  return bytes;
}

}  // namespace vnet_rules
