#pragma once
/// @file
/// UDP datagrams (RFC 768): `UdpView` and `MutableUdpView`.

#include <cstddef>
#include <cstdint>
#include <span>

#include "tunkit/export.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"

namespace tunkit {

/// A UDP datagram (RFC 768). Validated: 8 bytes, length field between 8 and the buffer size;
/// bytes after the length are not part of the view.
class TUNKIT_EXPORT UdpView {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<UdpView> parse(std::span<const std::byte> datagram) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(UdpView);

  /// Source port.
  [[nodiscard]] std::uint16_t src_port() const noexcept { return detail::load16(bytes_.data()); }
  /// Destination port.
  [[nodiscard]] std::uint16_t dst_port() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// The length field: header plus payload.
  [[nodiscard]] std::uint16_t length() const noexcept { return detail::load16(bytes_.data() + 4); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  /// The data after the 8-byte header.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(8); }
  /// The datagram, up to its length field.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit UdpView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};

/// A UDP datagram that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableUdpView : public UdpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableUdpView> parse(std::span<std::byte> datagram) noexcept;
  /// Writes the source port.
  void set_src_port(std::uint16_t port) noexcept { detail::store16(data_, port); }
  /// Writes the destination port.
  void set_dst_port(std::uint16_t port) noexcept { detail::store16(data_ + 2, port); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 6, c); }
  /// The payload, writable.
  [[nodiscard]] std::span<std::byte> mutable_payload() const noexcept {
    return {data_ + 8, bytes().size() - 8};
  }

 private:
  MutableUdpView(const UdpView& v, std::byte* data) noexcept : UdpView(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
