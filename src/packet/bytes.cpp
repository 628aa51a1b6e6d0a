#include "tunkit/packet/bytes.hpp"

#include <array>
#include <cstring>

namespace tunkit {

namespace detail {

MacAddress load_mac(const std::byte* p) noexcept {
  std::array<std::uint8_t, 6> b;
  std::memcpy(b.data(), p, b.size());
  return MacAddress{b};  // braces: clang 14 has no aggregate ()-init
}

IpAddress load_ipv4(const std::byte* p) noexcept {
  std::array<std::uint8_t, 4> b;
  std::memcpy(b.data(), p, b.size());
  return IpAddress::v4(b);
}

IpAddress load_ipv6(const std::byte* p) noexcept {
  std::array<std::uint8_t, 16> b;
  std::memcpy(b.data(), p, b.size());
  return IpAddress::v6(b);
}

void store_mac(std::byte* p, const MacAddress& mac) noexcept {
  std::memcpy(p, mac.bytes.data(), mac.bytes.size());
}

void store_ip(std::byte* p, const IpAddress& address, std::size_t size) noexcept {
  const auto b = address.bytes();
  if (b.size() == size) std::memcpy(p, b.data(), size);
}

}  // namespace detail

}  // namespace tunkit
