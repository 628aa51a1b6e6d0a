#pragma once
/// @file
/// The virtio-net header that precedes each packet on a device opened with IFF_VNET_HDR:
/// `VirtioNetHeader` (parse, serialize, check against its packet), `GsoType`, and why a header
/// or an offload operation was refused (`OffloadReason`, `OffloadError`, `OffloadResult`).
///
/// A leaf below `Queue` (as the kernel's `drivers/net/tun_vnet.h` is below `tun.c`): it includes
/// no packet view; GSO split and GRO coalesce (tunkit/offload/) sit above it.
///
/// Conventions (those of the kernel's `include/linux/virtio_net.h` for a TUN device): offsets in
/// the header count from the first byte of the IP packet (there is no Ethernet header);
/// `NEEDS_CSUM` means the transport checksum field holds the one's-complement sum of the pseudo
/// header only (not complemented) and whoever finishes the packet adds the sum of the bytes from
/// `csum_start` to the end.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/error.hpp"
#include "tunkit/export.hpp"
#include "tunkit/fwd.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/result.hpp"

namespace tunkit {

/// Why a virtio-net header, a super-packet or a batch was rejected. `OffloadError::value` and
/// `OffloadError::limit` carry the numbers named in each description.
enum class OffloadReason : std::uint8_t {
  bad_header_size = 1,          ///< header size `value` below 10 (sizeof(struct virtio_net_hdr))
  header_truncated,             ///< `value` bytes given, the header needs `limit`
  unknown_gso_type,             ///< gso_type `value` (ECN bit included) is not one the kernel knows
  gso_size_zero,                ///< a GSO type with gso_size 0
  hdr_len_beyond_packet,        ///< hdr_len `value` beyond the packet's `limit` bytes
  csum_start_beyond_packet,     ///< csum_start `value` beyond the packet's `limit` bytes
  csum_offset_beyond_packet,    ///< checksum field end `value` (start + offset + 2) beyond `limit`
  gso_type_mismatch,            ///< gso_type `value` does not fit the packet: IP version and
                                ///< protocol `limit` (version << 8 | protocol)
  csum_field_mismatch,          ///< GSO with NEEDS_CSUM: field at `value` is not the transport
                                ///< checksum, at `limit`
  malformed_packet,             ///< the packet does not parse (`OffloadError::parse` says why)
  fragment,                     ///< the packet is an IP fragment
  gso_unsupported,              ///< gso_type `value` is valid but tunkit does not split it (UFO)
  too_many_segments,            ///< `value` segments needed, `limit` output buffers given
  buffer_too_small,             ///< `value` bytes needed, the buffer has `limit`
  batch_too_large,              ///< `value` packets given, capacity `limit`
  routing_header,               ///< an IPv6 routing header with `value` segments left: the
                                ///< checksum's destination is not the packet's; not split
  gso_size_reserved,            ///< gso_size 0xFFFF (the kernel's GSO_BY_FRAGS): never valid here
  gso_needs_csum,               ///< gso_type `value` (UDP_L4) without NEEDS_CSUM
  gso_csum_offset,              ///< GSO with NEEDS_CSUM: csum_offset `value`, the transport's
                                ///< checksum field is at `limit` (16 for TCP, 6 for UDP)
  csum_start_before_transport,  ///< NEEDS_CSUM: csum_start `value` below `limit`, the shortest
                                ///< network header (20, or 40 for TCPV6)
  transport_beyond_packet,      ///< NEEDS_CSUM with GSO: the transport header from csum_start
                                ///< ends at `value`, beyond the packet's `limit` bytes
  gso_too_many_segments,        ///< UDP_L4: `value` segments of gso_size, the kernel takes
                                ///< `limit` (UDP_MAX_SEGMENTS, 128)
};

/// The tunkit 0.1 name of `OffloadReason`.
using OffloadErrc [[deprecated("use OffloadReason")]] = OffloadReason;

/// What an offload function rejected and why.
struct OffloadError {
  /// What is wrong.
  OffloadReason reason = OffloadReason::malformed_packet;
  std::uint32_t value = 0;  ///< the offending number (see OffloadReason)
  std::uint32_t limit = 0;  ///< the bound it broke (see OffloadReason)
  ParseError parse{};       ///< for `malformed_packet`: the parser's reason
  /// Equal when every field is.
  friend constexpr bool operator==(const OffloadError&, const OffloadError&) noexcept = default;
};

/// Human-readable reason, e.g. "virtio-net header: hdr_len 1600 beyond packet length 1500".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const OffloadError& error);

/// The `tunkit::errc` an offload error belongs to: `invalid_vnet_header` (the header is wrong or
/// does not match the packet), `malformed_packet`, `gso_unsupported`, `output_too_small` or
/// `batch_too_large`.
[[nodiscard]] TUNKIT_EXPORT std::error_code make_error_code(const OffloadError& error) noexcept;

/// The outcome of an offload function: a value (a size or a count), or why not.
template <class T>
using OffloadResult = Result<T, OffloadError>;

/// `gso_type` of a virtio-net header, without the ECN bit (`VirtioNetHeader::gso_ecn`). Other
/// values can be held (`static_cast<GsoType>(n)`) and are reported by `VirtioNetHeader::check`.
enum class GsoType : std::uint8_t {
  none = 0,    ///< VIRTIO_NET_HDR_GSO_NONE: not a super-packet
  tcpv4 = 1,   ///< VIRTIO_NET_HDR_GSO_TCPV4: TCP over IPv4, cut into gso_size payloads
  udp = 3,     ///< VIRTIO_NET_HDR_GSO_UDP: UFO, one UDP datagram cut into IP fragments
  tcpv6 = 4,   ///< VIRTIO_NET_HDR_GSO_TCPV6: TCP over IPv6
  udp_l4 = 5,  ///< VIRTIO_NET_HDR_GSO_UDP_L4: USO, UDP over IPv4/IPv6 cut into datagrams
};

/// "NONE", "TCPV4", "UDP", "TCPV6", "UDP_L4", or "unknown".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(GsoType type) noexcept;

/// The virtio-net header that precedes each packet on a device opened with IFF_VNET_HDR
/// (`struct virtio_net_hdr`, plus `num_buffers` from 12 bytes on), as plain fields in host order.
/// The wire form is little-endian for the kernel's TUN devices on little-endian hosts (and with
/// `TUNSETVNETLE`); big-endian with `TUNSETVNETBE`.
///
/// @code
/// std::size_t n = dev.read(buf);
/// auto hdr = tunkit::VirtioNetHeader::parse(std::span(buf).first(n));
/// if (!hdr) return log(tunkit::to_string(hdr.error()));
/// auto packet = std::span(buf).first(n).subspan(10);
/// auto count = tunkit::gso_split(*hdr, packet, segments, sizes);
/// @endcode
struct TUNKIT_EXPORT VirtioNetHeader {
  /// Bytes of `struct virtio_net_hdr`: the smallest header `TUNSETVNETHDRSZ` accepts.
  static constexpr std::size_t legacy_size = 10;
  /// Bytes of `struct virtio_net_hdr_mrg_rxbuf` / `virtio_net_hdr_v1` (with `num_buffers`).
  static constexpr std::size_t mrg_rxbuf_size = 12;

  /// VIRTIO_NET_HDR_F_NEEDS_CSUM (flags bit 0): the transport checksum is partial; finish it
  /// from `csum_start`, storing at `csum_start + csum_offset`.
  bool needs_csum = false;
  /// VIRTIO_NET_HDR_F_DATA_VALID (flags bit 1): the checksum was verified.
  bool data_valid = false;
  /// The segmentation asked for.
  GsoType gso_type = GsoType::none;
  /// VIRTIO_NET_HDR_GSO_ECN (gso_type bit 7): the TCP super-packet has CWR set on its first
  /// segment.
  bool gso_ecn = false;
  /// Length of the headers (IP + transport) of a super-packet. The kernel's value on read is a
  /// hint only (it may cover payload too): tunkit parses the headers itself.
  std::uint16_t hdr_len = 0;
  /// Payload bytes per segment (TCP MSS, or UDP datagram payload).
  std::uint16_t gso_size = 0;
  /// Where the checksummed bytes start (the transport header), from the start of the packet.
  std::uint16_t csum_start = 0;
  /// Where the checksum field is, from `csum_start` (16 for TCP, 6 for UDP).
  std::uint16_t csum_offset = 0;
  /// Merged receive buffers (only in headers of 12 bytes or more; 0 for TUN devices).
  std::uint16_t num_buffers = 0;

  /// Reads the first `header_size` bytes of `bytes` (10, 12 or more; bytes past 12 are
  /// ignored). Flag bits other than NEEDS_CSUM and DATA_VALID are dropped. Fails with
  /// `bad_header_size` or `header_truncated`; the fields themselves are checked by `check`.
  static OffloadResult<VirtioNetHeader> parse(std::span<const std::byte> bytes,
                                              std::size_t header_size = legacy_size,
                                              bool little_endian = true) noexcept;

  /// Writes the header in its first `header_size` bytes of `out` (bytes past 12 are zeroed; a
  /// 10-byte header has no `num_buffers`). Returns `header_size`, or `bad_header_size` /
  /// `buffer_too_small`.
  OffloadResult<std::size_t> serialize(std::span<std::byte> out,
                                       std::size_t header_size = legacy_size,
                                       bool little_endian = true) const noexcept;

  /// Checks the header against the IP packet it precedes: every rule by which the kernel refuses
  /// a write (`check_fields`), and more strictly, a GSO header must fit the packet's IP version
  /// and protocol and a GSO checksum request must point at the transport checksum (the kernel
  /// checks these only for a GSO header without NEEDS_CSUM, and would otherwise segment the
  /// packet wrongly). The first problem found, or nothing when the header is valid.
  ///
  /// @code
  /// if (auto why = hdr.check(packet)) fmt::print("dropped: {}\n", tunkit::to_string(*why));
  /// @endcode
  [[nodiscard]] std::optional<OffloadError> check(std::span<const std::byte> packet) const noexcept;

  /// The part of `check` that needs only the packet's length, not its bytes: the rules of the
  /// kernel's `virtio_net_hdr_to_skb()` and the tun driver's header read (Linux 6.18, measured by
  /// tests/netns/vnet_rules_netns_test.cpp): a known `gso_type` (the ECN bit only with a GSO
  /// type); with a GSO type a `gso_size` from 1 to 0xFFFE; `hdr_len` within the packet; with
  /// NEEDS_CSUM, `csum_start` from 20 (40 for TCPV6) and the 2-byte checksum field within the
  /// packet, and with a GSO type the transport header from `csum_start` too (20 bytes for TCP, 8
  /// for UDP); TCP GSO with NEEDS_CSUM has `csum_offset` 16; UDP_L4 needs NEEDS_CSUM with
  /// `csum_offset` 6 and at most 128 segments. `Queue::write` runs it before every write on a
  /// device with a virtio-net header (cheap: no parsing); `check` runs it first. (The kernel
  /// also refuses a GSO header without NEEDS_CSUM whose packet is not of the GSO type's IP
  /// version and protocol; that needs the packet's bytes, and `check` does it.)
  [[nodiscard]] std::optional<OffloadError> check_fields(std::size_t packet_length) const noexcept;

  /// Exactly the rules by which the kernel refuses this header in front of `packet` (an IP
  /// packet for `Mode::tun`, an Ethernet frame for `Mode::tap`): `check_fields`, and for a GSO
  /// header without NEEDS_CSUM the packet's IP version and transport protocol must be the GSO
  /// type's (UDP, the old UFO type, takes either version), with the transport header inside the
  /// packet. Only the first 128 bytes of `packet` are read. What `Queue::write` checks before
  /// every write; `check` is stricter.
  [[nodiscard]] std::optional<OffloadError> kernel_check(std::span<const std::byte> packet,
                                                         Mode mode) const noexcept;

  /// `check` as an error code: empty when valid, else `errc::invalid_vnet_header` (or
  /// `errc::malformed_packet` for a GSO header over a packet that does not parse).
  [[nodiscard]] std::error_code validate(std::span<const std::byte> packet) const noexcept;

  /// Equal when every field is.
  friend constexpr bool operator==(const VirtioNetHeader&,
                                   const VirtioNetHeader&) noexcept = default;
};

}  // namespace tunkit
