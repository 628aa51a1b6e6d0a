#pragma once
// The socket: a NETLINK_ROUTE or NETLINK_GENERIC socket driven through the syscall seam, pairing
// answers with requests.

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "detail/netlink/function_ref.hpp"
#include "detail/netlink/request.hpp"
#include "detail/owned_fd.hpp"
#include "tunkit/sys.hpp"

namespace tunkit::detail::netlink {

/// Called for each data message (not NLMSG_ERROR/DONE) answering the current request; a non-zero
/// result becomes the transaction's error (the rest of the answer is still read and dropped, so
/// the socket stays in step with the kernel).
using MessageHandler = FunctionRef<std::error_code(const nlmsghdr&)>;

/// A netlink socket (NETLINK_ROUTE by default), opened and driven only through
/// `tunkit::sys::Syscalls` so that a fake kernel sees every call. `transact` sends one request and
/// reads the kernel's answer up to its ACK; `dump` reads a multi-part answer up to NLMSG_DONE;
/// `receive` reads notifications. Move-only (its descriptor is a `detail::OwnedFd`, closed through
/// the seam once). Not thread-safe: one request at a time.
class Socket {
 public:
  /// The size of each receive buffer. The kernel sizes dump datagrams up to the largest buffer
  /// userspace offered, capped at 32 KiB, so this never truncates a kernel datagram.
  static constexpr std::size_t kReceiveBufferSize = 32768;
  /// How many times `dump` restarts a dump that the kernel marked inconsistent.
  static constexpr int kDumpAttempts = 4;

  /// A closed socket.
  Socket() noexcept = default;
  /// Opens `socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol)` (NETLINK_ROUTE, or
  /// NETLINK_GENERIC for generic-netlink families such as ethtool), asks for extended acks
  /// (NETLINK_EXT_ACK), binds it (the kernel picks the port id; `groups` subscribes to multicast
  /// bitmask groups) and reads the port id back. On failure `ec` is set and nothing is left open.
  [[nodiscard]] static Socket open(sys::Syscalls& sys, std::error_code& ec,
                                   std::uint32_t groups = 0, int protocol = NETLINK_ROUTE) noexcept;

  /// Closes the descriptor (never retried on EINTR). Idempotent.
  void close() noexcept { fd_.reset(); }
  [[nodiscard]] bool is_open() const noexcept { return static_cast<bool>(fd_); }
  [[nodiscard]] int native_handle() const noexcept { return fd_.get(); }
  /// The seam the socket was opened through (a closed socket has none: do not call).
  [[nodiscard]] sys::Syscalls& sys() const noexcept { return fd_.sys(); }
  /// The port id the kernel assigned at bind time (nl_pid).
  [[nodiscard]] std::uint32_t port_id() const noexcept { return port_id_; }
  /// The netlink protocol the socket was opened for (NETLINK_ROUTE, NETLINK_GENERIC).
  [[nodiscard]] int protocol() const noexcept { return protocol_; }
  /// The kernel's extended-ack message (NLMSGERR_ATTR_MSG) of the last failed `transact` or
  /// `dump`, e.g. "requested speed not supported"; empty when the kernel gave none, or when the
  /// last exchange succeeded. Truncated to `kExtackCapacity` bytes. Valid until the next request.
  [[nodiscard]] std::string_view extack() const noexcept { return {extack_, extack_len_}; }
  static constexpr std::size_t kExtackCapacity = 255;

  /// Sends `request` (a "doit", not a dump) with a new sequence number and NLM_F_ACK, then
  /// reads until the kernel's NLMSG_ERROR for that sequence: 0 (the ACK) gives success, -errno
  /// gives that errno. Data messages that come before the ACK (a GET's answer) go to `on_message`.
  /// Messages with other sequence numbers (answers to abandoned requests, notifications) are
  /// skipped. EINTR is retried.
  [[nodiscard]] std::error_code transact(Request& request, MessageHandler on_message = {}) noexcept;

  /// Sends `request` with NLM_F_DUMP and passes every message of the answer to `on_message` until
  /// NLMSG_DONE. When the kernel marks the dump inconsistent (NLM_F_DUMP_INTR: the table changed
  /// while it was being dumped), calls `restart` and dumps again, up to `kDumpAttempts` times in
  /// all; the last attempt's messages stand even if still marked (as `ip` does).
  [[nodiscard]] std::error_code dump(Request& request, MessageHandler on_message,
                                     FunctionRef<void()> restart) noexcept;

  /// Reads one datagram without waiting (MSG_DONTWAIT) and passes each of its messages that come
  /// from the kernel (multicast notifications, on a socket bound to groups) to `on_message`; the
  /// first non-zero result of the handler is returned after the whole datagram was read. EAGAIN
  /// when nothing is queued; ENOBUFS when the kernel dropped notifications because the receive
  /// buffer was full (the socket stays usable; what was lost must be read again by a dump).
  /// EINTR is retried.
  [[nodiscard]] std::error_code receive(MessageHandler on_message) noexcept;

 private:
  Socket(sys::Syscalls& sys, int fd) noexcept : fd_(fd, sys) {}
  std::error_code exchange(Request& request, MessageHandler on_message,
                           bool& dump_interrupted) noexcept;
  std::error_code send(Request& request) noexcept;

  void keep_extack(const nlmsghdr& error) noexcept;
  void keep_extack_from(const std::byte* attrs, std::size_t len) noexcept;

  OwnedFd fd_;
  std::uint32_t port_id_ = 0;
  std::uint32_t seq_ = 0;
  int protocol_ = NETLINK_ROUTE;
  std::size_t extack_len_ = 0;
  char extack_[kExtackCapacity] = {};
};

}  // namespace tunkit::detail::netlink
