// send_device / receive_device and the LISTEN_FDS convention, without privileges: the messages a
// broker could send wrongly are sent over real socket pairs with real (non-TUN) descriptors, and
// every refusal must leave this process with the descriptors it had before. The hand-over of
// real queues is tested in tests/netns/handover_netns_test.cpp; over the fake kernel in
// handover_fake_test.cpp.
#include "tunkit/handover.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/error.hpp"

namespace handover_test {

using Catch::Matchers::ContainsSubstring;
using tunkit::errc;

// The descriptors open in this process now.
std::vector<int> open_descriptors() {
  std::vector<int> out;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  const int own = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) out.push_back(fd);
  }
  ::closedir(d);
  return out;
}

struct Pair {
  int a = -1;
  int b = -1;
  explicit Pair(int type = SOCK_SEQPACKET) {
    std::array<int, 2> sv{};
    REQUIRE(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv.data()) == 0);
    a = sv[0];
    b = sv[1];
  }
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
};

// A version-1 header as send_device writes it, for `count` descriptors.
std::vector<std::byte> header(std::uint16_t count, std::uint16_t version = 1,
                              const char* name = "tun0", std::string_view magic = "TKHO") {
  std::vector<std::byte> m(38 + 2, std::byte{0});
  std::memcpy(m.data(), magic.data(), 4);
  m[4] = std::byte(version & 0xff);
  m[5] = std::byte(version >> 8);
  m[6] = std::byte{38};
  m[8] = std::byte(count & 0xff);
  std::memcpy(&m[20], name, std::strlen(name));
  return m;
}

// Sends `bytes` with `fds` as SCM_RIGHTS.
void send_raw(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (!fds.empty()) {
    mh.msg_control = control.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  REQUIRE(::sendmsg(sock, &mh, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

std::error_condition handover_condition(errc e) {
  return {static_cast<int>(e), tunkit::error_category()};
}

}  // namespace handover_test

using namespace handover_test;

TEST_CASE("receive_device refuses a wrong message and closes every descriptor it received") {
  std::array<int, 2> pipe_fds{};
  REQUIRE(::pipe2(pipe_fds.data(), O_CLOEXEC) == 0);
  const std::vector<int> before = open_descriptors();
  struct Case {
    std::string what;
    std::vector<std::byte> bytes;
    std::vector<int> fds;
    tunkit::ReceiveOptions options;
    std::error_condition code;
    std::string message;
  };
  const std::vector<Case> cases{
      {"no tunkit header",
       header(1, 1, "tun0", "XXXX"),
       {pipe_fds[0]},
       {},
       handover_condition(errc::handover_protocol),
       "tunkit: receive_device: not a tunkit hand-over message (no tunkit hand-over header)"},
      {"another version",
       header(1, 2),
       {pipe_fds[0]},
       {},
       handover_condition(errc::handover_protocol),
       "(version 2; this tunkit reads version 1)"},
      {"fewer descriptors than announced",
       header(2),
       {pipe_fds[0]},
       {},
       handover_condition(errc::handover_protocol),
       "(the header announces 2 descriptors, 1 arrived)"},
      {"more descriptors than accepted (MSG_CTRUNC)",
       header(3),
       {pipe_fds[0], pipe_fds[1], pipe_fds[0]},
       {.max_queues = 2},
       std::make_error_condition(std::errc::message_size),
       "more descriptors than ReceiveOptions::max_queues (2)"},
      {"descriptors of the wrong kind",
       header(2),
       {pipe_fds[0], pipe_fds[1]},
       {},
       handover_condition(errc::not_a_queue),
       "not a TUN/TAP queue (it is a pipe, not a /dev/net/tun"},
      {"another device than asked",
       header(1),
       {pipe_fds[0]},
       {.name = "vpn0"},
       std::make_error_condition(std::errc::invalid_argument),
       "receive_device \"tun0\": invalid argument (not \"vpn0\", the device asked for)"},
      {"a peer of another uid",
       header(1),
       {pipe_fds[0]},
       {.peer_uid = ::getuid() + 1},
       std::make_error_condition(std::errc::operation_not_permitted),
       fmt::format("(the peer is uid {} gid {} (pid {}), not uid {})", ::getuid(), ::getgid(),
                   ::getpid(), ::getuid() + 1)},
  };
  for (const Case& c : cases) {
    SECTION(c.what) {
      for (const bool throwing : {true, false}) {
        Pair p;
        send_raw(p.a, c.bytes, c.fds);
        if (throwing) {
          const auto e = test::thrown_by([&] { (void)tunkit::receive_device(p.b, c.options); });
          CHECK(e.code() == c.code);
          CHECK_THAT(e.what(), ContainsSubstring(c.message));
        } else {
          std::error_code ec;
          auto r = tunkit::receive_device(p.b, ec, c.options);
          CHECK(ec == c.code);
          CHECK_FALSE(r.device.is_open());
        }
      }
      CHECK(open_descriptors() == before);
    }
  }
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST_CASE("receive_device: the peer's credentials, a closed peer, stream sockets, would-block") {
  {
    Pair p;
    ::close(p.a);
    p.a = -1;
    const auto e = test::thrown_by([&] { (void)tunkit::receive_device(p.b); });
    CHECK(e.code() == handover_condition(errc::handover_protocol));
    CHECK_THAT(e.what(), ContainsSubstring("the peer closed the socket without sending a device"));
  }
  {
    Pair p(SOCK_STREAM);
    const auto e = test::thrown_by([&] { (void)tunkit::receive_device(p.b); });
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), ContainsSubstring("a stream socket: use SOCK_SEQPACKET or SOCK_DGRAM"));
  }
  {
    Pair p(SOCK_DGRAM | SOCK_NONBLOCK);
    std::error_code ec;
    (void)tunkit::receive_device(p.b, ec);
    CHECK(ec == std::errc::resource_unavailable_try_again);
  }
  {
    std::array<int, 2> pipe_fds{};
    REQUIRE(::pipe2(pipe_fds.data(), O_CLOEXEC) == 0);
    const auto e = test::thrown_by([&] { (void)tunkit::receive_device(pipe_fds[0]); });
    CHECK(e.code() == std::errc::not_a_socket);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
  }
  {
    std::error_code ec;
    (void)tunkit::receive_device(-1, ec, {.max_queues = 0});
    CHECK(ec == std::errc::invalid_argument);
  }
}

TEST_CASE("send_device refuses a closed device") {
  Pair p;
  tunkit::TunDevice closed;
  const auto e = test::thrown_by([&] { tunkit::send_device(p.a, closed); });
  CHECK(e.code() == handover_condition(errc::not_open));
  std::error_code ec;
  tunkit::send_device(p.a, closed, ec);
  CHECK(ec == handover_condition(errc::not_open));
}

TEST_CASE("listen_fds reads the LISTEN_FDS convention for this process only") {
  using tunkit::listen_fds;
  CHECK(listen_fds(std::nullopt, "2", "a:b", 100).empty());  // no LISTEN_PID: nothing passed
  CHECK(listen_fds("99", "2", "a:b", 100).empty());          // meant for another process
  const auto two = listen_fds("100", "2", "tun0:tun0", 100);
  REQUIRE(two.size() == 2);
  CHECK(two[0].fd == 3);
  CHECK(two[1].fd == 4);
  CHECK(two[1].name == "tun0");
  const auto unnamed = listen_fds("100", "1", std::nullopt, 100);
  REQUIRE(unnamed.size() == 1);
  CHECK(unnamed[0].name == "unknown");
  CHECK(listen_fds("100", "0", std::nullopt, 100).empty());

  struct Bad {
    std::optional<std::string_view> pid, fds, names;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"x100", "1", std::nullopt, "(LISTEN_PID=\"x100\" is not a process id)"},
           {"100", std::nullopt, std::nullopt, "(LISTEN_PID is set without LISTEN_FDS)"},
           {"100", "-1", std::nullopt, "(LISTEN_FDS=\"-1\" is not a count of 0..253)"},
           {"100", "254", std::nullopt, "(LISTEN_FDS=\"254\" is not a count of 0..253)"},
           {"100", "2", "a", "(LISTEN_FDNAMES has 1 names for 2 descriptors)"},
       }) {
    const auto e = test::thrown_by([&] { (void)listen_fds(b.pid, b.fds, b.names, 100); });
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK_THAT(e.what(), ContainsSubstring(b.message));
  }
}

TEST_CASE("TunDevice::from_environment ignores variables meant for another process") {
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  tunkit::TunDevice dev = tunkit::TunDevice::from_environment();
  CHECK_FALSE(dev.is_open());
  // Left for the process they were meant for, as they were.
  CHECK(std::string(::getenv("LISTEN_PID")) == "1");
  CHECK(std::string(::getenv("LISTEN_FDS")) == "1");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  CHECK_FALSE(tunkit::TunDevice::from_environment().is_open());
}

TEST_CASE("receive_device: every truncation and random bytes are refused, nothing leaks") {
  std::array<int, 2> pipe_fds{};
  REQUIRE(::pipe2(pipe_fds.data(), O_CLOEXEC) == 0);
  const std::vector<int> before = open_descriptors();
  std::vector<std::byte> full = header(1);
  const std::string purpose = "data plane";
  full[38] = std::byte{static_cast<unsigned char>(purpose.size())};
  for (char c : purpose)
    full.push_back(static_cast<std::byte>(c));
  // Every prefix of a valid message, with its one descriptor: refused as a protocol error, and
  // the descriptor closed. (The full message gets as far as adopting a pipe.)
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("first " << n << " bytes");
    Pair p;
    send_raw(p.a, std::span(full).first(n), std::span(pipe_fds).first(1));
    std::error_code ec;
    (void)tunkit::receive_device(p.b, ec);
    CHECK(ec == handover_condition(errc::handover_protocol));
  }
  {
    Pair p;
    send_raw(p.a, full, std::span(pipe_fds).first(1));
    std::error_code ec;
    (void)tunkit::receive_device(p.b, ec);
    CHECK(ec == handover_condition(errc::not_a_queue));
  }
  // Random bytes behind a valid magic and version, with 0 to 2 descriptors.
  std::uint32_t seed = 16;
  auto next = [&] {
    seed = seed * 1664525U + 1013904223U;
    return seed >> 8;
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::byte> m = header(1);
    m.resize(4 + next() % 300);
    for (std::size_t i = 8; i < m.size(); ++i)
      m[i] = static_cast<std::byte>(next() & 0xff);
    const std::size_t fds = next() % 3;
    Pair p;
    send_raw(p.a, m, std::span(pipe_fds).first(fds));
    std::error_code ec;
    auto r = tunkit::receive_device(p.b, ec);
    CHECK(ec);
    CHECK_FALSE(r.device.is_open());
  }
  CHECK(open_descriptors() == before);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}
