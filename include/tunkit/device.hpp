#pragma once
/// @file
/// `tunkit::TunDevice`: one TUN or TAP interface attached through /dev/net/tun.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/sys.hpp"

namespace tunkit {

/// Layer of the interface: TUN carries IP packets, TAP carries Ethernet frames.
enum class Mode : std::uint8_t { tun, tap };

/// One interface flag as the tun driver reports it (`TUNGETIFF`) or offers it (`TUNGETFEATURES`).
/// The values are the kernel's `IFF_*` bits, so `Flags::bits()` is usable with raw ioctls.
enum class Flag : std::uint16_t {
  tun = 0x0001,          ///< IFF_TUN: layer-3 device
  tap = 0x0002,          ///< IFF_TAP: layer-2 device
  napi = 0x0010,         ///< IFF_NAPI: receive through NAPI
  napi_frags = 0x0020,   ///< IFF_NAPI_FRAGS
  no_carrier = 0x0040,   ///< IFF_NO_CARRIER: created with carrier off
  no_pi = 0x1000,        ///< IFF_NO_PI: no packet-information header
  one_queue = 0x2000,    ///< IFF_ONE_QUEUE (obsolete, ignored by the kernel)
  vnet_hdr = 0x4000,     ///< IFF_VNET_HDR: virtio-net header before each packet
  tun_excl = 0x8000,     ///< IFF_TUN_EXCL: creation fails if the device exists
  multi_queue = 0x0100,  ///< IFF_MULTI_QUEUE: one descriptor per queue
  persist = 0x0800,      ///< IFF_PERSIST: the device outlives its descriptors
};

/// A set of `Flag`s. Cheap to copy; `constexpr` throughout.
class Flags {
 public:
  constexpr Flags() noexcept = default;
  constexpr Flags(Flag f) noexcept : bits_(static_cast<std::uint16_t>(f)) {}  // NOLINT
  /// Wraps raw `IFF_*` bits as returned by the kernel.
  static constexpr Flags from_bits(std::uint16_t bits) noexcept {
    Flags f;
    f.bits_ = bits;
    return f;
  }
  /// True when every flag of `f` is set.
  [[nodiscard]] constexpr bool has(Flags f) const noexcept { return (bits_ & f.bits_) == f.bits_; }
  [[nodiscard]] constexpr std::uint16_t bits() const noexcept { return bits_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr Flags& operator|=(Flags o) noexcept {
    bits_ |= o.bits_;
    return *this;
  }
  friend constexpr Flags operator|(Flags a, Flags b) noexcept { return a |= b; }
  friend constexpr Flags operator&(Flags a, Flags b) noexcept {
    return from_bits(a.bits_ & b.bits_);
  }
  friend constexpr bool operator==(Flags, Flags) noexcept = default;

 private:
  std::uint16_t bits_ = 0;
};

constexpr Flags operator|(Flag a, Flag b) noexcept {
  return Flags(a) | Flags(b);
}

/// Human-readable list of flags, e.g. "TUN|NO_PI|PERSIST".
[[nodiscard]] std::string to_string(Flags flags);
/// "tun" or "tap".
[[nodiscard]] std::string_view to_string(Mode mode) noexcept;

/// What to open. Every field has the safe default; set only what you need.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d", .mode = tunkit::Mode::tun});
/// @endcode
struct Options {
  /// Exact name ("tun0"), a template with one "%d" ("vpn%d": the kernel picks the number), or empty
  /// (the kernel picks "tunN"/"tapN"). At most 15 bytes; '/', ':', whitespace are rejected before
  /// any syscall.
  std::string name;
  /// TUN (IP packets) or TAP (Ethernet frames).
  Mode mode = Mode::tun;
  /// Keep the kernel's 4-byte packet-information header (clears IFF_NO_PI). tunkit strips it on
  /// read (see `PacketInfo`) and builds it on write, and reports truncated reads from its
  /// TUN_PKT_STRIP bit. Off by default.
  bool packet_info = false;
  /// IFF_TUN_EXCL: fail with EBUSY instead of attaching when the device already exists.
  bool exclusive = false;
  /// IFF_MULTI_QUEUE: allow more descriptors (queues) on the same device.
  bool multi_queue = false;
  /// IFF_VNET_HDR: each packet is preceded by a virtio-net header.
  bool vnet_hdr = false;
  /// TUNSETPERSIST: the device outlives this object (delete it with `set_persist(false)`).
  bool persist = false;
  /// TUNSETOWNER: the user allowed to attach without CAP_NET_ADMIN.
  std::optional<uid_t> owner{};
  /// TUNSETGROUP: the group allowed to attach without CAP_NET_ADMIN.
  std::optional<gid_t> group{};
  /// Non-blocking I/O: `read` returns EAGAIN instead of waiting when no packet is queued.
  bool non_blocking = false;
};

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

/// Owns one /dev/net/tun descriptor attached to a TUN/TAP interface with TUNSETIFF, plus an eventfd
/// used to wake blocked readers. Move-only; the destructor closes both (the kernel deletes the
/// interface unless it persists or other queues still hold it).
///
/// One `read` is one packet and one `write` is one packet. Every I/O function has a throwing form
/// and a `std::error_code&` form that never throws. EINTR is retried internally.
///
/// Blocking and shutdown: the descriptor is always O_NONBLOCK inside; a blocking `read` (the
/// default) waits in poll(2) on the device and on the wake-up eventfd. `interrupt()`, callable from
/// any thread (and from a signal handler), makes every current and future wait and blocking I/O
/// return `tunkit::errc::interrupted` until `clear_interrupt()`. This is the supported way to stop
/// a reader thread; closing the descriptor under a reader is not.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d"});
/// std::array<std::byte, 2048> buf;
/// std::size_t n = dev.read(buf);  // one IP packet
/// dev.write(std::span(buf).first(n));
/// @endcode
class TunDevice {
 public:
  /// A closed device (`is_open() == false`); use `open(options, ec)` to attach it.
  TunDevice() noexcept = default;
  /// Opens /dev/net/tun and attaches with TUNSETIFF.
  /// @throws tunkit::Error naming the operation, the device and the cause.
  explicit TunDevice(const Options& options, sys::Syscalls& sys = sys::real());
  TunDevice(TunDevice&& other) noexcept;
  TunDevice& operator=(TunDevice&& other) noexcept;
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;
  ~TunDevice();

  /// Opens and attaches; on failure `ec` is set, nothing is left open, and no device the call
  /// created is left behind.
  void open(const Options& options, std::error_code& ec, sys::Syscalls& sys = sys::real());
  /// Throwing form of `open`.
  void open(const Options& options, sys::Syscalls& sys = sys::real());
  /// Closes the descriptors (never retried on EINTR). Idempotent.
  void close() noexcept;
  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }

  /// The kernel-assigned interface name (templates resolved).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The interface index, looked up when the device was opened.
  [[nodiscard]] unsigned ifindex() const noexcept { return ifindex_; }
  [[nodiscard]] Mode mode() const noexcept { return mode_; }
  /// Flags as the kernel reports them now (TUNGETIFF), e.g. with `Flag::persist`.
  [[nodiscard]] Flags flags() const;
  [[nodiscard]] Flags flags(std::error_code& ec) const noexcept;
  /// The /dev/net/tun descriptor (O_NONBLOCK, O_CLOEXEC). Still owned by this object.
  [[nodiscard]] int native_handle() const noexcept { return fd_; }
  /// Gives up ownership of the descriptor and returns it; the object becomes closed. The caller
  /// must close it. The descriptor stays O_NONBLOCK.
  [[nodiscard]] int release() noexcept;

  /// TUNSETPERSIST: keep the device after the last descriptor closes (true) or delete it then.
  void set_persist(bool on);
  void set_persist(bool on, std::error_code& ec) noexcept;

  /// Reads one packet into `buf`; returns its length. A packet longer than `buf` is reported
  /// as `errc::packet_truncated` (its head stays in `buf`, the tail is lost).
  [[nodiscard]] std::size_t read(std::span<std::byte> buf);
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, std::error_code& ec) noexcept;
  /// As `read`, also returning the packet-information header (only with `Options::packet_info`;
  /// otherwise `info.protocol` is derived from the IP version for TUN and 0 for TAP).
  [[nodiscard]] std::size_t read(std::span<std::byte> buf, PacketInfo& info,
                                 std::error_code& ec) noexcept;
  /// Writes one packet; returns the number of bytes written (its whole length).
  std::size_t write(std::span<const std::byte> packet);
  std::size_t write(std::span<const std::byte> packet, std::error_code& ec) noexcept;
  /// Scatter read of one packet over several buffers; returns the packet length.
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs);
  [[nodiscard]] std::size_t readv(std::span<const std::span<std::byte>> bufs,
                                  std::error_code& ec) noexcept;
  /// Gather write of one packet from several buffers; returns the bytes written.
  std::size_t writev(std::span<const std::span<const std::byte>> bufs);
  std::size_t writev(std::span<const std::span<const std::byte>> bufs,
                     std::error_code& ec) noexcept;
  /// The most buffers `readv`/`writev` accept in one call.
  static constexpr std::size_t max_buffers = 64;

  /// Waits until a packet can be read, the timeout passes, or `interrupt()` is called. A negative
  /// timeout waits forever.
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout);
  [[nodiscard]] WaitResult wait_readable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept;
  /// Waits until a write would not block.
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout);
  [[nodiscard]] WaitResult wait_writable(std::chrono::milliseconds timeout,
                                         std::error_code& ec) noexcept;
  /// Wakes every thread blocked in this device's waits or blocking I/O; they return
  /// `errc::interrupted`, as do later ones until `clear_interrupt()`. Thread- and
  /// async-signal-safe; does nothing on a closed device.
  void interrupt() noexcept;
  /// Ends the effect of `interrupt()`.
  void clear_interrupt() noexcept;

  /// Probes the running kernel: the flags /dev/net/tun accepts (TUNGETFEATURES).
  [[nodiscard]] static Flags features(sys::Syscalls& sys = sys::real());
  [[nodiscard]] static Flags features(std::error_code& ec,
                                      sys::Syscalls& sys = sys::real()) noexcept;

 private:
  enum class Dir : std::uint8_t { in, out };
  std::error_code open_impl(const Options& options, sys::Syscalls& sys, std::string* what) noexcept;
  std::size_t transfer(Dir dir, iovec* iov, int iovcnt, std::error_code& ec) noexcept;
  std::size_t read_packet(std::span<const std::span<std::byte>> bufs, PacketInfo& info,
                          std::error_code& ec) noexcept;
  std::size_t write_packet(std::span<const std::span<const std::byte>> bufs,
                           std::error_code& ec) noexcept;
  WaitResult wait(short events, int timeout_ms, std::error_code& ec) noexcept;
  [[noreturn]] void throw_io(const char* op, std::error_code ec) const;

  sys::Syscalls* sys_ = &sys::real();
  int fd_ = -1;
  int wake_fd_ = -1;
  unsigned ifindex_ = 0;
  Mode mode_ = Mode::tun;
  bool packet_info_ = false;
  bool non_blocking_ = false;
  std::string name_;
};

}  // namespace tunkit
