#include "tunkit/packet/icmp.hpp"

#include "packet/parse_helpers.hpp"

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
