#pragma once
/// @file
/// What both Asio adapters (tunkit/asio.hpp, tunkit/boost_asio.hpp) share that does not depend
/// on Asio: the scratch bytes around a packet and the TUNGETVNETHDRSZ request. Internal.

#include <sys/ioctl.h>

#include <cstddef>

#include "tunkit/detail/tun_wire.hpp"

namespace tunkit::detail {

/// Scratch bytes that a read or write puts around the caller's buffer: the 4-byte
/// packet-information header and one spare byte that detects a packet longer than the buffer.
/// Shared (by `std::shared_ptr`) between the queue and its operations, so that a completion that
/// runs after the queue was destroyed or moved still finds them.
struct AsioScratch {
  PiBytes read_info{};   ///< tun_pi of the packet being read
  std::byte spare{};     ///< receives the first byte past the caller's buffer
  PiBytes write_info{};  ///< tun_pi of the packet being written
};

/// TUNGETVNETHDRSZ (linux/if_tun.h, not included here to keep kernel headers out of users'
/// translation units).
inline constexpr unsigned long kTunGetVnetHdrSz = _IOR('T', 215, int);  // NOLINT

}  // namespace tunkit::detail
