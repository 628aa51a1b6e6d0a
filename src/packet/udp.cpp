#include "tunkit/packet/udp.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::load16;

constexpr detail::LayerErrors fail_udp{Layer::udp};

}  // namespace

ParseResult<UdpView> UdpView::parse(std::span<const std::byte> datagram) noexcept {
  if (datagram.size() < 8) return fail_udp(ParseReason::truncated, datagram.size(), 8);
  const std::size_t length = load16(datagram.data() + 4);
  if (length < 8) return fail_udp(ParseReason::bad_length, length, 8);
  if (length > datagram.size()) {
    return fail_udp(ParseReason::length_beyond_buffer, length, datagram.size());
  }
  return UdpView(datagram.first(length));
}

ParseResult<MutableUdpView> MutableUdpView::parse(std::span<std::byte> datagram) noexcept {
  auto v = UdpView::parse(datagram);
  if (!v) return v.error();
  return MutableUdpView(*v, datagram.data());
}

}  // namespace tunkit
