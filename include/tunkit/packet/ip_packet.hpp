#pragma once
/// @file
/// Whole packets as a device delivers them: `IpPacket` and `parse_ip` (TUN: an IP packet with
/// its transport view), `Frame` and `parse_frame` (TAP: an Ethernet frame with its ARP message
/// or IP packet).

#include <cstddef>
#include <span>
#include <variant>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/packet/arp.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/packet/ethernet.hpp"
#include "tunkit/packet/icmp.hpp"
#include "tunkit/packet/ip_protocol.hpp"
#include "tunkit/packet/ipv4.hpp"
#include "tunkit/packet/ipv6.hpp"
#include "tunkit/packet/tcp.hpp"
#include "tunkit/packet/udp.hpp"

namespace tunkit {

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

}  // namespace tunkit
