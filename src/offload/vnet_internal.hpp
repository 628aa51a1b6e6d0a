#pragma once
// What the three parts of the offload engine share (vnet.cpp: the header and its check; gso.cpp:
// the split; gro.cpp: coalesce): the error they return, the raw gso_type byte, where the layers
// of a super-packet are (found by the header check, used by the split), and the transport facts
// both directions write: protocol numbers, checksum field offsets, the TCP flags that end a
// super-packet, and the address part of the pseudo header.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "packet/parse_helpers.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/packet/tcp.hpp"
#include "tunkit/vnet.hpp"

namespace tunkit::detail {

inline constexpr std::uint8_t kTcp = 6;   // IPPROTO_TCP
inline constexpr std::uint8_t kUdp = 17;  // IPPROTO_UDP

inline constexpr std::size_t kTcpChecksumOffset = 16;  // offsetof(struct tcphdr, check)
inline constexpr std::size_t kUdpChecksumOffset = 6;   // offsetof(struct udphdr, check)

inline constexpr std::uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN

/// PSH and FIN: kept on the last segment of a split only, and the end of a coalesced run.
inline constexpr TcpFlags kTcpEndFlags = TcpFlags(TcpFlag::psh) | TcpFlag::fin;

/// The error an offload function returns (numbers clamped to 32 bits).
constexpr OffloadError offload_error(OffloadReason reason, std::size_t value = 0,
                                     std::size_t limit = 0) noexcept {
  return {reason, clamp32(value), clamp32(limit), {}};
}

/// The gso_type byte of `h` as the wire carries it: the type with the ECN bit.
constexpr std::uint8_t raw_gso_type(const VirtioNetHeader& h) noexcept {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(h.gso_type) |
                                   (h.gso_ecn ? kGsoEcn : 0U));
}

/// Where the layers of a packet are, as far as the offload engine needs them.
struct PacketLayout {
  std::size_t ip_len = 0;     ///< IP header, IPv4 options or IPv6 extension headers included
  std::size_t l4_len = 0;     ///< transport header (TCP options included); 0 if not TCP/UDP
  std::size_t total = 0;      ///< the IP packet's own length (bytes after it are ignored)
  int version = 0;            ///< 4 or 6
  std::uint8_t protocol = 0;  ///< transport protocol
};

/// `VirtioNetHeader::check`, which also gives the layout of a GSO packet it accepted (`layout`
/// is left alone for a GSO NONE header, which is checked without parsing the packet).
std::optional<OffloadError> check_vnet_header(const VirtioNetHeader& h,
                                              std::span<const std::byte> packet,
                                              PacketLayout* layout) noexcept;

/// `VirtioNetHeader::kernel_check` for a packet of `size` bytes whose first bytes are `head`
/// (at most 128 are looked at): for a packet spread over several buffers.
std::optional<OffloadError> kernel_vnet_problem(const VirtioNetHeader& h,
                                                std::span<const std::byte> head, std::size_t size,
                                                Mode mode) noexcept;
/// How many bytes of the packet `kernel_vnet_problem` looks at.
inline constexpr std::size_t kKernelCheckHead = 128;

/// The sum of the source and destination addresses of the IP header at `ip` (8 bytes from 12 for
/// IPv4, 32 from 8 for IPv6): the part of the pseudo header every packet of a flow shares.
inline Checksum address_sum(const std::byte* ip, bool v4) noexcept {
  Checksum sum;
  sum.add(v4 ? std::span<const std::byte>(ip + 12, 8) : std::span<const std::byte>(ip + 8, 32));
  return sum;
}

}  // namespace tunkit::detail
