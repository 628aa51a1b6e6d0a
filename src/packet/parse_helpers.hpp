#pragma once
// What the packet parsers share, written once: the error they report (numbers clamped), the
// option list walk of IPv4 and TCP, the length rule of IPv6 extension headers (also walked by the
// GSO split), and the EtherType numbers as the 16-bit field holds them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/packet/ethernet.hpp"
#include "tunkit/packet/ip_protocol.hpp"

namespace tunkit::detail {

/// `v` as a 32-bit number, saturated: every number a parser or the offload engine reports is
/// bounded by a span size, so this only matters for a caller handing over more than 4 GiB.
constexpr std::uint32_t clamp32(std::size_t v) noexcept {
  return static_cast<std::uint32_t>(v > 0xFFFFFFFFU ? 0xFFFFFFFFU : v);
}

/// The error a parser returns.
constexpr ParseError parse_error(Layer layer, ParseReason reason, std::size_t value = 0,
                                 std::size_t limit = 0) noexcept {
  return {layer, reason, clamp32(value), clamp32(limit)};
}

/// The errors of one layer's parser, as a callable: `constexpr LayerErrors fail{Layer::udp};`,
/// then `return fail(ParseReason::bad_length, length, 8);`.
struct LayerErrors {
  Layer layer;  ///< the layer every error is about

  /// The error: `reason`, with the numbers its description names.
  constexpr ParseError operator()(ParseReason reason, std::size_t value = 0,
                                  std::size_t limit = 0) const noexcept {
    return parse_error(layer, reason, value, limit);
  }
};

/// Throws the error of a mutable IP view's address setter (`op`, e.g.
/// "MutableIpv4View::set_src") given an address `a` of the other family than `version` (4 or 6):
/// `tunkit::Error` with `errc::invalid_address`.
[[noreturn]] void throw_wrong_family(std::string_view op, const IpAddress& a, int version);

/// The value of the EtherType field for `type`.
constexpr std::uint16_t field(EtherType type) noexcept {
  return static_cast<std::uint16_t>(type);
}

/// Validates an IPv4 or TCP option list, which share one layout (RFC 791 section 3.1, RFC 9293
/// section 3.1): kind 0 ends the list, kind 1 is one byte of padding, every other kind has a
/// length byte counting itself and the kind (>= 2) that must stay inside the header. Returns the
/// offset (from the start of `options`) of the first malformed option, or nullopt.
inline std::optional<std::size_t> check_options(std::span<const std::byte> options) noexcept {
  std::size_t i = 0;
  while (i < options.size()) {
    const std::uint8_t kind = load8(&options[i]);
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return i;
    const std::size_t len = load8(&options[i + 1]);
    if (len < 2 || len > options.size() - i) return i;
    i += len;
  }
  return std::nullopt;
}

/// Finds an option in a list that `check_options` accepted: the whole option (kind, length, data).
inline std::optional<std::span<const std::byte>> find_option(std::span<const std::byte> options,
                                                             std::uint8_t wanted) noexcept {
  std::size_t i = 0;
  while (i < options.size()) {
    const std::uint8_t kind = load8(&options[i]);
    const std::size_t len = kind <= 1 ? 1 : load8(&options[i + 1]);
    if (kind == wanted) return options.subspan(i, len);
    if (kind == 0) break;
    i += len;
  }
  return std::nullopt;
}

/// True for the next-header values the IPv6 walk steps over (RFC 8200 section 4, and AH).
constexpr bool is_ipv6_extension(IpProtocol type) noexcept {
  switch (type) {
    case IpProtocol::hop_by_hop:
    case IpProtocol::routing:
    case IpProtocol::fragment:
    case IpProtocol::dest_opts:
    case IpProtocol::ah:
      return true;
    default:
      return false;
  }
}

/// The length of the IPv6 extension header of type `type` (one `is_ipv6_extension` accepts) that
/// starts at `p`: 8 for a fragment header; for AH its length byte counts 4-byte units minus 2
/// (RFC 4302); for the others 8-byte units not counting the first. Reads `p[1]` unless `type` is
/// the fragment header: the caller checks that two bytes are there.
constexpr std::size_t ipv6_extension_length(IpProtocol type, const std::byte* p) noexcept {
  if (type == IpProtocol::fragment) return 8;
  if (type == IpProtocol::ah) return 4 * (std::size_t{load8(p + 1)} + 2);
  return 8 * (std::size_t{load8(p + 1)} + 1);
}

}  // namespace tunkit::detail
