#pragma once
/// @file
/// Bounds-checked views over raw packets (Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6) and
/// builders for the common replies (ICMP/ICMPv6 echo reply, ARP reply, NDP neighbour
/// advertisement).
///
/// A view does not own its bytes: it is a pointer and a length into the caller's buffer, which
/// must outlive it. Views are made only by their `parse` factory, which validates everything
/// once and returns either the view or a `ParseError` saying why; after that every accessor is in
/// bounds, without further checks. Parsing never allocates and never reads outside the span it is
/// given, whatever the bytes are.
///
/// `Mutable...View` variants (parsed from `std::span<std::byte>`) add setters, for editing a
/// packet in place; they convert to the read-only view they extend.
///
/// @code
/// std::array<std::byte, 2048> buf;
/// std::size_t n = dev.read(buf);
/// auto pkt = tunkit::parse_ip(std::span(buf).first(n));
/// if (!pkt) {
///   fmt::print("dropped: {}\n", pkt.error());  // "IPv4: total length 1500 beyond buffer 60"
/// } else if (const tunkit::UdpView* udp = pkt->udp()) {
///   handle(pkt->src(), udp->src_port(), udp->payload());
/// }
/// @endcode

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"

namespace tunkit {

// ---------------------------------------------------------------------------------------------
// Small value types

/// IP protocol numbers (IPv4 "protocol", IPv6 "next header") that tunkit knows by name. Other
/// values are valid too: `static_cast<IpProtocol>(n)`.
enum class IpProtocol : std::uint8_t {
  hop_by_hop = 0,  ///< IPv6 hop-by-hop options header
  icmp = 1,        ///< ICMP for IPv4
  tcp = 6,         ///< TCP
  udp = 17,        ///< UDP
  routing = 43,    ///< IPv6 routing header
  fragment = 44,   ///< IPv6 fragment header
  esp = 50,        ///< IPsec ESP (opaque: the walk stops here)
  ah = 51,         ///< IPsec authentication header
  icmpv6 = 58,     ///< ICMPv6
  no_next = 59,    ///< IPv6 "no next header"
  dest_opts = 60,  ///< IPv6 destination options header
};

/// EtherType values tunkit knows by name.
enum class EtherType : std::uint16_t {
  ipv4 = 0x0800,  ///< IPv4
  arp = 0x0806,   ///< ARP
  vlan = 0x8100,  ///< IEEE 802.1Q VLAN tag
  qinq = 0x88A8,  ///< IEEE 802.1ad service VLAN tag
  ipv6 = 0x86DD,  ///< IPv6
};

/// An IEEE 802.1Q tag (the 16 bits after the TPID).
struct VlanTag {
  std::uint16_t tpid = 0x8100;  ///< 0x8100 (802.1Q) or 0x88A8 (802.1ad)
  std::uint8_t priority = 0;    ///< PCP, 0..7
  bool drop_eligible = false;   ///< DEI
  std::uint16_t id = 0;         ///< VID, 0..4095
  /// Equal when every field is.
  friend constexpr bool operator==(const VlanTag&, const VlanTag&) noexcept = default;
};

// ---------------------------------------------------------------------------------------------
// Errors and the result type

/// The protocol layer a parse error is about (`ip`: before the version is known).
enum class Layer : std::uint8_t { ethernet, arp, ip, ipv4, ipv6, tcp, udp, icmp, icmpv6 };

/// "Ethernet", "ARP", "IP", "IPv4", "IPv6", "TCP", "UDP", "ICMP", "ICMPv6".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(Layer layer) noexcept;

/// Why a packet was rejected. `ParseError::value` and `ParseError::limit` carry the numbers named
/// in each description.
enum class ParseReason : std::uint8_t {
  truncated = 1,               ///< buffer (`value` bytes) shorter than the header (`limit`)
  bad_version,                 ///< IP version nibble `value` is not 4/6 (or not the expected one)
  bad_header_length,           ///< IPv4 header length `value` below 20 bytes
  header_beyond_buffer,        ///< IPv4/TCP header length `value` beyond buffer `limit`
  total_length_too_small,      ///< IPv4 total length `value` below header length `limit`
  total_length_beyond_buffer,  ///< IPv4 total length `value` beyond buffer `limit`
  payload_beyond_buffer,       ///< IPv6 payload length `value` beyond the `limit` bytes present
  bad_data_offset,             ///< TCP data offset `value` bytes below 20
  bad_length,                  ///< UDP length `value` below 8
  length_beyond_buffer,        ///< UDP length `value` beyond buffer `limit`
  bad_option,                  ///< malformed IPv4/TCP option at offset `value` of the header
  extension_truncated,         ///< IPv6 extension header at offset `value` runs past `limit`
  hop_by_hop_not_first,        ///< IPv6 hop-by-hop header at offset `value` (must be at 40)
  unsupported_hardware,        ///< ARP hardware type `value` is not Ethernet (1)
  unsupported_protocol,        ///< ARP protocol type `value` is not IPv4 (0x0800)
  bad_address_length,          ///< ARP address lengths `value`/`limit` are not 6/4
};

/// A short description of the error kind ("total length beyond buffer").
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(ParseReason reason) noexcept;

/// The tunkit 0.1 name of `ParseReason`.
using ParseErrc [[deprecated("use ParseReason")]] = ParseReason;

/// What a parser rejected and why.
struct ParseError {
  /// The layer whose header is malformed.
  Layer layer = Layer::ipv4;
  /// What is wrong with it.
  ParseReason reason = ParseReason::truncated;
  std::uint32_t value = 0;  ///< the offending number (see ParseReason)
  std::uint32_t limit = 0;  ///< the bound it broke (see ParseReason)
  /// Equal when every field is.
  friend constexpr bool operator==(const ParseError&, const ParseError&) noexcept = default;
};

/// Human-readable reason, e.g. "IPv4: total length 1500 beyond buffer 60".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const ParseError& error);

/// Why a builder produced nothing.
enum class BuildReason : std::uint8_t {
  buffer_too_small = 1,       ///< the output buffer is smaller than `BuildError::needed`
  not_echo_request,           ///< the packet is not an ICMP/ICMPv6 echo request
  not_arp_request,            ///< the frame is not an ARP request
  not_neighbor_solicitation,  ///< not a valid NDP neighbour solicitation (RFC 4861 section 7.1.1)
  multicast_destination,      ///< an echo request sent to a multicast address (no unicast source)
};

/// The tunkit 0.1 name of `BuildReason`.
using BuildErrc [[deprecated("use BuildReason")]] = BuildReason;

/// What a builder could not do.
struct BuildError {
  /// What went wrong.
  BuildReason reason = BuildReason::buffer_too_small;
  std::size_t needed = 0;  ///< for `buffer_too_small`: bytes the reply needs
  /// Equal when every field is.
  friend constexpr bool operator==(const BuildError&, const BuildError&) noexcept = default;
};

/// Human-readable reason, e.g. "output buffer too small (need 84 bytes)".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const BuildError& error);

/// Either a value or an error (a small `std::expected` for C++20). `T` and `E` are cheap to copy.
template <class T, class E>
class [[nodiscard]] Result {
 public:
  /// A success.
  Result(T value) noexcept : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  /// A failure.
  Result(E error) noexcept : error_(error) {}  // NOLINT(google-explicit-constructor)

  /// True on success.
  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  /// True on success.
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; requires `has_value()`.
  [[nodiscard]] const T& operator*() const noexcept { return *value_; }
  /// The value; requires `has_value()`.
  [[nodiscard]] T& operator*() noexcept { return *value_; }
  /// Member access to the value; requires `has_value()`.
  [[nodiscard]] const T* operator->() const noexcept { return &*value_; }
  /// Member access to the value; requires `has_value()`.
  [[nodiscard]] T* operator->() noexcept { return &*value_; }
  /// The value. @throws std::invalid_argument with the error's description when there is none.
  [[nodiscard]] const T& value() const {
    if (!value_) throw std::invalid_argument("tunkit: " + to_string(error_));
    return *value_;
  }
  /// The error; meaningful only when `!has_value()`.
  [[nodiscard]] const E& error() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  E error_{};
};

/// The outcome of a `parse` factory.
template <class T>
using ParseResult = Result<T, ParseError>;
/// The outcome of a builder: the number of bytes written.
using BuildResult = Result<std::size_t, BuildError>;

// Big-endian field access for the views (unaligned, any host byte order). Callers guarantee the
// bounds: the views only call them at offsets their parse validated.
namespace detail {
/// One byte.
constexpr std::uint8_t load8(const std::byte* p) noexcept {
  return std::to_integer<std::uint8_t>(*p);
}
/// A big-endian 16-bit field.
constexpr std::uint16_t load16(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>((load8(p) << 8) | load8(p + 1));
}
/// A big-endian 32-bit field.
constexpr std::uint32_t load32(const std::byte* p) noexcept {
  return (std::uint32_t{load16(p)} << 16) | load16(p + 2);
}
/// Writes one byte.
constexpr void store8(std::byte* p, std::uint8_t v) noexcept {
  *p = std::byte{v};
}
/// Writes a big-endian 16-bit field.
constexpr void store16(std::byte* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v & 0xFFU);
}
/// Writes a big-endian 32-bit field.
constexpr void store32(std::byte* p, std::uint32_t v) noexcept {
  store16(p, static_cast<std::uint16_t>(v >> 16));
  store16(p + 2, static_cast<std::uint16_t>(v & 0xFFFFU));
}
/// Six bytes as a MAC address.
TUNKIT_EXPORT MacAddress load_mac(const std::byte* p) noexcept;
/// Four bytes as an IPv4 address.
TUNKIT_EXPORT IpAddress load_ipv4(const std::byte* p) noexcept;
/// Sixteen bytes as an IPv6 address.
TUNKIT_EXPORT IpAddress load_ipv6(const std::byte* p) noexcept;
/// Writes the six bytes of a MAC address.
TUNKIT_EXPORT void store_mac(std::byte* p, const MacAddress& mac) noexcept;
/// Writes the address bytes if its family has `size` bytes (4 or 16); otherwise nothing.
TUNKIT_EXPORT void store_ip(std::byte* p, const IpAddress& address, std::size_t size) noexcept;

/// A temporary container that owns its bytes (`std::vector`, `std::array`): a view parsed from it
/// would dangle at the end of the full expression, so the `parse` overloads taking one are
/// deleted. Spans and lvalue containers are fine.
template <class R>
concept OwningTemporary =
    !std::is_lvalue_reference_v<R> && std::ranges::range<R> && !std::ranges::borrowed_range<R>;
}  // namespace detail

/// Declares the deleted `parse` overload for temporaries in a view class.
#define TUNKIT_DETAIL_NO_TEMPORARY_PARSE(View) \
  template <class R>                           \
  requires detail::OwningTemporary<R>          \
  static ParseResult<View> parse(R&&) = delete

// ---------------------------------------------------------------------------------------------
// Ethernet

/// An Ethernet II frame, with at most one VLAN tag (802.1Q or 802.1ad) before the EtherType.
///
/// @code
/// auto eth = tunkit::EthernetView::parse(frame);
/// if (eth && eth->ethertype() == 0x0806) handle_arp(eth->payload());
/// @endcode
class TUNKIT_EXPORT EthernetView {
 public:
  /// Validates the 14-byte header (18 with a VLAN tag).
  static ParseResult<EthernetView> parse(std::span<const std::byte> frame) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(EthernetView);

  /// Destination MAC address.
  [[nodiscard]] MacAddress dst() const noexcept { return detail::load_mac(bytes_.data()); }
  /// Source MAC address.
  [[nodiscard]] MacAddress src() const noexcept { return detail::load_mac(bytes_.data() + 6); }
  /// The EtherType of the payload (after the VLAN tag when there is one).
  [[nodiscard]] std::uint16_t ethertype() const noexcept {
    return detail::load16(bytes_.data() + header_length() - 2);
  }
  /// The VLAN tag, if the frame has one.
  [[nodiscard]] std::optional<VlanTag> vlan() const noexcept;
  /// 14, or 18 with a VLAN tag.
  [[nodiscard]] std::size_t header_length() const noexcept { return tagged_ ? 18 : 14; }
  /// The bytes after the header (padding included).
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The whole frame.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  EthernetView(std::span<const std::byte> bytes, bool tagged) noexcept
      : bytes_(bytes), tagged_(tagged) {}

 private:
  std::span<const std::byte> bytes_;
  bool tagged_ = false;
};

/// An Ethernet frame that can be edited in place.
class TUNKIT_EXPORT MutableEthernetView : public EthernetView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableEthernetView> parse(std::span<std::byte> frame) noexcept;
  /// Writes the destination MAC address.
  void set_dst(const MacAddress& mac) noexcept { detail::store_mac(data_, mac); }
  /// Writes the source MAC address.
  void set_src(const MacAddress& mac) noexcept { detail::store_mac(data_ + 6, mac); }

 private:
  MutableEthernetView(const EthernetView& v, std::byte* data) noexcept
      : EthernetView(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// ARP

/// An ARP message for Ethernet and IPv4 (RFC 826): hardware type 1, protocol type 0x0800,
/// address lengths 6 and 4. 28 bytes; trailing padding is ignored.
class TUNKIT_EXPORT ArpView {
 public:
  static constexpr std::uint16_t request = 1;  ///< `operation()` of a request
  static constexpr std::uint16_t reply = 2;    ///< `operation()` of a reply

  /// Validates the message; the view or why not.
  static ParseResult<ArpView> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(ArpView);

  /// The operation: `request` (1), `reply` (2) or another value.
  [[nodiscard]] std::uint16_t operation() const noexcept { return detail::load16(p_ + 6); }
  /// Sender hardware address.
  [[nodiscard]] MacAddress sender_mac() const noexcept { return detail::load_mac(p_ + 8); }
  /// Sender protocol (IPv4) address.
  [[nodiscard]] IpAddress sender_ip() const noexcept { return detail::load_ipv4(p_ + 14); }
  /// Target hardware address (zero in a request).
  [[nodiscard]] MacAddress target_mac() const noexcept { return detail::load_mac(p_ + 18); }
  /// Target protocol (IPv4) address.
  [[nodiscard]] IpAddress target_ip() const noexcept { return detail::load_ipv4(p_ + 24); }
  /// The 28 bytes of the message.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {p_, 28}; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit ArpView(const std::byte* p) noexcept : p_(p) {}

 private:
  const std::byte* p_;
};

/// An ARP message that can be edited in place.
class TUNKIT_EXPORT MutableArpView : public ArpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableArpView> parse(std::span<std::byte> message) noexcept;
  /// Writes the operation.
  void set_operation(std::uint16_t op) noexcept { detail::store16(data_ + 6, op); }
  /// Writes the sender hardware address.
  void set_sender_mac(const MacAddress& m) noexcept { detail::store_mac(data_ + 8, m); }
  /// Ignored unless `a` is IPv4 (as are all the IPv4 setters below).
  void set_sender_ip(const IpAddress& a) noexcept { detail::store_ip(data_ + 14, a, 4); }
  /// Writes the target hardware address.
  void set_target_mac(const MacAddress& m) noexcept { detail::store_mac(data_ + 18, m); }
  /// Writes the target IPv4 address (ignored unless `a` is IPv4).
  void set_target_ip(const IpAddress& a) noexcept { detail::store_ip(data_ + 24, a, 4); }

 private:
  MutableArpView(const ArpView& v, std::byte* data) noexcept : ArpView(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// IPv4

/// An IPv4 packet (RFC 791). Validated: version 4, header length 20..60 within the buffer, total
/// length between the header length and the buffer size, options well formed. Bytes after the
/// total length (link-layer padding) are not part of the view.
///
/// @code
/// auto ip = tunkit::Ipv4View::parse(buf);
/// if (!ip) return log(ip.error());
/// if (ip->protocol() == tunkit::IpProtocol::udp) handle_udp(ip->src(), ip->payload());
/// @endcode
class TUNKIT_EXPORT Ipv4View {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<Ipv4View> parse(std::span<const std::byte> packet) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Ipv4View);

  /// Header length in bytes (20..60).
  [[nodiscard]] std::size_t header_length() const noexcept {
    return std::size_t{4} * (detail::load8(bytes_.data()) & 0x0FU);
  }
  /// Total length field: header plus payload, in bytes (== `bytes().size()`).
  [[nodiscard]] std::uint16_t total_length() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// The whole type-of-service byte (DSCP << 2 | ECN).
  [[nodiscard]] std::uint8_t tos() const noexcept { return detail::load8(bytes_.data() + 1); }
  /// Differentiated services code point (the upper six bits of `tos()`).
  [[nodiscard]] std::uint8_t dscp() const noexcept { return static_cast<std::uint8_t>(tos() >> 2); }
  /// Explicit congestion notification (the lower two bits of `tos()`).
  [[nodiscard]] std::uint8_t ecn() const noexcept { return static_cast<std::uint8_t>(tos() & 3U); }
  /// Identification field.
  [[nodiscard]] std::uint16_t identification() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// DF flag.
  [[nodiscard]] bool dont_fragment() const noexcept { return (flags_fragment() & 0x4000U) != 0; }
  /// MF flag.
  [[nodiscard]] bool more_fragments() const noexcept { return (flags_fragment() & 0x2000U) != 0; }
  /// Fragment offset in bytes (the field times 8).
  [[nodiscard]] std::uint32_t fragment_offset() const noexcept {
    return std::uint32_t{8} * (flags_fragment() & 0x1FFFU);
  }
  /// True for a fragment (more fragments, or a non-zero offset).
  [[nodiscard]] bool is_fragment() const noexcept { return (flags_fragment() & 0x3FFFU) != 0; }
  /// Time to live.
  [[nodiscard]] std::uint8_t ttl() const noexcept { return detail::load8(bytes_.data() + 8); }
  /// Protocol of the payload.
  [[nodiscard]] IpProtocol protocol() const noexcept {
    return static_cast<IpProtocol>(detail::load8(bytes_.data() + 9));
  }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 10);
  }
  /// Source address.
  [[nodiscard]] IpAddress src() const noexcept { return detail::load_ipv4(bytes_.data() + 12); }
  /// Destination address.
  [[nodiscard]] IpAddress dst() const noexcept { return detail::load_ipv4(bytes_.data() + 16); }
  /// The options (header bytes after the first 20; empty when there are none).
  [[nodiscard]] std::span<const std::byte> options() const noexcept {
    return bytes_.subspan(20, header_length() - 20);
  }
  /// The first option of type `type` (the whole option: type, length, data), if any.
  [[nodiscard]] std::optional<std::span<const std::byte>> option(std::uint8_t type) const noexcept;
  /// The header, options included.
  [[nodiscard]] std::span<const std::byte> header() const noexcept {
    return bytes_.first(header_length());
  }
  /// The bytes after the header, up to the total length.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The packet, up to the total length.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit Ipv4View(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  [[nodiscard]] std::uint16_t flags_fragment() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  std::span<const std::byte> bytes_;
};

/// An IPv4 packet that can be edited in place. Setters do not touch the header checksum; call
/// `update_checksum()` after editing (or use `update16`/`update32` from checksum.hpp).
class TUNKIT_EXPORT MutableIpv4View : public Ipv4View {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIpv4View> parse(std::span<std::byte> packet) noexcept;
  /// Writes the type-of-service byte.
  void set_tos(std::uint8_t tos) noexcept { detail::store8(data_ + 1, tos); }
  /// Writes the identification field.
  void set_identification(std::uint16_t id) noexcept { detail::store16(data_ + 4, id); }
  /// Writes the time to live.
  void set_ttl(std::uint8_t ttl) noexcept { detail::store8(data_ + 8, ttl); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 10, c); }
  /// Writes the source address (ignored unless `a` is IPv4).
  void set_src(const IpAddress& a) noexcept { detail::store_ip(data_ + 12, a, 4); }
  /// Writes the destination address (ignored unless `a` is IPv4).
  void set_dst(const IpAddress& a) noexcept { detail::store_ip(data_ + 16, a, 4); }
  /// Recomputes the header checksum.
  void update_checksum() noexcept;
  /// The payload, writable.
  [[nodiscard]] std::span<std::byte> mutable_payload() const noexcept {
    return {data_ + header_length(), bytes().size() - header_length()};
  }

 private:
  MutableIpv4View(const Ipv4View& v, std::byte* data) noexcept : Ipv4View(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// IPv6

/// The contents of an IPv6 fragment header.
struct Ipv6Fragment {
  std::uint32_t offset = 0;  ///< fragment offset in bytes
  bool more = false;         ///< M flag
  /// Identification shared by the fragments of one packet.
  std::uint32_t identification = 0;
  /// Equal when every field is.
  friend constexpr bool operator==(const Ipv6Fragment&, const Ipv6Fragment&) noexcept = default;
};

/// An IPv6 packet (RFC 8200) with its extension-header chain walked. Validated: version 6, the
/// 40-byte header and the payload length within the buffer, and each extension header
/// (hop-by-hop, routing, fragment, destination options, AH) complete; hop-by-hop only first.
/// The walk stops at the first other next-header value (the upper-layer protocol), at ESP, at
/// "no next header", or after the fragment header of a non-first fragment. A payload length of 0
/// is taken literally (jumbograms are not supported).
///
/// @code
/// auto ip6 = tunkit::Ipv6View::parse(buf);
/// if (ip6 && ip6->upper_protocol() == tunkit::IpProtocol::tcp)
///   auto tcp = tunkit::TcpView::parse(ip6->upper_payload());
/// @endcode
class TUNKIT_EXPORT Ipv6View {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<Ipv6View> parse(std::span<const std::byte> packet) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Ipv6View);

  /// Traffic class (DSCP << 2 | ECN).
  [[nodiscard]] std::uint8_t traffic_class() const noexcept {
    return static_cast<std::uint8_t>((detail::load16(bytes_.data()) >> 4) & 0xFFU);
  }
  /// Flow label (20 bits).
  [[nodiscard]] std::uint32_t flow_label() const noexcept {
    return detail::load32(bytes_.data()) & 0xFFFFFU;
  }
  /// Payload length field: the bytes after the 40-byte header.
  [[nodiscard]] std::uint16_t payload_length() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// The next-header field of the fixed header.
  [[nodiscard]] IpProtocol next_header() const noexcept {
    return static_cast<IpProtocol>(detail::load8(bytes_.data() + 6));
  }
  /// Hop limit.
  [[nodiscard]] std::uint8_t hop_limit() const noexcept { return detail::load8(bytes_.data() + 7); }
  /// Source address.
  [[nodiscard]] IpAddress src() const noexcept { return detail::load_ipv6(bytes_.data() + 8); }
  /// Destination address.
  [[nodiscard]] IpAddress dst() const noexcept { return detail::load_ipv6(bytes_.data() + 24); }
  /// The bytes after the fixed header (extension headers included), up to the payload length.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(40); }
  /// The extension headers (empty when there are none).
  [[nodiscard]] std::span<const std::byte> extension_headers() const noexcept {
    return bytes_.subspan(40, upper_offset_ - 40);
  }
  /// Where the walk stopped: the upper-layer protocol (or ESP, or no-next-header).
  [[nodiscard]] IpProtocol upper_protocol() const noexcept {
    return static_cast<IpProtocol>(upper_protocol_);
  }
  /// Offset of the upper-layer header from the start of the packet.
  [[nodiscard]] std::size_t upper_offset() const noexcept { return upper_offset_; }
  /// The bytes from `upper_offset()` to the end of the packet.
  [[nodiscard]] std::span<const std::byte> upper_payload() const noexcept {
    return bytes_.subspan(upper_offset_);
  }
  /// The fragment header, if there is one.
  [[nodiscard]] std::optional<Ipv6Fragment> fragment() const noexcept;
  /// True for a real fragment (an "atomic fragment", offset 0 without M, is not one: RFC 6946).
  [[nodiscard]] bool is_fragment() const noexcept {
    return fragment_more_ || fragment_offset_ != 0;
  }
  /// The packet, up to 40 + payload length.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  Ipv6View() noexcept = default;

 private:
  std::span<const std::byte> bytes_;
  std::uint32_t upper_offset_ = 40;
  std::uint32_t fragment_id_ = 0;
  std::uint16_t fragment_offset_ = 0;
  std::uint8_t upper_protocol_ = 0;
  bool has_fragment_ = false;
  bool fragment_more_ = false;
};

/// An IPv6 packet that can be edited in place.
class TUNKIT_EXPORT MutableIpv6View : public Ipv6View {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIpv6View> parse(std::span<std::byte> packet) noexcept;
  /// Writes the traffic class.
  void set_traffic_class(std::uint8_t tc) noexcept;
  /// Writes the flow label (its low 20 bits).
  void set_flow_label(std::uint32_t label) noexcept;
  /// Writes the hop limit.
  void set_hop_limit(std::uint8_t hops) noexcept { detail::store8(data_ + 7, hops); }
  /// Ignored unless `a` is IPv6.
  void set_src(const IpAddress& a) noexcept { detail::store_ip(data_ + 8, a, 16); }
  /// Writes the destination address (ignored unless `a` is IPv6).
  void set_dst(const IpAddress& a) noexcept { detail::store_ip(data_ + 24, a, 16); }

 private:
  MutableIpv6View(const Ipv6View& v, std::byte* data) noexcept : Ipv6View(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// TCP

/// One TCP header flag (the bits of byte 13).
enum class TcpFlag : std::uint8_t {
  /// FIN: no more data from the sender.
  fin = 0x01,
  /// SYN: synchronise sequence numbers.
  syn = 0x02,
  /// RST: reset the connection.
  rst = 0x04,
  /// PSH: push.
  psh = 0x08,
  /// ACK: the acknowledgment number is significant.
  ack = 0x10,
  /// URG: the urgent pointer is significant.
  urg = 0x20,
  /// ECE: ECN echo.
  ece = 0x40,
  /// CWR: congestion window reduced.
  cwr = 0x80,
};

/// A set of TCP flags.
class TcpFlags {
 public:
  /// No flags.
  constexpr TcpFlags() noexcept = default;
  /// One flag.
  constexpr TcpFlags(TcpFlag f) noexcept : bits_(static_cast<std::uint8_t>(f)) {}  // NOLINT
  /// Wraps the raw flags byte.
  static constexpr TcpFlags from_bits(std::uint8_t bits) noexcept {
    TcpFlags f;
    f.bits_ = bits;
    return f;
  }
  /// True when every flag of `f` is set.
  [[nodiscard]] constexpr bool has(TcpFlags f) const noexcept {
    return (bits_ & f.bits_) == f.bits_;
  }
  /// The raw flags byte.
  [[nodiscard]] constexpr std::uint8_t bits() const noexcept { return bits_; }
  /// Union of two sets.
  friend constexpr TcpFlags operator|(TcpFlags a, TcpFlags b) noexcept {
    return from_bits(static_cast<std::uint8_t>(a.bits_ | b.bits_));
  }
  /// Equal when the same flags are set.
  friend constexpr bool operator==(TcpFlags, TcpFlags) noexcept = default;

 private:
  std::uint8_t bits_ = 0;
};

/// A TCP segment (RFC 9293): header, options and payload. Validated: 20 bytes, data offset
/// 20..60 within the buffer, options well formed. The segment is the whole span (for a packet
/// from `parse_ip`, the IP payload).
class TUNKIT_EXPORT TcpView {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<TcpView> parse(std::span<const std::byte> segment) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(TcpView);

  /// Source port.
  [[nodiscard]] std::uint16_t src_port() const noexcept { return detail::load16(bytes_.data()); }
  /// Destination port.
  [[nodiscard]] std::uint16_t dst_port() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// Sequence number.
  [[nodiscard]] std::uint32_t seq() const noexcept { return detail::load32(bytes_.data() + 4); }
  /// Acknowledgment number.
  [[nodiscard]] std::uint32_t ack() const noexcept { return detail::load32(bytes_.data() + 8); }
  /// Header length in bytes (the data offset times 4: 20..60).
  [[nodiscard]] std::size_t header_length() const noexcept {
    return std::size_t{4} * (detail::load8(bytes_.data() + 12) >> 4);
  }
  /// The flags.
  [[nodiscard]] TcpFlags flags() const noexcept {
    return TcpFlags::from_bits(detail::load8(bytes_.data() + 13));
  }
  /// Window size (unscaled).
  [[nodiscard]] std::uint16_t window() const noexcept { return detail::load16(bytes_.data() + 14); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 16);
  }
  /// Urgent pointer.
  [[nodiscard]] std::uint16_t urgent_pointer() const noexcept {
    return detail::load16(bytes_.data() + 18);
  }
  /// The options (header bytes after the first 20).
  [[nodiscard]] std::span<const std::byte> options() const noexcept {
    return bytes_.subspan(20, header_length() - 20);
  }
  /// The first option of kind `kind` (the whole option: kind, length, data), if any.
  [[nodiscard]] std::optional<std::span<const std::byte>> option(std::uint8_t kind) const noexcept;
  /// The MSS option's value, if present.
  [[nodiscard]] std::optional<std::uint16_t> mss() const noexcept;
  /// The data after the header and options.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The whole segment.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit TcpView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};

/// A TCP segment that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableTcpView : public TcpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableTcpView> parse(std::span<std::byte> segment) noexcept;
  /// Writes the source port.
  void set_src_port(std::uint16_t port) noexcept { detail::store16(data_, port); }
  /// Writes the destination port.
  void set_dst_port(std::uint16_t port) noexcept { detail::store16(data_ + 2, port); }
  /// Writes the sequence number.
  void set_seq(std::uint32_t seq) noexcept { detail::store32(data_ + 4, seq); }
  /// Writes the acknowledgment number.
  void set_ack(std::uint32_t ack) noexcept { detail::store32(data_ + 8, ack); }
  /// Writes the flags byte.
  void set_flags(TcpFlags flags) noexcept { detail::store8(data_ + 13, flags.bits()); }
  /// Writes the window.
  void set_window(std::uint16_t window) noexcept { detail::store16(data_ + 14, window); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 16, c); }

 private:
  MutableTcpView(const TcpView& v, std::byte* data) noexcept : TcpView(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// UDP

/// A UDP datagram (RFC 768). Validated: 8 bytes, length field between 8 and the buffer size;
/// bytes after the length are not part of the view.
class TUNKIT_EXPORT UdpView {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<UdpView> parse(std::span<const std::byte> datagram) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(UdpView);

  /// Source port.
  [[nodiscard]] std::uint16_t src_port() const noexcept { return detail::load16(bytes_.data()); }
  /// Destination port.
  [[nodiscard]] std::uint16_t dst_port() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// The length field: header plus payload.
  [[nodiscard]] std::uint16_t length() const noexcept { return detail::load16(bytes_.data() + 4); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  /// The data after the 8-byte header.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(8); }
  /// The datagram, up to its length field.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit UdpView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};

/// A UDP datagram that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableUdpView : public UdpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableUdpView> parse(std::span<std::byte> datagram) noexcept;
  /// Writes the source port.
  void set_src_port(std::uint16_t port) noexcept { detail::store16(data_, port); }
  /// Writes the destination port.
  void set_dst_port(std::uint16_t port) noexcept { detail::store16(data_ + 2, port); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 6, c); }
  /// The payload, writable.
  [[nodiscard]] std::span<std::byte> mutable_payload() const noexcept {
    return {data_ + 8, bytes().size() - 8};
  }

 private:
  MutableUdpView(const UdpView& v, std::byte* data) noexcept : UdpView(v), data_(data) {}
  std::byte* data_;
};

// ---------------------------------------------------------------------------------------------
// ICMP and ICMPv6

/// ICMP (IPv4) message types tunkit knows by name.
enum class IcmpType : std::uint8_t {
  /// Echo reply.
  echo_reply = 0,
  /// Destination unreachable.
  destination_unreachable = 3,
  /// Redirect.
  redirect = 5,
  /// Echo request.
  echo_request = 8,
  /// Time exceeded.
  time_exceeded = 11,
  /// Parameter problem.
  parameter_problem = 12,
};

/// ICMPv6 message types tunkit knows by name.
enum class Icmpv6Type : std::uint8_t {
  /// Destination unreachable.
  destination_unreachable = 1,
  /// Packet too big (the MTU is in bytes 4-7).
  packet_too_big = 2,
  /// Time exceeded.
  time_exceeded = 3,
  /// Parameter problem.
  parameter_problem = 4,
  /// Echo request.
  echo_request = 128,
  /// Echo reply.
  echo_reply = 129,
  /// NDP router solicitation.
  router_solicitation = 133,
  /// NDP router advertisement.
  router_advertisement = 134,
  /// NDP neighbour solicitation.
  neighbor_solicitation = 135,
  /// NDP neighbour advertisement.
  neighbor_advertisement = 136,
  /// Redirect.
  redirect = 137,
};

namespace detail {
/// The layout shared by ICMP and ICMPv6: type, code, checksum, 4 bytes, body.
class IcmpBase {
 public:
  /// Code.
  [[nodiscard]] std::uint8_t code() const noexcept { return detail::load8(bytes_.data() + 1); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// Echo identifier (bytes 4-5; meaningful for echo request/reply).
  [[nodiscard]] std::uint16_t identifier() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// Echo sequence number (bytes 6-7; meaningful for echo request/reply).
  [[nodiscard]] std::uint16_t sequence() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  /// Bytes 4-7 as one number (pointer, MTU, unused, ...).
  [[nodiscard]] std::uint32_t rest_of_header() const noexcept {
    return detail::load32(bytes_.data() + 4);
  }
  /// The bytes after the first 8.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(8); }
  /// The whole message.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  explicit IcmpBase(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};
}  // namespace detail

/// An ICMP message (RFC 792). Validated: at least 8 bytes.
class TUNKIT_EXPORT IcmpView : public detail::IcmpBase {
 public:
  /// Validates the message; the view or why not.
  static ParseResult<IcmpView> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(IcmpView);
  /// Message type.
  [[nodiscard]] IcmpType type() const noexcept {
    return static_cast<IcmpType>(detail::load8(bytes().data()));
  }

 protected:
  using IcmpBase::IcmpBase;
};

/// An ICMPv6 message (RFC 4443). Validated: at least 8 bytes (every message RFC 4443 and RFC 4861
/// define has them).
class TUNKIT_EXPORT Icmpv6View : public detail::IcmpBase {
 public:
  /// Validates the message; the view or why not.
  static ParseResult<Icmpv6View> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Icmpv6View);
  /// Message type.
  [[nodiscard]] Icmpv6Type type() const noexcept {
    return static_cast<Icmpv6Type>(detail::load8(bytes().data()));
  }
  /// The target address of a neighbour solicitation or advertisement (when the message is one
  /// and is long enough to hold it).
  [[nodiscard]] std::optional<IpAddress> nd_target() const noexcept;

 protected:
  using IcmpBase::IcmpBase;
};

namespace detail {
template <class Base>
class MutableIcmpCommon : public Base {
 public:
  /// Writes the type.
  void set_type(std::uint8_t type) noexcept { detail::store8(data_, type); }
  /// Writes the code.
  void set_code(std::uint8_t code) noexcept { detail::store8(data_ + 1, code); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 2, c); }
  /// Writes the echo identifier.
  void set_identifier(std::uint16_t id) noexcept { detail::store16(data_ + 4, id); }
  /// Writes the echo sequence number.
  void set_sequence(std::uint16_t seq) noexcept { detail::store16(data_ + 6, seq); }

 protected:
  MutableIcmpCommon(const Base& v, std::byte* data) noexcept : Base(v), data_(data) {}

 private:
  std::byte* data_;
};
}  // namespace detail

/// An ICMP message that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableIcmpView : public detail::MutableIcmpCommon<IcmpView> {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIcmpView> parse(std::span<std::byte> message) noexcept;

 private:
  using MutableIcmpCommon::MutableIcmpCommon;
};

/// An ICMPv6 message that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableIcmpv6View : public detail::MutableIcmpCommon<Icmpv6View> {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIcmpv6View> parse(std::span<std::byte> message) noexcept;

 private:
  using MutableIcmpCommon::MutableIcmpCommon;
};

// ---------------------------------------------------------------------------------------------
// Whole packets

/// An IP packet as a TUN device delivers it: the IPv4 or IPv6 view and, when tunkit parses the
/// transport protocol (TCP, UDP, ICMP, ICMPv6) and the packet is not a fragment, its view.
/// Made by `parse_ip`.
class TUNKIT_EXPORT IpPacket {
 public:
  /// 4 or 6.
  [[nodiscard]] int version() const noexcept { return ip_.index() == 0 ? 4 : 6; }
  /// The IPv4 view, or nullptr for IPv6.
  [[nodiscard]] const Ipv4View* ipv4() const noexcept { return std::get_if<Ipv4View>(&ip_); }
  /// The IPv6 view, or nullptr for IPv4.
  [[nodiscard]] const Ipv6View* ipv6() const noexcept { return std::get_if<Ipv6View>(&ip_); }
  /// Source address.
  [[nodiscard]] IpAddress src() const noexcept;
  /// Destination address.
  [[nodiscard]] IpAddress dst() const noexcept;
  /// The transport protocol (IPv4 protocol; IPv6 protocol after the extension headers).
  [[nodiscard]] IpProtocol protocol() const noexcept;
  /// True for a fragment (then no transport view is parsed).
  [[nodiscard]] bool is_fragment() const noexcept;
  /// The transport-layer bytes (IPv4 payload; IPv6 upper-layer payload).
  [[nodiscard]] std::span<const std::byte> transport_bytes() const noexcept;
  /// The packet (up to its IP length).
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept;

  /// The TCP view, or nullptr.
  [[nodiscard]] const TcpView* tcp() const noexcept { return std::get_if<TcpView>(&transport_); }
  /// The UDP view, or nullptr.
  [[nodiscard]] const UdpView* udp() const noexcept { return std::get_if<UdpView>(&transport_); }
  /// The ICMP view (IPv4 only), or nullptr.
  [[nodiscard]] const IcmpView* icmp() const noexcept { return std::get_if<IcmpView>(&transport_); }
  /// The ICMPv6 view (IPv6 only), or nullptr.
  [[nodiscard]] const Icmpv6View* icmpv6() const noexcept {
    return std::get_if<Icmpv6View>(&transport_);
  }

 private:
  using Ip = std::variant<Ipv4View, Ipv6View>;
  using Transport = std::variant<std::monostate, TcpView, UdpView, IcmpView, Icmpv6View>;
  IpPacket(Ip ip, Transport transport) noexcept : ip_(ip), transport_(transport) {}
  friend ParseResult<IpPacket> parse_ip(std::span<const std::byte>) noexcept;

  Ip ip_;
  Transport transport_;
};

/// Parses an IP packet as read from a TUN device: dispatches on the version nibble, then parses
/// the transport header of TCP, UDP, ICMP (IPv4) and ICMPv6 (IPv6) packets that are not
/// fragments. Fails if any layer it parses is malformed.
///
/// @code
/// auto pkt = tunkit::parse_ip(packet);
/// if (pkt && pkt->icmp() && pkt->icmp()->type() == tunkit::IcmpType::echo_request) ...
/// @endcode
[[nodiscard]] TUNKIT_EXPORT ParseResult<IpPacket> parse_ip(
    std::span<const std::byte> packet) noexcept;
/// Deleted: the packet view would outlive a temporary container.
template <class R>
requires detail::OwningTemporary<R> ParseResult<IpPacket> parse_ip(R&&)
= delete;

/// An Ethernet frame as a TAP device delivers it, with its ARP message or IP packet when the
/// EtherType is ARP, IPv4 or IPv6. Made by `parse_frame`.
class TUNKIT_EXPORT Frame {
 public:
  /// The Ethernet header.
  [[nodiscard]] const EthernetView& ethernet() const noexcept { return ethernet_; }
  /// The ARP message, or nullptr.
  [[nodiscard]] const ArpView* arp() const noexcept { return std::get_if<ArpView>(&inner_); }
  /// The IP packet, or nullptr.
  [[nodiscard]] const IpPacket* ip() const noexcept { return std::get_if<IpPacket>(&inner_); }
  /// The whole frame.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return ethernet_.bytes(); }

 private:
  using Inner = std::variant<std::monostate, ArpView, IpPacket>;
  Frame(EthernetView ethernet, Inner inner) noexcept : ethernet_(ethernet), inner_(inner) {}
  friend ParseResult<Frame> parse_frame(std::span<const std::byte>) noexcept;

  EthernetView ethernet_;
  Inner inner_;
};

/// Parses an Ethernet frame as read from a TAP device, and its ARP message or IP packet (an IP
/// version that does not match the EtherType is an error). Other EtherTypes give a frame with
/// neither.
///
/// @code
/// auto frame = tunkit::parse_frame(buf);
/// if (frame && frame->arp()) ...
/// @endcode
[[nodiscard]] TUNKIT_EXPORT ParseResult<Frame> parse_frame(
    std::span<const std::byte> frame) noexcept;
/// Deleted: the frame view would outlive a temporary container.
template <class R>
requires detail::OwningTemporary<R> ParseResult<Frame> parse_frame(R&&)
= delete;

// ---------------------------------------------------------------------------------------------
// Builders
//
// Each writes a complete reply into `out` and returns its length, or an error (leaving `out` in
// an unspecified state). `out` may be the request's own buffer (the same start address): every
// request field is read before anything is written, so a reply can be built in place. Other
// overlaps are not allowed. Builders never allocate. They do not check the request's checksums.

/// An ICMP echo reply (IPv4) to an echo request: addresses swapped, TTL 64, no IP options, same
/// identifier, sequence and data, both checksums computed. Fails for anything but an unfragmented
/// IPv4 ICMP echo request to a unicast address.
///
/// @code
/// auto pkt = tunkit::parse_ip(std::span(buf).first(n));
/// if (pkt) {
///   if (auto len = tunkit::build_icmp_echo_reply(*pkt, buf))
///   dev.write(std::span(buf).first(*len));
/// }
/// @endcode
TUNKIT_EXPORT BuildResult build_icmp_echo_reply(const IpPacket& request,
                                                std::span<std::byte> out) noexcept;

/// An ICMPv6 echo reply (RFC 4443 section 4.2): addresses swapped, hop limit 64, no extension
/// headers, same identifier, sequence and data, checksum computed. Fails for anything but an
/// unfragmented IPv6 echo request to a unicast address.
TUNKIT_EXPORT BuildResult build_icmpv6_echo_reply(const IpPacket& request,
                                                  std::span<std::byte> out) noexcept;

/// `build_icmp_echo_reply` or `build_icmpv6_echo_reply`, by IP version.
TUNKIT_EXPORT BuildResult build_echo_reply(const IpPacket& request,
                                           std::span<std::byte> out) noexcept;

/// An echo reply in an Ethernet frame (TAP): MAC addresses swapped, VLAN tag kept.
TUNKIT_EXPORT BuildResult build_echo_reply(const Frame& request, std::span<std::byte> out) noexcept;

/// An ARP reply frame answering an ARP request: "target IP is at `our_mac`", sent to the
/// requester's MAC, VLAN tag kept, 42 bytes (46 tagged; no padding). The caller decides whether
/// the target IP is one to answer for.
///
/// @code
/// auto frame = tunkit::parse_frame(buf);
/// if (frame && frame->arp() && frame->arp()->target_ip() == my_ip)
///   if (auto len = tunkit::build_arp_reply(*frame, my_mac, out)) tap.write(out.first(*len));
/// @endcode
TUNKIT_EXPORT BuildResult build_arp_reply(const Frame& request, const MacAddress& our_mac,
                                          std::span<std::byte> out) noexcept;

/// A neighbour advertisement frame (RFC 4861 section 7.2.4) answering a neighbour solicitation
/// for its target address: IPv6 source is the target address, hop limit 255, flags solicited and
/// override (solicited only when the solicitation's source is not the unspecified address; for
/// DAD the advertisement goes to all-nodes ff02::1), a target link-layer address option with
/// `our_mac`, checksum computed. Ethernet destination: the solicitation's source link-layer
/// option, else its Ethernet source (33:33:00:00:00:01 for all-nodes). VLAN tag kept. The
/// solicitation is validated as RFC 4861 section 7.1.1 asks (hop limit 255, code 0, length
/// >= 24, target not multicast, options of non-zero length, no source link-layer option with an
/// unspecified source). The caller decides whether the target is one to answer for.
TUNKIT_EXPORT BuildResult build_neighbor_advertisement(const Frame& request,
                                                       const MacAddress& our_mac,
                                                       std::span<std::byte> out) noexcept;

}  // namespace tunkit

#undef TUNKIT_DETAIL_NO_TEMPORARY_PARSE
