// Shared by tun_dump and the tunkit tool's dump command: one packet read from a device printed
// in one line, like tcpdump -n.
#pragma once

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <span>
#include <string>

namespace example {

/// "HH:MM:SS.uuuuuu" in local time, as tcpdump starts its lines.
inline std::string timestamp() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  ::localtime_r(&ts.tv_sec, &local);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", local.tm_hour, local.tm_min, local.tm_sec,
                     ts.tv_nsec / 1000);
}

/// What the virtio-net header before a super-packet asks for ("gso tcpv4 size 1448, "); empty
/// for a plain packet or a header too short to say.
inline std::string gso_note(std::span<const std::byte> header) {
  const auto h = tunkit::VirtioNetHeader::parse(header);  // little-endian: virtio 1.0
  if (!h || h->gso_type == tunkit::GsoType::none) return {};
  std::string type(tunkit::to_string(h->gso_type));  // "TCPV4", ..., or "unknown"
  if (type == "unknown") type = "?";
  for (char& c : type)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return fmt::format("gso {} size {}, ", type, h->gso_size);
}

/// Prints a packet as read from a device (`vnet` bytes of virtio-net header first) in one line:
/// time, GSO note, the formatters' summary ("[malformed ...]" when it does not parse), and with
/// `hex` a hex dump.
inline void print_packet(std::span<const std::byte> read, std::size_t vnet, bool tap, bool hex,
                         bool truncated) {
  const auto head = read.first(std::min(vnet, read.size()));
  const auto packet = read.subspan(head.size());
  std::string line;
  bool parsed = false;
  if (tap) {
    const auto frame = tunkit::parse_frame(packet);
    parsed = frame.has_value();
    line = hex && parsed ? fmt::format("{:x}", *frame) : fmt::format("{}", frame);
  } else {
    const auto ip = tunkit::parse_ip(packet);
    parsed = ip.has_value();
    line = hex && parsed ? fmt::format("{:x}", *ip) : fmt::format("{}", ip);
  }
  fmt::print("{} {}{}{}\n", timestamp(), gso_note(head), line, truncated ? " [truncated]" : "");
  // A malformed packet has no summary to dump after: its bytes alone.
  if (hex && !parsed && !packet.empty()) fmt::print("{:x}\n", tunkit::hex_dump(packet));
  std::fflush(stdout);
}

}  // namespace example
