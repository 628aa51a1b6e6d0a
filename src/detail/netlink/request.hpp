#pragma once
// The request builder: one netlink request message, built in place with libmnl.

#include <linux/netlink.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

namespace tunkit::detail::netlink {

/// One netlink request message under construction, in a fixed in-object buffer (no allocation).
/// `NLM_F_REQUEST` is always set; `Socket` fills in the sequence number and adds `NLM_F_ACK` to
/// requests that are not dumps. Appending what does not fit marks the request as overflowed
/// (`ok()` false), and `Socket` refuses to send it (EMSGSIZE). Copyable: it holds no pointers.
class Request {
 public:
  /// Room for the header, the family header and the attributes. Link and address requests use
  /// well under 100 bytes; a page leaves room for routes with many next hops.
  static constexpr std::size_t kCapacity = 4096;

  /// An empty message of `type` (RTM_*) with `NLM_F_REQUEST | flags`.
  Request(std::uint16_t type, std::uint16_t flags) noexcept;

  /// Appends the fixed family header that follows `nlmsghdr` (ifinfomsg, ifaddrmsg, rtmsg...).
  /// Must come before any attribute.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void put_header(const T& header) noexcept { put_header_bytes(&header, sizeof header); }
  /// Appends an attribute of type `type` with a 32-bit payload in host byte order.
  void put_u32(std::uint16_t type, std::uint32_t value) noexcept;
  /// Appends an attribute holding `value` plus a terminating NUL (NLA_STRING / NLA_NUL_STRING).
  void put_string(std::uint16_t type, std::string_view value) noexcept;
  /// Appends an attribute with raw payload bytes (addresses are in network order).
  void put_bytes(std::uint16_t type, std::span<const std::uint8_t> value) noexcept;
  /// Opens a nested attribute; the attributes appended until `end_nested` go inside it.
  /// Returns its offset in the message, for `end_nested`.
  [[nodiscard]] std::size_t begin_nested(std::uint16_t type) noexcept;
  /// Closes the nested attribute that `begin_nested` returned `offset` for.
  void end_nested(std::size_t offset) noexcept;

  /// False once something did not fit in `kCapacity`.
  [[nodiscard]] bool ok() const noexcept { return !overflow_; }
  /// The netlink header (type, flags, length so far, sequence number).
  [[nodiscard]] nlmsghdr& header() noexcept;
  [[nodiscard]] const nlmsghdr& header() const noexcept;
  /// The message as it goes on the wire (`nlmsg_len` bytes).
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept;

 private:
  void put_header_bytes(const void* data, std::size_t size) noexcept;

  // nlmsghdr and the family headers need 4-byte alignment (NLMSG_ALIGNTO).
  alignas(8) std::array<std::byte, kCapacity> buffer_{};
  bool overflow_ = false;
};

}  // namespace tunkit::detail::netlink
