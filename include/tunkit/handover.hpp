#pragma once
/// @file
/// Handing a device's queues to another process, so that the data plane runs without
/// privileges: over a Unix socket (`send_device` / `receive_device`, SCM_RIGHTS), or at start
/// under the `LISTEN_FDS` convention of systemd and `tunkit run` (`listen_fds`,
/// `TunDevice::from_environment`). The receiving side adopts the descriptors
/// (`TunDevice::adopt`): it needs no capability to move packets through them, and cannot create
/// devices or change links (both need CAP_NET_ADMIN). docs/unprivileged.md walks through it.

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/device.hpp"
#include "tunkit/export.hpp"
#include "tunkit/options.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

/// What travels with a device's queue descriptors, for what the receiver cannot ask the kernel
/// (the message is versioned: this is version 1).
struct HandOverInfo {
  /// The device's name as the sender knows it (checked against the descriptors on receipt).
  std::string name{};
  /// The device's index in the sender's network namespace.
  unsigned ifindex = 0;
  /// The device has the packet-information header (the receiver needs it where rtnetlink
  /// cannot answer: a device in another namespace).
  bool packet_info = false;
  /// The offloads the sender set (TUNSETOFFLOAD has no getter); unset when it does not know.
  std::optional<Offloads> offloads{};
  /// What the sender means the device for, in its own words ("data plane of vpn0"), at most 255
  /// bytes; the receiver may check it.
  std::string purpose{};
};

/// The process at the other end of a Unix socket (SO_PEERCRED): as it was when it connected, or
/// when the socket pair was made.
struct PeerCredentials {
  pid_t pid = 0;  ///< its process id
  uid_t uid = 0;  ///< its effective user id
  gid_t gid = 0;  ///< its effective group id
};

/// What `send_device` is told.
struct SendOptions {
  /// `HandOverInfo::purpose`.
  std::string purpose{};
  /// When set, the peer must be this user (SO_PEERCRED, checked before anything is sent): a
  /// broker hands the device only to the worker it means.
  std::optional<uid_t> peer_uid{};
  /// When set, the peer must be in this group (its effective group id).
  std::optional<gid_t> peer_gid{};
};

/// Sends every queue of `device` over `unix_socket` (AF_UNIX, SOCK_SEQPACKET or SOCK_DGRAM: a
/// stream could split the message, and is refused) in one message: the descriptors as SCM_RIGHTS
/// and a `HandOverInfo` header. The device keeps its descriptors: close it after sending unless
/// this process should keep the queues too (the device lives while either side holds them).
/// @throws tunkit::Error: EPERM (a peer other than `peer_uid`/`peer_gid`), EINVAL (a stream socket;
/// a disabled queue, which `adopt` refuses; a
///   purpose longer than 255 bytes), E2BIG (more than 253 queues, SCM_MAX_FD), `errc::not_open`,
///   and what sendmsg(2) answers (EPIPE when the receiver is gone; EAGAIN on a full
///   non-blocking socket).
TUNKIT_EXPORT void send_device(int unix_socket, const TunDevice& device,
                               const SendOptions& options = {}, sys::Syscalls& sys = sys::real());
/// Non-throwing form: on failure `ec` is set and nothing was sent.
TUNKIT_EXPORT void send_device(int unix_socket, const TunDevice& device, std::error_code& ec,
                               const SendOptions& options = {},
                               sys::Syscalls& sys = sys::real()) noexcept;

/// What `receive_device` accepts.
struct ReceiveOptions {
  /// When set, the peer must be this user (SO_PEERCRED, checked before anything is received).
  std::optional<uid_t> peer_uid{};
  /// When set, the peer must be in this group (its effective group id).
  std::optional<gid_t> peer_gid{};
  /// When set, the device must have this name.
  std::string name{};
  /// The most queues accepted (1..253): a message with more is refused and its descriptors
  /// closed.
  std::size_t max_queues = 64;
  /// `Options::non_blocking` for the received queues.
  bool non_blocking = false;
};

/// A device received by `receive_device`.
struct ReceivedDevice {
  TunDevice device;                       ///< the adopted queues
  HandOverInfo info;                      ///< what the sender said about them
  std::optional<PeerCredentials> peer{};  ///< the sender, where the socket tells
};

/// Receives one device sent by `send_device` on `unix_socket` and adopts its queues
/// (`TunDevice::adopt`, with the sender's packet-information and offload values). Waits for the
/// message unless the socket is non-blocking. The descriptors arrive with FD_CLOEXEC
/// (MSG_CMSG_CLOEXEC); on any failure every received descriptor is closed.
/// @throws tunkit::Error: EPERM (a peer other than `peer_uid`/`peer_gid`), EMSGSIZE (more
///   descriptors than `max_queues`: the kernel truncated the control data, MSG_CTRUNC),
///   `errc::handover_protocol` (no tunkit header, another version, the count of descriptors
///   not the one announced, the peer closed without sending), the errors of `TunDevice::adopt`
///   (descriptors of the wrong kind), and what recvmsg(2) answers.
[[nodiscard]] TUNKIT_EXPORT ReceivedDevice receive_device(int unix_socket,
                                                          const ReceiveOptions& options = {},
                                                          sys::Syscalls& sys = sys::real());
/// Non-throwing form: on failure `ec` is set and the device is closed.
[[nodiscard]] TUNKIT_EXPORT ReceivedDevice
receive_device(int unix_socket, std::error_code& ec, const ReceiveOptions& options = {},
               sys::Syscalls& sys = sys::real()) noexcept;

/// One descriptor passed under the `LISTEN_FDS` convention.
struct ListenFd {
  int fd = -1;       ///< 3, 4, ...
  std::string name;  ///< its `LISTEN_FDNAMES` entry ("unknown" when there is none)
};

/// The descriptors the variables `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES` (systemd's socket
/// activation convention, which `tunkit run` follows) pass to process `pid`: none when
/// `listen_pid` is unset or names another process (the variables were inherited from a parent
/// they were meant for). Pure: reads no environment and touches no descriptor.
/// @throws tunkit::Error EINVAL for values that are not numbers, a count past 253, or a name
///   list of another length.
[[nodiscard]] TUNKIT_EXPORT std::vector<ListenFd> listen_fds(
    std::optional<std::string_view> listen_pid, std::optional<std::string_view> listen_fds,
    std::optional<std::string_view> listen_fdnames, pid_t pid);

}  // namespace tunkit
