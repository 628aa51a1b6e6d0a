#include "tunkit/packet/arp.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::load16;
using detail::load8;

constexpr detail::LayerErrors fail_arp{Layer::arp};

}  // namespace

ParseResult<ArpView> ArpView::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 28) return fail_arp(ParseReason::truncated, message.size(), 28);
  const std::byte* p = message.data();
  if (load16(p) != 1) return fail_arp(ParseReason::unsupported_hardware, load16(p));
  if (load16(p + 2) != detail::field(EtherType::ipv4)) {
    return fail_arp(ParseReason::unsupported_protocol, load16(p + 2));
  }
  if (load8(p + 4) != 6 || load8(p + 5) != 4) {
    return fail_arp(ParseReason::bad_address_length, load8(p + 4), load8(p + 5));
  }
  return ArpView(p);
}

ParseResult<MutableArpView> MutableArpView::parse(std::span<std::byte> message) noexcept {
  auto v = ArpView::parse(message);
  if (!v) return v.error();
  return MutableArpView(*v, message.data());
}

}  // namespace tunkit
