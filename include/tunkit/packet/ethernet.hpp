#pragma once
/// @file
/// Ethernet II frames: `EtherType`, `VlanTag`, `EthernetView` and `MutableEthernetView`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"

namespace tunkit {

/// EtherType values tunkit knows by name.
enum class EtherType : std::uint16_t {
  ipv4 = 0x0800,  ///< IPv4
  arp = 0x0806,   ///< ARP
  vlan = 0x8100,  ///< IEEE 802.1Q VLAN tag
  qinq = 0x88A8,  ///< IEEE 802.1ad service VLAN tag
  ipv6 = 0x86DD,  ///< IPv6
};

/// An IEEE 802.1Q tag (the 16 bits after the TPID).
struct VlanTag {
  std::uint16_t tpid = 0x8100;  ///< 0x8100 (802.1Q) or 0x88A8 (802.1ad)
  std::uint8_t priority = 0;    ///< PCP, 0..7
  bool drop_eligible = false;   ///< DEI
  std::uint16_t id = 0;         ///< VID, 0..4095
  /// Equal when every field is.
  friend constexpr bool operator==(const VlanTag&, const VlanTag&) noexcept = default;
};

/// An Ethernet II frame, with at most one VLAN tag (802.1Q or 802.1ad) before the EtherType.
///
/// @code
/// auto eth = tunkit::EthernetView::parse(frame);
/// if (eth && eth->ethertype() == 0x0806) handle_arp(eth->payload());
/// @endcode
class TUNKIT_EXPORT EthernetView {
 public:
  /// Validates the 14-byte header (18 with a VLAN tag).
  static ParseResult<EthernetView> parse(std::span<const std::byte> frame) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(EthernetView);

  /// Destination MAC address.
  [[nodiscard]] MacAddress dst() const noexcept { return detail::load_mac(bytes_.data()); }
  /// Source MAC address.
  [[nodiscard]] MacAddress src() const noexcept { return detail::load_mac(bytes_.data() + 6); }
  /// The EtherType of the payload (after the VLAN tag when there is one).
  [[nodiscard]] std::uint16_t ethertype() const noexcept {
    return detail::load16(bytes_.data() + header_length() - 2);
  }
  /// The VLAN tag, if the frame has one.
  [[nodiscard]] std::optional<VlanTag> vlan() const noexcept;
  /// 14, or 18 with a VLAN tag.
  [[nodiscard]] std::size_t header_length() const noexcept { return tagged_ ? 18 : 14; }
  /// The bytes after the header (padding included).
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The whole frame.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  EthernetView(std::span<const std::byte> bytes, bool tagged) noexcept
      : bytes_(bytes), tagged_(tagged) {}

 private:
  std::span<const std::byte> bytes_;
  bool tagged_ = false;
};

/// An Ethernet frame that can be edited in place.
class TUNKIT_EXPORT MutableEthernetView : public EthernetView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableEthernetView> parse(std::span<std::byte> frame) noexcept;
  /// Writes the destination MAC address.
  void set_dst(const MacAddress& mac) noexcept { detail::store_mac(data_, mac); }
  /// Writes the source MAC address.
  void set_src(const MacAddress& mac) noexcept { detail::store_mac(data_ + 6, mac); }

 private:
  MutableEthernetView(const EthernetView& v, std::byte* data) noexcept
      : EthernetView(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
