// Uses tunkit without touching the kernel: the version, the error model, the value types, packet
// views, builders and formatters (exported from a shared tunkit, or linked from a static one).
#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/packet.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

int main() {
  // The headers and the library agree (a shared tunkit replaced underneath would not).
  if (std::strcmp(tunkit::library_version(), TUNKIT_VERSION_STRING) != 0) return 1;
  static_assert(TUNKIT_VERSION >= 100, "tunkit 0.1 or later");

  const auto prefix = tunkit::IpPrefix::parse("10.0.0.1/24");
  if (prefix.to_string() != "10.0.0.1/24") return 1;
  std::error_code ec;
  tunkit::TunDevice dev;
  dev.open({.name = "a/b"}, ec);  // rejected before any syscall
  if (ec != tunkit::errc::invalid_name || dev.is_open()) return 1;
  try {
    tunkit::TunDevice bad({.name = "much-too-long-name"});
    return 1;
  } catch (const std::system_error& e) {
    if (std::strstr(e.what(), "much-too-long-name") == nullptr) return 1;
    std::printf("consumer ok (tunkit %s): %s\n", tunkit::library_version(), e.what());
  }

  // An ICMP echo request 10.0.0.1 > 10.0.0.2 (id 7, seq 1), answered in place and printed.
  std::array<std::byte, 28> buf{};
  const unsigned char request[28] = {0x45, 0, 0,  28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0,
                                     0,    1, 10, 0,  0, 2, 8, 0, 0,  0, 0, 7, 0,  1};
  std::memcpy(buf.data(), request, sizeof request);
  const auto pkt = tunkit::parse_ip(std::span<const std::byte>(buf));
  if (!pkt) return 1;
  const auto len = tunkit::build_echo_reply(*pkt, buf);
  if (!len || *len != buf.size()) return 1;
  const std::string reply = fmt::format("{}", tunkit::parse_ip(std::span<const std::byte>(buf)));
  std::printf("%s\n", reply.c_str());
  return reply.find("10.0.0.2 > 10.0.0.1: ICMP echo reply") == std::string::npos ? 1 : 0;
}
