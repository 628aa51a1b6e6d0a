#pragma once
/// @file
/// fmt formatters for tunkit's types.
///
/// Packets print as one tcpdump-like line; the `x` presentation type appends a hex dump of the
/// packet's bytes (offset, 16 bytes per line in 16-bit groups, like `tcpdump -x`):
///
/// @code
/// auto pkt = tunkit::parse_ip(buf);
/// fmt::print("{}\n", pkt);
/// // IP 10.0.0.2.5353 > 10.0.0.1.53: UDP, length 42
/// // or, for a malformed packet: [malformed IPv4: total length 1500 beyond buffer 60]
/// fmt::print("{:x}\n", *pkt);
/// // IP 10.0.0.2.5353 > 10.0.0.1.53: UDP, length 42
/// //         0x0000:  4500 0046 0001 0000 4011 66a5 0a00 0002
/// //         ...
/// fmt::print("{:x}\n", tunkit::hex_dump(bytes));  // just the dump
/// @endcode
///
/// Formats of the summaries (numbers in decimal, addresses in canonical text):
/// - UDP:    `IP 10.0.0.2.5353 > 10.0.0.1.53: UDP, length 42` (payload length)
/// - TCP:    `IP 10.0.0.1.22 > 10.0.0.2.41000: Flags [P.], seq 1:101, ack 5, win 502, length 100`
///   (flags `S` SYN, `F` FIN, `R` RST, `P` PSH, `U` URG, `E` ECE, `W` CWR, `.` ACK; `seq a:b` when
///   there is data, `seq a` for SYN/FIN/RST without data; `ack` when ACK is set; options as
///   `options [mss 1460,nop,wscale 7,sackOK,TS val 1 ecr 0]`)
/// - ICMP:   `IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64`
/// - ICMPv6: `IP6 fd00::2 > fd00::1: ICMP6, echo request, id 7, seq 1, length 64`
///   (length: the whole ICMP/ICMPv6 message)
/// - fragments: `IP 10.0.0.1 > 10.0.0.2: UDP fragment, id 4660, offset 1480, more, length 520`
/// - other protocols: `IP 10.0.0.1 > 10.0.0.2: ip-proto-47, length 20`
/// - ARP:    `ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28`,
///           `ARP, Reply 10.0.0.2 is-at aa:bb:cc:dd:ee:ff, length 28`
/// - Ethernet: `aa:bb:cc:dd:ee:ff > 11:22:33:44:55:66, ethertype IPv4 (0x0800), length 98: ` +
///   the IP or ARP summary (`..., ethertype 802.1Q (0x8100), vlan 10, p 0, ethertype IPv4
///   (0x0800), ...` when tagged)
/// - a single view prints its own layer only: `Ipv4View` as
///   `IP 10.0.0.1 > 10.0.0.2: UDP (17), ttl 64, id 1, length 48` (IP total length), `UdpView` as
///   `UDP 5353 > 53, length 42`, `TcpView` as `TCP 22 > 41000: Flags [P.], ...`.
///
/// The types with a `fmt::formatter` here: `IpAddress`, `IpPrefix`, `MacAddress`, `Flags`, `Mode`,
/// `ParseError` and `BuildError` (as their `to_string`, with fmt's string format spec: width,
/// fill, alignment); `EthernetView`, `ArpView`, `Ipv4View`, `Ipv6View`, `TcpView`, `UdpView`,
/// `IcmpView`, `Icmpv6View`, their `Mutable...` variants, `IpPacket`, `Frame` and `HexDump`
/// (`{}` or `{:x}`); and `ParseResult<T>` of any of those.

#include <fmt/format.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/options.hpp"
#include "tunkit/packet.hpp"

namespace tunkit {

/// Bytes to print as a hex dump (`fmt::format("{}", hex_dump(bytes))`), without a summary line.
struct HexDump {
  /// The bytes to dump.
  std::span<const std::byte> bytes;
};

/// Wraps `bytes` for printing as a hex dump.
[[nodiscard]] inline HexDump hex_dump(std::span<const std::byte> bytes) noexcept {
  return {bytes};
}

namespace detail {

/// The format spec shared by packet formatters: empty, or `x` for a hex dump after the summary.
struct PacketFormatSpec {
  /// True for `{:x}`.
  bool hex = false;

  /// Accepts `{}` and `{:x}`. @throws fmt::format_error for anything else.
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == 'x') {
      hex = true;
      ++it;
    }
    if (it != ctx.end() && *it != '}')
      throw fmt::format_error("tunkit: packet format is {} or {:x}");
    return it;
  }
};

/// Formats `value` through its `to_string` with the string formatter (so width and fill work).
template <class T>
struct ToStringFormatter : fmt::formatter<std::string_view> {
  /// Formats `to_string(value)`.
  auto format(const T& value, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    using tunkit::to_string;
    return fmt::formatter<std::string_view>::format(std::string_view(to_string(value)), ctx);
  }
};

/// Same, for types with a `to_string()` member.
template <class T>
struct MemberToStringFormatter : fmt::formatter<std::string_view> {
  /// Formats `value.to_string()`.
  auto format(const T& value, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(std::string_view(value.to_string()), ctx);
  }
};

}  // namespace detail
}  // namespace tunkit

/// @cond TUNKIT_FORMATTER_SPECIALIZATIONS
// (Specializations of fmt's template, listed in the file's documentation above.)

// Value types ------------------------------------------------------------------------------------

/// `fd00::1`, `10.0.0.1`.
template <>
struct fmt::formatter<tunkit::IpAddress>
    : tunkit::detail::MemberToStringFormatter<tunkit::IpAddress> {};
/// `10.0.0.1/24`.
template <>
struct fmt::formatter<tunkit::IpPrefix>
    : tunkit::detail::MemberToStringFormatter<tunkit::IpPrefix> {};
/// `aa:bb:cc:dd:ee:ff`.
template <>
struct fmt::formatter<tunkit::MacAddress>
    : tunkit::detail::MemberToStringFormatter<tunkit::MacAddress> {};
/// `TUN|NO_PI|PERSIST` (see `tunkit::to_string(Flags)`).
template <>
struct fmt::formatter<tunkit::Flags> : tunkit::detail::ToStringFormatter<tunkit::Flags> {};
/// `tun` or `tap`.
template <>
struct fmt::formatter<tunkit::Mode> : tunkit::detail::ToStringFormatter<tunkit::Mode> {};
/// `tun "vpn%d" queues 4 NO_PI|MULTI_QUEUE offloads CSUM|TSO4 persist` (see `to_string`).
template <>
struct fmt::formatter<tunkit::Options> : tunkit::detail::ToStringFormatter<tunkit::Options> {};
/// `5: tun0: <POINTOPOINT,MULTICAST,NOARP,UP,RUNNING,LOWER_UP> mtu 1500 qlen 500`.
template <>
struct fmt::formatter<tunkit::LinkState> : tunkit::detail::ToStringFormatter<tunkit::LinkState> {};
template <>
struct fmt::formatter<tunkit::XdpMode> : tunkit::detail::ToStringFormatter<tunkit::XdpMode> {};
template <>
struct fmt::formatter<tunkit::XdpAttachMode>
    : tunkit::detail::ToStringFormatter<tunkit::XdpAttachMode> {};
/// `IPv4: total length 1500 beyond buffer 60`.
template <>
struct fmt::formatter<tunkit::ParseError> : tunkit::detail::ToStringFormatter<tunkit::ParseError> {
};
/// `output buffer too small (need 84 bytes)`.
template <>
struct fmt::formatter<tunkit::BuildError> : tunkit::detail::ToStringFormatter<tunkit::BuildError> {
};

// Packets ----------------------------------------------------------------------------------------

/// Declares a packet formatter whose `format` lives in src/format.cpp (exported from tunkit).
#define TUNKIT_DETAIL_PACKET_FORMATTER(Type)                                                 \
  template <>                                                                                \
  struct TUNKIT_EXPORT fmt::formatter<Type> : tunkit::detail::PacketFormatSpec {             \
    fmt::format_context::iterator format(const Type& value, fmt::format_context& ctx) const; \
  }

TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::EthernetView);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::ArpView);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::Ipv4View);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::Ipv6View);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::TcpView);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::UdpView);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::IcmpView);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::Icmpv6View);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::IpPacket);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::Frame);
TUNKIT_DETAIL_PACKET_FORMATTER(tunkit::HexDump);

#undef TUNKIT_DETAIL_PACKET_FORMATTER

/// The mutable views print as the views they extend.
template <>
struct fmt::formatter<tunkit::MutableEthernetView> : fmt::formatter<tunkit::EthernetView> {};
template <>
struct fmt::formatter<tunkit::MutableArpView> : fmt::formatter<tunkit::ArpView> {};
template <>
struct fmt::formatter<tunkit::MutableIpv4View> : fmt::formatter<tunkit::Ipv4View> {};
template <>
struct fmt::formatter<tunkit::MutableIpv6View> : fmt::formatter<tunkit::Ipv6View> {};
template <>
struct fmt::formatter<tunkit::MutableTcpView> : fmt::formatter<tunkit::TcpView> {};
template <>
struct fmt::formatter<tunkit::MutableUdpView> : fmt::formatter<tunkit::UdpView> {};
template <>
struct fmt::formatter<tunkit::MutableIcmpView> : fmt::formatter<tunkit::IcmpView> {};
template <>
struct fmt::formatter<tunkit::MutableIcmpv6View> : fmt::formatter<tunkit::Icmpv6View> {};

/// A parse result prints as its view, or as `[malformed IPv4: total length 1500 beyond buffer
/// 60]` (`{:x}` dumps nothing for a malformed packet: the error does not hold the bytes; use
/// `hex_dump(bytes)`).
template <class T>
struct fmt::formatter<tunkit::ParseResult<T>> : fmt::formatter<T> {
  /// The view's summary, or the reason in brackets.
  auto format(const tunkit::ParseResult<T>& result, fmt::format_context& ctx) const
      -> decltype(ctx.out()) {
    if (result) return fmt::formatter<T>::format(*result, ctx);
    return fmt::format_to(ctx.out(), "[malformed {}]", tunkit::to_string(result.error()));
  }
};
/// @endcond
