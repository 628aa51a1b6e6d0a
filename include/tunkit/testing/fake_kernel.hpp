#pragma once
/// @file
/// `tunkit::testing::FakeKernel`: an in-memory `tunkit::sys::Syscalls` that answers like the Linux
/// tun driver, for unit tests that need no privileges and touch no kernel state.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tunkit/device.hpp"
#include "tunkit/ebpf.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/sys.hpp"
#include "tunkit/testing/export.hpp"

namespace tunkit::testing {

class FakeRtnetlink;

/// A simulated kernel behind the `sys::Syscalls` seam: a descriptor table, `/dev/net/tun` with
/// TUN/TAP devices, eventfds, `poll`, `fcntl`, interface look-ups over AF_INET sockets,
/// NETLINK_ROUTE sockets served by a `FakeRtnetlink`, and network namespaces (`add_netns`,
/// `setns`). Every answer (result or errno, and the order
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
/// Network namespaces: the initial one (named "") and those made with `add_netns(NAME)`, which
/// open at "/run/netns/NAME". Like the kernel, the fake keeps each thread's namespace: a thread
/// starts in the initial one and moves with `setns` (only itself). Devices created by TUNSETIFF,
/// sockets and interface look-ups belong to the calling thread's namespace; FakeRtnetlink shows
/// each socket the links of its own namespace (see there for moving links between namespaces).
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
    setns,
    fstat,
    getsockopt,
    fcntl_ptr,
    bpf,
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
    /// SOCK_CLOEXEC, ...); fcntl: the argument; ioctl TUNSETIFF and TUNSETQUEUE: `ifr_flags` as
    /// passed; ioctl TUNSETPERSIST/TUNSETOWNER/TUNSETGROUP/TUNSETLINK: the value; ioctl
    /// TUNSETIFINDEX/TUNSETSNDBUF/TUNSETVNETHDRSZ/TUNSETVNETLE/TUNSETVNETBE/TUNSETCARRIER/
    /// TUNSETSTEERINGEBPF/TUNSETFILTEREBPF: the integer pointed to; ioctl TUNSETTXFILTER: the
    /// address count; ioctl TUNATTACHFILTER: the program length; read/write/recvfrom/sendto: the
    /// byte count; readv/writev: the total of the buffers; poll: the timeout in milliseconds;
    /// setsockopt: the option name; bind: the address length.
    std::int64_t arg = 0;
    /// open: the path; ioctl TUNSETIFF/SIOCGIFINDEX: the name passed in `ifr_name`; setns: the
    /// namespace entered ("" the initial one), or the descriptor's kind when it is not one.
    std::string text;
    /// The result: a count, a descriptor, 0, or -errno.
    std::int64_t result = 0;
  };

  /// One descriptor attached to a device (`DeviceRecord::queue_states`).
  struct QueueState {
    int fd = -1;          ///< the descriptor
    bool enabled = true;  ///< false after TUNSETQUEUE IFF_DETACH_QUEUE, until IFF_ATTACH_QUEUE
    /// This queue's send buffer (TUNGETSNDBUF on it): INT_MAX until a TUNSETSNDBUF while the
    /// queue was enabled; the kernel keeps one per descriptor.
    int send_buffer = std::numeric_limits<int>::max();
    /// A classic BPF program is attached to this queue's socket (TUNGETIFF then leaves out
    /// IFF_NOFILTER).
    bool socket_filter = false;
    std::size_t queued_packets = 0;  ///< injected packets not yet read from this queue
  };

  /// A TAP device's TX filter as TUNSETTXFILTER last set it (`DeviceRecord::tx_filter`).
  struct TxFilter {
    std::vector<MacAddress> addresses;  ///< as passed, in order (empty: none, or cleared)
    bool all_multicast = false;         ///< TUN_FLT_ALLMULTI as passed
    /// Whether the kernel filters at all: false after a filter without addresses, and after
    /// one with a unicast address past the eighth (the driver matches the first eight exactly,
    /// hashes the rest, and turns filtering off when one of the rest is not multicast).
    bool active = false;
  };

  /// A TUN/TAP device as the fake holds it (`devices()`, `device()`).
  struct DeviceRecord {
    std::string name;                 ///< interface name
    unsigned ifindex = 0;             ///< interface index (2, 3, ..., or TUNSETIFINDEX's)
    Mode mode = Mode::tun;            ///< TUN or TAP
    Flags flags;                      ///< the driver's own flags: TUN/TAP, NO_PI, MULTI_QUEUE,
                                      ///< VNET_HDR, NAPI..., PERSIST (not TUNGETIFF's view, which
                                      ///< adds per-descriptor bits; see `ioctl`)
    bool persist = false;             ///< TUNSETPERSIST on (also `flags.has(Flag::persist)`)
    bool up = false;                  ///< administratively up (`set_up`, or IFF_UP over netlink)
    std::optional<uid_t> owner;       ///< TUNSETOWNER, if set
    std::optional<gid_t> group;       ///< TUNSETGROUP, if set
    std::size_t queues = 0;           ///< descriptors attached, enabled or not (TUNSETIFF'd, open)
    std::size_t disabled_queues = 0;  ///< of those, detached with TUNSETQUEUE
    std::size_t queued_packets = 0;   ///< injected packets not yet read, over all queues
    /// The attached descriptors: the enabled ones in the kernel's queue order (closing or
    /// disabling one moves the last into its place, as the driver does), then the disabled
    /// ones in the order they were disabled.
    std::vector<QueueState> queue_states;
    bool carrier = false;  ///< carrier (also in `rtnetlink()`): see `ioctl`, TUNSETCARRIER
    /// The link-layer type (TUNSETLINK): ARPHRD_NONE (65534) for TUN, ARPHRD_ETHER (1) for TAP.
    std::uint16_t link_type = 0;
    /// The device's send buffer (the last TUNSETSNDBUF; INT_MAX before any).
    int send_buffer = std::numeric_limits<int>::max();
    int vnet_header_size = 10;        ///< TUNSETVNETHDRSZ
    bool vnet_little_endian = false;  ///< TUNSETVNETLE
    bool vnet_big_endian = false;     ///< TUNSETVNETBE (see `set_vnet_cross_le`)
    TxFilter tx_filter;               ///< TUNSETTXFILTER (TAP only)
    /// The classic BPF program most recently passed to TUNATTACHFILTER, also when the kernel
    /// refused it (TUNGETFILTER keeps reporting its length, even after TUNDETACHFILTER).
    std::vector<BpfInstruction> filter_program;
    /// TUNATTACHFILTER succeeded and no TUNDETACHFILTER since: the driver attaches the program
    /// to queues that attach later (and then keeps them detached: see `ioctl`).
    bool filter_attached = false;
    Offloads offloads;       ///< TUNSETOFFLOAD's accepted flags
    int steering_ebpf = -1;  ///< the descriptor passed to TUNSETSTEERINGEBPF (-1: none)
    int filter_ebpf = -1;    ///< the descriptor passed to TUNSETFILTEREBPF (-1: none)
    std::string netns;       ///< the network namespace it is in ("": the initial one)
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

  /// "/dev/net/tun", and the namespace files: "/proc/thread-self/ns/net" (the calling thread's
  /// namespace), "/proc/self/ns/net" (the initial one: the fake's main thread never moves) and
  /// "/run/netns/NAME" for each `add_netns(NAME)`. Any other path: -ENOENT. Records the flags;
  /// O_NONBLOCK and O_CLOEXEC take effect as for a real descriptor.
  int open(const char* path, int flags) noexcept override;
  /// Releases the descriptor (-EBADF when it is not open). Closing the last descriptor of a
  /// non-persistent device deletes the device, as the kernel does. A scripted failure
  /// (`fail_next(Call::close, e)`) still releases the descriptor, as Linux does for EINTR/EIO.
  int close(int fd) noexcept override;
  /// TUN descriptors, as drivers/net/tun.c on Linux 6.18 (measured where noted):
  /// - Before TUNSETIFF too: TUNGETFEATURES; TUNSETQUEUE (below); TUNSETIFINDEX (the index the
  ///   device this descriptor creates will get: -EINVAL above INT_MAX, -EPERM once attached).
  /// - TUNSETIFF with every rule of the driver: EEXIST, EINVAL, EBUSY, EPERM, E2BIG (enabled
  ///   and disabled queues count), name templates, truncation to 15 bytes, -EBUSY when the
  ///   TUNSETIFINDEX index is taken; IFF_NAPI_FRAGS needs CAP_NET_ADMIN (-EPERM), IFF_NAPI and
  ///   TAP (-EINVAL). Carrier goes on (off with IFF_NO_CARRIER) when the device is created or
  ///   when this descriptor is its only one; a queue joining others leaves it alone (measured).
  /// - TUNSETQUEUE: IFF_ATTACH_QUEUE re-enables a disabled queue (-EINVAL otherwise);
  ///   IFF_DETACH_QUEUE disables an enabled queue of a multi-queue device (-EINVAL otherwise,
  ///   also twice, before TUNSETIFF and after the device was deleted): it gets no more packets,
  ///   its queued ones are dropped, reads give -EAGAIN; writes, polls and ioctls still work on it.
  ///   Neither flag: -EINVAL.
  /// - A driver bug, reproduced because it is measured on 6.18: while a classic BPF filter is
  ///   attached (TUNATTACHFILTER), a TUNSETIFF without IFF_NO_PI (the driver reads that bit as
  ///   IFF_NOFILTER) on a TAP device, and any IFF_ATTACH_QUEUE, return 0 but leave the
  ///   descriptor unattached (TUNSETIFF: read/write/ioctl then give -EBADFD) or disabled.
  /// - On an attached descriptor (enabled or not; -EBADFD before TUNSETIFF and after the device
  ///   was deleted): TUNGETIFF (name, and flags as the kernel reports them: the device's
  ///   TUN_FEATURES | PERSIST | TUN/TAP, never IFF_NO_CARRIER, plus IFF_DETACH_QUEUE on a disabled
  ///   queue and IFF_NOFILTER, which is 0x1000 like IFF_NO_PI, while no classic BPF program is
  ///   attached to this queue), TUNSETPERSIST, TUNSETOWNER, TUNSETGROUP (-EINVAL for -1),
  ///   TUNGETSNDBUF (this queue's), TUNSETSNDBUF (-EINVAL for <= 0; reaches the enabled queues
  ///   only, as measured), TUNSETTXFILTER / TUNATTACHFILTER / TUNDETACHFILTER / TUNGETFILTER
  ///   (-EINVAL on TUN; see `DeviceRecord`; TUNSETTXFILTER returns the number of exactly matched
  ///   addresses; TUNATTACHFILTER checks the program only when a queue is enabled: -EINVAL for 0
  ///   or more than 4096 instructions or a last instruction that is not BPF_RET; TUNGETFILTER
  ///   reports the length with a null `filter`), TUNSETSTEERINGEBPF / TUNSETFILTEREBPF (-1
  ///   detaches; a descriptor from `add_ebpf_program`; -EBADF when not open, -EINVAL when not a
  ///   socket-filter program, as measured; the programs are recorded, not run), TUNSETCARRIER
  ///   (-EPERM turning it on while no queue is enabled, as measured; mirrored in `rtnetlink()`),
  ///   TUNSETLINK (-EBUSY while up), TUNGETDEVNETNS (a new descriptor that only closes; -EPERM
  ///   without CAP_NET_ADMIN), TUNGET/SETVNETHDRSZ (-EINVAL below 10), TUNGET/SETVNETLE,
  ///   TUNGET/SETVNETBE (-EINVAL unless `set_vnet_cross_le(true)`). Any other request: -EINVAL.
  /// Sockets: SIOCGIFINDEX and SIOCGIFNAME (-ENODEV for an unknown interface); SIOCETHTOOL with
  /// ETHTOOL_GDRVINFO for TUN/TAP devices (driver "tun", version "1.6", bus "tun" or "tap", as
  /// tun_get_drvinfo; any other command or interface -EOPNOTSUPP); anything else -ENOTTY. eventfds,
  /// namespace and eBPF descriptors: -ENOTTY.
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
  /// sockets POLLOUT, and netlink sockets also POLLIN while an answer or notification is queued;
  /// namespace descriptors POLLIN|POLLOUT (as a regular file); unknown descriptors POLLNVAL;
  /// negative ones are skipped. Returns the number of entries with events.
  ///
  /// Time is simulated: when nothing is ready, a zero or positive timeout expires at once
  /// (returns 0, no sleeping). A negative timeout (wait forever) really waits until another thread
  /// makes something ready (`inject`, an eventfd write such as `TunDevice::interrupt()`,
  /// `delete_device`, `set_up`, a netlink request that notifies a subscribed socket), so blocking
  /// code can be stopped from another thread as in real life. So that a test that would hang fails
  /// instead, such a wait gives up after `set_block_limit` (default 5 s) and returns -EDEADLK,
  /// which the real poll never does.
  int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept override;
  /// A counter descriptor (EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE; other flags: -EINVAL).
  int eventfd(unsigned int initval, int flags) noexcept override;
  /// F_GETFL (access mode and status flags), F_SETFL (O_NONBLOCK, O_APPEND, O_ASYNC, O_DIRECT,
  /// O_NOATIME may change), F_GETFD / F_SETFD (FD_CLOEXEC), F_DUPFD / F_DUPFD_CLOEXEC of a
  /// namespace descriptor (other kinds: -EINVAL, not simulated); F_GETSIG / F_SETSIG (0..64,
  /// else -EINVAL, as the kernel's valid_signal); other commands -EINVAL; unknown descriptor
  /// -EBADF. Setting O_ASYNC on a TUN/TAP descriptor without an owner makes this process its
  /// owner ({F_OWNER_PID, getpid()}), as the driver's fasync does (measured: an owner set before
  /// is kept).
  int fcntl(int fd, int cmd, int arg) noexcept override;
  /// F_GETOWN_EX / F_SETOWN_EX (struct f_owner_ex): any owner id is taken except those of
  /// `set_missing_owner` (-ESRCH, as for a thread or process that does not exist); an unknown
  /// type -EINVAL; unknown descriptor -EBADF; other commands -EINVAL.
  int fcntl_ptr(int fd, int cmd, void* arg) noexcept override;
  /// An owner id that F_SETOWN_EX refuses with -ESRCH (no such thread or process).
  void set_missing_owner(pid_t id);
  /// The signals the fake would have sent for descriptor `fd`: one each time a packet is queued
  /// for reading (`inject`) while O_ASYNC is set, as kill_fasync does (never actually sent).
  [[nodiscard]] std::size_t signals_raised(int fd) const;
  /// What signal-driven I/O set on a descriptor.
  struct SignalState {
    int signal = 0;      ///< F_SETSIG (0: plain SIGIO)
    int owner_type = 0;  ///< F_GETOWN_EX's type (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP)
    pid_t owner = 0;     ///< F_GETOWN_EX's pid (0: no owner)
  };
  /// The signal and owner of `fd` (all 0 for an unknown descriptor).
  [[nodiscard]] SignalState signal_state(int fd) const;
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
  /// Moves the calling thread into the namespace of descriptor `fd` (`nstype` CLONE_NEWNET or
  /// 0): -EBADF for an unknown descriptor, -EINVAL for one that is not a namespace or another
  /// `nstype`, -EPERM without CAP_SYS_ADMIN (`set_credentials`).
  int setns(int fd, int nstype) noexcept override;
  /// What Linux 6.x answers (measured): a /dev/net/tun descriptor, attached or not, is the
  /// character device 10:200 (mode 020600); sockets S_IFSOCK|0777; a namespace descriptor
  /// S_IFREG|0444 (nsfs); an eventfd or eBPF program an anonymous inode (mode 0600, no file
  /// type). -EBADF for an unknown descriptor.
  int fstat(int fd, struct stat* st) noexcept override;
  /// SOL_SOCKET SO_TYPE of an AF_INET (SOCK_DGRAM) or netlink (SOCK_RAW) socket; -ENOTSOCK for
  /// other descriptors, -ENOPROTOOPT for other options, -EBADF for an unknown descriptor. The
  /// fake has no Unix sockets (socketpair, sendmsg and recvmsg answer -ENOSYS): the hand-over
  /// is tested over real socket pairs (tests/unit/handover_test.cpp).
  int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept override;
  /// BPF_PROG_LOAD of a BPF_PROG_TYPE_SOCKET_FILTER program with 1 to 1,000,000 instructions
  /// (read and kept: `ebpf_program_instructions`) and a license: a new program descriptor, as
  /// `add_ebpf_program` makes (the program never runs). -EINVAL for another program type, no
  /// instructions or no license; -EFAULT for a null `attr`; -EINVAL for any other command.
  /// Logged with `request` the command and `arg` the instruction count. Refusals as the kernel
  /// makes them are scripted with `fail_next(Call::bpf, EPERM)` and the like.
  long bpf(int cmd, void* attr, unsigned int size) noexcept override;

  // --- Scripting failures ---------------------------------------------------------------------

  /// The next call of kind `call` fails with `-err` (`err` a positive errno: EINTR, EPERM,
  /// EMFILE, ...) and has no effect, except `close`, which still releases the descriptor. Several
  /// scripted errors for one kind fire once each, in the order given, on consecutive calls, e.g.
  /// EINTR then success: `fail_next(Call::read, EINTR)`. For ioctl this matches any request;
  /// `fail_next_ioctl` is matched first. With `after` > 0, that many calls of the kind succeed
  /// first (counted from when this failure becomes the next one to fire), e.g. the third
  /// eventfd: `fail_next(Call::eventfd, EMFILE, 2)`.
  void fail_next(Call call, int err, std::size_t after = 0);
  /// The next ioctl with this request fails with `-err`, once (in order, per request); `after`
  /// as for `fail_next`.
  void fail_next_ioctl(unsigned long request, int err, std::size_t after = 0);
  /// Drops every scripted failure not yet fired.
  void clear_failures();

  // --- Scenario ---------------------------------------------------------------------------------

  /// The caller's identity for the driver's permission checks: attaching to an existing device
  /// whose owner (or group) is set and differs from `uid` (or is neither `gid` nor one of
  /// `groups`) fails with -EPERM unless `cap_net_admin`; creating a device (and IFF_NAPI_FRAGS)
  /// needs `cap_net_admin`. Default: uid 0, gid 0, with CAP_NET_ADMIN.
  void set_credentials(uid_t uid, gid_t gid, bool cap_net_admin, std::vector<gid_t> groups = {},
                       bool cap_sys_admin = true);
  /// The bits TUNGETFEATURES reports (default 0x7173, as Linux 6.x). TUNSETIFF does not check
  /// them (neither does the kernel).
  void set_features(unsigned features);
  /// Whether TUNGETVNETBE / TUNSETVNETBE work (a kernel built with CONFIG_TUN_VNET_CROSS_LE) or
  /// give -EINVAL (default false, as the measured 6.18 kernel).
  void set_vnet_cross_le(bool supported);
  /// How long a poll with a negative timeout waits for another thread before failing with
  /// -EDEADLK (see `poll`).
  void set_block_limit(std::chrono::milliseconds limit);
  /// Creates a persistent TUN/TAP device with no descriptor attached, as `ip tuntap add` does.
  /// `flags` may add NO_PI, MULTI_QUEUE, VNET_HDR, ... (TUN/TAP come from `mode`).
  /// @returns its ifindex. @throws std::invalid_argument if the name is taken or invalid.
  unsigned add_persistent_device(std::string_view name, Mode mode, Flags flags = {},
                                 std::optional<uid_t> owner = {}, std::optional<gid_t> group = {});
  /// Creates the network namespace NAME, which opens at "/run/netns/NAME" (like `ip netns add`).
  /// @throws std::invalid_argument if the name is empty, holds '/', or exists.
  void add_netns(std::string_view name);
  /// The namespace the calling thread is in ("": the initial one).
  [[nodiscard]] std::string current_netns() const;
  /// Creates an interface that is not a TUN/TAP device (like "lo" or "eth0"): its name is taken,
  /// it has an ifindex, TUNSETIFF on it gives -EINVAL. @returns its ifindex.
  /// @throws std::invalid_argument if the name is taken.
  unsigned add_interface(std::string_view name);
  /// A descriptor for a loaded eBPF program, as bpf(BPF_PROG_LOAD) returns, to pass to
  /// TUNSETSTEERINGEBPF / TUNSETFILTEREBPF: of type BPF_PROG_TYPE_SOCKET_FILTER, or of another
  /// type (which those refuse with -EINVAL) when `socket_filter` is false. Not a call of the seam
  /// (not logged); release it with `close`. The programs never run in the fake.
  [[nodiscard]] int add_ebpf_program(bool socket_filter = true);
  /// The program types `add_ebpf_program` can stand for.
  enum class EbpfProgramType : std::uint8_t {
    socket_filter,  ///< BPF_PROG_TYPE_SOCKET_FILTER: TUNSETSTEERINGEBPF, TUNSETFILTEREBPF
    xdp,            ///< BPF_PROG_TYPE_XDP: tunkit::Link::attach_xdp (IFLA_XDP_FD)
    other,          ///< any other type: refused by both with -EINVAL
  };
  /// A descriptor for a loaded eBPF program of type `type` (as above). Each program gets an id,
  /// as the kernel's `bpf_prog_get_info_by_fd` reports it: `ebpf_program_id`.
  [[nodiscard]] int add_ebpf_program(EbpfProgramType type);
  /// The id of the program behind descriptor `fd` from `add_ebpf_program` (0: not one).
  [[nodiscard]] std::uint32_t ebpf_program_id(int fd) const;
  /// The instructions BPF_PROG_LOAD was given for the program behind `fd` (empty for one from
  /// `add_ebpf_program`, or not a program).
  [[nodiscard]] std::vector<EbpfInstruction> ebpf_program_instructions(int fd) const;
  /// The scenario and packet functions below name devices in the calling thread's namespace
  /// first, then in any namespace (the lowest ifindex).
  ///
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
  /// round-robin over the enabled queues in the kernel's queue order (see
  /// `DeviceRecord::queue_states`; the kernel hashes flows or runs the steering program;
  /// round-robin is deterministic); disabled queues get none. Works up or down.
  /// @returns the descriptor it was queued on, or -1 when it was dropped: no queue enabled
  ///   (a persistent device nobody holds, or every queue disabled), a TAP device's active TX
  ///   filter rejects the destination address (matched as the driver does: the first eight
  ///   addresses exactly, the rest and TUN_FLT_ALLMULTI through its 64-bit multicast hash), or
  ///   that queue already holds 500 packets (tx_queue_len). Classic and eBPF filters are not run.
  ///   A drop counts in the link's tx_dropped; a queued packet counts as transmitted when it
  ///   is read, as in the tun driver.
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
  /// The TUN/TAP device `name` in namespace `netns` ("" the initial one), if it exists.
  [[nodiscard]] std::optional<DeviceRecord> device(std::string_view name,
                                                   std::string_view netns = {}) const;
  /// True when an interface `name` exists in namespace `netns` (TUN/TAP or not, e.g. "lo").
  [[nodiscard]] bool exists(std::string_view name, std::string_view netns = {}) const;
  /// The fake rtnetlink behind the NETLINK_ROUTE sockets; it learns of every TUN/TAP device
  /// created (`add_link`) and deleted (`remove_link`).
  [[nodiscard]] FakeRtnetlink& rtnetlink() noexcept;

 private:
  struct State;  // src/testing/fake_kernel/state.hpp, which also maps the concerns to files
  std::unique_ptr<State> state_;
};

/// The member's name, e.g. "ioctl".
[[nodiscard]] TUNKIT_TESTING_EXPORT std::string_view to_string(FakeKernel::Call call) noexcept;

}  // namespace tunkit::testing
