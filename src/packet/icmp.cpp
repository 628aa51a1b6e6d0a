#include "tunkit/packet/icmp.hpp"

#include "packet/parse_helpers.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/packet/ip_protocol.hpp"
#include "tunkit/packet/ipv6.hpp"

namespace tunkit {

ParseResult<IcmpView> IcmpView::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 8)
    return detail::parse_error(Layer::icmp, ParseReason::truncated, message.size(), 8);
  return IcmpView(message);
}

ParseResult<MutableIcmpView> MutableIcmpView::parse(std::span<std::byte> message) noexcept {
  auto v = IcmpView::parse(message);
  if (!v) return v.error();
  return MutableIcmpView(*v, message.data());
}

void MutableIcmpView::update_checksum() noexcept {
  // RFC 792: the complement of the sum of the message, the checksum field taken as zero.
  const std::span<const std::byte> m = bytes();
  set_checksum(Checksum().add(m.first(2)).add(m.subspan(4)).checksum());
}

ParseResult<Icmpv6View> Icmpv6View::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 8)
    return detail::parse_error(Layer::icmpv6, ParseReason::truncated, message.size(), 8);
  return Icmpv6View(message);
}

std::optional<IpAddress> Icmpv6View::nd_target() const noexcept {
  const Icmpv6Type t = type();
  if ((t != Icmpv6Type::neighbor_solicitation && t != Icmpv6Type::neighbor_advertisement) ||
      bytes().size() < 24) {
    return std::nullopt;
  }
  return detail::load_ipv6(bytes().data() + 8);
}

ParseResult<MutableIcmpv6View> MutableIcmpv6View::parse(std::span<std::byte> message) noexcept {
  auto v = Icmpv6View::parse(message);
  if (!v) return v.error();
  return MutableIcmpv6View(*v, message.data());
}

}  // namespace tunkit

namespace tunkit {

void MutableIcmpv6View::update_checksum(const Ipv6View& ip) noexcept {
  set_checksum(transport_checksum(ip.src(), ip.dst(), static_cast<std::uint8_t>(IpProtocol::icmpv6),
                                  bytes()));
}

void MutableIcmpv6View::update_checksum(const IpAddress& src, const IpAddress& dst) {
  if (!src.is_v6()) detail::throw_wrong_family("MutableIcmpv6View::update_checksum", src, 6);
  if (!dst.is_v6()) detail::throw_wrong_family("MutableIcmpv6View::update_checksum", dst, 6);
  set_checksum(
      transport_checksum(src, dst, static_cast<std::uint8_t>(IpProtocol::icmpv6), bytes()));
}

}  // namespace tunkit
