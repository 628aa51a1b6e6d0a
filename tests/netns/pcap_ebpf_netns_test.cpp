// tunkit::translate_filter against the kernel: tcpdump expressions compiled by libpcap, translated
// into eBPF, loaded (EbpfFilter::load: the verifier accepts every one) and run by the kernel on
// test packets (BPF_PROG_TEST_RUN) return exactly what libpcap's own interpreter returns on the
// same packets. The packets exercise every kind of classic instruction libpcap emits: packet
// loads out of bounds, the IPv4 header length (LDX MSH), scratch memory, arithmetic with X,
// division by an X that is 0, fragments, VLAN tags. No interface is touched; the test needs
// CAP_BPF and is skipped without it.
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bpf_programs.hpp"
#include "catch.hpp"
#include "privilege_skip.hpp"
#include "tunkit/ebpf.hpp"
#include "tunkit/packet/build.hpp"
#include "tunkit/pcap.hpp"

namespace {

namespace pcap = tunkit::pcap;
using Bytes = std::vector<std::byte>;

// What the kernel's program returns on `packet` (BPF_PROG_TEST_RUN). A socket filter's test run
// takes the first 14 bytes as an Ethernet header and starts the program after them, so 14
// bytes of padding go first: the program then sees `packet` from its first byte, as the tun
// driver shows it a packet (TUN) or frame (TAP).
std::uint32_t ebpf_test_run(int prog_fd, const Bytes& packet) {
  Bytes data(14, std::byte{0});
  data[12] = std::byte{0x88};  // a local experimental EtherType (0x88b5): the kernel then
  data[13] = std::byte{0xb5};  // reads no IP header of its own, and takes runts too
  data.insert(data.end(), packet.begin(), packet.end());
  bpf_attr attr{};
  attr.test.prog_fd = static_cast<std::uint32_t>(prog_fd);
  attr.test.data_in = reinterpret_cast<std::uintptr_t>(data.data());
  attr.test.data_size_in = static_cast<std::uint32_t>(data.size());
  attr.test.repeat = 1;
  const long r = ::syscall(SYS_bpf, BPF_PROG_TEST_RUN, &attr, sizeof attr);
  INFO("errno " << errno);
  REQUIRE(r == 0);
  return attr.test.retval;
}

tunkit::IpAddress ebpf_ip(const char* text) {
  return tunkit::IpAddress::parse(text);
}

Bytes ebpf_built(const tunkit::BuildResult& len, const std::array<std::byte, 512>& buf) {
  REQUIRE(len);
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*len)};
}

// IP packets (what a TUN device's filter sees) of every kind the expressions below tell apart.
std::vector<Bytes> ebpf_ip_packets() {
  std::vector<Bytes> out;
  std::array<std::byte, 512> buf{};
  const std::array<std::byte, 100> payload{};
  const std::array<std::byte, 4> mss{std::byte{2}, std::byte{4}, std::byte{5}, std::byte{0xb4}};
  const auto v4a = ebpf_ip("10.1.2.3");
  const auto v4b = ebpf_ip("10.9.9.9");
  const auto v6a = ebpf_ip("fd00::1");
  const auto v6b = ebpf_ip("fd00::2");
  out.push_back(ebpf_built(
      tunkit::build_echo_request({.src = v4a, .dst = v4b, .identifier = 7, .sequence = 1}, buf),
      buf));
  out.push_back(ebpf_built(
      tunkit::build_echo_request({.src = v6a, .dst = v6b, .identifier = 7, .sequence = 1}, buf),
      buf));
  for (const std::uint16_t port : {std::uint16_t{53}, std::uint16_t{9}, std::uint16_t{55}}) {
    out.push_back(ebpf_built(
        tunkit::build_udp_datagram(
            {.src = v4a, .dst = v4b, .src_port = 40000, .dst_port = port, .data = payload}, buf),
        buf));
    out.push_back(ebpf_built(tunkit::build_udp_datagram({.src = v6a,
                                                         .dst = v6b,
                                                         .src_port = 40000,
                                                         .dst_port = port,
                                                         .data = std::span(payload).first(8)},
                                                        buf),
                             buf));
  }
  for (const std::uint16_t port : {std::uint16_t{80}, std::uint16_t{443}}) {
    out.push_back(ebpf_built(
        tunkit::build_tcp_syn(
            {.src = v4b, .dst = v4a, .src_port = 33000, .dst_port = port, .options = mss}, buf),
        buf));
    out.push_back(ebpf_built(
        tunkit::build_tcp_syn({.src = v6b, .dst = v6a, .src_port = 33000, .dst_port = port}, buf),
        buf));
  }
  // An IPv4 header with 4 option bytes (IHL 6): the transport header moves, which LDX MSH finds.
  {
    Bytes p = out[2];  // IPv4 UDP to port 53
    p.insert(p.begin() + 20, 4, std::byte{1});
    p[0] = std::byte{0x46};
    const std::size_t total = p.size();
    p[2] = static_cast<std::byte>(total >> 8U);
    p[3] = static_cast<std::byte>(total & 0xffU);
    out.push_back(p);
  }
  // A later fragment (offset 16 x 8 bytes): no UDP header in it.
  {
    Bytes p = out[2];
    p[6] = std::byte{0};
    p[7] = std::byte{16};
    out.push_back(p);
  }
  // A TOS byte that is not 0 (the expressions divide by it).
  {
    Bytes p = out[6];  // IPv4 UDP to port 55
    p[1] = std::byte{4};
    out.push_back(p);
  }
  // Cut short: the loads past its end end the program.
  out.push_back(Bytes(out[8].begin(), out[8].begin() + 10));  // an IPv4 TCP SYN's first bytes
  out.push_back(Bytes(out[2].begin(), out[2].begin() + 24));  // IPv4 UDP, half its header
  out.push_back(Bytes(1, std::byte{0x45}));
  return out;
}

Bytes ebpf_ethernet(const Bytes& ip, std::uint16_t type, bool broadcast = false) {
  Bytes f{std::byte{2}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1},
          std::byte{2}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{2}};
  if (broadcast) std::fill(f.begin(), f.begin() + 6, std::byte{0xff});
  f.push_back(static_cast<std::byte>(type >> 8U));
  f.push_back(static_cast<std::byte>(type & 0xffU));
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

// Ethernet frames (what a TAP device's filter sees): the IP packets framed, an ARP request, a
// VLAN-tagged datagram, a broadcast, a runt.
std::vector<Bytes> ebpf_frames(const std::vector<Bytes>& ip_packets) {
  std::vector<Bytes> out;
  for (const Bytes& p : ip_packets) {
    const bool v6 = !p.empty() && (std::to_integer<unsigned>(p[0]) >> 4U) == 6;
    out.push_back(ebpf_ethernet(p, v6 ? 0x86dd : 0x0800));
  }
  Bytes arp(28, std::byte{0});
  arp[1] = std::byte{1};     // Ethernet
  arp[2] = std::byte{0x08};  // IPv4
  arp[4] = std::byte{6};
  arp[5] = std::byte{4};
  arp[7] = std::byte{1};  // request
  out.push_back(ebpf_ethernet(arp, 0x0806, true));
  Bytes tagged{std::byte{0}, std::byte{5}, std::byte{0x08}, std::byte{0}};  // VLAN 5, IPv4
  tagged.insert(tagged.end(), ip_packets[2].begin(), ip_packets[2].end());
  out.push_back(ebpf_ethernet(tagged, 0x8100));
  out.push_back(ebpf_ethernet(ip_packets[0], 0x0800, true));
  out.push_back(Bytes(out[0].begin(), out[0].begin() + 13));
  return out;
}

// Expressions for both link types: protocols, ports, hosts and nets, lengths, header fields,
// arithmetic (scratch memory, X, division and modulo; `len / ip[1]` divides by the TOS byte,
// 0 in most packets), negation, fragments.
const std::vector<std::string> ebpf_common_expressions = {
    "icmp",
    "icmp6",
    "udp port 53",
    "udp and not port 53",
    "tcp dst port 80",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip and len > 100",
    "ip6",
    "host 10.1.2.3",
    "net 10.0.0.0/8 and udp",
    "portrange 50-60",
    "greater 60",
    "less 60",
    "ip proto 17 or ip6 proto 17",
    "ip[6:2] & 0x1fff != 0",
    "ip[0] & 0xf > 5",
    "len / ip[1] > 3",
    "len % 7 = 3",
    "udp[8:2] * 3 - 1 > 100 or ip[8] + ip[9] = 81",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) = 0)",
    "ip6 and tcp port 443",
    "udp and (ip[1] >> 1) & 0x2 != 0",
    "-(ip[1]) & 0xff = 0xfc",
};

const std::vector<std::string> ebpf_ethernet_expressions = {
    "arp",
    "vlan and udp",
    "ether host 02:00:00:00:00:01",
    "ether broadcast",
    "ether proto 0x0806 or ip6",
};

struct EbpfRunCounts {
  std::size_t runs = 0;
  std::size_t accepted = 0;
};

// Every expression on every packet: the kernel's answer against libpcap's.
EbpfRunCounts ebpf_compare(pcap::LinkType link, const std::vector<std::string>& expressions,
                           const std::vector<Bytes>& packets) {
  EbpfRunCounts counts;
  for (const std::string& expression : expressions) {
    INFO("expression: " << expression);
    const auto classic = pcap::compile_filter(expression, link);
    const auto filter = tunkit::EbpfFilter::load(classic);
    REQUIRE(filter);
    CHECK(filter.size() == tunkit::translate_filter(classic).size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
      INFO("packet " << i << " (" << packets[i].size() << " bytes)");
      const std::uint32_t want = pcap::run_filter(classic, packets[i]);
      CHECK(ebpf_test_run(filter.fd(), packets[i]) == want);
      ++counts.runs;
      counts.accepted += want != 0 ? 1U : 0U;
    }
  }
  return counts;
}

}  // namespace

TEST_CASE("ebpf: translated tcpdump filters answer as libpcap's interpreter, in the kernel",
          "[netns][pcap][ebpf]") {
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  const auto ip = ebpf_ip_packets();
  const auto frames = ebpf_frames(ip);

  const EbpfRunCounts raw = ebpf_compare(pcap::LinkType::raw, ebpf_common_expressions, ip);
  auto ethernet_expressions = ebpf_common_expressions;
  ethernet_expressions.insert(ethernet_expressions.end(), ebpf_ethernet_expressions.begin(),
                              ebpf_ethernet_expressions.end());
  const EbpfRunCounts eth = ebpf_compare(pcap::LinkType::ethernet, ethernet_expressions, frames);

  // Neither side accepted or refused everything: the comparison tells programs apart.
  CHECK(raw.runs == ebpf_common_expressions.size() * ip.size());
  CHECK(eth.runs == ethernet_expressions.size() * frames.size());
  CHECK(raw.accepted > raw.runs / 10);
  CHECK(raw.accepted < raw.runs / 2);
  CHECK(eth.accepted > eth.runs / 10);
  CHECK(eth.accepted < eth.runs / 2);
}
