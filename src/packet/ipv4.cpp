#include "tunkit/packet/ipv4.hpp"

#include "packet/parse_helpers.hpp"
#include "tunkit/packet/checksum.hpp"

namespace tunkit {
namespace {

using detail::load16;
using detail::load8;

constexpr detail::LayerErrors fail_ipv4{Layer::ipv4};

}  // namespace

ParseResult<Ipv4View> Ipv4View::parse(std::span<const std::byte> packet) noexcept {
  if (!packet.empty() && (load8(packet.data()) >> 4) != 4) {
    return fail_ipv4(ParseReason::bad_version, load8(packet.data()) >> 4);
  }
  if (packet.size() < 20) return fail_ipv4(ParseReason::truncated, packet.size(), 20);
  const std::size_t header = std::size_t{4} * (load8(packet.data()) & 0x0FU);
  if (header < 20) return fail_ipv4(ParseReason::bad_header_length, header, 20);
  if (header > packet.size()) {
    return fail_ipv4(ParseReason::header_beyond_buffer, header, packet.size());
  }
  const std::size_t total = load16(packet.data() + 2);
  if (total < header) {
    return fail_ipv4(ParseReason::total_length_too_small, total, header);
  }
  if (total > packet.size()) {
    return fail_ipv4(ParseReason::total_length_beyond_buffer, total, packet.size());
  }
  if (auto bad = detail::check_options(packet.subspan(20, header - 20))) {
    return fail_ipv4(ParseReason::bad_option, 20 + *bad);
  }
  return Ipv4View(packet.first(total));
}

std::optional<std::span<const std::byte>> Ipv4View::option(std::uint8_t type) const noexcept {
  return detail::find_option(options(), type);
}

ParseResult<MutableIpv4View> MutableIpv4View::parse(std::span<std::byte> packet) noexcept {
  auto v = Ipv4View::parse(packet);
  if (!v) return v.error();
  return MutableIpv4View(*v, packet.data());
}

void MutableIpv4View::set_src(const IpAddress& a) {
  if (!a.is_v4()) detail::throw_wrong_family("MutableIpv4View::set_src", a, 4);
  detail::store_ip(data_ + 12, a, 4);
}

void MutableIpv4View::set_dst(const IpAddress& a) {
  if (!a.is_v4()) detail::throw_wrong_family("MutableIpv4View::set_dst", a, 4);
  detail::store_ip(data_ + 16, a, 4);
}

void MutableIpv4View::update_checksum() noexcept {
  set_checksum(ipv4_header_checksum(*this));
}

}  // namespace tunkit
