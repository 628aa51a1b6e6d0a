#pragma once
// The parser: the walk over the messages of a received datagram, and checked access to a
// message's family header and attributes.

#include <linux/netlink.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "detail/netlink/function_ref.hpp"
#include "tunkit/address.hpp"

namespace tunkit::detail::netlink {

/// Walks the messages of one received datagram, in order. `next()` gives each whole message
/// and stops at the end or at bytes that do not hold one; `complete()` then tells the two apart.
///
/// Each message's own length is checked against what is left of the datagram (unsigned: see
/// parse.cpp), so a walk never leaves the datagram. The datagram must be 4-byte aligned, and
/// followed by a few zeroed bytes when its length is not a multiple of 4 (attribute parsing
/// runs to the aligned end of the last message).
class MessageWalk {
 public:
  /// A walk over the `size` bytes at `data`.
  MessageWalk(const std::byte* data, std::size_t size) noexcept;
  /// The next whole message, or null when none is left.
  [[nodiscard]] const nlmsghdr* next() noexcept;
  /// After `next()` returned null: true when the datagram ended there, false when bytes
  /// remained that are shorter than a header or overrun the datagram (a broken stream).
  [[nodiscard]] bool complete() const noexcept { return left_ <= 0; }

 private:
  const nlmsghdr* at_;
  int left_;
};

/// Attributes of a received message indexed by type: `table[t]` is the last attribute of type
/// `t`, or null. Types beyond the table are skipped (newer kernels add attributes; ignoring them
/// is the netlink compatibility rule).
template <std::size_t N>
using AttributeTable = std::array<const nlattr*, N>;

/// Copies the fixed family header of `message` into `header` (`header_size` bytes) and indexes
/// its attributes in `table`. `errc::netlink_protocol` when the payload is shorter than the family
/// header or an attribute overruns the message.
[[nodiscard]] std::error_code parse_message(const nlmsghdr& message, void* header,
                                            std::size_t header_size,
                                            std::span<const nlattr*> table) noexcept;

/// Indexes the attributes nested in `nest` (IFLA_LINKINFO, IFLA_INFO_DATA, ...) in `table`.
/// `errc::netlink_protocol` when one overruns the nest.
[[nodiscard]] std::error_code parse_nested(const nlattr& nest,
                                           std::span<const nlattr*> table) noexcept;

/// Calls `each` for every attribute nested in `nest`, in order (lists of same-typed entries, such
/// as ETHTOOL_A_BITSET_BITS); stops at the first error `each` returns. `errc::netlink_protocol`
/// when one overruns the nest.
[[nodiscard]] std::error_code for_each_nested(
    const nlattr& nest, FunctionRef<std::error_code(const nlattr&)> each) noexcept;

/// Typed form of `parse_message`.
template <typename T, std::size_t N>
requires std::is_trivially_copyable_v<T>
[[nodiscard]] std::error_code parse_message(const nlmsghdr& message, T& header,
                                            AttributeTable<N>& table) noexcept {
  return parse_message(message, &header, sizeof header, std::span<const nlattr*>(table));
}

/// The payload of `attribute`.
[[nodiscard]] std::span<const std::uint8_t> payload(const nlattr& attribute) noexcept;
/// A 32-bit attribute's value; nullopt when its payload is not exactly 4 bytes.
[[nodiscard]] std::optional<std::uint32_t> get_u32(const nlattr& attribute) noexcept;
/// A string attribute's text up to its first NUL (the NUL is optional, as in the kernel).
[[nodiscard]] std::string_view get_string(const nlattr& attribute) noexcept;
/// An address attribute of `family` (AF_INET: 4 bytes, AF_INET6: 16), or nullopt when its size
/// does not fit the family.
[[nodiscard]] std::optional<IpAddress> get_address(std::uint8_t family,
                                                   const nlattr& attribute) noexcept;

}  // namespace tunkit::detail::netlink
