// Uses the installed tunkit without touching the kernel: the error model and the value types.
#include <tunkit/tunkit.hpp>

#include <cstdio>
#include <cstring>

int main() {
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
    std::printf("consumer ok: %s\n", e.what());
  }
  return 0;
}
