#pragma once
/// @file
/// The byte-level helpers the packet views are written with: big-endian loads and stores of
/// fields, addresses read from and written to packet bytes, and the rule that keeps a view from
/// being parsed out of a temporary container. Internals (`tunkit::detail`) that the views'
/// inline accessors need.

#include <cstddef>
#include <cstdint>
#include <ranges>
#include <type_traits>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"

namespace tunkit {

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

}  // namespace tunkit

/// Declares, in a view class, the deleted `parse` overload for temporary containers
/// (`detail::OwningTemporary`). Used by every view header of tunkit/packet/.
#define TUNKIT_DETAIL_NO_TEMPORARY_PARSE(View)  \
  template <class R>                            \
  requires ::tunkit::detail::OwningTemporary<R> \
  static ::tunkit::ParseResult<View> parse(R&&) = delete
