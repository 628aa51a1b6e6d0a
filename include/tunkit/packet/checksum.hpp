#pragma once
/// @file
/// The internet checksum (RFC 1071), pseudo-header sums, incremental updates (RFC 1624) and
/// helpers that compute or verify the checksums of a parsed packet.
///
/// Conventions: a checksum is returned as the host-order value of the 16-bit field as it is stored
/// in the packet (big-endian), so `checksum == load_be16(field)`; every function here is
/// `noexcept` and never allocates.
///
/// The view-aware helpers take `Ipv4View` and `IpPacket` by reference and are declared with
/// forward declarations: this header sits below the views (tunkit/packet/ipv4.hpp and
/// ip_packet.hpp use nothing from it), so the two never include each other.

#include <cstddef>
#include <cstdint>
#include <span>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"

namespace tunkit {

class Ipv4View;
class IpPacket;

/// A running one's-complement sum over a sequence of bytes: the internet checksum of the
/// concatenation of every piece added, so a packet can be summed over several buffers (pseudo
/// header, header, scattered payload). Pieces of odd length are handled: the next piece continues
/// at the odd byte position. Word-at-a-time; never allocates.
///
/// @code
/// tunkit::Checksum sum = tunkit::pseudo_header_sum(src, dst, 17, udp.size());
/// sum.add(udp_header).add(payload);
/// std::uint16_t field = sum.checksum();  // the value to store, big-endian, in the UDP header
/// @endcode
class TUNKIT_EXPORT Checksum {
 public:
  /// An empty sum (no bytes).
  constexpr Checksum() noexcept = default;

  /// Appends `data` to the summed byte sequence. Any length, any alignment.
  Checksum& add(std::span<const std::byte> data) noexcept;
  /// Appends the two bytes of `value` in network order (as if `add` was given them).
  Checksum& add_u16(std::uint16_t value) noexcept {
    // At an odd byte position the two bytes straddle two words: the same as adding the value
    // byte-swapped (RFC 1071, section 2(B): byte-order independence).
    sum_ += odd_ ? swap16(value) : value;
    return *this;
  }
  /// Appends the four bytes of `value` in network order.
  Checksum& add_u32(std::uint32_t value) noexcept {
    add_u16(static_cast<std::uint16_t>(value >> 16));
    return add_u16(static_cast<std::uint16_t>(value & 0xFFFFU));
  }
  /// Appends the bytes of an address (4 or 16).
  Checksum& add(const IpAddress& address) noexcept { return add(std::as_bytes(address.bytes())); }

  /// The one's-complement sum folded to 16 bits (not complemented). A received packet whose
  /// checksum is right folds to 0xFFFF.
  [[nodiscard]] constexpr std::uint16_t fold() const noexcept {
    std::uint64_t s = sum_;
    s = (s & 0xFFFFFFFFU) + (s >> 32);
    s = (s & 0xFFFFFFFFU) + (s >> 32);
    s = (s & 0xFFFFU) + (s >> 16);
    s = (s & 0xFFFFU) + (s >> 16);
    return static_cast<std::uint16_t>(s);
  }
  /// The checksum to store in the packet: the complement of `fold()`.
  [[nodiscard]] constexpr std::uint16_t checksum() const noexcept {
    return static_cast<std::uint16_t>(~fold());
  }
  /// True when the bytes summed so far (checksum field included) verify: `fold() == 0xFFFF`.
  [[nodiscard]] constexpr bool verifies() const noexcept { return fold() == 0xFFFFU; }

 private:
  static constexpr std::uint16_t swap16(std::uint16_t v) noexcept {
    return static_cast<std::uint16_t>((v >> 8) | (v << 8));
  }

  std::uint64_t sum_ = 0;  // unfolded; cannot overflow before ~2^48 pieces
  bool odd_ = false;       // an odd number of bytes has been added
};

/// The internet checksum of `data`: the value to store in a checksum field (after zeroing it).
///
/// @code
/// std::uint16_t c = tunkit::internet_checksum(header);  // with its checksum field zeroed
/// @endcode
[[nodiscard]] TUNKIT_EXPORT std::uint16_t internet_checksum(
    std::span<const std::byte> data) noexcept;

/// The sum of the TCP/UDP/ICMPv6 pseudo header: RFC 793/768 for IPv4 (src, dst, zero, protocol,
/// 16-bit length) and RFC 8200 section 8.1 for IPv6 (src, dst, 32-bit length, zeros, next
/// header). `src` and `dst` must be of the same family. Add the transport header and payload to
/// the result.
[[nodiscard]] TUNKIT_EXPORT Checksum pseudo_header_sum(const IpAddress& src, const IpAddress& dst,
                                                       std::uint8_t protocol,
                                                       std::uint32_t length) noexcept;

/// RFC 1624 incremental update (equation 3): the new checksum after a 16-bit word covered by
/// `checksum` changed from `old_word` to `new_word`. All values in host order.
///
/// @code
/// // decrement the TTL of an IPv4 header in place
/// std::uint16_t old_word = (ttl << 8) | protocol, new_word = ((ttl - 1) << 8) | protocol;
/// csum = tunkit::update16(csum, old_word, new_word);
/// @endcode
[[nodiscard]] constexpr std::uint16_t update16(std::uint16_t checksum, std::uint16_t old_word,
                                               std::uint16_t new_word) noexcept {
  // HC' = ~(~HC + ~m + m'), with end-around carries.
  std::uint32_t s = static_cast<std::uint16_t>(~checksum);
  s += static_cast<std::uint16_t>(~old_word);
  s += new_word;
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  return static_cast<std::uint16_t>(~s);
}

/// As `update16` for a 32-bit field (an IPv4 address, a TCP sequence number), aligned on a 16-bit
/// boundary of the checksummed data.
[[nodiscard]] constexpr std::uint16_t update32(std::uint16_t checksum, std::uint32_t old_value,
                                               std::uint32_t new_value) noexcept {
  const std::uint16_t c = update16(checksum, static_cast<std::uint16_t>(old_value >> 16),
                                   static_cast<std::uint16_t>(new_value >> 16));
  return update16(c, static_cast<std::uint16_t>(old_value & 0xFFFFU),
                  static_cast<std::uint16_t>(new_value & 0xFFFFU));
}

/// The checksum an IPv4 header should carry (computed as if its checksum field were zero).
[[nodiscard]] TUNKIT_EXPORT std::uint16_t ipv4_header_checksum(const Ipv4View& ip) noexcept;
/// True when the IPv4 header checksum is right.
[[nodiscard]] TUNKIT_EXPORT bool ipv4_header_checksum_ok(const Ipv4View& ip) noexcept;

/// The checksum a TCP, UDP, ICMP or ICMPv6 message should carry: pseudo header (not for ICMP) plus
/// `segment` with its checksum field taken as zero (the field's position follows from
/// `protocol`: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6). A UDP result of 0 is returned as 0xFFFF (RFC
/// 768). Returns 0 for another protocol or a segment too short to hold the field.
[[nodiscard]] TUNKIT_EXPORT std::uint16_t transport_checksum(
    const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
    std::span<const std::byte> segment) noexcept;

/// The checksum the transport message of `packet` should carry (0 when it has none that tunkit
/// parses: other protocols, fragments).
///
/// @code
/// if (auto pkt = tunkit::parse_ip(buf); pkt && !tunkit::transport_checksum_ok(*pkt))
///   drop();
/// @endcode
[[nodiscard]] TUNKIT_EXPORT std::uint16_t transport_checksum(const IpPacket& packet) noexcept;
/// True when the transport checksum of `packet` is right. Also true for UDP over IPv4 with a zero
/// checksum (RFC 768: none computed), and for packets without a parsed transport message.
[[nodiscard]] TUNKIT_EXPORT bool transport_checksum_ok(const IpPacket& packet) noexcept;

}  // namespace tunkit
