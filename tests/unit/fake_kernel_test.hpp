#pragma once
// Shared by the fake kernel's own tests (fake_kernel_test.cpp and fake_kernel_*_test.cpp, one per
// concern as in src/testing/fake_kernel/): raw calls on the fake, as a program using the kernel
// directly would make them, and test packets.

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace fake_test {

using tunkit::Flag;
using tunkit::Flags;
using tunkit::Mode;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;

constexpr unsigned kNoFilter = 0x1000;  // IFF_NOFILTER, reported by TUNGETIFF

inline int open_tun(FakeKernel& k, int extra = 0) {
  return k.open("/dev/net/tun", O_RDWR | O_CLOEXEC | extra);
}

// TUNSETIFF; returns 0 or -errno and, on success, the name the kernel gave.
inline int set_iff(FakeKernel& k, int fd, const std::string& name, unsigned flags,
                   std::string* out = nullptr) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof ifr.ifr_name));
  ifr.ifr_flags = static_cast<short>(flags);
  const int r = k.ioctl(fd, TUNSETIFF, &ifr);
  if (out != nullptr) *out = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return r;
}

// An attached descriptor (root, so it may create).
inline int attach(FakeKernel& k, const std::string& name, unsigned flags) {
  const int fd = open_tun(k, O_NONBLOCK);
  REQUIRE(fd >= 0);
  REQUIRE(set_iff(k, fd, name, flags) == 0);
  return fd;
}

inline unsigned get_flags(FakeKernel& k, int fd) {
  ifreq ifr{};
  REQUIRE(k.ioctl(fd, TUNGETIFF, &ifr) == 0);
  return static_cast<std::uint16_t>(ifr.ifr_flags);
}

inline void* by_value(unsigned long v) {
  return reinterpret_cast<void*>(v);  // NOLINT: TUNSET{PERSIST,OWNER,GROUP} take a value
}

inline std::vector<std::byte> fake_ipv4(std::size_t size, unsigned fill = 0xA0) {
  std::vector<std::byte> p(size);
  for (std::size_t i = 0; i < size; ++i)
    p[i] = static_cast<std::byte>((fill + i) & 0xFFU);
  if (size > 0) p[0] = std::byte{0x45};
  return p;
}

inline std::vector<std::byte> fake_ipv6(std::size_t size) {
  auto p = fake_ipv4(size, 0x10);
  p[0] = std::byte{0x60};
  return p;
}

inline std::vector<std::byte> fake_frame(std::size_t size, std::uint16_t type) {
  std::vector<std::byte> f(size, std::byte{0x11});
  if (size < 14) return f;  // shorter than an Ethernet header: no type field
  f[12] = static_cast<std::byte>(type >> 8U);
  f[13] = static_cast<std::byte>(type & 0xFFU);
  f.resize(size);  // shorter frames (to test their refusal) lose the type's bytes
  return f;
}

inline ssize_t read_into(FakeKernel& k, int fd, std::vector<std::byte>& buf) {
  return k.read(fd, buf.data(), buf.size());
}

inline ssize_t write_bytes(FakeKernel& k, int fd, const std::vector<std::byte>& b) {
  return k.write(fd, b.data(), b.size());
}

inline short poll_one(FakeKernel& k, int fd, short events, int* result = nullptr) {
  pollfd p{fd, events, 0};
  const int r = k.poll(&p, 1, 0);
  if (result != nullptr) *result = r;
  return p.revents;
}

// --- Multi-queue and the rest of the TUN ioctl surface ---------------------------------------

constexpr unsigned kMq = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
constexpr unsigned kIffNoCarrier = 0x0040;

inline int set_queue(FakeKernel& k, int fd, unsigned flags) {
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(flags);
  return k.ioctl(fd, TUNSETQUEUE, &ifr);
}

inline int ioctl_int(FakeKernel& k, int fd, unsigned long request, int value) {
  return k.ioctl(fd, request, &value);
}

// A getter's value, or -errno.
inline int get_int(FakeKernel& k, int fd, unsigned long request) {
  int value = -12345;
  const int r = k.ioctl(fd, request, &value);
  return r < 0 ? r : value;
}

inline std::vector<int> enabled_fds(const FakeKernel& k, const std::string& name) {
  std::vector<int> out;
  const auto d = k.device(name);
  REQUIRE(d);
  for (const auto& q : d->queue_states) {
    if (q.enabled) out.push_back(q.fd);
  }
  return out;
}

inline int set_tx_filter(FakeKernel& k, int fd, const std::vector<tunkit::MacAddress>& macs,
                         bool all_multicast = false) {
  tun_filter header{};
  header.flags = all_multicast ? TUN_FLT_ALLMULTI : 0;
  header.count = static_cast<std::uint16_t>(macs.size());
  std::array<std::uint8_t, sizeof header> head{};
  std::memcpy(head.data(), &header, sizeof header);
  std::vector<std::uint8_t> buf(head.begin(), head.end());
  for (const auto& m : macs)
    buf.insert(buf.end(), m.bytes.begin(), m.bytes.end());
  return k.ioctl(fd, TUNSETTXFILTER, buf.data());
}

inline std::vector<std::byte> fake_frame_to(const tunkit::MacAddress& dst) {
  auto f = fake_frame(60, 0x0800);
  for (std::size_t i = 0; i < 6; ++i)
    f[i] = static_cast<std::byte>(dst.bytes[i]);
  return f;
}

inline tunkit::MacAddress mac(std::uint8_t first, std::uint8_t last) {
  return {{first, 0x00, 0x5e, 0x00, 0x00, last}};
}

inline int attach_bpf(FakeKernel& k, int fd, std::vector<sock_filter> program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = program.empty() ? nullptr : program.data();
  return k.ioctl(fd, TUNATTACHFILTER, &prog);
}

inline std::size_t get_filter_len(FakeKernel& k, int fd, int* result = nullptr) {
  sock_fprog prog{};
  const int r = k.ioctl(fd, TUNGETFILTER, &prog);
  if (result != nullptr) *result = r;
  return prog.len;
}

inline const std::vector<sock_filter> kAcceptAll = {{0x06, 0, 0, 0xFFFFFFFF}};  // ret #-1

}  // namespace fake_test
