// Shared by udp_tunnel and forwarder: what the kernel dropped on a TUN device, from the link
// statistics tunkit reads over rtnetlink, wherever the device is now.
#pragma once

#include <fmt/format.h>
#include <tunkit/tunkit.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace example {

/// The kernel's counters of `dev` (`ip -s link show`), read in the network namespace the device
/// is in now (TUNGETDEVNETNS: a device moved to another namespace after it was opened is found
/// there), or nullopt when they cannot be read.
inline std::optional<tunkit::LinkStats> device_stats(const tunkit::TunDevice& dev) {
  std::error_code ec;
  const int fd = dev.open_netns(ec);
  if (fd < 0) return std::nullopt;
  const tunkit::NetNs ns = tunkit::NetNs::adopt(fd);
  try {
    return tunkit::in_netns(ns, [&] { return tunkit::Link::from_name(dev.name()).statistics(); });
  } catch (const tunkit::Error&) {
    return std::nullopt;
  }
}

/// The drops the kernel counted on a TUN device between two readings.
struct TunDrops {
  /// tx_dropped: packets the kernel routed into the device that never reached the program (its
  /// queue to the program was full, or no queue was attached).
  std::uint64_t to_program = 0;
  /// rx_dropped: packets the program wrote that the kernel refused or dropped (a write refused
  /// with an error counts here too, as well as in the program's own count).
  std::uint64_t from_program = 0;
};

/// `after` minus `before`; nullopt when either reading failed.
inline std::optional<TunDrops> drops_between(const std::optional<tunkit::LinkStats>& before,
                                             const std::optional<tunkit::LinkStats>& after) {
  if (!before || !after) return std::nullopt;
  return TunDrops{after->tx_dropped - before->tx_dropped, after->rx_dropped - before->rx_dropped};
}

/// "NAME: N dropped on the way to PROGRAM (tx_dropped: ...), N written by PROGRAM and refused or
/// dropped (rx_dropped: ...)"
inline std::string describe_drops(std::string_view device, std::string_view program,
                                  const std::optional<TunDrops>& d) {
  if (!d) return fmt::format("{}: its counters could not be read", device);
  return fmt::format(
      "{}: {} dropped on the way to {} (tx_dropped: its queue was full), {} written by {} and "
      "refused or dropped (rx_dropped: refused writes included)",
      device, d->to_program, program, d->from_program, program);
}

}  // namespace example
