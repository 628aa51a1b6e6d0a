#pragma once
// detail::QueueAccess: the narrow internal interface through which TunDevice and BatchIo use a
// Queue's descriptors and wire configuration. Nothing else in tunkit touches Queue's members.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

#include "detail/failure.hpp"
#include "tunkit/queue.hpp"

namespace tunkit::detail {

/// The device's virtio-net header as the kernel uses it for `fd`'s device (TUNGETVNETHDRSZ,
/// TUNGETVNETLE, TUNGETVNETBE); src/tun/queue.cpp.
Failure read_vnet(int fd, sys::Syscalls& sys, VnetConfig& out) noexcept;

/// Why adopting a descriptor failed: which one, the device when known, and the hint, as text of
/// its own (the hints name what was given). Formatted by `raise_adopt`.
struct AdoptFailure {
  std::error_code code;
  int fd = -1;
  std::string device;
  std::string hint;
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// Throws tunkit::Error for `f`: `tunkit: adopt descriptor 7 of "tun0": cause (hint)`.
[[noreturn]] void raise_adopt(const AdoptFailure& f);

/// What adopting a descriptor read from the kernel, before anything of it changes.
struct Inspected {
  int fd = -1;
  int status = 0;    // F_GETFL
  int fd_flags = 0;  // F_GETFD
  std::string name;
  std::uint16_t flags = 0;  // TUNGETIFF's answer
  bool packet_info = false;
  unsigned ifindex = 0;  // 0: not in the caller's network namespace
  VnetConfig vnet;
};

/// Reads what `fd` is, changing nothing; false with `out` set when it is no queue to adopt.
bool inspect_for_adoption(int fd, const AdoptOptions& adopt, sys::Syscalls& sys, Inspected& in,
                          AdoptFailure& out) noexcept;

struct QueueAccess {
  /// Makes `q` own the inspected descriptor: its wake-up eventfd, FD_CLOEXEC and O_NONBLOCK.
  /// On failure nothing of the descriptor is changed and `q` stays closed.
  static bool take(Queue& q, const Inspected& in, bool non_blocking, sys::Syscalls& sys,
                   AdoptFailure& out) noexcept;
  /// Undoes `take` without closing the descriptor (its flags restored): for a device whose later
  /// queue failed.
  static void give_back(Queue& q, const Inspected& in) noexcept;
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
  /// Whether `write` would refuse the virtio-net header of the packet in `bufs` (`total` bytes)
  /// before any system call.
  [[nodiscard]] static bool vnet_invalid(const Queue& q,
                                         std::span<const std::span<const std::byte>> bufs,
                                         std::size_t total) noexcept {
    return q.vnet_invalid(bufs, total);
  }
};

}  // namespace tunkit::detail
