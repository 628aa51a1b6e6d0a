#pragma once
// Small helpers the namespace tests share: a UDP socket, the process's descriptor count, Options
// by name, a shell command's output, the error a call throws, an errno as an error_code.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "catch.hpp"
#include "tunkit/error.hpp"
#include "tunkit/options.hpp"

namespace netns_test {

// A UDP/IPv4 socket, closed at the end of the test.
struct UdpSocket {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  UdpSocket() { REQUIRE(fd >= 0); }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket() { ::close(fd); }
};

// The descriptors this process has open (a leak check compares two counts).
inline std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

// Options for a device of this name (and mode).
inline tunkit::Options named(const std::string& name, tunkit::Mode mode = tunkit::Mode::tun) {
  tunkit::Options o;
  o.name = name;
  o.mode = mode;
  return o;
}

// The output (stdout and stderr) of a shell command run in the calling thread's namespace
// (children inherit it).
inline std::string output_of(const std::string& command) {
  std::string out;
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(f != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
    out.append(buf.data(), n);
  ::pclose(f);
  return out;
}

// The tunkit::Error that `f` throws (a test failure when it throws none).
template <typename F>
tunkit::Error thrown_by(F&& f) {
  try {
    f();
  } catch (const tunkit::Error& e) {
    return e;
  }
  FAIL("no tunkit::Error thrown");
  return tunkit::Error({}, "");
}

inline std::error_code sys(int err) {
  return {err, std::system_category()};
}

}  // namespace netns_test
