#pragma once
/// @file
/// `tunkit::Queue`: one /dev/net/tun descriptor attached to a TUN/TAP interface, and its I/O.

#include <unistd.h>

#include <csignal>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <system_error>

#include "tunkit/detail/owned_fd.hpp"
#include "tunkit/detail/tun_wire.hpp"
#include "tunkit/export.hpp"
#include "tunkit/options.hpp"
#include "tunkit/sys.hpp"

struct iovec;

namespace tunkit {

namespace detail {
struct Failure;
struct QueueAccess;
}  // namespace detail

/// The kernel's packet-information header (only with `Options::packet_info`).
struct PacketInfo {
  std::uint16_t flags = 0;     ///< TUN_PKT_STRIP (0x0001) when the kernel truncated the packet
  std::uint16_t protocol = 0;  ///< EtherType in host byte order (0x0800 IPv4, 0x86DD IPv6)
};

/// Outcome of `TunDevice::wait_readable` / `wait_writable`.
enum class WaitResult : std::uint8_t {
  ready,        ///< the descriptor is ready (or has an error that the next I/O will report)
  timeout,      ///< the timeout passed
  interrupted,  ///< `interrupt()` was called (and stays in effect until `clear_interrupt()`)
};

/// Who receives the signal of signal-driven I/O (`Queue::enable_signal_io`): F_SETOWN_EX.
struct SignalOwner {
  /// What `id` names.
  enum class Kind : std::uint8_t {
    thread,         ///< one thread (F_OWNER_TID): `id` is its tid (gettid(2))
    process,        ///< a process (F_OWNER_PID): any of its threads that does not block it
    process_group,  ///< every process of a group (F_OWNER_PGRP)
  };
  Kind kind = Kind::process;  ///< a thread, a process (the default) or a process group
  /// The thread, process or group id; 0 means the caller's own (its tid, pid or group).
  pid_t id = 0;
};

/// Signal-driven I/O on a queue: the tun driver's `fasync` (O_ASYNC), the signal F_SETSIG, the
/// owner F_SETOWN_EX.
struct SignalIo {
  /// The signal sent when a packet arrives. SIGIO (the default) carries no information and
  /// several are merged into one; a real-time signal (SIGRTMIN + n) is queued with a siginfo
  /// whose `si_fd` is the queue's descriptor and `si_band`/`si_code` say why (POLL_IN: a packet
  /// is ready), which is what tells several queues apart.
  int signal = SIGIO;
  SignalOwner owner{};  ///< who receives it (default: this process)
};

/// Owns one /dev/net/tun descriptor attached to an interface with TUNSETIFF (one queue of it),
/// plus the eventfd that wakes its blocked readers. All per-packet I/O happens here. Move-only;
/// a queue can be moved to the thread that serves it. The destructor closes both descriptors.
///
/// One `read` is one packet and one `write` is one packet. Every I/O function has a throwing form
/// and a `std::error_code&` form that never throws. EINTR is retried internally.
///
/// Blocking and shutdown: the descriptor is always O_NONBLOCK inside; a blocking `read` (the
/// default) waits in poll(2) on the device and on the wake-up eventfd. `interrupt()`, callable from
/// any thread (and from a signal handler), wakes every blocked wait; until `clear_interrupt()`,
/// every wait reports it: a `read` (or `readv`, `write`, ...) that would have to wait returns
/// `tunkit::errc::interrupted`, and `wait_readable`/`wait_writable` return
/// `WaitResult::interrupted`, even when the descriptor is ready. It discards nothing: a `read`
/// tries the descriptor first, so a packet queued (before or after `interrupt()`) is still
/// returned, and a reader that keeps reading drains the queue, then gets `errc::interrupted`.
/// This is the supported way to stop a reader thread; closing the descriptor under a reader is
/// not.
///
/// Usually queues come from a `TunDevice` (`dev.queue(i)`); a `Queue` constructed on its own
/// attaches one more queue to a multi-queue device by name (creating the device if it is absent).
class TUNKIT_EXPORT Queue {
 public:
  /// A closed queue (`is_open() == false`).
  Queue() noexcept = default;
  /// Opens /dev/net/tun and attaches it with TUNSETIFF using `options` (owner, group, persist and
  /// `queues` are device settings and are ignored here: see `TunDevice`).
  /// @throws tunkit::Error naming the operation, the device and the cause.
  explicit Queue(const Options& options, sys::Syscalls& sys = sys::real());
  /// Takes over `other`'s descriptors; `other` is left closed.
  Queue(Queue&& other) noexcept = default;
  /// Closes this queue's descriptors and takes over `other`'s; `other` is left closed.
  Queue& operator=(Queue&& other) noexcept = default;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  /// Closes the descriptors.
  ~Queue() = default;

  /// Opens and attaches; on failure `ec` is set and nothing is left open.
  void open(const Options& options, std::error_code& ec, sys::Syscalls& sys = sys::real());
  /// Takes over `fd`, a queue of a TUN/TAP device that someone else opened and attached (a
  /// privileged broker, a service manager, another runtime; see tunkit/handover.hpp). The name,
  /// TUN or TAP, multi-queue and the virtio-net header (TUNGETVNETHDRSZ, TUNGETVNETLE/BE) are
  /// read from the kernel, the interface index and the packet-information header over rtnetlink
  /// (`AdoptOptions` says the rest); nothing on the device changes. The descriptor gets
  /// FD_CLOEXEC and O_NONBLOCK, as tunkit's own: O_NONBLOCK belongs to the open file, so other
  /// copies of it (the sender's, when it keeps one) become non-blocking too. On success the
  /// queue owns `fd` and closes it; on failure `fd` is left open and unchanged.
  /// @throws tunkit::Error naming the descriptor and what it is: EBADF (not open),
  ///   `errc::not_a_queue` (a file, a socket, /dev/net/tun without TUNSETIFF, a queue whose
  ///   interface was deleted), EINVAL (a disabled queue; another device than `adopt.name`).
  [[nodiscard]] static Queue adopt(int fd, const AdoptOptions& adopt = {},
                                   sys::Syscalls& sys = sys::real());
  /// Non-throwing form: on failure `ec` is set, the result is closed and `fd` left as it was.
  [[nodiscard]] static Queue adopt(int fd, std::error_code& ec, const AdoptOptions& adopt = {},
                                   sys::Syscalls& sys = sys::real()) noexcept;
  /// Closes the descriptors (never retried on EINTR). Idempotent. Not to be called while another
  /// thread uses this queue: stop it with `interrupt()` and join it first.
  void close() noexcept;
  /// True while the queue holds its descriptor.
  [[nodiscard]] bool is_open() const noexcept { return static_cast<bool>(fd_); }

  /// The kernel-assigned interface name (templates resolved); empty on a closed queue.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The interface index, looked up when the queue was opened; 0 on a closed queue.
  [[nodiscard]] unsigned ifindex() const noexcept { return is_open() ? ifindex_ : 0; }
  /// TUN or TAP.
  [[nodiscard]] Mode mode() const noexcept { return mode_; }
  /// True when opened with `Options::packet_info`: the kernel's 4-byte header precedes each
  /// packet on the descriptor (tunkit strips and builds it in `read` and `write`).
  [[nodiscard]] bool has_packet_info() const noexcept { return packet_info_; }
  /// Deprecated name of `has_packet_info()` (it reads like the `PacketInfo` of a packet).
  [[deprecated("use has_packet_info()")]] [[nodiscard]] bool packet_info() const noexcept {
    return packet_info_;
  }
  /// True when opened with `Options::non_blocking`: `read` and `write` return EAGAIN instead of
  /// waiting.
  [[nodiscard]] bool non_blocking() const noexcept { return non_blocking_; }
  /// Flags as the kernel reports them now for this queue's descriptor (TUNGETIFF), e.g. with
  /// `Flag::persist`, and `Flag::detach_queue` while the queue is disabled.
  /// @throws tunkit::Error
  [[nodiscard]] Flags flags() const;
  /// Non-throwing form: on failure `ec` is set and the result is empty.
  [[nodiscard]] Flags flags(std::error_code& ec) const noexcept;
  /// The /dev/net/tun descriptor (O_NONBLOCK, O_CLOEXEC). Still owned by this object.
  [[nodiscard]] int native_handle() const noexcept { return fd_.get(); }
  /// Gives up ownership of the descriptor and returns it; the object becomes closed. The caller
  /// must close it. The descriptor stays O_NONBLOCK.
  [[nodiscard]] int release() noexcept;

  /// TUNSETQUEUE IFF_DETACH_QUEUE: the kernel stops steering packets to this queue (its
  /// descriptor stays open). Only for multi-queue devices (EINVAL otherwise).
  /// @throws tunkit::Error
  void disable();
  /// Non-throwing form: on failure `ec` is set.
  void disable(std::error_code& ec) noexcept;
  /// TUNSETQUEUE IFF_ATTACH_QUEUE: re-attaches a disabled queue. EBUSY while a classic BPF
  /// filter is attached to the TAP device (`TunDevice::attach_filter`): the kernel then answers
  /// success yet leaves the queue disabled, which tunkit checks for.
  /// @throws tunkit::Error
  void enable();
  /// Non-throwing form: on failure `ec` is set.
  void enable(std::error_code& ec) noexcept;
  /// False after `disable()` until `enable()`.
  [[nodiscard]] bool enabled() const noexcept { return enabled_.load(); }

  /// Reads one packet into `buf`; returns its length. A packet longer than `buf` is reported
  /// as `errc::packet_truncated` (its head stays in `buf`, the tail is lost).
  /// @throws tunkit::Error, also for a truncated packet.
  [[nodiscard]] std::size_t read(std::span<std::byte> buf);
  /// Non-throwing form: on failure `ec` is set and 0 returned, except that a truncated packet
  /// sets `errc::packet_truncated` and returns the length of its head (`buf.size()`); EAGAIN
  /// when non-blocking and no packet is queued.
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, std::error_code& ec) noexcept;
  /// As `read`, also returning the packet-information header (with `Options::packet_info`;
  /// otherwise `info.protocol` is derived from the IP version of the packet, after the
  /// virtio-net header when there is one, for TUN and 0 for TAP).
  /// @throws tunkit::Error, also for a truncated packet (as `read(buf)`).
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, PacketInfo& info);
  /// Non-throwing form of `read(buf, info)` (errors as `read(buf, ec)`).
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, PacketInfo& info,
                                 std::error_code& ec) noexcept;
  /// Writes one packet; returns the number of bytes written (its whole length). On a device with
  /// `Options::vnet_hdr` the packet starts with the virtio-net header (in the first buffer); a
  /// header the kernel would refuse is reported as `errc::invalid_vnet_header` before any
  /// syscall, and the throwing form says which field is wrong.
  /// @throws tunkit::Error (EIO while the interface is down, EINVAL for a TUN packet that is not
  ///   IPv4 or IPv6, `errc::empty_packet`, `errc::invalid_vnet_header`).
  std::size_t write(std::span<const std::byte> packet);
  /// Non-throwing form: on failure `ec` is set and 0 returned.
  std::size_t write(std::span<const std::byte> packet, std::error_code& ec) noexcept;
  /// Scatter read of one packet over several buffers; returns the packet length.
  /// @throws tunkit::Error (`errc::too_many_buffers` past `max_buffers`).
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs);
  /// Non-throwing form, with the same results as the non-throwing `read`.
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs,
                                  std::error_code& ec) noexcept;
  /// Gather write of one packet from several buffers; returns the bytes written.
  /// @throws tunkit::Error (`errc::too_many_buffers` past `max_buffers`).
  std::size_t writev(std::span<const std::span<const std::byte>> bufs);
  /// Non-throwing form: on failure `ec` is set and 0 returned.
  std::size_t writev(std::span<const std::span<const std::byte>> bufs,
                     std::error_code& ec) noexcept;
  /// The most buffers `readv`/`writev` accept in one call.
  static constexpr std::size_t max_buffers = 64;

  /// Turns on signal-driven I/O: the kernel sends `io.signal` to `io.owner` whenever a packet is
  /// queued for reading (the tun driver calls kill_fasync when the stack hands it a packet). In
  /// order: F_SETSIG, O_ASYNC, then F_SETOWN_EX, last so that the owner asked for wins over the
  /// one the driver's fasync sets when O_ASYNC comes (the caller's process, when the descriptor
  /// had no owner). A step that fails puts back what the earlier ones changed. Block the signal in
  /// the threads that should not take it, and handle it (or sigwaitinfo/signalfd); a signal without
  /// a handler terminates the process. Reading is unchanged: drain the queue with non-blocking
  /// reads, since signals can be merged.
  /// @throws tunkit::Error: EINVAL (a signal outside 0..64), ESRCH (no such thread, process or
  ///   group: the message names the id).
  void enable_signal_io(const SignalIo& io = {});
  /// Turns on signal-driven I/O; on failure `ec` is set and the descriptor is as it was.
  void enable_signal_io(const SignalIo& io, std::error_code& ec) noexcept;
  /// Turns signal-driven I/O off: O_ASYNC cleared, F_SETSIG back to 0 (SIGIO).
  /// @throws tunkit::Error
  void disable_signal_io();
  /// Turns it off; on failure `ec` is set.
  void disable_signal_io(std::error_code& ec) noexcept;
  /// Whether O_ASYNC is set on the descriptor (F_GETFL).
  /// @throws tunkit::Error
  [[nodiscard]] bool signal_io_enabled() const;

  /// Waits until a packet can be read, the timeout passes, or `interrupt()` is called. A negative
  /// timeout waits forever.
  /// @throws tunkit::Error when poll(2) fails.
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout);
  /// Non-throwing form: on failure `ec` is set (the result is then meaningless).
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept;
  /// Waits until a write would not block.
  /// @throws tunkit::Error when poll(2) fails.
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout);
  /// Non-throwing form: on failure `ec` is set (the result is then meaningless).
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept;
  /// Wakes every thread blocked in this queue's waits or blocking I/O; they return
  /// `errc::interrupted` (`WaitResult::interrupted` from the waits), as does every later I/O call
  /// that would have to wait, until `clear_interrupt()`. Packets are not discarded: a `read` with
  /// a packet queued returns it, interrupted or not. Thread- and async-signal-safe; does nothing
  /// on a closed queue.
  void interrupt() noexcept;
  /// Ends the effect of `interrupt()`.
  void clear_interrupt() noexcept;

 private:
  // TunDevice and BatchIo reach the descriptors and the wire configuration through this one
  // narrow interface (src/tun/queue_access.hpp), never through the members themselves.
  friend struct detail::QueueAccess;
  enum class Dir : std::uint8_t { in, out };
  detail::Failure open_impl(const Options& options, sys::Syscalls& sys) noexcept;
  std::error_code set_queue(bool attach) noexcept;
  // `may_wait`: a blocking queue waits in poll on EAGAIN (false: EAGAIN is returned, for
  // BatchIo, which waits once per batch).
  std::size_t transfer(Dir dir, iovec* iov, int iovcnt, std::error_code& ec,
                       bool may_wait = true) noexcept;
  // Everything of read(buf, ec) and write(packet, ec) but their inline common case: `first` is
  // that case's result when it failed (-errno; for write also a short count), or `not_tried`.
  static constexpr ssize_t not_tried = std::numeric_limits<ssize_t>::min();
  std::size_t read_rest(std::span<std::byte> buf, ssize_t first, std::error_code& ec) noexcept;
  std::size_t write_rest(std::span<const std::byte> packet, ssize_t first,
                         std::error_code& ec) noexcept;
  std::size_t read_packet(std::span<const std::span<std::byte>> bufs, PacketInfo& info,
                          std::error_code& ec, bool may_wait = true) noexcept;
  std::size_t write_packet(std::span<const std::span<const std::byte>> bufs, std::error_code& ec,
                           bool may_wait = true) noexcept;
  // Whether a write of the packet in `bufs` (`total` bytes, virtio-net header first) would be
  // refused by the checks of write_packet; false without IFF_VNET_HDR.
  [[nodiscard]] bool vnet_invalid(std::span<const std::span<const std::byte>> bufs,
                                  std::size_t total) const noexcept;
  WaitResult wait(short events, int timeout_ms, std::error_code& ec) noexcept;
  [[noreturn]] void throw_io(const char* op, std::error_code ec) const;
  [[noreturn]] void throw_write(const char* op, std::error_code ec,
                                std::span<const std::span<const std::byte>> bufs) const;

  detail::OwnedFd fd_;    // the /dev/net/tun descriptor, through the seam it was opened with
  detail::OwnedFd wake_;  // the eventfd interrupt() writes
  unsigned ifindex_ = 0;
  // Which open this is, unique in the process (0: closed): whoever caches state bound to the
  // descriptors (BatchIo's io_uring polls) sees a close() and open() through it.
  std::uint64_t open_id_ = 0;
  Mode mode_ = Mode::tun;
  bool packet_info_ = false;
  // Opened through sys::real() and without packet information: the inline read and write call
  // the kernel themselves (a fake kernel is always called through the seam).
  bool direct_ = false;
  bool non_blocking_ = false;
  // Read by other threads (TunDevice's device-wide calls, I/O) while enable/disable and
  // TunDevice::set_vnet_* change them: relaxed atomics (tests/unit/thread_safety_test.cpp).
  detail::Relaxed<bool> enabled_{true};
  detail::Relaxed<detail::VnetConfig> vnet_;  // the device's virtio-net header
  std::string name_;
};

// The per-packet common case inline, so that a read or write costs the caller little more than
// the system call (bench/io_bench counts the instructions against raw read(2) and write(2)).
inline std::size_t Queue::read(std::span<std::byte> buf, std::error_code& ec) noexcept {
  // A buffer that holds the largest packet the driver can hand over needs no spare byte to
  // detect truncation, and read(2) is cheaper in the kernel than a two-entry readv(2).
  if (direct_ && fd_ && buf.size() >= detail::kLargestPacket + vnet_.load().size) [[likely]] {
    const ssize_t r = ::read(fd_.get(), buf.data(), buf.size());
    if (r >= 0) [[likely]] {
      ec.clear();
      return static_cast<std::size_t>(r);
    }
    return read_rest(buf, -errno, ec);
  }
  return read_rest(buf, not_tried, ec);
}

inline std::size_t Queue::write(std::span<const std::byte> packet, std::error_code& ec) noexcept {
  if (direct_ && fd_ && vnet_.load().size == 0 && !packet.empty()) [[likely]] {
    const ssize_t r = ::write(fd_.get(), packet.data(), packet.size());
    if (static_cast<std::size_t>(r) == packet.size()) [[likely]] {
      ec.clear();
      return packet.size();
    }
    return write_rest(packet, r < 0 ? -errno : r, ec);
  }
  return write_rest(packet, not_tried, ec);
}

}  // namespace tunkit
