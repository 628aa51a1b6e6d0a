// tunkit_stress, part "malformed": random and mutated packets through every write path, on
// devices with and without a virtio-net header (sizes 10 and 12) and packet information, TUN and
// TAP, up and (one slice in eight) down. The write paths: Queue::write in both forms,
// Queue::writev (the packet cut into random pieces, sometimes more than max_buffers),
// BatchIo::write_batch and write_packets with the loop and with io_uring. Every call must answer
// with success or an error code (a throwing form with tunkit::Error), consistently with its
// contract (bytes written, packets written); the answers are counted by errno. A refusal that
// tunkit makes itself before the system call must not depend on the path: when writev refuses a
// packet so, write must refuse it too. Descriptors and devices are compared before and after
// each device's slice: no leak.
//
// Each slice also starts with a table of inputs that are wrong for sure (an empty packet, a
// virtio-net header cut short or with an unknown GSO type, a zero gso_size, a checksum or
// hdr_len past the packet, a GSO type that does not match the packet, a TUN packet that is not
// IP, a TAP frame shorter than an Ethernet header, more buffers than writev takes): every write
// path must refuse each with an error. And each slice ends by proving the device still works: a
// valid UDP datagram written on the queue reaches a socket of the namespace, byte for byte, and
// one a socket sends through the device is read from the queue, with the documented protocol.
//
// The seeds are well-formed IPv4/IPv6 UDP, TCP and ICMP packets (and Ethernet frames with them,
// and ARP, on TAP), sent from the device's peer to the device's own address; the mutations flip
// bytes, truncate, extend, rewrite length fields, or replace the packet with random bytes. The
// virtio-net header is valid (no offload, a partial checksum, a TCP super-packet), mutated,
// random, or cut short.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/address.hpp"
#include "tunkit/batch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/vnet.hpp"

namespace tunkit::stress {
namespace {

using Bytes = std::vector<std::byte>;

struct DeviceShape {
  const char* label;
  Options options;
  int vnet_size = 10;
};

std::vector<DeviceShape> device_shapes() {
  const Offloads offloads = Offload::csum | Offload::tso4 | Offload::tso6;
  return {
      {"tun", {.name = "tkmw0"}},
      {"tun+pi", {.name = "tkmw1", .packet_info = true}},
      {"tun+vnet", {.name = "tkmw2", .vnet_hdr = true, .offloads = offloads}},
      {"tun+vnet+pi",
       {.name = "tkmw3", .packet_info = true, .vnet_hdr = true, .offloads = offloads}},
      {"tun+vnet12", {.name = "tkmw4", .vnet_hdr = true, .offloads = Offload::csum}, 12},
      {"tap", {.name = "tkmw5", .mode = Mode::tap}},
      {"tap+pi", {.name = "tkmw6", .mode = Mode::tap, .packet_info = true}},
      {"tap+vnet", {.name = "tkmw7", .mode = Mode::tap, .vnet_hdr = true, .offloads = offloads}},
  };
}

enum class Path {
  write,
  write_throwing,
  writev,
  loop_batch,
  loop_packets,
  uring_batch,
  uring_packets
};

constexpr std::array kPaths{Path::write,        Path::write_throwing, Path::writev,
                            Path::loop_batch,   Path::loop_packets,   Path::uring_batch,
                            Path::uring_packets};

const char* path_name(Path p) {
  switch (p) {
    case Path::write:
      return "write";
    case Path::write_throwing:
      return "write(throwing)";
    case Path::writev:
      return "writev";
    case Path::loop_batch:
      return "write_batch(loop)";
    case Path::loop_packets:
      return "write_packets(loop)";
    case Path::uring_batch:
      return "write_batch(io_uring)";
    case Path::uring_packets:
      return "write_packets(io_uring)";
  }
  return "?";
}

void put16(Bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::byte>((v >> 8U) & 0xFFU);
  b[at + 1] = static_cast<std::byte>(v & 0xFFU);
}

// Packets: well-formed seeds, then mutations.
class Generator {
 public:
  Generator(std::uint64_t seed, Mode mode, bool vnet, int vnet_size, MacAddress device_mac)
      : rng_(seed),
        mode_(mode),
        vnet_(vnet),
        vnet_size_(static_cast<std::size_t>(vnet_size)),
        mac_(device_mac) {}

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }
  std::byte random_byte() { return static_cast<std::byte>(rng_() & 0xFFU); }

  // The next packet (virtio-net header first on a vnet device) and a word on how it was made.
  Bytes next(std::string& how) {
    Seed s = seed();
    how = s.kind;
    const std::size_t l3_len = s.bytes.size();
    Bytes frame = std::move(s.bytes);
    std::size_t l2 = 0;
    if (mode_ == Mode::tap && !s.is_frame) {
      frame.insert(frame.begin(), 14, std::byte{0});
      const MacAddress dst = chance(70)   ? mac_
                             : chance(50) ? MacAddress::broadcast()
                                          : MacAddress::random();
      for (std::size_t i = 0; i < 6; ++i)
        frame[i] = static_cast<std::byte>(dst.bytes[i]);
      const std::array<std::uint8_t, 6> src{0x02, 0, 0, 0, 0, 0x02};
      for (std::size_t i = 0; i < 6; ++i)
        frame[6 + i] = static_cast<std::byte>(src[i]);
      put16(frame, 12, s.ipv6 ? 0x86DD : 0x0800);
      l2 = 14;
    }
    const std::size_t mutation = below(100);
    if (mutation < 20) {
      how += "/valid";
    } else if (mutation < 40) {
      how += "/flipped";
      const std::uint64_t flips = 1 + below(8);
      for (std::uint64_t i = 0; i < flips && !frame.empty(); ++i)
        frame[below(frame.size())] ^= static_cast<std::byte>(1U << below(8));
    } else if (mutation < 52) {
      how += "/truncated";
      frame.resize(below(frame.size()));
    } else if (mutation < 62) {
      how += "/extended";
      const std::size_t more = chance(10) ? 60000 + below(6000) : below(2000);
      for (std::size_t i = 0; i < more; ++i)
        frame.push_back(random_byte());
    } else if (mutation < 77) {
      how += "/length-field";
      if (frame.size() >= l2 + 6) {
        // IPv4 total length (offset 2) or IPv6 payload length (offset 4); then the L4 length.
        put16(frame, l2 + (s.ipv6 ? 4 : 2), static_cast<unsigned>(below(0x10000)));
        const std::size_t l4 = l2 + (s.ipv6 ? 40 : 20);
        if (chance(50) && frame.size() >= l4 + 6) {
          put16(frame, l4 + 4, static_cast<unsigned>(below(0x10000)));
        }
      }
    } else if (mutation < 85) {
      how += "/header-fields";
      if (frame.size() > l2 + 1) {
        // The version nibble and the IHL, or the next header / protocol.
        frame[l2] = random_byte();
        if (chance(50) && frame.size() > l2 + 9) frame[l2 + (s.ipv6 ? 6 : 9)] = random_byte();
      }
    } else if (mutation < 97) {
      how = "random";
      frame.resize(below(chance(5) ? 66000 : 2048));
      for (auto& b : frame)
        b = random_byte();
      if (mode_ == Mode::tun && !frame.empty() && chance(50)) {
        frame[0] = static_cast<std::byte>((chance(50) ? 0x40 : 0x60) |
                                          (std::to_integer<unsigned>(frame[0]) & 0x0FU));
      }
    } else {
      how = "empty";
      frame.clear();
    }
    (void)l3_len;
    if (!vnet_) return frame;
    Bytes header = vnet_header(s, l2, frame.size(), how);
    header.insert(header.end(), frame.begin(), frame.end());
    return header;
  }

 private:
  struct Seed {
    Bytes bytes;
    std::string kind;
    bool ipv6 = false;
    bool is_frame = false;      // already an Ethernet frame (ARP)
    std::uint8_t protocol = 0;  // the L4 protocol
    std::size_t l4_header = 0;  // the L4 header's length
  };

  Seed seed() {
    const std::uint64_t k = below(mode_ == Mode::tap ? 8 : 7);
    const std::size_t payload = chance(10) ? below(9000) : below(1400);
    switch (k) {
      case 0:
        return ip(false, 17, payload, "udp4");
      case 1:
        return ip(false, 6, payload, "tcp4");
      case 2:
        return ip(false, 1, payload, "icmp4");
      case 3:
        return ip(true, 17, payload, "udp6");
      case 4:
        return ip(true, 6, payload, "tcp6");
      case 5:
        return ip(true, 58, payload, "icmp6");
      case 6: {
        Seed s = ip(false, 17, payload, "fragment4");
        put16(s.bytes, 6, 0x2000U | static_cast<unsigned>(below(0x2000)));  // MF, some offset
        fix_ipv4_checksum(s.bytes);
        return s;
      }
      default:
        return arp();
    }
  }

  static void fix_ipv4_checksum(Bytes& p) {
    put16(p, 10, 0);
    put16(p, 10, internet_checksum(std::span(p).first(20)));
  }

  Seed ip(bool v6, std::uint8_t protocol, std::size_t payload, const char* kind) {
    const IpAddress src = IpAddress::parse(v6 ? "fd04::2" : "10.204.0.2");
    const IpAddress dst = IpAddress::parse(v6 ? "fd04::1" : "10.204.0.1");
    const std::size_t l3 = v6 ? 40 : 20;
    const std::size_t l4 = protocol == 6 ? 20 : 8;
    Seed s;
    s.kind = kind;
    s.ipv6 = v6;
    s.protocol = protocol;
    s.l4_header = l4;
    Bytes& p = s.bytes;
    p.assign(l3 + l4 + payload, std::byte{0});
    const auto l4_len = static_cast<unsigned>(l4 + payload);
    if (v6) {
      p[0] = std::byte{0x60};
      put16(p, 4, l4_len);
      p[6] = static_cast<std::byte>(protocol);
      p[7] = std::byte{64};
      std::memcpy(p.data() + 8, src.bytes().data(), 16);
      std::memcpy(p.data() + 24, dst.bytes().data(), 16);
    } else {
      p[0] = std::byte{0x45};
      put16(p, 2, static_cast<unsigned>(p.size()));
      put16(p, 4, static_cast<unsigned>(below(0x10000)));
      put16(p, 6, 0x4000);  // DF
      p[8] = std::byte{64};
      p[9] = static_cast<std::byte>(protocol);
      std::memcpy(p.data() + 12, src.bytes().data(), 4);
      std::memcpy(p.data() + 16, dst.bytes().data(), 4);
    }
    for (std::size_t i = l3 + l4; i < p.size(); ++i)
      p[i] = random_byte();
    const std::size_t t = l3;
    std::size_t csum_at = 0;
    if (protocol == 17) {
      put16(p, t, 40000 + static_cast<unsigned>(below(1000)));
      put16(p, t + 2, chance(50) ? 9 : 7);  // discard, echo: no listener either way
      put16(p, t + 4, l4_len);
      csum_at = t + 6;
    } else if (protocol == 6) {
      put16(p, t, 40000 + static_cast<unsigned>(below(1000)));
      put16(p, t + 2, 9);
      p[t + 12] = std::byte{0x50};                                   // data offset 5
      p[t + 13] = static_cast<std::byte>(chance(50) ? 0x02 : 0x18);  // SYN, or PSH|ACK
      put16(p, t + 14, 65535);
      csum_at = t + 16;
    } else {
      p[t] = static_cast<std::byte>(v6 ? 128 : 8);  // echo request
      put16(p, t + 4, static_cast<unsigned>(below(0x10000)));
      csum_at = t + 2;
    }
    // The transport checksum: over a pseudo header, except ICMPv4's.
    Checksum sum = (protocol == 1) ? Checksum() : pseudo_header_sum(src, dst, protocol, l4_len);
    sum.add(std::span(p).subspan(t));
    put16(p, csum_at, sum.checksum());
    if (!v6) fix_ipv4_checksum(p);
    return s;
  }

  Seed arp() {
    Seed s;
    s.kind = "arp";
    s.is_frame = true;
    Bytes& f = s.bytes;
    f.assign(42, std::byte{0});
    for (std::size_t i = 0; i < 6; ++i) {
      f[i] = std::byte{0xFF};
      f[6 + i] = static_cast<std::byte>(i == 0 ? 0x02 : i == 5 ? 0x02 : 0);
    }
    put16(f, 12, 0x0806);
    put16(f, 14, 1);       // Ethernet
    put16(f, 16, 0x0800);  // IPv4
    f[18] = std::byte{6};
    f[19] = std::byte{4};
    put16(f, 20, 1);  // request
    std::memcpy(f.data() + 22, f.data() + 6, 6);
    const std::array<std::uint8_t, 4> spa{10, 204, 0, 2};
    const std::array<std::uint8_t, 4> tpa{10, 204, 0, 1};
    for (std::size_t i = 0; i < 4; ++i) {
      f[28 + i] = static_cast<std::byte>(spa[i]);
      f[38 + i] = static_cast<std::byte>(tpa[i]);
    }
    return s;
  }

  Bytes vnet_header(const Seed& s, std::size_t l2, std::size_t frame_size, std::string& how) {
    Bytes h(vnet_size_, std::byte{0});
    const std::size_t kind = below(100);
    VirtioNetHeader v;
    const std::size_t l4_start = l2 + (s.ipv6 ? 40 : 20);
    if (kind < 30) {
      how += "+vnet-none";
    } else if (kind < 50 && s.protocol != 0) {
      how += "+vnet-csum";
      v.needs_csum = true;
      v.csum_start = static_cast<std::uint16_t>(l4_start);
      v.csum_offset = s.protocol == 6 ? 16 : s.protocol == 17 ? 6 : 2;
    } else if (kind < 65 && s.protocol == 6) {
      how += "+vnet-tso";
      v.needs_csum = true;
      v.csum_start = static_cast<std::uint16_t>(l4_start);
      v.csum_offset = 16;
      v.gso_type = s.ipv6 ? GsoType::tcpv6 : GsoType::tcpv4;
      v.gso_size = static_cast<std::uint16_t>(1 + below(1460));
      v.hdr_len = static_cast<std::uint16_t>(l4_start + 20);
    } else if (kind < 80) {
      how += "+vnet-random";
      for (auto& b : h)
        b = random_byte();
      return h;
    } else if (kind < 95) {
      how += "+vnet-flipped";
      v.needs_csum = chance(50);
      v.csum_start = static_cast<std::uint16_t>(l4_start);
      v.csum_offset = 6;
      v.gso_size = static_cast<std::uint16_t>(below(2000));
      v.hdr_len = static_cast<std::uint16_t>(below(frame_size + 1));
      (void)v.serialize(h, vnet_size_, true);
      h[below(h.size())] ^= static_cast<std::byte>(1U << below(8));
      return h;
    } else {
      how += "+vnet-cut";
      h.resize(below(vnet_size_));
      for (auto& b : h)
        b = random_byte();
      return h;  // with an empty frame the whole write is shorter than the header
    }
    (void)v.serialize(h, vnet_size_, true);
    return h;
  }

  std::mt19937_64 rng_;
  Mode mode_;
  bool vnet_;
  std::size_t vnet_size_;
  MacAddress mac_;
};

struct Counts {
  std::map<std::string, std::uint64_t> map;
  void answer(Path p, const std::error_code& ec) {
    ++map[fmt::format("answer {} {}", path_name(p), error_name(ec))];
    ++map["errno " + error_name(ec)];
    ++map["packets"];
  }
};

// Cuts `packet` into pieces for writev: 1..8 pieces (empty ones among them), or sometimes more
// than Queue::max_buffers.
std::vector<std::span<const std::byte>> cut(std::span<const std::byte> packet, Generator& g) {
  std::vector<std::span<const std::byte>> pieces;
  const std::size_t n = g.chance(3) ? Queue::max_buffers + 1 + g.below(4) : 1 + g.below(8);
  std::size_t at = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const std::size_t len = g.chance(20) ? 0 : g.below(packet.size() - at + 1);
    pieces.push_back(packet.subspan(at, len));
    at += len;
  }
  pieces.push_back(packet.subspan(at));
  return pieces;
}

// A valid UDP/IPv4 datagram from the device's peer (10.204.0.2) to the device's address.
Bytes udp4(std::span<const std::byte> payload, unsigned source_port, unsigned dest_port) {
  const IpAddress src = IpAddress::parse("10.204.0.2");
  const IpAddress dst = IpAddress::parse("10.204.0.1");
  std::array<std::byte, 28> h{};
  auto set16 = [&h](std::size_t at, std::size_t v) {
    h[at] = static_cast<std::byte>((v >> 8U) & 0xFFU);
    h[at + 1] = static_cast<std::byte>(v & 0xFFU);
  };
  h[0] = std::byte{0x45};
  set16(2, h.size() + payload.size());
  set16(6, 0x4000);  // DF
  h[8] = std::byte{64};
  h[9] = std::byte{17};
  std::memcpy(h.data() + 12, src.bytes().data(), 4);
  std::memcpy(h.data() + 16, dst.bytes().data(), 4);
  set16(20, source_port);
  set16(22, dest_port);
  set16(24, 8 + payload.size());
  Checksum sum = pseudo_header_sum(src, dst, 17, static_cast<std::uint32_t>(8 + payload.size()));
  sum.add(std::span(h).subspan(20));
  sum.add(payload);
  set16(26, sum.checksum());
  set16(10, internet_checksum(std::span(h).first(20)));
  Bytes p(h.size() + payload.size());
  std::memcpy(p.data(), h.data(), h.size());
  if (!payload.empty()) std::memcpy(p.data() + h.size(), payload.data(), payload.size());
  return p;
}

// `l3` as the device takes it: in an Ethernet frame to `mac` on TAP, after a virtio-net header
// (`header`, or one asking for nothing) on a vnet device.
Bytes framed(const DeviceShape& shape, const MacAddress& mac, Bytes l3,
             std::optional<VirtioNetHeader> header = std::nullopt) {
  Bytes out;
  if (shape.options.vnet_hdr) {
    out.assign(static_cast<std::size_t>(shape.vnet_size), std::byte{0});
    (void)header.value_or(VirtioNetHeader{}).serialize(out, out.size(), true);
  }
  if (shape.options.mode == Mode::tap) {
    for (std::size_t i = 0; i < 6; ++i)
      out.push_back(static_cast<std::byte>(mac.bytes[i]));
    const std::array<std::uint8_t, 6> src{0x02, 0, 0, 0, 0, 0x02};
    for (const std::uint8_t b : src)
      out.push_back(static_cast<std::byte>(b));
    out.push_back(std::byte{0x08});
    out.push_back(std::byte{0x00});
  }
  out.insert(out.end(), l3.begin(), l3.end());
  return out;
}

// An input that is wrong for sure on a device shape; every write path must refuse it.
struct Refusal {
  std::string what;
  Bytes bytes;
  std::size_t pieces = 1;  // writev only when more than Queue::max_buffers
};

std::vector<Refusal> refusals(const DeviceShape& shape, const MacAddress& mac) {
  const std::array<std::byte, 64> payload{};
  const Bytes datagram = udp4(payload, 40000, 9);
  const bool tap = shape.options.mode == Mode::tap;
  const std::size_t l2 = tap ? 14 : 0;
  std::vector<Refusal> out;
  out.push_back({"empty packet", {}});
  if (shape.options.vnet_hdr) {
    out.push_back({"virtio-net header cut short", Bytes(5, std::byte{0})});
    Bytes unknown = framed(shape, mac, datagram);
    unknown[1] = std::byte{0x7F};  // gso_type
    out.push_back({"unknown gso_type 0x7f", unknown});
    VirtioNetHeader h;
    h.gso_type = GsoType::tcpv4;
    h.gso_size = 0;
    h.hdr_len = static_cast<std::uint16_t>(l2 + 28);
    out.push_back({"gso_type TCPV4 with gso_size 0", framed(shape, mac, datagram, h)});
    h = VirtioNetHeader{};
    h.needs_csum = true;
    h.csum_start = static_cast<std::uint16_t>(l2 + datagram.size());
    h.csum_offset = 100;
    out.push_back({"checksum field past the packet", framed(shape, mac, datagram, h)});
    h = VirtioNetHeader{};
    h.hdr_len = static_cast<std::uint16_t>(l2 + datagram.size() + 1);
    out.push_back({"hdr_len past the packet", framed(shape, mac, datagram, h)});
  }
  if (tap) {
    // tun_get_user: a TAP frame shorter than ETH_HLEN is EINVAL.
    Bytes runt = framed(shape, mac, {});
    runt.resize(runt.size() - 4);
    out.push_back({"frame shorter than an Ethernet header", runt});
  } else if (!shape.options.packet_info) {
    // Without packet information, the IP version is the protocol: anything else is EINVAL.
    Bytes not_ip = framed(shape, mac, datagram);
    not_ip[not_ip.size() - datagram.size()] = std::byte{0x05};
    out.push_back({"TUN packet that is neither IPv4 nor IPv6", not_ip});
  }
  out.push_back(
      {"more buffers than writev takes", framed(shape, mac, datagram), Queue::max_buffers + 1});
  return out;
}

// Writes `bytes` once through `path` (in `pieces` buffers for writev); returns its error, or none
// when it was written whole. A count that contradicts the error fails `report`.
std::error_code write_once(Path path, Queue& q, BatchIo& loop, BatchIo* uring,
                           PacketBuffers& storage, const Bytes& bytes, std::size_t pieces,
                           Report& report) {
  std::error_code ec;
  std::size_t n = 0;
  bool whole = false;
  switch (path) {
    case Path::write:
      n = q.write(bytes, ec);
      whole = n == bytes.size();
      break;
    case Path::write_throwing:
      try {
        n = q.write(bytes);
        whole = n == bytes.size();
      } catch (const tunkit::Error& e) {
        ec = e.code();
      }
      break;
    case Path::writev: {
      std::vector<std::span<const std::byte>> parts;
      const std::span<const std::byte> all(bytes);
      for (std::size_t i = 0; i < pieces; ++i) {
        const std::size_t from = all.size() * i / pieces;
        const std::size_t to = all.size() * (i + 1) / pieces;
        parts.push_back(all.subspan(from, to - from));
      }
      n = q.writev(parts, ec);
      whole = n == bytes.size();
      break;
    }
    case Path::loop_batch:
    case Path::uring_batch: {
      BatchIo& io = path == Path::loop_batch ? loop : *uring;
      PacketBatch batch = storage.batch();
      batch.clear();
      std::memcpy(batch.room(0).data(), bytes.data(), bytes.size());
      batch.push_back(bytes.size());
      n = io.write_batch(batch, ec);
      whole = n == 1;
      break;
    }
    case Path::loop_packets:
    case Path::uring_packets: {
      BatchIo& io = path == Path::loop_packets ? loop : *uring;
      const std::array<std::span<const std::byte>, 1> one{std::span<const std::byte>(bytes)};
      n = io.write_packets(one, ec);
      whole = n == 1;
      break;
    }
  }
  if (ec ? n != 0 : !whole) {
    report.fail(fmt::format("{}: {} written with {}, of {} bytes", path_name(path), n,
                            error_name(ec), bytes.size()));
  }
  return ec;
}

// The refusal table on every path; returns how many refusals were checked.
std::uint64_t check_refusals(const DeviceShape& shape, const MacAddress& mac, Queue& q,
                             BatchIo& loop, BatchIo* uring, PacketBuffers& storage,
                             std::set<std::string>& reported, Report& report) {
  std::uint64_t checked = 0;
  for (const Refusal& r : refusals(shape, mac)) {
    for (const Path path : kPaths) {
      if ((path == Path::uring_batch || path == Path::uring_packets) && uring == nullptr) continue;
      if (r.pieces > Queue::max_buffers && path != Path::writev) continue;
      const std::error_code ec =
          write_once(path, q, loop, uring, storage, r.bytes, r.pieces, report);
      ++checked;
      report.count(fmt::format("refused {}", error_name(ec)));
      if (!ec) {
        const std::string what = fmt::format("{} on {}: accepted a {} ({} bytes)", path_name(path),
                                             shape.label, r.what, r.bytes.size());
        if (reported.insert(what).second) report.fail(what);
        report.count("refusals accepted");
      }
    }
  }
  return checked;
}

// A socket of the namespace on 10.204.0.1:`port`, then a valid datagram to it written through
// `path`: it must arrive within a second, byte for byte.
bool still_usable(const DeviceShape& shape, const MacAddress& mac, Queue& q, BatchIo& loop,
                  BatchIo* uring, PacketBuffers& storage, Path path, std::uint64_t slice,
                  Report& report) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    report.fail(fmt::format("socket: {}", std::strerror(errno)));
    return false;
  }
  constexpr unsigned kPort = 9999;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(kPort);
  ::inet_pton(AF_INET, "10.204.0.1", &local.sin_addr);
  if (::bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    report.fail(fmt::format("bind 10.204.0.1:{}: {}", kPort, std::strerror(errno)));
    ::close(s);
    return false;
  }
  const std::string text = fmt::format("still usable after slice {} ({})", slice, shape.label);
  const auto payload = std::as_bytes(std::span(text));
  const Bytes packet = framed(shape, mac, udp4(payload, 40001, kPort));
  const std::error_code ec = write_once(path, q, loop, uring, storage, packet, 1, report);
  bool ok = false;
  std::string why;
  if (ec) {
    why = fmt::format("the write failed: {}", error_name(ec));
  } else {
    pollfd p{s, POLLIN, 0};
    std::array<std::byte, 512> got{};
    if (::poll(&p, 1, 1000) != 1) {
      why = "nothing arrived within 1 s";
    } else {
      const ssize_t r = ::recv(s, got.data(), got.size(), 0);
      ok = r == static_cast<ssize_t>(payload.size()) &&
           std::memcmp(got.data(), payload.data(), payload.size()) == 0;
      if (!ok) why = fmt::format("{} bytes arrived, not the {} sent", r, payload.size());
    }
  }
  ::close(s);
  if (!ok) {
    report.fail(fmt::format("{} is not usable after its slice: a valid datagram through {}: {}",
                            shape.label, path_name(path), why));
  }
  return ok;
}

// The other direction: a datagram that a socket of the namespace sends to the device's peer
// (10.204.0.2, routed through the device) must be read from the queue whole, with the protocol
// that read(buf, info) documents (IPv4, 0x0800, on TUN and with packet information; 0 on TAP
// without it). What the kernel queued before (answers to the slice's packets) is drained first.
bool still_reads(const DeviceShape& shape, const std::string& device, Queue& q, std::uint64_t slice,
                 Report& report) {
  const bool tap = shape.options.mode == Mode::tap;
  if (tap) {
    // No ARP answer comes from a TAP nobody serves: a neighbour entry for the peer.
    const int rc = run_program({"ip", "neigh", "replace", "10.204.0.2", "lladdr",
                                "02:00:00:00:00:02", "dev", device, "nud", "permanent"});
    if (rc != 0) {
      report.fail(fmt::format("ip neigh replace on {} exited {}", device, rc));
      return false;
    }
  }
  std::array<std::byte, 70000> buf{};
  std::error_code ec;
  PacketInfo info;
  for (int i = 0;
       i < 100000 && q.wait_readable(std::chrono::milliseconds(0), ec) == WaitResult::ready && !ec;
       ++i) {
    (void)q.read(buf, info, ec);
    if (ec && ec != errc::packet_truncated) break;
  }
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    report.fail(fmt::format("socket: {}", std::strerror(errno)));
    return false;
  }
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(9);
  ::inet_pton(AF_INET, "10.204.0.2", &peer.sin_addr);
  const std::string text = fmt::format("read back after slice {} ({})", slice, shape.label);
  const ssize_t sent = ::sendto(s, text.data(), text.size(), 0,
                                reinterpret_cast<const sockaddr*>(&peer), sizeof peer);
  const int send_errno = errno;
  ::close(s);
  if (sent != static_cast<ssize_t>(text.size())) {
    report.fail(fmt::format("{}: sendto 10.204.0.2: {}", shape.label, std::strerror(send_errno)));
    return false;
  }
  const std::size_t ip_at =
      (shape.options.vnet_hdr ? static_cast<std::size_t>(shape.vnet_size) : 0) + (tap ? 14 : 0);
  const std::uint16_t want_protocol = tap && !shape.options.packet_info ? 0 : 0x0800;
  const auto payload = std::as_bytes(std::span(text));
  const auto until = Clock::now() + std::chrono::seconds(1);
  std::string why = "not read within 1 s";
  while (Clock::now() < until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (q.wait_readable(left, ec) != WaitResult::ready || ec) continue;
    const std::size_t n = q.read(buf, info, ec);
    if (ec) {
      why = fmt::format("read failed: {}", error_name(ec));
      break;
    }
    const auto packet = std::span(buf).first(n);
    const auto at = std::search(packet.begin(), packet.end(), payload.begin(), payload.end());
    if (at == packet.end()) continue;  // another packet
    if (n != ip_at + 28 + payload.size() || packet[ip_at] != std::byte{0x45} ||
        info.protocol != want_protocol) {
      why = fmt::format(
          "read {} bytes (expected {}), the IPv4 header at {} {}, protocol {:#06x} (expected "
          "{:#06x})",
          n, ip_at + 28 + payload.size(), ip_at,
          packet.size() > ip_at && packet[ip_at] == std::byte{0x45} ? "found" : "not found",
          info.protocol, want_protocol);
      break;
    }
    return true;
  }
  report.fail(
      fmt::format("{} does not read what the kernel sends after its slice: {}", shape.label, why));
  return false;
}

}  // namespace

void run_malformed(const Settings& settings, Report& report) {
  const Baseline start = Baseline::take();
  const long rss_start = rss_kib();
  const bool uring = BatchIo::uring_available();
  if (!uring) {
    if (settings.ci) {
      report.fail("io_uring is unavailable here and CI=true");
    } else {
      report.note("io_uring unavailable: its write paths skipped");
    }
  }
  const std::vector<DeviceShape> shapes = device_shapes();
  const Budget budget(settings.seconds, 50000);  // packets
  // Each device shape in turn for a slice of the time, until the share ends.
  const double slice_seconds = std::min(1.0, settings.seconds / static_cast<double>(shapes.size()));
  std::uint64_t packets = 0;
  std::uint64_t slices = 0;
  std::mt19937_64 seeds(settings.seed);
  PacketBuffers storage(16, 80000);
  Counts counts;
  std::set<std::string> reported;  // refusals accepted, printed once each
  while (budget.more(packets)) {
    const DeviceShape& shape = shapes[slices % shapes.size()];
    const bool down = slices % 8 == 7;
    ++slices;
    const Baseline before = Baseline::take();
    {
      std::error_code ec;
      TunDevice dev;
      dev.open(shape.options, ec);
      if (ec) {
        report.fail(fmt::format("open {}: {}", shape.label, ec.message()));
        break;
      }
      if (shape.options.vnet_hdr && shape.vnet_size != 10)
        dev.set_vnet_header_size(shape.vnet_size);
      Link link(dev.ifindex());
      link.add_address(IpPrefix::parse("10.204.0.1/24"));
      link.add_address(IpPrefix::parse("fd04::1/64"));
      if (!down) link.set_up();
      const MacAddress mac =
          shape.options.mode == Mode::tap ? link.mac().value_or(MacAddress{}) : MacAddress{};
      Generator gen(seeds(), shape.options.mode, shape.options.vnet_hdr, shape.vnet_size, mac);
      Queue& q = dev.queue(0);
      BatchIo loop_io(q, {.backend = BatchBackend::loop, .max_packets = 16});
      std::optional<BatchIo> uring_io;
      if (uring && !shape.options.packet_info) {
        uring_io.emplace(q, BatchOptions{.backend = BatchBackend::uring, .max_packets = 16});
      }
      BatchIo* uring_ptr = uring_io ? &*uring_io : nullptr;
      report.count("refusals checked",
                   check_refusals(shape, mac, q, loop_io, uring_ptr, storage, reported, report));
      const auto slice_end = std::min(
          budget.deadline(), Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(slice_seconds)));
      std::uint64_t call = 0;
      while (Clock::now() < slice_end && budget.more(packets)) {
        const Path path = kPaths[call++ % kPaths.size()];
        if ((path == Path::uring_batch || path == Path::uring_packets) && !uring_io) continue;
        std::string how;
        report.count(fmt::format("calls {}", path_name(path)));
        switch (path) {
          case Path::write: {
            const Bytes p = gen.next(how);
            const std::size_t n = q.write(p, ec);
            if (ec ? n != 0 : n != p.size()) {
              report.fail(fmt::format("{} on {}: {} bytes of {} with {} ({})", path_name(path),
                                      shape.label, n, p.size(), error_name(ec), how));
            }
            counts.answer(path, ec);
            ++packets;
            break;
          }
          case Path::write_throwing: {
            const Bytes p = gen.next(how);
            try {
              const std::size_t n = q.write(p);
              if (n != p.size()) {
                report.fail(fmt::format("write(throwing) on {}: {} bytes of {} ({})", shape.label,
                                        n, p.size(), how));
              }
              counts.answer(path, {});
            } catch (const tunkit::Error& e) {
              if (!e.code() || std::string_view(e.what()).empty()) {
                report.fail(fmt::format("write(throwing) on {}: threw without a code or text ({})",
                                        shape.label, how));
              }
              counts.answer(path, e.code());
            } catch (const std::exception& e) {
              report.fail(fmt::format("write(throwing) on {}: threw {} ({}): {}", shape.label,
                                      typeid(e).name(), how, e.what()));
            }
            ++packets;
            break;
          }
          case Path::writev: {
            const Bytes p = gen.next(how);
            const auto pieces = cut(p, gen);
            const std::size_t n = q.writev(pieces, ec);
            if (ec ? n != 0 : n != p.size()) {
              report.fail(fmt::format("writev on {}: {} bytes of {} with {} ({})", shape.label, n,
                                      p.size(), error_name(ec), how));
            }
            counts.answer(path, ec);
            ++packets;
            // A refusal tunkit makes before the system call depends on the bytes, not on the
            // buffers they are in (except the buffer count itself).
            if (ec && ec.category() == tunkit::error_category() &&
                ec != tunkit::errc::too_many_buffers) {
              std::error_code ec_write;
              (void)q.write(p, ec_write);
              if (ec_write != ec) {
                report.fail(fmt::format(
                    "writev on {} refused a packet with \"{}\" that write answers with \"{}\" "
                    "({}, {} bytes in {} buffers)",
                    shape.label, ec.message(), ec_write ? ec_write.message() : "success", how,
                    p.size(), pieces.size()));
                report.count("writev/write disagree");
              }
            }
            break;
          }
          case Path::loop_batch:
          case Path::uring_batch: {
            BatchIo& io = path == Path::loop_batch ? loop_io : *uring_io;
            PacketBatch batch = storage.batch();
            batch.clear();
            const std::size_t want = 1 + gen.below(16);
            std::vector<std::string> hows;
            for (std::size_t i = 0; i < want; ++i) {
              const Bytes p = gen.next(how);
              hows.push_back(how);
              std::memcpy(batch.room(i).data(), p.data(), p.size());
              batch.push_back(p.size());
            }
            std::size_t first = 0;
            while (first < want) {
              PacketBatch rest = batch.tail(first);
              const std::size_t done = io.write_batch(rest, ec);
              if (done > rest.size() || (ec ? done == rest.size() : done != rest.size())) {
                report.fail(fmt::format("{} on {}: {} of {} written with {}", path_name(path),
                                        shape.label, done, rest.size(), error_name(ec)));
                break;
              }
              for (std::size_t i = 0; i < done; ++i)
                counts.answer(path, {});
              if (!ec) break;
              counts.answer(path, ec);
              first += done + 1;
            }
            packets += want;
            break;
          }
          case Path::loop_packets:
          case Path::uring_packets: {
            BatchIo& io = path == Path::loop_packets ? loop_io : *uring_io;
            const std::size_t want = 1 + gen.below(16);
            std::vector<Bytes> owned;
            for (std::size_t i = 0; i < want; ++i)
              owned.push_back(gen.next(how));
            std::vector<std::span<const std::byte>> spans(owned.begin(), owned.end());
            std::size_t first = 0;
            while (first < want) {
              const auto rest = std::span(spans).subspan(first);
              const std::size_t done = io.write_packets(rest, ec);
              if (done > rest.size() || (ec ? done == rest.size() : done != rest.size())) {
                report.fail(fmt::format("{} on {}: {} of {} written with {}", path_name(path),
                                        shape.label, done, rest.size(), error_name(ec)));
                break;
              }
              for (std::size_t i = 0; i < done; ++i)
                counts.answer(path, {});
              if (!ec) break;
              counts.answer(path, ec);
              first += done + 1;
            }
            packets += want;
            break;
          }
        }
      }
      report.count(fmt::format("slices {}{}", shape.label, down ? " (down)" : ""));
      // Still usable, through one path after another (the paths io_uring lacks with packet
      // information fall back to write).
      if (down) link.set_up();
      Path check = kPaths[slices % kPaths.size()];
      if ((check == Path::uring_batch || check == Path::uring_packets) && !uring_io)
        check = Path::write;
      if (still_usable(shape, mac, q, loop_io, uring_ptr, storage, check, slices, report))
        report.count("usable after the slice");
      if (still_reads(shape, dev.name(), q, slices, report)) report.count("reads after the slice");
    }
    if (!before.check_same(report, fmt::format("after the {} slice", shape.label))) break;
  }
  report.merge(counts.map);
  report.note(fmt::format("{} packets in {} device slices (bound: {:.0f} s or {} packets)",
                          report.get("packets"), slices, settings.seconds, budget.max()));
  report.print_counts("slices", "slices ");
  report.note(fmt::format(
      "sure refusals checked {} (every path, at the start of each slice), accepted {}; after "
      "{} slices, a datagram written reached a socket {} times, one sent was read {} times",
      report.get("refusals checked"), report.get("refusals accepted"), slices,
      report.get("usable after the slice"), report.get("reads after the slice")));
  report.print_counts("sure refusals by errno", "refused ");
  report.print_counts("calls by path", "calls ");
  report.print_counts("answers by errno (all paths)", "errno ");
  for (const Path p : kPaths) {
    report.print_counts(fmt::format("answers {}", path_name(p)),
                        fmt::format("answer {} ", path_name(p)));
  }
  report.note(fmt::format("resident memory {} KiB -> {} KiB", rss_start, rss_kib()));
  if (report.get("errno ok") == 0) report.fail("the kernel accepted no packet at all");
  start.check_same(report, "at the end");
}

}  // namespace tunkit::stress
