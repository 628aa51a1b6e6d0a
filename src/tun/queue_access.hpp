#pragma once
// detail::QueueAccess: the narrow internal interface through which TunDevice and BatchIo use a
// Queue's descriptors and wire configuration. Nothing else in tunkit touches Queue's members.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "detail/failure.hpp"
#include "tunkit/queue.hpp"

namespace tunkit::detail {

struct QueueAccess {
  /// Opens and attaches `q` (see `Queue::open`), returning the failed step.
  static Failure open(Queue& q, const Options& options, sys::Syscalls& sys) noexcept {
    return q.open_impl(options, sys);
  }
  /// The seam the queue's descriptors were opened through.
  [[nodiscard]] static sys::Syscalls& sys(const Queue& q) noexcept { return q.fd_.sys(); }
  /// Which open of a queue this is (unique in the process; 0 while closed).
  [[nodiscard]] static std::uint64_t open_id(const Queue& q) noexcept { return q.open_id_; }
  /// The wake-up eventfd `interrupt()` writes, or -1 on a closed queue.
  [[nodiscard]] static int wake_fd(const Queue& q) noexcept { return q.wake_.get(); }
  /// The virtio-net header the queue frames packets with.
  [[nodiscard]] static VnetConfig vnet(const Queue& q) noexcept { return q.vnet_.load(); }
  /// Sets the virtio-net header after the device changed it (TUNSETVNETHDRSZ, TUNSETVNETBE).
  static void set_vnet(Queue& q, VnetConfig vnet) noexcept { q.vnet_.store(vnet); }
  /// One read of one packet that never waits (EAGAIN instead), for BatchIo's loop.
  static std::size_t read_nowait(Queue& q, std::span<const std::span<std::byte>> bufs,
                                 PacketInfo& info, std::error_code& ec) noexcept {
    return q.read_packet(bufs, info, ec, false);
  }
  /// One write of one packet (waiting while a blocking queue's device is full).
  static std::size_t write(Queue& q, std::span<const std::span<const std::byte>> bufs,
                           std::error_code& ec) noexcept {
    return q.write_packet(bufs, ec, true);
  }
  /// Whether `write` would refuse `packet`'s virtio-net header before any system call.
  [[nodiscard]] static bool vnet_invalid(const Queue& q,
                                         std::span<const std::byte> packet) noexcept {
    return q.vnet_invalid(packet);
  }
};

}  // namespace tunkit::detail
