// Shared by the examples that answer for the addresses of a subnet (ping_responder,
// tap_responder): which addresses they stand for, and an IPv6 address usable at once.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/tunkit.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>

namespace example {

/// What a responder answers for: an address on the prefix's network but not the device's own
/// (the kernel's), not IPv6 multicast, nor for IPv4 subnets of 4 or more addresses the network
/// or broadcast address.
inline bool is_ours(const tunkit::IpAddress& a, const tunkit::IpPrefix& prefix) {
  if (!prefix.contains(a) || a == prefix.address) return false;
  const auto b = a.bytes();
  if (a.is_v6()) return b[0] != 0xFF;
  if (prefix.length > 30) return true;
  const std::uint32_t v = (std::uint32_t{b[0]} << 24U) | (std::uint32_t{b[1]} << 16U) |
                          (std::uint32_t{b[2]} << 8U) | b[3];
  const std::uint32_t host = v & (0xFFFFFFFFU >> prefix.length);
  return host != 0 && host != (0xFFFFFFFFU >> prefix.length);
}

/// Best effort: accept_dad=0 (set before the address exists) makes a new IPv6 address usable at
/// once instead of after Duplicate Address Detection. The file is per network namespace.
inline void disable_dad(const std::string& ifname) {
  const std::string path = fmt::format("/proc/sys/net/ipv6/conf/{}/accept_dad", ifname);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "0", 1) != 1) {
    fmt::print(stderr, "note: could not disable IPv6 DAD on {} ({}); continuing\n", ifname,
               std::generic_category().message(errno));
  }
  if (fd >= 0) (void)::close(fd);
}

/// Waits at most `budget` until the IPv6 address is no longer tentative (IFA_F_TENTATIVE, 0x40
/// in /proc/thread-self/net/if_inet6): until then the kernel drops packets for it and will not
/// use it as a source, even without DAD (it leaves that state from a workqueue).
inline bool wait_ipv6_usable(const tunkit::IpAddress& address, std::chrono::milliseconds budget) {
  std::string hex;
  for (const std::uint8_t b : address.bytes())
    fmt::format_to(std::back_inserter(hex), "{:02x}", b);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  do {
    std::ifstream in("/proc/thread-self/net/if_inet6");
    std::string addr, index, length, scope, flags, name;
    while (in >> addr >> index >> length >> scope >> flags >> name) {
      if (addr == hex && (std::stoul(flags, nullptr, 16) & 0x40U) == 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace example
