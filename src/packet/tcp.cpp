#include "tunkit/packet/tcp.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::load16;
using detail::load8;

constexpr detail::LayerErrors fail_tcp{Layer::tcp};

}  // namespace

ParseResult<TcpView> TcpView::parse(std::span<const std::byte> segment) noexcept {
  if (segment.size() < 20) return fail_tcp(ParseReason::truncated, segment.size(), 20);
  const std::size_t header = std::size_t{4} * (load8(segment.data() + 12) >> 4);
  if (header < 20) return fail_tcp(ParseReason::bad_data_offset, header, 20);
  if (header > segment.size()) {
    return fail_tcp(ParseReason::header_beyond_buffer, header, segment.size());
  }
  if (auto bad = detail::check_options(segment.subspan(20, header - 20))) {
    return fail_tcp(ParseReason::bad_option, 20 + *bad);
  }
  return TcpView(segment);
}

std::optional<std::span<const std::byte>> TcpView::option(std::uint8_t kind) const noexcept {
  return detail::find_option(options(), kind);
}

std::optional<std::uint16_t> TcpView::mss() const noexcept {
  const auto o = option(2);
  if (!o || o->size() != 4) return std::nullopt;
  return load16(o->data() + 2);
}

ParseResult<MutableTcpView> MutableTcpView::parse(std::span<std::byte> segment) noexcept {
  auto v = TcpView::parse(segment);
  if (!v) return v.error();
  return MutableTcpView(*v, segment.data());
}

}  // namespace tunkit
