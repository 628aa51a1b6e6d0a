#include "tunkit/packet/errors.hpp"

#include <fmt/format.h>

#include "tunkit/error.hpp"

namespace tunkit {

std::string_view to_string(Layer layer) noexcept {
  switch (layer) {
    case Layer::ethernet:
      return "Ethernet";
    case Layer::arp:
      return "ARP";
    case Layer::ip:
      return "IP";
    case Layer::ipv4:
      return "IPv4";
    case Layer::ipv6:
      return "IPv6";
    case Layer::tcp:
      return "TCP";
    case Layer::udp:
      return "UDP";
    case Layer::icmp:
      return "ICMP";
    case Layer::icmpv6:
      return "ICMPv6";
  }
  return "?";
}

std::string_view to_string(ParseReason reason) noexcept {
  switch (reason) {
    case ParseReason::truncated:
      return "truncated";
    case ParseReason::bad_version:
      return "bad version";
    case ParseReason::bad_header_length:
      return "bad header length";
    case ParseReason::header_beyond_buffer:
      return "header beyond buffer";
    case ParseReason::total_length_too_small:
      return "total length below header length";
    case ParseReason::total_length_beyond_buffer:
      return "total length beyond buffer";
    case ParseReason::payload_beyond_buffer:
      return "payload length beyond buffer";
    case ParseReason::bad_data_offset:
      return "bad data offset";
    case ParseReason::bad_length:
      return "bad length";
    case ParseReason::length_beyond_buffer:
      return "length beyond buffer";
    case ParseReason::bad_option:
      return "malformed option";
    case ParseReason::extension_truncated:
      return "extension header truncated";
    case ParseReason::hop_by_hop_not_first:
      return "hop-by-hop options header not first";
    case ParseReason::unsupported_hardware:
      return "unsupported hardware type";
    case ParseReason::unsupported_protocol:
      return "unsupported protocol type";
    case ParseReason::bad_address_length:
      return "unsupported address lengths";
  }
  return "unknown error";
}

std::string to_string(const ParseError& e) {
  const std::string_view layer = to_string(e.layer);
  switch (e.reason) {
    case ParseReason::truncated:
      return fmt::format("{}: truncated ({} bytes, header needs {})", layer, e.value, e.limit);
    case ParseReason::bad_version:
      return fmt::format("{}: bad version {}", layer, e.value);
    case ParseReason::bad_header_length:
      return fmt::format("{}: bad header length {} (minimum 20)", layer, e.value);
    case ParseReason::header_beyond_buffer:
      return fmt::format("{}: header length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::total_length_too_small:
      return fmt::format("{}: total length {} below header length {}", layer, e.value, e.limit);
    case ParseReason::total_length_beyond_buffer:
      return fmt::format("{}: total length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::payload_beyond_buffer:
      return fmt::format("{}: payload length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::bad_data_offset:
      return fmt::format("{}: bad data offset {} bytes (minimum 20)", layer, e.value);
    case ParseReason::bad_length:
      return fmt::format("{}: bad length {} (minimum 8)", layer, e.value);
    case ParseReason::length_beyond_buffer:
      return fmt::format("{}: length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::bad_option:
      return fmt::format("{}: malformed option at offset {}", layer, e.value);
    case ParseReason::extension_truncated:
      return fmt::format("{}: extension header at offset {} runs past the end ({})", layer, e.value,
                         e.limit);
    case ParseReason::hop_by_hop_not_first:
      return fmt::format("{}: hop-by-hop options header at offset {} (allowed only first)", layer,
                         e.value);
    case ParseReason::unsupported_hardware:
      return fmt::format("{}: unsupported hardware type {}", layer, e.value);
    case ParseReason::unsupported_protocol:
      return fmt::format("{}: unsupported protocol type {:#06x}", layer, e.value);
    case ParseReason::bad_address_length:
      return fmt::format("{}: unsupported address lengths {}/{}", layer, e.value, e.limit);
  }
  return fmt::format("{}: {}", layer, to_string(e.reason));
}

std::string to_string(const BuildError& e) {
  switch (e.reason) {
    case BuildReason::buffer_too_small:
      return fmt::format("output buffer too small (need {} bytes)", e.needed);
    case BuildReason::not_echo_request:
      return "not an echo request";
    case BuildReason::not_arp_request:
      return "not an ARP request";
    case BuildReason::not_neighbor_solicitation:
      return "not a valid neighbor solicitation";
    case BuildReason::multicast_destination:
      return "echo request to a multicast address";
    case BuildReason::address_family_mismatch:
      return "source and destination addresses not both of the family the packet needs";
    case BuildReason::packet_too_large:
      return fmt::format("packet too large (IP length {}, the field holds at most 65535)",
                         e.needed);
    case BuildReason::tcp_options_too_long:
      return "TCP options too long (at most 40 bytes)";
  }
  return "unknown error";
}

std::error_code make_error_code(const ParseError& /*error*/) noexcept {
  return errc::malformed_packet;
}

std::error_code make_error_code(const BuildError& e) noexcept {
  if (e.reason == BuildReason::buffer_too_small) return errc::output_too_small;
  return std::make_error_code(std::errc::invalid_argument);
}

}  // namespace tunkit
