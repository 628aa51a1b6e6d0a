// Every message the docs quote is the library's own. The quotes are read from the pages
// (docs/troubleshooting.md: each entry's first backticked span; docs/getting-started.md,
// docs/unprivileged.md and README.md: the indented `tunkit: ...` lines) and each must be either
//  - produced here, word for word, by the call that fails (over the fake kernel, with the names
//    the page uses), or
//  - found in an assertion of another test, which checks it against the code: the string
//    literals of tests/unit and tests/netns are read, adjacent ones joined, and a quote matches
//    one when they agree up to the quoted interface name ("tun0" in the page, "mq0" in the test);
//  - or be one of the few quotes that are not tunkit's messages (listed below, with why).
// A new quote that is none of these fails, and so does a producer whose quote left the page.
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/netns.hpp"
#include "tunkit/offload.hpp"
#include "tunkit/testing/fake_kernel.hpp"

// A named namespace, not an anonymous one: in a unity build the other tests' file-local
// helpers (ipv4, message_of, ...) share the translation unit, and lookup stops here first.
namespace docs_messages {

using tunkit::Options;
using tunkit::TunDevice;
using tunkit::testing::FakeKernel;

std::string page_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The message of the tunkit::Error `call` throws, without the "tunkit: " every message starts with
// (the pages quote them without it).
std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const tunkit::Error& e) {
    std::string what = e.what();
    if (what.starts_with("tunkit: ")) what = what.substr(8);
    return what;
  }
  return "(no exception)";
}

// The quotes of the pages, without a leading "tunkit: ".
std::vector<std::string> quoted_messages() {
  std::vector<std::string> out;
  const std::string root = TUNKIT_SOURCE_DIR;
  std::istringstream trouble(page_text(root + "/docs/troubleshooting.md"));
  for (std::string line; std::getline(trouble, line);) {
    if (!line.starts_with("**`")) continue;
    const auto end = line.find("`**");
    if (end != std::string::npos) out.push_back(line.substr(3, end - 3));
  }
  for (const char* page : {"/docs/getting-started.md", "/README.md", "/docs/unprivileged.md"}) {
    std::istringstream text(page_text(root + page));
    for (std::string line; std::getline(text, line);) {
      if (line.starts_with("    tunkit: ")) out.push_back(line.substr(12));
    }
  }
  return out;
}

// The string literals of a C++ source, adjacent ones joined, escapes resolved (enough for the
// tests' own sources: comments, character literals, digit separators and raw strings are
// skipped or read as such).
std::vector<std::string> literals_of(const std::string& s) {
  std::vector<std::string> out;
  std::string joined;
  bool open = false;
  std::size_t i = 0;
  const auto flush = [&] {
    if (open) out.push_back(joined);
    joined.clear();
    open = false;
  };
  while (i < s.size()) {
    if (s.compare(i, 2, "//") == 0) {
      i = s.find('\n', i);
      if (i == std::string::npos) break;
      continue;
    }
    if (s.compare(i, 2, "/*") == 0) {
      i = s.find("*/", i);
      if (i == std::string::npos) break;
      i += 2;
      continue;
    }
    const char c = s[i];
    if (c == '\'' && (i == 0 || std::isalnum(static_cast<unsigned char>(s[i - 1])) == 0)) {
      for (++i; i < s.size() && s[i] != '\''; ++i)
        if (s[i] == '\\') ++i;
      ++i;
      continue;
    }
    if (c == 'R' && s.compare(i, 2, "R\"") == 0) {
      const auto paren = s.find('(', i);
      const std::string close = ")" + s.substr(i + 2, paren - i - 2) + "\"";
      const auto end = s.find(close, paren);
      if (end == std::string::npos) break;
      joined += s.substr(paren + 1, end - paren - 1);
      open = true;
      i = end + close.size();
      continue;
    }
    if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          ++i;
          joined += s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i];
        } else {
          joined += s[i];
        }
      }
      open = true;
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) == 0) flush();
    ++i;
  }
  flush();
  return out;
}

// Quoted interface names made alike: "tun0" in a page, "mq0" in a test.
std::string any_name(const std::string& s) {
  static const std::regex name("\"[A-Za-z0-9%._-]{1,15}\"");
  return std::regex_replace(s, name, "\"NAME\"");
}

// The other tests' literals, names made alike.
const std::vector<std::string>& asserted() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const char* dir : {"/tests/unit", "/tests/netns"}) {
      for (const auto& f :
           std::filesystem::directory_iterator(TUNKIT_SOURCE_DIR + std::string(dir))) {
        if (f.path().extension() != ".cpp" || f.path().filename() == "docs_messages_test.cpp") {
          continue;
        }
        for (auto& l : literals_of(page_text(f.path().string())))
          v.push_back(any_name(l));
      }
    }
    return v;
  }();
  return all;
}

// Whether a test asserts `quote`: its parts around "..." in order inside one literal.
bool asserted_elsewhere(const std::string& quote) {
  std::vector<std::string> parts;
  std::string q = any_name(quote);
  for (std::size_t at = 0;;) {
    const auto dots = q.find("...", at);
    parts.push_back(q.substr(at, dots == std::string::npos ? std::string::npos : dots - at));
    if (dots == std::string::npos) break;
    at = dots + 3;
  }
  for (const auto& l : asserted()) {
    std::size_t pos = 0;
    bool all = true;
    for (const auto& p : parts) {
      const auto k = l.find(p, pos);
      if (k == std::string::npos) {
        all = false;
        break;
      }
      pos = k + p.size();
    }
    if (all) return true;
  }
  return false;
}

std::vector<std::byte> ipv4(std::size_t size) {
  std::vector<std::byte> p(size, std::byte{0});
  p[0] = std::byte{0x45};
  return p;
}

// A device "tun0" (or `name`) over `k`, up.
TunDevice up(FakeKernel& k, Options o) {
  TunDevice dev(o, k);
  k.set_up(dev.name(), true);
  return dev;
}

// Each quote the pages make, produced by the call that fails.
const std::map<std::string, std::function<void()>>& producers() {
  static const std::map<std::string, std::function<void()>> m{
      {R"(adopt descriptor 1000: not a TUN/TAP queue (it is a socket, not a /dev/net/tun descriptor))",
       [] {
         FakeKernel k;
         const int sock = k.socket(AF_INET, SOCK_DGRAM, 0);  // the fake's first number: 1000
         (void)tunkit::Queue::adopt(sock, {}, k);
       }},
      {R"(open "much-too-long-name": interface name too long (at most 15 bytes))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "much-too-long-name"}, k);
       }},
      {R"(open "tun0": invalid argument (Options::queues must be 1..256, not 300))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0", .queues = 300}, k);
       }},
      {R"(open "tun0": not supported by the running kernel (IFF_VNET_HDR))",
       [] {
         FakeKernel k;
         k.set_features(IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
         TunDevice dev({.name = "tun0", .vnet_hdr = true}, k);
       }},
      {R"(write "tun0": input/output error (the interface is down: bring it up first))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         (void)dev.write(ipv4(40));
       }},
      {R"(write "tun0": invalid virtio-net header (virtio-net header: hdr_len 1600 beyond packet length 1500))",
       [] {
         FakeKernel k;
         TunDevice dev = up(k, {.name = "tun0", .vnet_hdr = true});
         std::vector<std::byte> p(10, std::byte{0});
         p[2] = std::byte{0x40};  // hdr_len 1600, little-endian
         p[3] = std::byte{0x06};
         const auto packet = ipv4(1500);
         p.insert(p.end(), packet.begin(), packet.end());
         (void)dev.write(p);
       }},
      {R"(write "tun0": empty packet)",
       [] {
         FakeKernel k;
         TunDevice dev = up(k, {.name = "tun0"});
         (void)dev.write(std::span<const std::byte>());
       }},
      {R"(read "tun0": packet truncated (buffer smaller than the packet) (use a buffer of at least the MTU plus headers))",
       [] {
         FakeKernel k;
         TunDevice dev = up(k, {.name = "tun0"});
         (void)k.inject("tun0", ipv4(100));
         std::array<std::byte, 10> small{};
         (void)dev.read(small);
       }},
      {R"(read "tun0": interrupted by interrupt())",
       [] {
         FakeKernel k;
         TunDevice dev = up(k, {.name = "tun0"});
         dev.interrupt();
         std::array<std::byte, 100> buf{};
         (void)dev.read(buf);
       }},
      {R"(read: device not open)",
       [] {
         TunDevice dev;
         std::array<std::byte, 100> buf{};
         (void)dev.read(buf);
       }},
      {R"(TUNSETSTEERINGEBPF "tun0": bad file descriptor (needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         k.fail_next_ioctl(TUNSETSTEERINGEBPF, EBADF);
         dev.set_steering_ebpf(99);
       }},
      {R"(TUNSETOFFLOAD "tun0": invalid argument (every offload needs Offload::csum))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0", .vnet_hdr = true}, k);
         (void)dev.set_offloads(tunkit::Offload::tso4);
       }},
      {R"(set MAC address 02:00:5e:10:00:01 on "tun0": operation not supported (this device has no link-layer address to set (TUN devices have none; TAP devices do)))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         tunkit::Link(dev.ifindex(), k).set_mac(tunkit::MacAddress::parse("02:00:5e:10:00:01"));
       }},
      {R"(add address 10.0.0.1/24 on "tun0": already exists)",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         tunkit::Link link(dev.ifindex(), k);
         link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
         link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
       }},
      {R"(add address fd00::1/64 on "tun0": invalid argument (IPv6 needs an MTU of at least 1280; this interface has 1000))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         tunkit::Link link(dev.ifindex(), k);
         link.set_mtu(1000);
         link.add_address(tunkit::IpPrefix::parse("fd00::1/64"));
       }},
      {R"(add route 10.9.0.1/16 on "vpn0": invalid IP address or prefix (host bits are set: the network is 10.9.0.0/16))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "vpn0"}, k);
         tunkit::Route r;
         r.destination = tunkit::IpPrefix::parse("10.9.0.1/16");
         tunkit::Link(dev.ifindex(), k).add_route(r);
       }},
      {R"(remove address 10.0.0.1/24 from "tun0": address not assigned (no assigned address matches both address and prefix length))",
       [] {
         FakeKernel k;
         TunDevice dev({.name = "tun0"}, k);
         tunkit::Link(dev.ifindex(), k).remove_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
       }},
      {R"(parse MAC address "aa:bb": invalid MAC address (expected six hex bytes like aa:bb:cc:dd:ee:ff))",
       [] { (void)tunkit::MacAddress::parse("aa:bb"); }},
      {R"(parse prefix "10.0.0.1/33": invalid IP address or prefix (the prefix length of an IPv4 address is at most 32))",
       [] { (void)tunkit::IpPrefix::parse("10.0.0.1/33"); }},
      {R"(parse address "10.0.0.300": invalid IP address or prefix)",
       [] { (void)tunkit::IpAddress::parse("10.0.0.300"); }},
      {R"(open network namespace "a/b": invalid network namespace name (a file name under /run/netns: not empty, no '/', not "." or ".."))",
       [] {
         FakeKernel k;
         (void)tunkit::NetNs::open_named("a/b", k);
       }},
      {R"(open network namespace "/proc/thread-self/ns/net": no such file or directory (is /proc mounted? /proc/thread-self needs Linux 3.17))",
       [] {
         FakeKernel k;
         k.fail_next(FakeKernel::Call::open, ENOENT);
         (void)tunkit::NetNs::current(k);
       }},
  };
  return m;
}

// Quotes that are not tunkit messages made by a call a unit test can make, and why.
const std::set<std::string>& not_produced_here() {
  static const std::set<std::string> s{
      // The pattern of every configure() failure: the failed step's message comes first.
      "... ; the steps before it were undone",
      // The dynamic loader's message, not tunkit's.
      "error while loading shared libraries: libtunkit.so.0",
      // tunkit::AsyncQueue (Asio): the unit tests are not built against Asio.
      R"(duplicate for Asio the descriptor of "tun0": too many open files in this process)",
      // NetNsSandbox's answers from the real kernel (unshare, setns, the node's mode): the
      // namespace tests and NetNsSandbox's own tests meet them; a unit test cannot.
      "unshare(CLONE_NEWNET): operation not permitted (needs root, or "
      "NetNsSandbox::prepare_process() first where unprivileged user namespaces are allowed: ...)",
      "unshare(CLONE_NEWUSER|CLONE_NEWNET): invalid argument (the process is multi-threaded: call "
      "it before starting any thread)",
      "setns(CLONE_NEWNET) to the current namespace (the way back): operation not permitted (this "
      "namespace belongs to a parent user namespace: ...)",
      "/dev/net/tun: permission denied (mode 0600, owner root; needs root, or a node this user can "
      "read and write)",
  };
  return s;
}

TEST_CASE("every message the docs quote is the library's own", "[docs][error]") {
  const auto quotes = quoted_messages();
  REQUIRE(quotes.size() > 50);
  std::size_t produced = 0, elsewhere = 0;
  for (const auto& quote : quotes) {
    INFO("quoted: " << quote);
    if (const auto it = producers().find(quote); it != producers().end()) {
      CHECK(message_of(it->second) == quote);
      ++produced;
    } else if (asserted_elsewhere(quote)) {
      ++elsewhere;
    } else {
      CHECK(not_produced_here().count(quote) == 1);
    }
  }
  // Nothing in the tables that the pages no longer quote.
  const std::set<std::string> all(quotes.begin(), quotes.end());
  for (const auto& [quote, call] : producers()) {
    INFO("no longer quoted: " << quote);
    CHECK(all.count(quote) == 1);
  }
  for (const auto& quote : not_produced_here()) {
    INFO("no longer quoted: " << quote);
    CHECK(all.count(quote) == 1);
  }
  CHECK(produced == producers().size());
  CHECK(produced + elsewhere + not_produced_here().size() == quotes.size());
}

}  // namespace docs_messages
