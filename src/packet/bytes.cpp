#include "tunkit/packet/bytes.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "packet/parse_helpers.hpp"
#include "tunkit/error.hpp"

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

void throw_wrong_family(std::string_view op, const IpAddress& a, int version) {
  const int other = version == 4 ? 6 : 4;
  throw make_error(errc::invalid_address, op, {},
                   fmt::format("{} is an IPv{} address; an IPv{} header holds only IPv{} addresses",
                               a.to_string(), other, version, version));
}

}  // namespace detail

}  // namespace tunkit
