// tunkit::pcap (tunkit/pcap.hpp): filter expressions compiled by libpcap and run by libpcap's own
// bpf_filter() on sample packets, attached over the fake kernel; capture files written, read back,
// and damaged.
#include "tunkit/pcap.hpp"

#include <linux/filter.h>
#include <linux/if_tun.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

namespace pcap = tunkit::pcap;
using tunkit::BpfInstruction;
using tunkit::testing::FakeKernel;

// libpcap's own interpreter over `program` (not tunkit's run_filter): what it returns for `pkt`.
unsigned pcap_run_libpcap(const std::vector<BpfInstruction>& program,
                          const std::vector<std::byte>& pkt) {
  std::vector<bpf_insn> insns;
  for (const auto& i : program)
    insns.push_back({i.code, i.jt, i.jf, i.k});
  const auto len = static_cast<unsigned>(pkt.size());
  return bpf_filter(insns.data(), reinterpret_cast<const u_char*>(pkt.data()), len, len);
}

// An Ethernet header (02:..:02 -> 02:..:01, `ethertype`) followed by `ip`.
std::vector<std::byte> pcap_in_ethernet(const std::vector<std::byte>& ip, unsigned ethertype) {
  auto f = tunkit_test::hex("020000000001 020000000002 0000");
  tunkit_test::put16(f, 12, ethertype);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

// A scratch directory under TMPDIR (or /tmp), removed at the end of the test.
struct PcapTempDir {
  std::filesystem::path path;
  PcapTempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tunkit-pcap-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~PcapTempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path, ec);
  }
  PcapTempDir(const PcapTempDir&) = delete;
  PcapTempDir& operator=(const PcapTempDir&) = delete;
};

std::vector<std::byte> pcap_file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i)
    out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

void pcap_put_file(const std::filesystem::path& p, std::span<const std::byte> bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

pcap::Timestamp pcap_at(std::int64_t ns) {
  return pcap::Timestamp(std::chrono::nanoseconds(ns));
}

std::string pcap_what(const std::function<void()>& f) {
  try {
    f();
  } catch (const tunkit::Error& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

// The message `f` throws with the file's path written "FILE" (as the docs quote it).
std::string pcap_what_in(const std::filesystem::path& file, const std::function<void()>& f) {
  std::string what = pcap_what(f);
  const std::string quoted = "\"" + file.string() + "\"";
  if (const auto at = what.find(quoted); at != std::string::npos)
    what.replace(at, quoted.size(), "\"FILE\"");
  return what;
}

}  // namespace

TEST_CASE("pcap: compile_filter for raw IP (a TUN device's packets)", "[pcap][filter]") {
  const auto icmp = pcap::compile_filter("icmp", pcap::LinkType::raw);
  REQUIRE_FALSE(icmp.empty());
  const auto echo = tunkit_test::hex(tunkit_test::kIcmp4Echo);
  const auto udp = tunkit_test::hex(tunkit_test::kUdp4);
  CHECK(pcap_run_libpcap(icmp, echo) != 0);
  CHECK(pcap_run_libpcap(icmp, udp) == 0);
  CHECK(pcap::matches(icmp, echo));
  CHECK_FALSE(pcap::matches(icmp, udp));
  CHECK(pcap::run_filter(icmp, echo) == 262144);  // the snaplen: keep the whole packet

  const auto dns = pcap::compile_filter("udp port 53", pcap::LinkType::raw, 96);
  CHECK(pcap_run_libpcap(dns, udp) == 96);  // kUdp4 is 5353 -> 53
  CHECK(pcap_run_libpcap(dns, echo) == 0);
  const auto v6 = pcap::compile_filter("icmp6", pcap::LinkType::raw);
  CHECK(pcap_run_libpcap(v6, tunkit_test::hex(tunkit_test::kIcmp6Echo)) != 0);
  CHECK(pcap_run_libpcap(v6, echo) == 0);
  // An empty expression accepts everything.
  const auto all = pcap::compile_filter("", pcap::LinkType::raw);
  CHECK(pcap_run_libpcap(all, udp) != 0);
  // An empty program (what a failed non-throwing compile returns) rejects everything.
  CHECK_FALSE(pcap::matches({}, echo));
}

// The header's claim, checked under ThreadSanitizer by the tsan job: compiles from several
// threads at once (libpcap's compiler is not reentrant before 1.8) each get their own program.
TEST_CASE("pcap: compile_filter from several threads at once", "[pcap][filter][threads]") {
  const auto reference = pcap::compile_filter("icmp or udp port 53", pcap::LinkType::raw);
  std::vector<std::thread> threads;
  std::array<int, 4> same{};
  for (std::size_t t = 0; t < same.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const auto p = pcap::compile_filter(i % 2 == 0 ? "icmp or udp port 53" : "tcp port 80",
                                            pcap::LinkType::raw);
        std::error_code ec;
        const auto bad = pcap::compile_filter("udp port", pcap::LinkType::raw, 262144, ec);
        if ((i % 2 != 0 || p == reference) && ec && bad.empty()) ++same[t];
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (const int n : same)
    CHECK(n == 50);
}

TEST_CASE("pcap: compile_filter for Ethernet (a TAP device's frames)", "[pcap][filter]") {
  const auto icmp = pcap::compile_filter("icmp", pcap::LinkType::ethernet);
  const auto echo = tunkit_test::hex(tunkit_test::kEchoFrame);
  const auto udp = pcap_in_ethernet(tunkit_test::hex(tunkit_test::kUdp4), 0x0800);
  CHECK(pcap_run_libpcap(icmp, echo) != 0);
  CHECK(pcap_run_libpcap(icmp, udp) == 0);
  CHECK(pcap_run_libpcap(icmp, tunkit_test::hex(tunkit_test::kNsFrame)) == 0);  // ICMPv6
  // The raw-IP program is not the Ethernet one: offsets differ by the 14-byte header.
  const auto raw = pcap::compile_filter("icmp", pcap::LinkType::raw);
  CHECK(raw != icmp);
  CHECK(pcap_run_libpcap(raw, echo) == 0);
  const auto arp = pcap::compile_filter("arp", pcap::LinkType::ethernet);
  CHECK(pcap_run_libpcap(arp, echo) == 0);
  const auto vlan = pcap::compile_filter("vlan 10 and udp", pcap::LinkType::ethernet);
  CHECK(pcap_run_libpcap(vlan, tunkit_test::hex(tunkit_test::kVlanFrame)) != 0);
}

TEST_CASE("pcap: an invalid expression is a tunkit::Error with libpcap's words", "[pcap][filter]") {
  CHECK(pcap_what([] { (void)pcap::compile_filter("udp port", pcap::LinkType::raw); }) ==
        "tunkit: compile filter \"udp port\": can't parse filter expression: syntax error");
  // Valid syntax that the link type cannot express: libpcap says why.
  CHECK(pcap_what(
            [] { (void)pcap::compile_filter("ether host 1:2:3:4:5:6", pcap::LinkType::raw); }) ==
        "tunkit: compile filter \"ether host 1:2:3:4:5:6\": ethernet addresses supported only on "
        "ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel");
  try {
    (void)pcap::compile_filter("tcp port http-nope", pcap::LinkType::ethernet);
    FAIL("accepted");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::invalid_filter);
    CHECK(std::string(e.what()).starts_with("tunkit: compile filter \"tcp port http-nope\": "));
    CHECK(std::string(e.what()).find("http-nope") != std::string::npos);
  }
  CHECK(pcap_what([] { (void)pcap::compile_filter("icmp", static_cast<pcap::LinkType>(105)); }) ==
        "tunkit: compile filter \"icmp\": link type 105 not supported (ethernet or raw)");

  std::error_code ec;
  CHECK(pcap::compile_filter("udp port", pcap::LinkType::raw, 262144, ec).empty());
  CHECK(ec == tunkit::errc::invalid_filter);
  CHECK(ec.message() == "invalid filter expression");
  CHECK_FALSE(pcap::compile_filter("icmp", pcap::LinkType::raw, 262144, ec).empty());
  CHECK_FALSE(ec);
}

TEST_CASE("pcap: compiled programs attach over the fake kernel", "[pcap][filter][fake]") {
  FakeKernel k;
  tunkit::TunDevice tap({.name = "e0", .mode = tunkit::Mode::tap, .queues = 2}, k);
  const auto icmp = pcap::compile_filter("icmp or udp port 53", pcap::LinkType::ethernet);
  tap.attach_filter(icmp);
  const auto d = k.device("e0");
  CHECK(d->filter_attached);
  CHECK(d->filter_program == icmp);  // passed as compiled, every instruction
  for (const auto& q : d->queue_states)
    CHECK(q.socket_filter);
  CHECK(tap.filter_size() == icmp.size());
  tap.detach_filter();
  CHECK_FALSE(k.device("e0")->filter_attached);

  SECTION("a TUN device takes no classic BPF program (the driver's rule)") {
    tunkit::TunDevice tun({.name = "t0"}, k);
    const auto raw = pcap::compile_filter("icmp", pcap::LinkType::raw);
    CHECK(pcap_what([&] { tun.attach_filter(raw); }) ==
          "tunkit: TUNATTACHFILTER \"t0\": invalid argument (TAP devices only, with a valid "
          "program of 1 to 4096 instructions)");
    std::error_code ec;
    tun.attach_filter(raw, ec);
    CHECK(ec == std::errc::invalid_argument);
  }
  SECTION("the kernel refuses the attach: the error names the device") {
    k.fail_next_ioctl(TUNATTACHFILTER, ENOMEM);
    CHECK(pcap_what([&] {
            tap.attach_filter(icmp);
          }).starts_with("tunkit: TUNATTACHFILTER \"e0\": out of memory"));
    std::error_code ec;
    k.fail_next_ioctl(TUNATTACHFILTER, EPERM);
    tap.attach_filter(icmp, ec);
    CHECK(ec == std::errc::operation_not_permitted);
    tap.attach_filter(icmp, ec);  // the next one goes through
    CHECK_FALSE(ec);
    CHECK(k.device("e0")->filter_attached);
  }
  SECTION("a failed compile never reaches the kernel") {
    std::error_code ec;
    const auto none = pcap::compile_filter("icmp and", pcap::LinkType::ethernet, 262144, ec);
    CHECK(ec == tunkit::errc::invalid_filter);
    k.clear_calls();
    tap.attach_filter(none, ec);  // an empty program: EINVAL before any syscall
    CHECK(ec == std::errc::invalid_argument);
    CHECK(k.calls().empty());
  }
}

TEST_CASE("pcap: Writer and Reader round trip", "[pcap][capture]") {
  PcapTempDir dir;
  const auto precision = GENERATE(pcap::Precision::microseconds, pcap::Precision::nanoseconds);
  const auto file = dir.path / "round.pcap";
  const std::vector<std::vector<std::byte>> packets{tunkit_test::hex(tunkit_test::kIcmp4Echo),
                                                    tunkit_test::hex(tunkit_test::kUdp4),
                                                    tunkit_test::hex(tunkit_test::kIcmp6Echo)};
  const std::int64_t t0 = 1'700'000'000'123'456'789;
  {
    pcap::Writer w(file, {.link = pcap::LinkType::raw, .snaplen = 80, .precision = precision});
    CHECK(w.is_open());
    CHECK(w.path() == file);
    for (std::size_t i = 0; i < packets.size(); ++i)
      w.write(packets[i], pcap_at(t0 + static_cast<std::int64_t>(i) * 1'000'001));
    CHECK(w.packets() == 3);
    pcap::Writer moved(std::move(w));
    CHECK_FALSE(w.is_open());  // NOLINT(bugprone-use-after-move): the moved-from state is defined
    std::error_code ec;
    w.write(packets[0], pcap_at(t0), ec);
    CHECK(ec == tunkit::errc::not_open);
    moved.close();
    CHECK_FALSE(moved.is_open());
  }
  const auto bytes = pcap_file_bytes(file);
  // 24 + (16 + 80 cut from 84) + (16 + 70) + (16 + 80 cut from 104)
  CHECK(bytes.size() == 24 + 96 + 86 + 96);

  pcap::Reader r(file);
  CHECK(r.link_type() == pcap::LinkType::raw);
  CHECK(r.snaplen() == 80);
  CHECK(r.precision() == precision);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    auto p = r.next();
    REQUIRE(p);
    const std::size_t kept = std::min<std::size_t>(packets[i].size(), 80);
    CHECK(p->data ==
          std::vector<std::byte>(packets[i].begin(),
                                 packets[i].begin() + static_cast<std::ptrdiff_t>(kept)));
    CHECK(p->original_length == packets[i].size());
    const std::int64_t want = t0 + static_cast<std::int64_t>(i) * 1'000'001;
    const std::int64_t got = p->time.time_since_epoch().count();
    CHECK(got == (precision == pcap::Precision::nanoseconds ? want : want / 1000 * 1000));
  }
  CHECK_FALSE(r.next());
  CHECK_FALSE(r.next());  // the end stays the end
  CHECK(r.packets() == 3);

  // libpcap reads it too.
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(file.c_str(), PCAP_TSTAMP_PRECISION_NANO, err.data());
  REQUIRE(p != nullptr);
  CHECK(pcap_datalink(p) == DLT_RAW);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int n = 0;
  while (pcap_next_ex(p, &h, &data) == 1)
    ++n;
  CHECK(n == 3);
  pcap_close(p);
}

TEST_CASE("pcap: an Ethernet capture records its link type", "[pcap][capture]") {
  PcapTempDir dir;
  const auto file = dir.path / "tap.pcap";
  pcap::Writer w(file, {.link = pcap::LinkType::ethernet});
  w.write(tunkit_test::hex(tunkit_test::kEchoFrame));
  w.flush();
  pcap::Reader r(file);
  CHECK(r.link_type() == pcap::LinkType::ethernet);
  const auto p = r.next();
  REQUIRE(p);
  CHECK(p->data == tunkit_test::hex(tunkit_test::kEchoFrame));
  const auto age = std::chrono::system_clock::now() - p->time;
  CHECK(age >= std::chrono::seconds(0));
  CHECK(age < std::chrono::seconds(60));
}

TEST_CASE("pcap: a capture file that cannot be written names the file", "[pcap][capture]") {
  PcapTempDir dir;
  SECTION("no such directory") {
    const auto file = dir.path / "missing" / "x.pcap";
    CHECK(pcap_what([&] { pcap::Writer w(file); }) ==
          "tunkit: create capture \"" + file.string() + "\": no such file or directory");
    std::error_code ec;
    const auto w = pcap::Writer::create(file, {}, ec);
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK_FALSE(w.is_open());
  }
  SECTION("a file without write permission") {
    std::filesystem::create_directory(dir.path / "ro");
    std::filesystem::permissions(
        dir.path / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    // Root (CAP_DAC_OVERRIDE) may write into any directory, not into a read-only sysfs file.
    const std::filesystem::path file = ::access((dir.path / "ro").c_str(), W_OK) == 0
                                           ? std::filesystem::path("/sys/kernel/notes")
                                           : dir.path / "ro" / "x.pcap";
    CHECK(pcap_what_in(file, [&] { pcap::Writer w(file); }) ==
          "tunkit: create capture \"FILE\": permission denied");
  }
  SECTION("a path that is a directory") {
    std::error_code ec;
    const auto w = pcap::Writer::create(dir.path, {}, ec);
    CHECK(ec == std::errc::is_a_directory);
  }
  SECTION("a snaplen of 0") {
    std::error_code ec;
    const auto w = pcap::Writer::create(dir.path / "x.pcap", {.snaplen = 0}, ec);
    CHECK(ec == tunkit::errc::out_of_range);
  }
  SECTION("a full disk, seen at the write that fills the buffer or at the flush") {
    pcap::Writer w("/dev/full");
    const auto pkt = tunkit_test::hex(tunkit_test::kUdp4);
    std::error_code ec;
    for (int i = 0; i < 10000 && !ec; ++i)
      w.write(pkt, pcap_at(0), ec);
    if (!ec) w.flush(ec);
    CHECK(ec == std::errc::no_space_on_device);
    // Later writes keep failing; the message names the file.
    CHECK(pcap_what_in("/dev/full", [&] { w.write(pkt, pcap_at(0)); }) ==
          "tunkit: write capture \"FILE\": no space left on device");
    CHECK(pcap_what([&] { w.flush(); }) ==
          "tunkit: flush capture \"/dev/full\": no space left on device");
    CHECK(pcap_what([&] { w.close(); }) ==
          "tunkit: close capture \"/dev/full\": no space left on device");
    CHECK_FALSE(w.is_open());
  }
  SECTION("a full disk at close") {
    pcap::Writer w("/dev/full");
    w.write(tunkit_test::hex(tunkit_test::kUdp4), pcap_at(0));  // buffered
    std::error_code ec;
    w.close(ec);
    CHECK(ec == std::errc::no_space_on_device);
  }
  SECTION("times a record cannot hold") {
    pcap::Writer w(dir.path / "t.pcap");
    std::error_code ec;
    w.write(tunkit_test::hex(tunkit_test::kUdp4), pcap_at(-1), ec);
    CHECK(ec == tunkit::errc::out_of_range);
    w.write(tunkit_test::hex(tunkit_test::kUdp4), pcap_at(0x1'0000'0000LL * 1'000'000'000LL), ec);
    CHECK(ec == tunkit::errc::out_of_range);
    w.write(tunkit_test::hex(tunkit_test::kUdp4), pcap_at(0), ec);  // not sticky
    CHECK_FALSE(ec);
  }
}

TEST_CASE("pcap: a truncated capture is an error naming the file and the place",
          "[pcap][capture]") {
  PcapTempDir dir;
  const auto good = dir.path / "good.pcap";
  {
    pcap::Writer w(good);
    for (int i = 0; i < 3; ++i)
      w.write(tunkit_test::hex(tunkit_test::kUdp4), pcap_at(i));  // 16 + 70 bytes each
  }
  const auto bytes = pcap_file_bytes(good);
  REQUIRE(bytes.size() == 24 + 3 * 86);
  const auto cut = dir.path / "cut.pcap";
  struct Case {
    std::size_t length;
    std::size_t complete;  // records read before the failure
    std::string detail;
  };
  const auto c = GENERATE(values<Case>({
      {24 + 7, 0, "record 1 at offset 24: header cut after 7 of 16 bytes"},
      {24 + 16, 0, "record 1 at offset 24: data cut after 0 of 70 bytes"},
      {24 + 16 + 69, 0, "record 1 at offset 24: data cut after 69 of 70 bytes"},
      {24 + 86 + 1, 1, "record 2 at offset 110: header cut after 1 of 16 bytes"},
      {24 + 2 * 86 + 20, 2, "record 3 at offset 196: data cut after 4 of 70 bytes"},
  }));
  pcap_put_file(cut, std::span(bytes).first(c.length));
  pcap::Reader r(cut);
  for (std::size_t i = 0; i < c.complete; ++i)
    CHECK(r.next());
  const std::string want =
      "tunkit: read capture \"" + cut.string() + "\": malformed capture file (" + c.detail + ")";
  CHECK(pcap_what([&] { (void)r.next(); }) == want);
  CHECK(pcap_what([&] { (void)r.next(); }) == want);  // not read past
  std::error_code ec;
  CHECK_FALSE(r.next(ec));
  CHECK(ec == tunkit::errc::malformed_capture);
  if (c.complete == 2) {
    CHECK(pcap_what_in(cut, [&] { (void)r.next(); }) ==
          "tunkit: read capture \"FILE\": malformed capture file (record 3 at offset 196: data cut "
          "after 4 of 70 bytes)");
  }
}

TEST_CASE("pcap: a file that is no pcap capture", "[pcap][capture]") {
  PcapTempDir dir;
  const auto file = dir.path / "bad.pcap";
  const auto open_error = [&] { return pcap_what([&] { pcap::Reader r(file); }); };
  const std::string prefix = "tunkit: open capture \"" + file.string() + "\": ";
  SECTION("wrong magic") {
    pcap_put_file(file, tunkit_test::hex("0102030405060708090a0b0c0d0e0f101112131415161718"));
    CHECK(pcap_what_in(file, [&] { pcap::Reader r(file); }) ==
          "tunkit: open capture \"FILE\": malformed capture file (not a pcap file: magic "
          "0x04030201 at offset 0)");
  }
  SECTION("pcapng") {
    pcap_put_file(file, tunkit_test::hex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff"));
    CHECK(open_error() == prefix +
                              "malformed capture file (a pcapng file; tunkit reads the "
                              "classic pcap format (convert with editcap -F pcap))");
  }
  SECTION("file header cut") {
    pcap_put_file(file, tunkit_test::hex("d4c3b2a10200"));
    CHECK(open_error() == prefix + "malformed capture file (file header cut after 6 of 24 bytes)");
  }
  SECTION("empty") {
    pcap_put_file(file, {});
    CHECK(open_error() == prefix + "malformed capture file (empty file, no pcap file header)");
    std::error_code ec;
    const auto r = pcap::Reader::open(file, ec);
    CHECK(ec == tunkit::errc::malformed_capture);
    CHECK_FALSE(r.is_open());
  }
  SECTION("missing") {
    CHECK(open_error() == prefix + "no such file or directory");
  }
  SECTION("a record longer than any packet") {
    // Big-endian file (the other byte order), snaplen 65535, LINKTYPE_RAW; record of 0x01000000.
    pcap_put_file(file, tunkit_test::hex("a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000065"
                                         "00000001 00000002 01000000 01000000"));
    pcap::Reader r(file);
    CHECK(r.link_type() == pcap::LinkType::raw);
    CHECK(r.snaplen() == 65535);
    CHECK(pcap_what([&] { (void)r.next(); }) ==
          "tunkit: read capture \"" + file.string() +
              "\": malformed capture file (record 1 at offset 24: captured length 16777216 larger "
              "than the snaplen 65535)");
  }
  SECTION("the other byte order, nanoseconds, DLT_RAW written as 12") {
    pcap_put_file(file, tunkit_test::hex("a1b23c4d 0002 0004 00000000 00000000 00000040 0000000c"
                                         "00000001 00000002 00000002 00000004 abcd"));
    pcap::Reader r(file);
    CHECK(r.link_type() == pcap::LinkType::raw);
    CHECK(r.precision() == pcap::Precision::nanoseconds);
    const auto p = r.next();
    REQUIRE(p);
    CHECK(p->data == tunkit_test::hex("abcd"));
    CHECK(p->original_length == 4);
    CHECK(p->time.time_since_epoch().count() == 1'000'000'002);
    CHECK_FALSE(r.next());
  }
  SECTION("a default reader") {
    pcap::Reader r;
    std::error_code ec;
    CHECK_FALSE(r.next(ec));
    CHECK(ec == tunkit::errc::not_open);
  }
}
