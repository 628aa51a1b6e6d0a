#pragma once
// tunkit::Ethtool: a device's ethtool settings over the ethtool generic-netlink family
// (kernel >= 5.6), as `ethtool -i`, `-s`, `-k/-K`, `-s ... msglvl` and `-C ... rx-frames` do.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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

/// What `ethtool -i DEV` prints (ETHTOOL_GDRVINFO). For TUN and TAP devices the driver is
/// "tun" and the bus "tun" or "tap" (tun_get_drvinfo).
struct DriverInfo {
  std::string driver;            ///< the driver's name ("tun")
  std::string version;           ///< the driver's version ("1.6")
  std::string firmware_version;  ///< empty for tun
  std::string bus_info;          ///< "tun" or "tap" for tun devices
};

/// One device feature as `ethtool -k DEV` shows it (ETHTOOL_MSG_FEATURES_GET).
struct Feature {
  /// The kernel's name of the feature, e.g. "tx-tcp-segmentation", "rx-gro".
  std::string name;
  /// In effect now (`on` in `ethtool -k`).
  bool active = false;
  /// Asked for: differs from `active` when the device cannot have it now (`[requested on]`).
  /// For a TUN/TAP device the offloads (tx-checksum-ip-generic, tx-tcp-segmentation,
  /// tx-udp-segmentation, ...) are active only while the program reading the device offers
  /// them (TUNSETOFFLOAD, `TunDevice::set_offloads`); asked for here without that, they stay
  /// requested but off. And TUNSETOFFLOAD rewrites the requested state of those features to
  /// what it offers (tun_set_offload): a reader that offers them again undoes a change made
  /// here (measured on Linux 6.18).
  bool requested = false;
  /// The driver does not let it change (`[fixed]`).
  bool fixed = false;
};

/// One change of `set_features`: the kernel's name of a feature, or one of ethtool's group
/// names, which change every changeable feature of the group: "tx-checksumming" (or "tx"),
/// "scatter-gather" ("sg"), "tcp-segmentation-offload" ("tso"),
/// "generic-segmentation-offload" ("gso"), "generic-receive-offload" ("gro").
struct FeatureChange {
  std::string name;  ///< the feature or group
  bool on = false;   ///< turn it on (true) or off
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
  /// The interface named `name`, looked up once (then followed by index, as `Link`).
  /// @throws tunkit::Error: `errc::link_not_found` when there is no such interface; as the
  ///   constructor.
  [[nodiscard]] static Ethtool from_name(std::string_view name, sys::Syscalls& sys = sys::real());
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

  /// The driver's name and version and the bus (ETHTOOL_GDRVINFO through SIOCETHTOOL on an
  /// AF_INET socket: the netlink family has no message for it).
  /// @throws tunkit::Error, e.g. ENODEV when the interface is gone.
  [[nodiscard]] DriverInfo driver_info() const;
  /// As `driver_info()`; on failure `ec` is set.
  [[nodiscard]] DriverInfo driver_info(std::error_code& ec) const;

  /// Speed, duplex and autonegotiation (ETHTOOL_MSG_LINKMODES_GET).
  /// @throws tunkit::Error, e.g. ENODEV when the interface is gone.
  [[nodiscard]] LinkSettings link_settings() const;
  /// As `link_settings()`; on failure `ec` is set.
  [[nodiscard]] LinkSettings link_settings(std::error_code& ec) const noexcept;
  /// Changes the fields given (ETHTOOL_MSG_LINKMODES_SET); needs CAP_NET_ADMIN. A speed of 0
  /// is read back as unknown (nullopt), as drivers report SPEED_UNKNOWN.
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

  /// The device's features: every feature the kernel names, in its order, as `ethtool -k`
  /// lists them.
  /// @throws tunkit::Error
  [[nodiscard]] std::vector<Feature> features() const;
  /// As `features()`; on failure `ec` is set.
  [[nodiscard]] std::vector<Feature> features(std::error_code& ec) const;
  /// Turns features on or off in one request (ETHTOOL_MSG_FEATURES_SET, only the named ones
  /// change); needs CAP_NET_ADMIN. Returns the state, read back afterwards, of each feature the
  /// changes named (a group's changeable members): a feature asked for that the device cannot
  /// have now is `requested` but not `active` (for a TUN offload: until the reader offers it).
  /// Refused before anything changes: a name the kernel does not know
  /// (`errc::unknown_feature`), a fixed feature asked to change, or a group with no changeable
  /// member (`errc::feature_fixed`).
  /// @throws tunkit::Error naming the feature
  std::vector<Feature> set_features(std::span<const FeatureChange> changes);
  /// As `set_features(changes)`; on failure `ec` is set and nothing is returned.
  std::vector<Feature> set_features(std::span<const FeatureChange> changes, std::error_code& ec);

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
  std::vector<Feature> change_features(std::span<const FeatureChange> changes, std::error_code& ec,
                                       std::string& bad);

  std::unique_ptr<detail::netlink::Socket> socket_;
  sys::Syscalls* sys_ = nullptr;
  unsigned ifindex_ = 0;
  std::uint16_t family_ = 0;
};

}  // namespace tunkit
