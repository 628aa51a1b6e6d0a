#include "tunkit/packet/ethernet.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::load16;

constexpr detail::LayerErrors fail_ethernet{Layer::ethernet};

}  // namespace

ParseResult<EthernetView> EthernetView::parse(std::span<const std::byte> frame) noexcept {
  if (frame.size() < 14) return fail_ethernet(ParseReason::truncated, frame.size(), 14);
  const std::uint16_t type = load16(frame.data() + 12);
  const bool tagged =
      type == detail::field(EtherType::vlan) || type == detail::field(EtherType::qinq);
  if (tagged && frame.size() < 18) {
    return fail_ethernet(ParseReason::truncated, frame.size(), 18);
  }
  return EthernetView(frame, tagged);
}

std::optional<VlanTag> EthernetView::vlan() const noexcept {
  if (!tagged_) return std::nullopt;
  const std::uint16_t tci = load16(bytes_.data() + 14);
  return VlanTag{load16(bytes_.data() + 12), static_cast<std::uint8_t>(tci >> 13),
                 (tci & 0x1000U) != 0, static_cast<std::uint16_t>(tci & 0x0FFFU)};
}

ParseResult<MutableEthernetView> MutableEthernetView::parse(std::span<std::byte> frame) noexcept {
  auto v = EthernetView::parse(frame);
  if (!v) return v.error();
  return MutableEthernetView(*v, frame.data());
}

}  // namespace tunkit
