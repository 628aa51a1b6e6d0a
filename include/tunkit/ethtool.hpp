#pragma once
// tunkit::Ethtool: a device's ethtool settings over the ethtool generic-netlink family
// (kernel >= 5.6), as `ethtool -s`, `ethtool -s ... msglvl` and `ethtool -C ... rx-frames` do.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/export.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

namespace detail::netlink {
class Socket;
}  // namespace detail::netlink

/// The link's duplex as the driver reports it (DUPLEX_*).
enum class Duplex : std::uint8_t { half = 0, full = 1, unknown = 0xff };

/// What `ethtool DEV` prints about the link: speed, duplex, autonegotiation.
struct LinkSettings {
  /// Mbit/s; nullopt when the driver reports SPEED_UNKNOWN.
  std::optional<std::uint32_t> speed = std::nullopt;
  /// Half, full, or unknown (DUPLEX_UNKNOWN).
  Duplex duplex = Duplex::unknown;
  /// Whether autonegotiation is on.
  bool autoneg = false;
};

/// A change of link settings (`ethtool -s DEV speed N duplex D autoneg on|off`); fields left
/// empty are not sent, so the driver keeps them.
struct LinkSettingsChange {
  /// Mbit/s (ETHTOOL_A_LINKMODES_SPEED).
  std::optional<std::uint32_t> speed = std::nullopt;
  /// ETHTOOL_A_LINKMODES_DUPLEX.
  std::optional<Duplex> duplex = std::nullopt;
  /// ETHTOOL_A_LINKMODES_AUTONEG.
  std::optional<bool> autoneg = std::nullopt;
};

/// One interface's ethtool settings, over a NETLINK_GENERIC socket resolved to the "ethtool"
/// family (ETHTOOL_MSG_*). Every call goes through the syscall seam. Move-only, not thread-safe.
///
/// For a TUN/TAP device (drivers/net/tun.c): the link settings are only stored and reported
/// (tun stores any speed and duplex it is given; the defaults are 10 Mbit/s, full duplex, no
/// autonegotiation); the message level is `msg_enable` (only debug logging of the driver);
/// `rx_frames` is the driver's `rx_batched`.
class TUNKIT_EXPORT Ethtool {
 public:
  /// Opens a generic-netlink socket and resolves the ethtool family, for the interface with
  /// index `ifindex` (not checked until the first request).
  /// @throws tunkit::Error: ENOENT when the kernel has no ethtool netlink family (before 5.6,
  ///   or CONFIG_ETHTOOL_NETLINK off); the errno when the socket cannot be opened.
  explicit Ethtool(unsigned ifindex, sys::Syscalls& sys = sys::real());
  /// Takes over `other`'s socket; `other` is left closed (its calls give `errc::not_open`).
  Ethtool(Ethtool&& other) noexcept;
  /// Closes this socket and takes over `other`'s.
  Ethtool& operator=(Ethtool&& other) noexcept;
  Ethtool(const Ethtool&) = delete;
  Ethtool& operator=(const Ethtool&) = delete;
  /// Closes the socket; the settings stay as they are.
  ~Ethtool();

  /// The interface index the settings are for.
  [[nodiscard]] unsigned ifindex() const noexcept { return ifindex_; }

  /// Speed, duplex and autonegotiation (ETHTOOL_MSG_LINKMODES_GET).
  /// @throws tunkit::Error, e.g. ENODEV when the interface is gone.
  [[nodiscard]] LinkSettings link_settings() const;
  /// As `link_settings()`; on failure `ec` is set.
  [[nodiscard]] LinkSettings link_settings(std::error_code& ec) const noexcept;
  /// Changes the fields given (ETHTOOL_MSG_LINKMODES_SET); needs CAP_NET_ADMIN.
  /// @throws tunkit::Error whose message ends with the kernel's own text when it gave one.
  void set_link_settings(const LinkSettingsChange& change);
  /// As `set_link_settings(change)`; on failure `ec` is set.
  void set_link_settings(const LinkSettingsChange& change, std::error_code& ec) noexcept;

  /// The driver's message level, NETIF_MSG_* bits (ETHTOOL_MSG_DEBUG_GET, compact bitset).
  [[nodiscard]] std::uint32_t message_level() const;
  /// As `message_level()`; on failure `ec` is set.
  [[nodiscard]] std::uint32_t message_level(std::error_code& ec) const noexcept;
  /// Sets the message level to exactly `level` (ETHTOOL_MSG_DEBUG_SET). The kernel refuses
  /// bits beyond the NETIF_MSG_* it knows (EINVAL).
  void set_message_level(std::uint32_t level);
  /// As `set_message_level(level)`; on failure `ec` is set.
  void set_message_level(std::uint32_t level, std::error_code& ec) noexcept;

  /// The coalesce setting rx-frames (ETHTOOL_A_COALESCE_RX_MAX_FRAMES): for tun, `rx_batched`.
  ///
  /// What it affects in tun (tun_get_user → tun_rx_batched): packets are held back and handed
  /// to the stack together only while the sender says more follow (MSG_MORE), which only the
  /// in-kernel vhost-net sender does. A user process's write()/writev() never sets it, so its
  /// packets go to the stack one by one whatever this value is; XDP and IFF_NAPI paths skip it.
  /// tun caps the value at 64 (NAPI_POLL_WEIGHT) when set.
  [[nodiscard]] std::uint32_t rx_frames() const;
  /// As `rx_frames()`; on failure `ec` is set.
  [[nodiscard]] std::uint32_t rx_frames(std::error_code& ec) const noexcept;
  /// Sets rx-frames (ETHTOOL_MSG_COALESCE_SET); needs CAP_NET_ADMIN.
  /// @throws tunkit::Error
  void set_rx_frames(std::uint32_t frames);
  /// As `set_rx_frames(frames)`; on failure `ec` is set.
  void set_rx_frames(std::uint32_t frames, std::error_code& ec) noexcept;

 private:
  std::unique_ptr<detail::netlink::Socket> socket_;
  unsigned ifindex_ = 0;
  std::uint16_t family_ = 0;
};

}  // namespace tunkit
