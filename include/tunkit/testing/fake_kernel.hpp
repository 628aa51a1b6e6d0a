#pragma once
/// @file
/// `tunkit::testing::FakeKernel`: an in-memory `tunkit::sys::Syscalls` that answers like the Linux
/// tun driver, for unit tests that need no privileges and touch no kernel state.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tunkit/device.hpp"
#include "tunkit/sys.hpp"
#include "tunkit/testing/export.hpp"

namespace tunkit::testing {

class FakeRtnetlink;

/// A simulated kernel behind the `sys::Syscalls` seam: a descriptor table, `/dev/net/tun` with
/// TUN/TAP devices, eventfds, `poll`, `fcntl`, interface look-ups over AF_INET sockets, and
/// NETLINK_ROUTE sockets served by a `FakeRtnetlink`. Every answer (result or errno, and the order
/// in which the checks happen) follows what the real driver does on Linux 6.x, as measured and
/// recorded in the project's KERNEL.md; where the fake simplifies, the member says so.
///
/// Give it to any tunkit object in place of `sys::real()`; then script failures
/// (`fail_next`, `fail_next_ioctl`), feed packets (`inject`), and inspect what the code did
/// (`calls`, `written`, `devices`, `open_fd_count`).
///
/// Descriptors are numbered from 1000 (lowest free first, as the kernel allocates) so they never
/// collide with real ones. The caller is root with CAP_NET_ADMIN until `set_credentials` says
/// otherwise. Interfaces: "lo" (ifindex 1, not a TUN device) exists from the start; TUN/TAP devices
/// get indexes from 2 upwards, never reused, and start administratively down, as the real ones do
/// (`set_up`).
///
/// Thread-safe: one mutex guards all state, so tests may call it (e.g. `TunDevice::interrupt()`)
/// from several threads. Finite timeouts are simulated, never slept; only a wait without timeout
/// really waits, for another thread to make something ready (see `poll`).
///
/// @code
/// // Unit-testing your own code that uses tunkit, without privileges:
/// #include <linux/if_tun.h>  // TUNSETIFF, for scripting (tests may include kernel headers)
/// #include <tunkit/testing/fake_kernel.hpp>
///
/// tunkit::testing::FakeKernel kernel;
/// kernel.fail_next(tunkit::testing::FakeKernel::Call::open, EINTR);  // retried by tunkit
/// tunkit::TunDevice dev({.name = "vpn%d", .non_blocking = true}, kernel);
/// assert(dev.name() == "vpn0" && kernel.exists("vpn0"));
///
/// kernel.set_up("vpn0", true);               // as `ip link set vpn0 up` would
/// const std::byte ping[20] = {std::byte{0x45}};
/// kernel.inject("vpn0", ping);               // "the stack routes a packet into vpn0"
/// my_vpn_pump(dev);                          // your code: reads it, writes an answer
/// assert(kernel.written("vpn0").size() == 1);
///
/// kernel.fail_next_ioctl(TUNSETIFF, EBUSY);  // the next TUNSETIFF fails once
/// // ... assert that your code reports "device busy" and leaks nothing:
/// assert(kernel.open_fd_count() == 2);       // only dev's: the device and its wake-up eventfd
/// @endcode
class TUNKIT_TESTING_EXPORT FakeKernel final : public sys::Syscalls {
 public:
  /// One member of `sys::Syscalls` (the kind of a call, for scripting and for the call log).
  enum class Call : std::uint8_t {
    open,
    close,
    ioctl,
    read,
    write,
    readv,
    writev,
    poll,
    eventfd,
    fcntl,
    socket,
    bind,
    getsockname,
    setsockopt,
    sendto,
    recvfrom,
  };

  /// One entry of the call log: what was asked and what the fake answered.
  struct CallRecord {
    Call call = Call::open;  ///< which member was called
    /// The descriptor the call was made on; for `open`, `eventfd` and `socket` the descriptor
    /// returned (-1 on failure); for `poll` the first descriptor polled (-1 when none).
    int fd = -1;
    /// ioctl: the request number; fcntl: the command (F_GETFL, ...); socket: the domain;
    /// setsockopt: the level.
    unsigned long request = 0;
    /// open: the flags (O_CLOEXEC, ...); eventfd: the flags; socket: the type (with
    /// SOCK_CLOEXEC, ...); fcntl: the argument; ioctl TUNSETIFF: `ifr_flags` as passed;
    /// ioctl TUNSETPERSIST/TUNSETOWNER/TUNSETGROUP: the value; read/write/recvfrom/sendto: the
    /// byte count; readv/writev: the total of the buffers; poll: the timeout in milliseconds;
    /// setsockopt: the option name; bind: the address length.
    std::int64_t arg = 0;
    /// open: the path; ioctl TUNSETIFF/SIOCGIFINDEX: the name passed in `ifr_name`.
    std::string text;
    /// The result: a count, a descriptor, 0, or -errno.
    std::int64_t result = 0;
  };

  /// A TUN/TAP device as the fake holds it (`devices()`, `device()`).
  struct DeviceRecord {
    std::string name;                ///< interface name
    unsigned ifindex = 0;            ///< interface index (2, 3, ... in order of creation)
    Mode mode = Mode::tun;           ///< TUN or TAP
    Flags flags;                     ///< the driver's own flags: TUN/TAP, NO_PI, MULTI_QUEUE,
                                     ///< VNET_HDR, NAPI..., PERSIST (not TUNGETIFF's view, which
                                     ///< always adds 0x1000; see `ioctl`)
    bool persist = false;            ///< TUNSETPERSIST on (also `flags.has(Flag::persist)`)
    bool up = false;                 ///< administratively up (`set_up`, or IFF_UP over netlink)
    std::optional<uid_t> owner;      ///< TUNSETOWNER, if set
    std::optional<gid_t> group;      ///< TUNSETGROUP, if set
    std::size_t queues = 0;          ///< descriptors attached (TUNSETIFF'd and still open)
    std::size_t queued_packets = 0;  ///< injected packets not yet read, over all queues
  };

  /// A packet that the code under test wrote to a device (`written()`).
  struct WrittenPacket {
    /// The packet as the device received it: without the packet-information header and without
    /// the virtio-net header.
    std::vector<std::byte> data;
    /// EtherType in host order: from the packet-information header when the device has one,
    /// else from the IP version (TUN) or from the frame's type field (TAP), as the kernel derives
    /// it.
    std::uint16_t protocol = 0;
    /// The virtio-net header that preceded the packet (only with IFF_VNET_HDR).
    std::vector<std::byte> vnet_header;
    /// The descriptor (queue) it was written on.
    int fd = -1;
  };

  /// The initial state: no descriptors, only "lo", root with CAP_NET_ADMIN, TUNGETFEATURES
  /// answering 0x7173.
  FakeKernel();
  /// Drops all state. Descriptors still open are simply forgotten.
  ~FakeKernel() override;
  FakeKernel(const FakeKernel&) = delete;
  FakeKernel& operator=(const FakeKernel&) = delete;
  FakeKernel(FakeKernel&&) = delete;
  FakeKernel& operator=(FakeKernel&&) = delete;

  // --- The seam -------------------------------------------------------------------------------

  /// Only "/dev/net/tun" exists (any other path: -ENOENT). Records the flags; O_NONBLOCK and
  /// O_CLOEXEC take effect as for a real descriptor.
  int open(const char* path, int flags) noexcept override;
  /// Releases the descriptor (-EBADF when it is not open). Closing the last descriptor of a
  /// non-persistent device deletes the device, as the kernel does. A scripted failure
  /// (`fail_next(Call::close, e)`) still releases the descriptor, as Linux does for EINTR/EIO.
  int close(int fd) noexcept override;
  /// TUN descriptors: TUNSETIFF (with every rule of the driver: EEXIST, EINVAL, EBUSY, EPERM,
  /// E2BIG, name templates and truncation to 15 bytes), TUNGETIFF (name, and flags as the kernel
  /// reports them: the device's TUN_FEATURES | PERSIST | TUN/TAP, plus IFF_NOFILTER, which is
  /// 0x1000 like IFF_NO_PI, because no socket filter is attached), TUNSETPERSIST, TUNSETOWNER,
  /// TUNSETGROUP (-EINVAL for -1), TUNGETFEATURES (works before TUNSETIFF), TUNGETVNETHDRSZ,
  /// TUNSETVNETHDRSZ (-EINVAL below 10). Any other request: -EBADFD before TUNSETIFF (or after the
  /// device was deleted), else -EINVAL. Sockets: SIOCGIFINDEX and SIOCGIFNAME (-ENODEV for an
  /// unknown interface), anything else -ENOTTY. eventfds: -ENOTTY.
  int ioctl(int fd, unsigned long request, void* arg) noexcept override;
  /// TUN descriptors: one packet per call; with packet information, the 4-byte header first
  /// (flags in host order with TUN_PKT_STRIP when the packet does not fit, protocol big-endian;
  /// -EINVAL, and the packet dropped, when `count` < 4); with IFF_VNET_HDR a zeroed virtio-net
  /// header next; the packet's head fills the rest. Returns min(whole length, count), as
  /// tun_chr_read_iter does. A read of 0 bytes returns 0 and leaves the packet queued. No packet
  /// queued: -EAGAIN, also on a blocking descriptor (a fake never blocks in read; poll first).
  /// Before TUNSETIFF or after `delete_device`: -EBADFD.
  /// eventfds: 8 bytes (-EINVAL if fewer): the counter, reset to 0 (EFD_SEMAPHORE: 1, decrement);
  /// -EAGAIN when it is 0. Netlink sockets: forwarded as `recvfrom(fd, buf, count, 0, ...)`.
  ssize_t read(int fd, void* buf, std::size_t count) noexcept override;
  /// TUN descriptors: one packet, recorded for `written()`; returns `count`. In the kernel's order:
  /// -EBADFD when not attached; -EINVAL for fewer bytes than the packet-information header (which
  /// includes 0 bytes) or the virtio-net header, for a TAP frame under 14 bytes, and for a TUN
  /// packet without packet information whose first nibble is not 4 or 6 (again including 0
  /// bytes); then -EIO while the device is down. eventfds: adds the 8-byte value (-EINVAL for
  /// fewer bytes or UINT64_MAX, -EAGAIN when the counter would overflow). Netlink sockets:
  /// forwarded as `sendto(fd, buf, count, 0, nullptr, 0)`.
  ssize_t write(int fd, const void* buf, std::size_t count) noexcept override;
  /// As `read`, scattered over the buffers (-EINVAL for iovcnt < 0 or > 1024).
  ssize_t readv(int fd, const iovec* iov, int iovcnt) noexcept override;
  /// As `write`, gathered from the buffers (-EINVAL for iovcnt < 0 or > 1024).
  ssize_t writev(int fd, const iovec* iov, int iovcnt) noexcept override;
  /// Readiness: TUN descriptors report POLLIN|POLLRDNORM while their queue holds a packet,
  /// POLLOUT|POLLWRNORM while the device is up, and POLLERR (alone) before TUNSETIFF or after
  /// `delete_device`; eventfds POLLIN while the counter is non-zero and POLLOUT while it can grow;
  /// sockets POLLOUT, and netlink sockets also POLLIN (the fake rtnetlink answers at once);
  /// unknown descriptors POLLNVAL; negative ones are skipped. Returns the number of entries with
  /// events.
  ///
  /// Time is simulated: when nothing is ready, a zero or positive timeout expires at once
  /// (returns 0, no sleeping). A negative timeout (wait forever) really waits until another thread
  /// makes something ready (`inject`, an eventfd write such as `TunDevice::interrupt()`,
  /// `delete_device`, `set_up`), so blocking code can be stopped from another thread as in real
  /// life. So that a test that would hang fails instead, such a wait gives up after
  /// `set_block_limit` (default 5 s) and returns -EDEADLK, which the real poll never does.
  int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept override;
  /// A counter descriptor (EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE; other flags: -EINVAL).
  int eventfd(unsigned int initval, int flags) noexcept override;
  /// F_GETFL (access mode and status flags, without the O_LARGEFILE bit the kernel adds on
  /// 64-bit), F_SETFL (O_NONBLOCK, O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME may change), F_GETFD /
  /// F_SETFD (FD_CLOEXEC); other commands -EINVAL; unknown descriptor -EBADF.
  int fcntl(int fd, int cmd, int arg) noexcept override;
  /// AF_INET / AF_INET6 with SOCK_DGRAM: a socket for interface ioctls. AF_NETLINK with SOCK_RAW
  /// or SOCK_DGRAM: a descriptor whose every call is forwarded to `rtnetlink()`, which decides
  /// (e.g. -EPROTONOSUPPORT for an unknown protocol). Anything else: -EAFNOSUPPORT.
  int socket(int domain, int type, int protocol) noexcept override;
  /// Netlink sockets: forwarded to `rtnetlink()`. Other sockets: -EOPNOTSUPP; not a socket:
  /// -ENOTSOCK; unknown: -EBADF. The same holds for the four calls below.
  int bind(int fd, const sockaddr* addr, socklen_t len) noexcept override;
  /// See `bind`.
  int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept override;
  /// See `bind`.
  int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept override;
  /// See `bind`.
  ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen) noexcept override;
  /// See `bind`.
  ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                   socklen_t* addrlen) noexcept override;

  // --- Scripting failures ---------------------------------------------------------------------

  /// The next call of kind `call` fails with `-err` (`err` a positive errno: EINTR, EPERM,
  /// EMFILE, ...) and has no effect, except `close`, which still releases the descriptor. Several
  /// scripted errors for one kind fire once each, in the order given, on consecutive calls, e.g.
  /// EINTR then success: `fail_next(Call::read, EINTR)`. For ioctl this matches any request;
  /// `fail_next_ioctl` is matched first.
  void fail_next(Call call, int err);
  /// The next ioctl with this request fails with `-err`, once (in order, per request).
  void fail_next_ioctl(unsigned long request, int err);
  /// Drops every scripted failure not yet fired.
  void clear_failures();

  // --- Scenario ---------------------------------------------------------------------------------

  /// The caller's identity for the driver's permission checks: attaching to an existing device
  /// whose owner (or group) is set and differs from `uid` (or is neither `gid` nor one of
  /// `groups`) fails with -EPERM unless `cap_net_admin`; creating a device (and IFF_NAPI_FRAGS)
  /// needs `cap_net_admin`. Default: uid 0, gid 0, with CAP_NET_ADMIN.
  void set_credentials(uid_t uid, gid_t gid, bool cap_net_admin, std::vector<gid_t> groups = {});
  /// The bits TUNGETFEATURES reports (default 0x7173, as Linux 6.x). TUNSETIFF does not check
  /// them (neither does the kernel).
  void set_features(unsigned features);
  /// How long a poll with a negative timeout waits for another thread before failing with
  /// -EDEADLK (see `poll`).
  void set_block_limit(std::chrono::milliseconds limit);
  /// Creates a persistent TUN/TAP device with no descriptor attached, as `ip tuntap add` does.
  /// `flags` may add NO_PI, MULTI_QUEUE, VNET_HDR, ... (TUN/TAP come from `mode`).
  /// @returns its ifindex. @throws std::invalid_argument if the name is taken or invalid.
  unsigned add_persistent_device(std::string_view name, Mode mode, Flags flags = {},
                                 std::optional<uid_t> owner = {}, std::optional<gid_t> group = {});
  /// Creates an interface that is not a TUN/TAP device (like "lo" or "eth0"): its name is taken,
  /// it has an ifindex, TUNSETIFF on it gives -EINVAL. @returns its ifindex.
  /// @throws std::invalid_argument if the name is taken.
  unsigned add_interface(std::string_view name);
  /// Deletes an interface as `ip link del` does: its descriptors stay open but read, write and
  /// ioctls give -EBADFD and poll reports POLLERR; queued packets are dropped. Persistence does
  /// not matter. @returns false when there is no such interface, or for "lo" (undeletable).
  bool delete_device(std::string_view name);
  /// Sets the device administratively up or down (`ip link set NAME up`), also in `rtnetlink()`.
  /// Devices start down: writes give -EIO and poll reports no POLLOUT until then. Code under test
  /// may equally bring it up over netlink (`tunkit::Link::set_up()`): the fake rtnetlink tells
  /// the fake kernel, and renames reach it the same way. @returns false if there is no such
  /// TUN/TAP device.
  bool set_up(std::string_view name, bool up);

  // --- Packets ----------------------------------------------------------------------------------

  /// Queues `packet` for reading on device `name`, as if the network stack sent it through the
  /// interface, with the EtherType derived as the kernel would (TUN: IP version; TAP: the frame's
  /// type field) for the packet-information header. With several queues (multi-queue), packets go
  /// round-robin over the attached descriptors in the order they attached (the kernel hashes
  /// flows; round-robin is deterministic). Works up or down.
  /// @returns the descriptor it was queued on, or -1 when it was dropped: no descriptor attached
  ///   (a persistent device nobody holds), or that queue already holds 500 packets (tx_queue_len).
  /// @throws std::invalid_argument if there is no TUN/TAP device `name`.
  int inject(std::string_view name, std::span<const std::byte> packet);
  /// As above with an explicit EtherType (host order) for the packet-information header.
  int inject(std::string_view name, std::span<const std::byte> packet, std::uint16_t protocol);
  /// The packets written to device `name` so far, oldest first (also after the device was
  /// deleted; empty if it never existed).
  [[nodiscard]] std::vector<WrittenPacket> written(std::string_view name) const;
  /// Forgets the packets written to every device.
  void clear_written();

  // --- Inspection -------------------------------------------------------------------------------

  /// Every call made so far, in order.
  [[nodiscard]] std::vector<CallRecord> calls() const;
  /// How many calls of kind `call` were made.
  [[nodiscard]] std::size_t count(Call call) const;
  /// How many ioctls with `request` were made.
  [[nodiscard]] std::size_t count_ioctl(unsigned long request) const;
  /// Empties the call log.
  void clear_calls();
  /// How many descriptors are open (of every kind); the leak check.
  [[nodiscard]] std::size_t open_fd_count() const;
  /// The open descriptors, ascending.
  [[nodiscard]] std::vector<int> open_fds() const;
  /// The TUN/TAP devices, by ifindex.
  [[nodiscard]] std::vector<DeviceRecord> devices() const;
  /// The TUN/TAP device `name`, if it exists.
  [[nodiscard]] std::optional<DeviceRecord> device(std::string_view name) const;
  /// True when an interface `name` exists (TUN/TAP or not, e.g. "lo").
  [[nodiscard]] bool exists(std::string_view name) const;
  /// The fake rtnetlink behind the NETLINK_ROUTE sockets. It holds "lo" (up, 127.0.0.1/8, ::1)
  /// and learns of every interface created (`add_link`) and deleted (`remove_link`), of carrier
  /// (on while a TUN/TAP device has a descriptor attached, unless created with IFF_NO_CARRIER) and
  /// of `set_up`. Use it to script netlink failures and inspect requests, while no other thread
  /// uses this fake kernel (the fake kernel's mutex does not cover direct calls on it).
  [[nodiscard]] FakeRtnetlink& rtnetlink() noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The member's name, e.g. "ioctl".
[[nodiscard]] TUNKIT_TESTING_EXPORT std::string_view to_string(FakeKernel::Call call) noexcept;

}  // namespace tunkit::testing
