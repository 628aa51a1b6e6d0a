#pragma once
// Shared set-up of the unit tests that run tunkit over the fake kernel: what the fake recorded
// (`ioctls`, `calls_of`), a test packet (`ipv4`), the errno code (`sys`) and a check of thrown
// errors (`thrown_by`); and for link management, a fake kernel holding one TUN or TAP device with
// a reader attached (`World`).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

namespace test {

// The calls the fake recorded of one kind, in order.
inline std::vector<tunkit::testing::FakeKernel::CallRecord> calls_of(
    const tunkit::testing::FakeKernel& k, tunkit::testing::FakeKernel::Call call) {
  std::vector<tunkit::testing::FakeKernel::CallRecord> out;
  for (const auto& c : k.calls()) {
    if (c.call == call) out.push_back(c);
  }
  return out;
}

// The ioctls the fake recorded with one request, e.g. every TUNSETIFF.
inline std::vector<tunkit::testing::FakeKernel::CallRecord> ioctls(
    const tunkit::testing::FakeKernel& k, unsigned long request) {
  std::vector<tunkit::testing::FakeKernel::CallRecord> out;
  for (const auto& c : k.calls()) {
    if (c.call == tunkit::testing::FakeKernel::Call::ioctl && c.request == request) {
      out.push_back(c);
    }
  }
  return out;
}

// An IPv4 packet of `size` bytes (version 4, IHL 5; the rest a pattern that `seed` varies).
inline std::vector<std::byte> ipv4(std::size_t size, unsigned seed = 1) {
  std::vector<std::byte> p(size);
  for (std::size_t i = 0; i < size; ++i)
    p[i] = static_cast<std::byte>((seed * 31 + i) & 0xFFU);
  if (size > 0) p[0] = std::byte{0x45};
  return p;
}

// A fake kernel with one device (by default TUN "tun0"), opened so that it has carrier.
struct World {
  tunkit::testing::FakeKernel kernel;
  tunkit::TunDevice dev;
  tunkit::testing::FakeRtnetlink& rtnl;

  explicit World(tunkit::Mode mode = tunkit::Mode::tun, std::string name = "tun0")
      : rtnl(kernel.rtnetlink()) {
    tunkit::Options options;
    options.name = std::move(name);
    options.mode = mode;
    dev.open(options, kernel);
    rtnl.clear_requests();
  }
  [[nodiscard]] unsigned ifindex() const { return dev.ifindex(); }
  [[nodiscard]] tunkit::testing::FakeRtnetlink::LinkRecord record() const {
    return *rtnl.link(dev.ifindex());
  }
  [[nodiscard]] const tunkit::testing::FakeRtnetlink::Request& last() const {
    REQUIRE_FALSE(rtnl.requests().empty());
    return rtnl.requests().back();
  }
  // The requests of one type, in order.
  [[nodiscard]] std::vector<tunkit::testing::FakeRtnetlink::Request> sent(
      std::uint16_t type) const {
    std::vector<tunkit::testing::FakeRtnetlink::Request> out;
    for (const auto& r : rtnl.requests()) {
      if (r.type == type) out.push_back(r);
    }
    return out;
  }
};

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

// The hint of an EPERM from rtnetlink.
inline constexpr const char* kNeedsNetAdmin =
    "needs CAP_NET_ADMIN in the interface's network namespace";

inline std::error_code sys(int err) {
  return {err, std::system_category()};
}

inline std::vector<std::uint8_t> bytes_of(const tunkit::IpAddress& value) {
  const auto b = value.bytes();
  return {b.begin(), b.end()};
}

inline std::vector<std::uint8_t> bytes_of(const tunkit::MacAddress& value) {
  return {value.bytes.begin(), value.bytes.end()};
}

}  // namespace test
