#pragma once
/// @file
/// TCP segments (RFC 9293): `TcpFlag`, `TcpFlags`, `TcpView` and `MutableTcpView`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunkit/detail/flags.hpp"
#include "tunkit/export.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"

namespace tunkit {

/// One TCP header flag (the bits of byte 13).
enum class TcpFlag : std::uint8_t {
  /// FIN: no more data from the sender.
  fin = 0x01,
  /// SYN: synchronise sequence numbers.
  syn = 0x02,
  /// RST: reset the connection.
  rst = 0x04,
  /// PSH: push.
  psh = 0x08,
  /// ACK: the acknowledgment number is significant.
  ack = 0x10,
  /// URG: the urgent pointer is significant.
  urg = 0x20,
  /// ECE: ECN echo.
  ece = 0x40,
  /// CWR: congestion window reduced.
  cwr = 0x80,
};

/// A set of TCP flags: the flags byte of the header (`bits()`), with the set operations of
/// `detail::FlagSet` (`has`, `empty`, `|`, `&`, `-`, `|=`, `&=`, `==`, `from_bits`).
class TcpFlags : public detail::FlagSet<TcpFlags, TcpFlag> {
 public:
  /// No flags (`TcpFlags()`), or one flag (implicit, so that a `TcpFlag` is accepted where
  /// `TcpFlags` are).
  using FlagSet::FlagSet;
};

/// A TCP segment (RFC 9293): header, options and payload. Validated: 20 bytes, data offset
/// 20..60 within the buffer, options well formed. The segment is the whole span (for a packet
/// from `parse_ip`, the IP payload).
class TUNKIT_EXPORT TcpView {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<TcpView> parse(std::span<const std::byte> segment) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(TcpView);

  /// Source port.
  [[nodiscard]] std::uint16_t src_port() const noexcept { return detail::load16(bytes_.data()); }
  /// Destination port.
  [[nodiscard]] std::uint16_t dst_port() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// Sequence number.
  [[nodiscard]] std::uint32_t seq() const noexcept { return detail::load32(bytes_.data() + 4); }
  /// Acknowledgment number.
  [[nodiscard]] std::uint32_t ack() const noexcept { return detail::load32(bytes_.data() + 8); }
  /// Header length in bytes (the data offset times 4: 20..60).
  [[nodiscard]] std::size_t header_length() const noexcept {
    return std::size_t{4} * (detail::load8(bytes_.data() + 12) >> 4);
  }
  /// The flags.
  [[nodiscard]] TcpFlags flags() const noexcept {
    return TcpFlags::from_bits(detail::load8(bytes_.data() + 13));
  }
  /// Window size (unscaled).
  [[nodiscard]] std::uint16_t window() const noexcept { return detail::load16(bytes_.data() + 14); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 16);
  }
  /// Urgent pointer.
  [[nodiscard]] std::uint16_t urgent_pointer() const noexcept {
    return detail::load16(bytes_.data() + 18);
  }
  /// The options (header bytes after the first 20).
  [[nodiscard]] std::span<const std::byte> options() const noexcept {
    return bytes_.subspan(20, header_length() - 20);
  }
  /// The first option of kind `kind` (the whole option: kind, length, data), if any.
  [[nodiscard]] std::optional<std::span<const std::byte>> option(std::uint8_t kind) const noexcept;
  /// The MSS option's value, if present.
  [[nodiscard]] std::optional<std::uint16_t> mss() const noexcept;
  /// The data after the header and options.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The whole segment.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit TcpView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};

/// A TCP segment that can be edited in place (the checksum is not updated by the setters).
class TUNKIT_EXPORT MutableTcpView : public TcpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableTcpView> parse(std::span<std::byte> segment) noexcept;
  /// Writes the source port.
  void set_src_port(std::uint16_t port) noexcept { detail::store16(data_, port); }
  /// Writes the destination port.
  void set_dst_port(std::uint16_t port) noexcept { detail::store16(data_ + 2, port); }
  /// Writes the sequence number.
  void set_seq(std::uint32_t seq) noexcept { detail::store32(data_ + 4, seq); }
  /// Writes the acknowledgment number.
  void set_ack(std::uint32_t ack) noexcept { detail::store32(data_ + 8, ack); }
  /// Writes the flags byte.
  void set_flags(TcpFlags flags) noexcept { detail::store8(data_ + 13, flags.bits()); }
  /// Writes the window.
  void set_window(std::uint16_t window) noexcept { detail::store16(data_ + 14, window); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 16, c); }

 private:
  MutableTcpView(const TcpView& v, std::byte* data) noexcept : TcpView(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
