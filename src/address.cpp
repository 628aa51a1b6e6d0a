#include "tunkit/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "detail/failure.hpp"

namespace tunkit {
namespace {

// Longest text inet_pton can accept ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"), plus NUL.
constexpr std::size_t kMaxAddressText = INET6_ADDRSTRLEN;

// inet_pton(3) needs a NUL-terminated string; a string_view is not one. Text that is too long or
// holds a NUL cannot be an address, so it is rejected here rather than silently cut.
bool to_c_string(std::string_view text, std::array<char, kMaxAddressText>& out) noexcept {
  if (text.empty() || text.size() >= out.size()) return false;
  if (text.find('\0') != std::string_view::npos) return false;
  std::memcpy(out.data(), text.data(), text.size());
  out[text.size()] = '\0';
  return true;
}

// The decimal prefix length after '/': 1 to 3 digits, no sign, no spaces.
std::optional<unsigned> parse_length(std::string_view text) noexcept {
  if (text.empty() || text.size() > 3) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value;
}

}  // namespace

std::optional<IpAddress> IpAddress::try_parse(std::string_view text) noexcept {
  std::array<char, kMaxAddressText> c_text{};
  if (!to_c_string(text, c_text)) return std::nullopt;
  // glibc's inet_pton accepts exactly the dotted quad for AF_INET (no octal, hex or short forms,
  // unlike inet_aton), which is the unambiguous form we want.
  std::array<std::uint8_t, 4> v4{};
  if (::inet_pton(AF_INET, c_text.data(), v4.data()) == 1) return IpAddress::v4(v4);
  std::array<std::uint8_t, 16> v6{};
  if (::inet_pton(AF_INET6, c_text.data(), v6.data()) == 1) return IpAddress::v6(v6);
  return std::nullopt;
}

IpAddress IpAddress::parse(std::string_view text) {
  if (auto a = try_parse(text)) return *a;
  throw make_error(errc::invalid_address, "parse address", text);
}

std::string IpAddress::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  const int af = is_v4() ? AF_INET : AF_INET6;
  // Cannot fail: the family is valid and the buffer is large enough for any address.
  if (::inet_ntop(af, bytes_.data(), buf.data(), static_cast<socklen_t>(buf.size())) == nullptr) {
    return {};
  }
  return buf.data();
}

std::optional<IpPrefix> IpPrefix::try_parse(std::string_view text) noexcept {
  const std::size_t slash = text.find('/');
  auto address = IpAddress::try_parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  IpPrefix p{*address, address->max_prefix_length()};
  if (slash == std::string_view::npos) return p;
  const auto length = parse_length(text.substr(slash + 1));
  if (!length || *length > address->max_prefix_length()) return std::nullopt;
  p.length = static_cast<std::uint8_t>(*length);
  return p;
}

IpPrefix IpPrefix::parse(std::string_view text) {
  if (auto p = try_parse(text)) return *p;
  // Say why when the only fault is the length, the mistake people actually make.
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    const auto address = IpAddress::try_parse(text.substr(0, slash));
    const auto length = parse_length(text.substr(slash + 1));
    if (address && length) {
      throw make_error(errc::invalid_address, "parse prefix", text,
                       address->is_v4() ? "the prefix length of an IPv4 address is at most 32"
                                        : "the prefix length of an IPv6 address is at most 128");
    }
  }
  throw make_error(errc::invalid_address, "parse prefix", text);
}

std::string IpPrefix::to_string() const {
  return address.to_string() + '/' + std::to_string(length);
}

IpAddress IpPrefix::network() const noexcept {
  std::array<std::uint8_t, 16> b{};
  const auto bytes = address.bytes();
  unsigned left = length;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const unsigned bits = std::min(left, 8U);
    b[i] = static_cast<std::uint8_t>(bytes[i] & (bits == 0 ? 0U : 0xFFU << (8U - bits)));
    left -= bits;
  }
  if (address.is_v4()) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  return IpAddress::v6(b);
}

bool IpPrefix::contains(const IpAddress& other) const noexcept {
  return other.family() == address.family() && is_valid() &&
         IpPrefix{other, length}.network() == network();
}

}  // namespace tunkit
