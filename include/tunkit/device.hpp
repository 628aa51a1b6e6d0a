#pragma once
/// @file
/// `tunkit::TunDevice`: a TUN or TAP interface, its queues, and the device-wide TUN ioctls.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/options.hpp"
#include "tunkit/queue.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

namespace detail {
class WakeTable;
struct AdoptFailure;
}  // namespace detail

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
struct BpfInstruction {
  std::uint16_t code = 0;  ///< opcode (BPF_LD | BPF_H | BPF_ABS, ...; <linux/filter.h>)
  std::uint8_t jt = 0;     ///< jump offset when true
  std::uint8_t jf = 0;     ///< jump offset when false
  std::uint32_t k = 0;     ///< generic field (constant, offset, ...)
  /// Equal when every field is.
  friend constexpr bool operator==(const BpfInstruction&, const BpfInstruction&) noexcept = default;
};

/// Owns a TUN/TAP interface's queues (one /dev/net/tun descriptor each, `Options::queues` of
/// them) and offers the device-wide TUN ioctls. Move-only. The destructor closes every queue; the
/// kernel then deletes the interface unless it persists or other processes hold queues of it.
///
/// The packet I/O of the first queue is available directly (`read`, `write`, ...); with several
/// queues, hand `queue(i)` to one thread each. Queues live as long as the device and keep their
/// addresses when queues are added.
///
/// Lifetime (measured on Linux 6.x, tests/netns/lifetime_netns_test.cpp):
/// - The interface deleted under the device (`ip link del`): every blocked and later read or
///   write fails with EBADFD, reported as "device removed or not attached (the interface was
///   deleted)"; device-wide calls fail alike. Close the object; nothing else is needed.
/// - The device's network namespace losing its last process (a `NetNsSandbox` ending, `ip netns
///   del`): the descriptors keep the namespace, and the device in it, alive. Reads keep waiting,
///   writes go to that namespace's stack, `open_netns()` still returns it; the interface is not
///   visible from other namespaces. Closing the last descriptor deletes the device and frees the
///   namespace.
/// - Stopping readers: `interrupt()` from any thread, join them, then `close()` (or destroy).
///   Closing while another thread is blocked on a queue is not supported.
///
/// Threads (each guarantee has a ThreadSanitizer test, tests/unit/thread_safety_test.cpp): the
/// queues' I/O runs on as many threads as there are queues, one thread per queue. While it runs,
/// any one thread may make the device-wide calls (settings, `add_queue`, the virtio-net header:
/// queues use a new header from their next write) and enable or disable queues; `interrupt()`
/// may be called from any thread and from signal handlers, also while `add_queue()` or `close()`
/// runs. `open`, `close`, moves and destruction are not concurrent with any other use.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d"});
/// std::array<std::byte, 2048> buf;
/// std::size_t n = dev.read(buf);  // one IP packet
/// dev.write(std::span(buf).first(n));
/// @endcode
class TUNKIT_EXPORT TunDevice {
 public:
  /// A closed device (`is_open() == false`); use `open(options, ec)` to attach it.
  TunDevice() noexcept;
  /// Opens `options.queues` queues and applies owner, group and persist (persist last).
  /// @throws tunkit::Error naming the operation, the device and the cause.
  explicit TunDevice(const Options& options, sys::Syscalls& sys = sys::real());
  /// `TunDevice dev({})` opens a device with the default `Options` (a TUN device named by the
  /// kernel, "tun0" or the next free number), as `TunDevice dev(tunkit::Options{})` does: without
  /// this overload `{}` would match the move constructor as well. Also `TunDevice dev{options}`.
  /// @throws tunkit::Error as above; EINVAL when given more than one `Options`.
  explicit TunDevice(std::initializer_list<Options> options, sys::Syscalls& sys = sys::real());
  /// Takes over `other`'s queues; `other` is left closed. Queue references stay valid.
  TunDevice(TunDevice&& other) noexcept;
  /// Closes this device's queues and takes over `other`'s; `other` is left closed.
  TunDevice& operator=(TunDevice&& other) noexcept;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;
  /// Closes every queue.
  ~TunDevice();

  /// Takes over `fds`, the queues of one TUN/TAP device that someone else opened and attached
  /// (see `Queue::adopt` for what is read from the kernel and what the descriptors get; several
  /// only for a multi-queue device). Each queue gets its own wake-up, so `interrupt()` works as
  /// on a device tunkit opened; `add_queue()` attaches more with the device's flags (permitted
  /// to its owner or group, or with CAP_NET_ADMIN). On success the device owns every descriptor;
  /// on failure none is closed or changed. Give each queue once: two copies of one queue (dup)
  /// cannot be told apart from two queues, and would read one queue's packets twice as fast.
  /// @throws tunkit::Error naming the descriptor: as `Queue::adopt`; EINVAL for an empty list,
  ///   a number given twice, descriptors of different devices, several of a device without
  ///   multi-queue; E2BIG past `max_queues`.
  [[nodiscard]] static TunDevice adopt(std::span<const int> fds, const AdoptOptions& adopt = {},
                                       sys::Syscalls& sys = sys::real());
  /// Non-throwing form: on failure `ec` is set, the result is closed and the descriptors are left
  /// as they were.
  [[nodiscard]] static TunDevice adopt(std::span<const int> fds, std::error_code& ec,
                                       const AdoptOptions& adopt = {},
                                       sys::Syscalls& sys = sys::real()) noexcept;
  /// `adopt` of one descriptor.
  [[nodiscard]] static TunDevice adopt(int fd, const AdoptOptions& adopt = {},
                                       sys::Syscalls& sys = sys::real()) {
    return TunDevice::adopt(std::span(&fd, 1), adopt, sys);
  }
  /// Non-throwing `adopt` of one descriptor.
  [[nodiscard]] static TunDevice adopt(int fd, std::error_code& ec, const AdoptOptions& adopt = {},
                                       sys::Syscalls& sys = sys::real()) noexcept {
    return TunDevice::adopt(std::span(&fd, 1), ec, adopt, sys);
  }

  /// Adopts the queues this process was started with under the `LISTEN_FDS` convention
  /// (`tunkit run`, or a systemd unit passing them; tunkit/handover.hpp): the descriptors from 3
  /// on that `LISTEN_FDS` counts, when `LISTEN_PID` is this process, those named `adopt.name` in
  /// `LISTEN_FDNAMES` when a name is given. Once they are adopted the three variables are
  /// removed from the environment, so that children do not see them (when some descriptors were
  /// left for others, the variables stay). Returns a closed device when nothing was passed to
  /// this process (no `LISTEN_PID`, or another process's): the caller may then open its own.
  /// Changes the environment: call it before starting threads.
  /// @throws tunkit::Error: EINVAL for malformed variables, ENOENT when no passed descriptor
  ///   has the name asked for, and the errors of `adopt` (which then leaves the descriptors
  ///   and the variables as they were).
  [[nodiscard]] static TunDevice from_environment(const AdoptOptions& adopt = {},
                                                  sys::Syscalls& sys = sys::real());

  /// Opens and attaches; on failure `ec` is set, nothing is left open, and no device the call
  /// created is left behind.
  void open(const Options& options, std::error_code& ec, sys::Syscalls& sys = sys::real());
  /// Throwing form of `open`.
  void open(const Options& options, sys::Syscalls& sys = sys::real());
  /// Closes every queue. Idempotent. Not to be called while other threads use the queues
  /// (a blocked read is not woken by close(2), and the descriptor number may be reused by the
  /// next open): call `interrupt()`, join the readers, then close.
  void close() noexcept;
  /// True while the device holds its queues.
  [[nodiscard]] bool is_open() const noexcept { return first_.is_open(); }

  /// The kernel-assigned interface name (templates resolved).
  [[nodiscard]] const std::string& name() const noexcept { return first_.name(); }
  /// The interface index, looked up when the device was opened.
  [[nodiscard]] unsigned ifindex() const noexcept { return first_.ifindex(); }
  /// TUN or TAP.
  [[nodiscard]] Mode mode() const noexcept { return first_.mode(); }
  /// The device's flags as the kernel reports them now (TUNGETIFF on the first queue), e.g. with
  /// `Flag::persist`; without `Flag::detach_queue`, which is a queue's (`Queue::flags()`).
  /// @throws tunkit::Error
  [[nodiscard]] Flags flags() const { return first_.flags() - Flags(Flag::detach_queue); }
  /// Non-throwing form: on failure `ec` is set and the result is empty.
  [[nodiscard]] Flags flags(std::error_code& ec) const noexcept {
    return first_.flags(ec) - Flags(Flag::detach_queue);
  }
  /// The first queue's descriptor. Still owned by this object.
  [[nodiscard]] int native_handle() const noexcept { return first_.native_handle(); }
  /// Gives up the first queue's descriptor (the other queues are closed); the caller must close
  /// it. The object becomes closed.
  [[nodiscard]] int release() noexcept;

  // -- queues ---------------------------------------------------------------------------------
  /// Number of queues this object holds.
  [[nodiscard]] std::size_t queue_count() const noexcept {
    return first_.is_open() ? 1 + more_.size() : 0;
  }
  /// Queue `i` (0 <= i < queue_count()); the reference stays valid while the device lives.
  [[nodiscard]] Queue& queue(std::size_t i) noexcept { return i == 0 ? first_ : more_[i - 1]; }
  /// Queue `i` (0 <= i < queue_count()), read-only.
  [[nodiscard]] const Queue& queue(std::size_t i) const noexcept {
    return i == 0 ? first_ : more_[i - 1];
  }
  /// Attaches one more queue (multi-queue devices only) and returns it.
  /// @throws tunkit::Error naming the step that failed; before any syscall EINVAL when the
  ///   device was opened without multi-queue and E2BIG at 256 queues; E2BIG from the kernel too
  ///   when other descriptors hold the rest. The `ec` form returns null and leaves nothing open.
  Queue& add_queue();
  /// Non-throwing form: on failure `ec` is set and the result is null.
  Queue* add_queue(std::error_code& ec) noexcept;
  /// Interrupts every queue (see `Queue::interrupt`: a blocked or later wait returns
  /// `errc::interrupted`; a packet already queued is still returned by `read`, which only
  /// reports the interrupt when it would have to wait). Thread- and async-signal-safe, also while
  /// another thread adds queues or closes the device (it never writes to a closed descriptor);
  /// does nothing on a closed device.
  void interrupt() noexcept;
  /// Ends the effect of `interrupt()` on every queue.
  void clear_interrupt() noexcept;

  // -- packet I/O on the first queue (see `Queue`) ---------------------------------------------
  /// `Queue::read` on the first queue: one packet. @throws tunkit::Error
  [[nodiscard]] std::size_t read(std::span<std::byte> buf) { return first_.read(buf); }
  /// `Queue::read` on the first queue, non-throwing.
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, std::error_code& ec) noexcept {
    return first_.read(buf, ec);
  }
  /// `Queue::read` on the first queue, with the packet-information header. @throws tunkit::Error
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, PacketInfo& info) {
    return first_.read(buf, info);
  }
  /// `Queue::read` on the first queue, non-throwing, with the packet-information header.
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, PacketInfo& info,
                                 std::error_code& ec) noexcept {
    return first_.read(buf, info, ec);
  }
  /// `Queue::write` on the first queue: one packet. @throws tunkit::Error
  std::size_t write(std::span<const std::byte> packet) { return first_.write(packet); }
  /// `Queue::write` on the first queue, non-throwing.
  std::size_t write(std::span<const std::byte> packet, std::error_code& ec) noexcept {
    return first_.write(packet, ec);
  }
  /// `Queue::readv` on the first queue. @throws tunkit::Error
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs) {
    return first_.readv(bufs);
  }
  /// `Queue::readv` on the first queue, non-throwing.
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs,
                                  std::error_code& ec) noexcept {
    return first_.readv(bufs, ec);
  }
  /// `Queue::writev` on the first queue. @throws tunkit::Error
  std::size_t writev(std::span<const std::span<const std::byte>> bufs) {
    return first_.writev(bufs);
  }
  /// `Queue::writev` on the first queue, non-throwing.
  std::size_t writev(std::span<const std::span<const std::byte>> bufs,
                     std::error_code& ec) noexcept {
    return first_.writev(bufs, ec);
  }
  /// The most buffers `readv`/`writev` accept in one call (`Queue::max_buffers`).
  static constexpr std::size_t max_buffers = Queue::max_buffers;
  /// `Queue::wait_readable` on the first queue. @throws tunkit::Error
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout) {
    return first_.wait_readable(timeout);
  }
  /// `Queue::wait_readable` on the first queue, non-throwing.
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept {
    return first_.wait_readable(timeout, ec);
  }
  /// `Queue::wait_writable` on the first queue. @throws tunkit::Error
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout) {
    return first_.wait_writable(timeout);
  }
  /// `Queue::wait_writable` on the first queue, non-throwing.
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept {
    return first_.wait_writable(timeout, ec);
  }

  // -- device-wide settings (issued on an enabled queue) --------------------------------------
  /// TUNSETPERSIST: keep the device after the last descriptor closes (true) or delete it then.
  void set_persist(bool on);
  /// Non-throwing form: on failure `ec` is set.
  void set_persist(bool on, std::error_code& ec) noexcept;
  /// TUNSETOWNER: the user who may attach without CAP_NET_ADMIN.
  void set_owner(uid_t uid);
  /// Non-throwing form: on failure `ec` is set.
  void set_owner(uid_t uid, std::error_code& ec) noexcept;
  /// TUNSETGROUP: the group whose members may attach without CAP_NET_ADMIN.
  void set_group(gid_t gid);
  /// Non-throwing form: on failure `ec` is set.
  void set_group(gid_t gid, std::error_code& ec) noexcept;
  /// TUNGETSNDBUF: the send buffer limit in bytes (INT_MAX by default: unlimited) of the queue
  /// device-wide calls go through (the first enabled one): the kernel keeps one per queue.
  [[nodiscard]] int send_buffer() const;
  /// Non-throwing form: on failure `ec` is set and the result is 0.
  [[nodiscard]] int send_buffer(std::error_code& ec) const noexcept;
  /// TUNSETSNDBUF (bytes > 0): limits how much written data may be queued in the kernel. The
  /// kernel applies it to the queues enabled now; queues added later start unlimited, and
  /// disabled ones keep theirs.
  void set_send_buffer(int bytes);
  /// Non-throwing form: on failure `ec` is set.
  void set_send_buffer(int bytes, std::error_code& ec) noexcept;
  /// TUNSETTXFILTER (TAP only): deliver to the queues only frames whose destination is one of
  /// `macs` or, with `all_multicast`, any multicast address. `clear_tx_filter` removes it, as
  /// does an empty `macs` without `all_multicast`. The kernel matches eight addresses exactly
  /// and the other (multicast) ones through a 64-bit hash, which lets some other multicast
  /// frames through; tunkit passes unicast addresses first, and more than eight of them is
  /// EINVAL before any syscall.
  void set_tx_filter(std::span<const MacAddress> macs, bool all_multicast = false);
  /// Non-throwing form: on failure `ec` is set.
  void set_tx_filter(std::span<const MacAddress> macs, bool all_multicast,
                     std::error_code& ec) noexcept;
  /// Removes the TX filter: every frame is delivered.
  void clear_tx_filter();
  /// Non-throwing form: on failure `ec` is set.
  void clear_tx_filter(std::error_code& ec) noexcept;
  /// TUNATTACHFILTER (TAP only): a classic BPF program run on every frame before it is queued
  /// for reading, on all queues; frames it returns 0 for are dropped.
  void attach_filter(std::span<const BpfInstruction> program);
  /// Non-throwing form: on failure `ec` is set.
  void attach_filter(std::span<const BpfInstruction> program, std::error_code& ec) noexcept;
  /// TUNDETACHFILTER.
  void detach_filter();
  /// Non-throwing form: on failure `ec` is set.
  void detach_filter(std::error_code& ec) noexcept;
  /// TUNGETFILTER: the number of instructions of the program most recently attached, 0 when none
  /// ever was (and always 0 on a TUN device). The kernel keeps reporting a program's length after
  /// TUNDETACHFILTER, so this is not a test for "attached now".
  [[nodiscard]] std::size_t filter_size() const;
  /// Non-throwing form: on failure `ec` is set and the result is 0.
  [[nodiscard]] std::size_t filter_size(std::error_code& ec) const noexcept;
  /// TUNSETSTEERINGEBPF: an eBPF program (a descriptor you loaded, of type
  /// BPF_PROG_TYPE_SOCKET_FILTER) that picks the queue for each packet; -1 detaches.
  void set_steering_ebpf(int program_fd);
  /// Non-throwing form: on failure `ec` is set.
  void set_steering_ebpf(int program_fd, std::error_code& ec) noexcept;
  /// TUNSETFILTEREBPF: an eBPF filter program (BPF_PROG_TYPE_SOCKET_FILTER) for all queues, on
  /// TUN and TAP devices; -1 detaches. `EbpfFilter::load` (tunkit/ebpf.hpp) makes one from a
  /// classic program. The program stays with the device until replaced or detached, also when
  /// this queue closes; the kernel cannot be asked which one is attached.
  void set_filter_ebpf(int program_fd);
  /// Non-throwing form: on failure `ec` is set.
  void set_filter_ebpf(int program_fd, std::error_code& ec) noexcept;
  /// TUNSETCARRIER: carrier on or off (off shows NO-CARRIER and stops transmission to it).
  /// Turning it on needs an enabled queue (EPERM otherwise).
  void set_carrier(bool on);
  /// Non-throwing form: on failure `ec` is set.
  void set_carrier(bool on, std::error_code& ec) noexcept;
  /// TUNSETLINK: the link-layer type (an ARPHRD_* value). The link must be down (EBUSY).
  void set_link_type(std::uint16_t arphrd);
  /// Non-throwing form: on failure `ec` is set.
  void set_link_type(std::uint16_t arphrd, std::error_code& ec) noexcept;
  /// TUNGETDEVNETNS: a new descriptor of the network namespace the device is in (needs
  /// CAP_NET_ADMIN there). The caller owns and must close it.
  [[nodiscard]] int open_netns() const;
  /// Non-throwing form: on failure `ec` is set and the result is -1.
  [[nodiscard]] int open_netns(std::error_code& ec) const noexcept;
  /// TUNGETVNETHDRSZ: the virtio-net header size in bytes (10 by default).
  [[nodiscard]] int vnet_header_size() const;
  /// Non-throwing form: on failure `ec` is set and the result is 0.
  [[nodiscard]] int vnet_header_size(std::error_code& ec) const noexcept;
  /// TUNSETVNETHDRSZ: 10, 12 or more (EINVAL below 10).
  void set_vnet_header_size(int bytes);
  /// Non-throwing form: on failure `ec` is set.
  void set_vnet_header_size(int bytes, std::error_code& ec) noexcept;
  /// TUNGETVNETLE: whether the virtio-net header is little-endian (virtio 1.0).
  [[nodiscard]] bool vnet_little_endian() const;
  /// Non-throwing form: on failure `ec` is set and the result is false.
  [[nodiscard]] bool vnet_little_endian(std::error_code& ec) const noexcept;
  /// TUNSETVNETLE.
  void set_vnet_little_endian(bool on);
  /// Non-throwing form: on failure `ec` is set.
  void set_vnet_little_endian(bool on, std::error_code& ec) noexcept;
  /// TUNGETVNETBE: whether the header is big-endian (legacy virtio on a little-endian host;
  /// EINVAL from kernels built without CONFIG_TUN_VNET_CROSS_LE).
  [[nodiscard]] bool vnet_big_endian() const;
  /// Non-throwing form: on failure `ec` is set and the result is false.
  [[nodiscard]] bool vnet_big_endian(std::error_code& ec) const noexcept;
  /// TUNSETVNETBE.
  void set_vnet_big_endian(bool on);
  /// Non-throwing form: on failure `ec` is set.
  void set_vnet_big_endian(bool on, std::error_code& ec) noexcept;

  /// TUNSETOFFLOAD: what the kernel may hand this device's readers unsegmented (TSO/USO
  /// super-packets) or with a partial checksum; needs a device with `Options::vnet_hdr` unless
  /// `wanted` is empty. Combinations the kernel never accepts are rejected with EINVAL and a
  /// message saying why (every flag needs `csum`; `tso_ecn` needs TSO; `uso4` and `uso6` go
  /// together; the UDP-tunnel flags need TSO or USO). Flags too new for the running kernel are
  /// dropped, newest first, until it accepts: the result is what was granted.
  Offloads set_offloads(Offloads wanted);
  /// Non-throwing form: on failure `ec` is set and the result is none.
  Offloads set_offloads(Offloads wanted, std::error_code& ec) noexcept;
  /// The offloads granted by the last `set_offloads` (or at open). None when this object never
  /// set them: the device may still have the offloads its other users set (the kernel has no
  /// call that reads them back).
  [[nodiscard]] Offloads offloads() const noexcept { return offloads_; }

  /// Probes the running kernel: the flags /dev/net/tun accepts (TUNGETFEATURES).
  /// @throws tunkit::Error (with a hint when /dev/net/tun is missing or not accessible).
  [[nodiscard]] static Flags features(sys::Syscalls& sys = sys::real());
  /// Non-throwing form: on failure `ec` is set and the result is empty.
  [[nodiscard]] static Flags features(std::error_code& ec,
                                      sys::Syscalls& sys = sys::real()) noexcept;

 private:
  // Leaves what was opened so far open on failure: the caller closes after making the message.
  detail::Failure open_impl(const Options& options, sys::Syscalls& sys) noexcept;
  // Adopts `fds` into this closed device; on failure nothing of the caller's is closed or changed
  // and `out` says which descriptor failed and why.
  bool adopt_impl(std::span<const int> fds, const AdoptOptions& adopt, sys::Syscalls& sys,
                  detail::AdoptFailure& out) noexcept;
  // Attaches one more queue at the back of more_.
  detail::Failure add_queue_impl() noexcept;
  // Gives every queue the device's virtio-net header.
  void apply_vnet() noexcept;
  // The descriptor for device-wide ioctls: the first enabled queue, else the first queue, or -1.
  [[nodiscard]] int control_fd() const noexcept;
  std::error_code ioctl_ptr(unsigned long request, void* arg) const noexcept;
  std::error_code ioctl_value(unsigned long request, unsigned long value) const noexcept;
  [[noreturn]] void fail(std::error_code ec, const char* op, std::string_view hint = {}) const;

  Queue first_;
  std::deque<Queue> more_;   // a deque: references to queues stay valid when queues are added
  Options options_;          // as opened; used to attach more queues alike
  Offloads offloads_{};      // granted by TUNSETOFFLOAD
  detail::VnetConfig vnet_;  // the virtio-net header its queues frame packets with
  // The queues' wake-up eventfds, for interrupt() (allocated at the first open).
  std::unique_ptr<detail::WakeTable> wake_;
};

}  // namespace tunkit
