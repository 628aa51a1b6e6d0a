#pragma once
/// @file
/// Why a packet parser or a builder gave no result: `Layer`, `ParseReason`, `ParseError`,
/// `BuildReason`, `BuildError`, their descriptions and error codes, and the result aliases
/// `ParseResult<T>` and `BuildResult`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/export.hpp"
#include "tunkit/result.hpp"

namespace tunkit {

/// The protocol layer a parse error is about (`ip`: before the version is known).
enum class Layer : std::uint8_t { ethernet, arp, ip, ipv4, ipv6, tcp, udp, icmp, icmpv6 };

/// "Ethernet", "ARP", "IP", "IPv4", "IPv6", "TCP", "UDP", "ICMP", "ICMPv6".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(Layer layer) noexcept;

/// Why a packet was rejected. `ParseError::value` and `ParseError::limit` carry the numbers named
/// in each description.
enum class ParseReason : std::uint8_t {
  truncated = 1,               ///< buffer (`value` bytes) shorter than the header (`limit`)
  bad_version,                 ///< IP version nibble `value` is not 4/6 (or not the expected one)
  bad_header_length,           ///< IPv4 header length `value` below 20 bytes
  header_beyond_buffer,        ///< IPv4/TCP header length `value` beyond buffer `limit`
  total_length_too_small,      ///< IPv4 total length `value` below header length `limit`
  total_length_beyond_buffer,  ///< IPv4 total length `value` beyond buffer `limit`
  payload_beyond_buffer,       ///< IPv6 payload length `value` beyond the `limit` bytes present
  bad_data_offset,             ///< TCP data offset `value` bytes below 20
  bad_length,                  ///< UDP length `value` below 8
  length_beyond_buffer,        ///< UDP length `value` beyond buffer `limit`
  bad_option,                  ///< malformed IPv4/TCP option at offset `value` of the header
  extension_truncated,         ///< IPv6 extension header at offset `value` runs past `limit`
  hop_by_hop_not_first,        ///< IPv6 hop-by-hop header at offset `value` (must be at 40)
  unsupported_hardware,        ///< ARP hardware type `value` is not Ethernet (1)
  unsupported_protocol,        ///< ARP protocol type `value` is not IPv4 (0x0800)
  bad_address_length,          ///< ARP address lengths `value`/`limit` are not 6/4
};

/// A short description of the error kind ("total length beyond buffer").
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(ParseReason reason) noexcept;

/// The tunkit 0.1 name of `ParseReason`.
using ParseErrc [[deprecated("use ParseReason")]] = ParseReason;

/// What a parser rejected and why.
struct ParseError {
  /// The layer whose header is malformed.
  Layer layer = Layer::ipv4;
  /// What is wrong with it.
  ParseReason reason = ParseReason::truncated;
  std::uint32_t value = 0;  ///< the offending number (see ParseReason)
  std::uint32_t limit = 0;  ///< the bound it broke (see ParseReason)
  /// Equal when every field is.
  friend constexpr bool operator==(const ParseError&, const ParseError&) noexcept = default;
};

/// Human-readable reason, e.g. "IPv4: total length 1500 beyond buffer 60".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const ParseError& error);

/// The `tunkit::errc` a parse error belongs to: always `errc::malformed_packet` (what
/// `Result::value()` throws with).
[[nodiscard]] TUNKIT_EXPORT std::error_code make_error_code(const ParseError& error) noexcept;

/// Why a builder produced nothing.
enum class BuildReason : std::uint8_t {
  buffer_too_small = 1,       ///< the output buffer is smaller than `BuildError::needed`
  not_echo_request,           ///< the packet is not an ICMP/ICMPv6 echo request
  not_arp_request,            ///< the frame is not an ARP request
  not_neighbor_solicitation,  ///< not a valid NDP neighbour solicitation (RFC 4861 section 7.1.1)
  multicast_destination,      ///< an echo request sent to a multicast address (no unicast source)
  address_family_mismatch,    ///< a request's addresses not both of the family it is built for
  packet_too_large,           ///< the IP length (`needed`) would be beyond 65535
  tcp_options_too_long,       ///< more than 40 bytes of TCP options
};

/// The tunkit 0.1 name of `BuildReason`.
using BuildErrc [[deprecated("use BuildReason")]] = BuildReason;

/// What a builder could not do.
struct BuildError {
  /// What went wrong.
  BuildReason reason = BuildReason::buffer_too_small;
  /// For `buffer_too_small`: bytes the packet needs; for `packet_too_large`: the IPv4 total or
  /// IPv6 payload length it would have.
  std::size_t needed = 0;
  /// Equal when every field is.
  friend constexpr bool operator==(const BuildError&, const BuildError&) noexcept = default;
};

/// Human-readable reason, e.g. "output buffer too small (need 84 bytes)".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const BuildError& error);

/// The error code a build error belongs to: `errc::output_too_small` for `buffer_too_small`, else
/// `std::errc::invalid_argument` (the request is not one the builder answers, or the packet to
/// build is not one that can be built).
[[nodiscard]] TUNKIT_EXPORT std::error_code make_error_code(const BuildError& error) noexcept;

/// The outcome of a `parse` factory.
template <class T>
using ParseResult = Result<T, ParseError>;
/// The outcome of a builder: the number of bytes written.
using BuildResult = Result<std::size_t, BuildError>;

}  // namespace tunkit
