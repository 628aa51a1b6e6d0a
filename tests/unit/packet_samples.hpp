#pragma once
// Golden packets shared by the packet, checksum, offload and format tests, written out byte by
// byte as 16-bit groups (as `tcpdump -x` shows them), checksums included. They were assembled
// field by field; each is described above its bytes. Also the byte-level helpers those tests
// read and edit packets with, written independently of tunkit's own.

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "tunkit/mac.hpp"

namespace tunkit_test {

/// `*p`, or an exception when `p` is null: lets a test chain the pointer-returning accessors
/// (`must(pkt->ip()).udp()`) without a null dereference on any path, which GCC's
/// -Wnull-dereference would otherwise (rightly) report after REQUIRE, whose failure path it
/// cannot see through.
template <class T>
const T& must(const T* p) {
  if (p == nullptr) throw std::logic_error("unexpected nullptr");
  return *p;
}

/// Bytes from hex text; spaces are ignored.
inline std::vector<std::byte> hex(std::string_view text) {
  const auto nibble = [](char c) -> unsigned {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    throw std::invalid_argument("bad hex digit");
  };
  std::vector<std::byte> out;
  unsigned pending = 0;
  bool half = false;
  for (const char c : text) {
    if (c == ' ') continue;
    if (half) {
      out.push_back(static_cast<std::byte>((pending << 4) | nibble(c)));
    } else {
      pending = nibble(c);
    }
    half = !half;
  }
  if (half) throw std::invalid_argument("odd number of hex digits");
  return out;
}

/// Byte `i` of `b`.
inline std::uint8_t u8(std::span<const std::byte> b, std::size_t i) {
  return std::to_integer<std::uint8_t>(b[i]);
}
/// The big-endian 16-bit field at `i`.
inline std::uint16_t be16(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::uint16_t>((u8(b, i) << 8) | u8(b, i + 1));
}
/// The big-endian 32-bit field at `i`.
inline std::uint32_t be32(std::span<const std::byte> b, std::size_t i) {
  return (std::uint32_t{be16(b, i)} << 16) | be16(b, i + 2);
}
/// Stores byte `i`; any integer type (the tests compute fields in int).
template <class T>
void put8(std::vector<std::byte>& b, std::size_t i, T v) {
  b[i] = static_cast<std::byte>(static_cast<unsigned>(v) & 0xFFU);
}
/// Stores a big-endian 16-bit field.
template <class T>
void put16(std::vector<std::byte>& b, std::size_t i, T v) {
  const auto u = static_cast<unsigned>(v);
  put8(b, i, u >> 8);
  put8(b, i + 1, u);
}
/// Stores a big-endian 32-bit field.
template <class T>
void put32(std::vector<std::byte>& b, std::size_t i, T v) {
  const auto u = static_cast<std::uint32_t>(v);
  put16(b, i, u >> 16);
  put16(b, i + 2, u & 0xFFFFU);
}

/// The MAC address the reply builders are asked to answer with.
inline constexpr tunkit::MacAddress kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

/// The internet checksum the slow, obvious way: big-endian 16-bit words from byte pairs, a
/// zero-padded last byte, end-around carries (RFC 1071 section 4.1).
inline std::uint16_t reference_checksum(std::span<const std::byte> data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); i += 2) {
    std::uint32_t word = std::to_integer<std::uint32_t>(data[i]) << 8;
    if (i + 1 < data.size()) word |= std::to_integer<std::uint32_t>(data[i + 1]);
    sum += word;
    sum = (sum & 0xFFFFU) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xFFFFU);
}

/// IPv4 (id 0x1c46, ttl 64) 10.0.0.2 -> 10.0.0.1, UDP 5353 -> 53, 42 bytes 00 01 .. 29. 70 bytes.
inline constexpr std::string_view kUdp4 =
    "4500 0046 1c46 0000 4011 4a5f 0a00 0002 0a00 0001 14e9 0035 0032 30af 0001 0203 "
    "0405 0607 0809 0a0b 0c0d 0e0f 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 "
    "2425 2627 2829";

/// IPv4 (id 2) 10.0.0.1 -> 10.0.0.2, TCP 22 -> 41000 [PSH,ACK] seq 1 ack 5 win 502, 100 x "a". 140
/// bytes.
inline constexpr std::string_view kTcp4Psh =
    "4500 008c 0002 0000 4006 6668 0a00 0001 0a00 0002 0016 a028 0000 0001 0000 0005 "
    "5018 01f6 f426 0000 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 "
    "6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 "
    "6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 6161 "
    "6161 6161 6161 6161 6161 6161";

/// IPv4 (id 3) 10.0.0.2 -> 10.0.0.1, TCP 41000 -> 22 [SYN] seq 1000 win 64240, options mss 1460,
/// sackOK, TS val 1 ecr 0, nop, wscale 7. 60 bytes.
inline constexpr std::string_view kTcp4Syn =
    "4500 003c 0003 0000 4006 66b7 0a00 0002 0a00 0001 a028 0016 0000 03e8 0000 0000 "
    "a002 faf0 94e5 0000 0204 05b4 0402 080a 0000 0001 0000 0000 0103 0307";

/// IPv4 (id 0xabcd, DF) 10.0.0.1 -> 10.0.0.2, ICMP echo request id 7 seq 1, 56 bytes 10 11 .. 47.
/// 84 bytes.
inline constexpr std::string_view kIcmp4Echo =
    "4500 0054 abcd 4000 4001 7ad9 0a00 0001 0a00 0002 0800 3f23 0007 0001 1011 1213 "
    "1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 2627 2829 2a2b 2c2d 2e2f 3031 3233 "
    "3435 3637 3839 3a3b 3c3d 3e3f 4041 4243 4445 4647";

/// IPv6 fd00::2 -> fd00::1 (hop limit 64), ICMPv6 echo request id 7 seq 1, 56 bytes 00 .. 37. 104
/// bytes.
inline constexpr std::string_view kIcmp6Echo =
    "6000 0000 0040 3a40 fd00 0000 0000 0000 0000 0000 0000 0002 fd00 0000 0000 0000 "
    "0000 0000 0000 0001 8000 8e65 0007 0001 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f "
    "1011 1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 2627 2829 2a2b 2c2d 2e2f "
    "3031 3233 3435 3637";

/// IPv4 with a router-alert option (94 04 00 00; IHL 6), ttl 1, 10.0.0.1 -> 224.0.0.22, UDP
/// 1000 -> 2000, "hi". 34 bytes.
inline constexpr std::string_view kIpv4Options =
    "4600 0022 0004 0000 0111 3aac 0a00 0001 e000 0016 9404 0000 03e8 07d0 000a a1a1 "
    "6869";

/// IPv6 fd00::1 -> fd00::2 with hop-by-hop (PadN), destination options (PadN), an atomic
/// fragment header (id 0x12345678), a routing header (type 4, 0 segments left) and AH (24 bytes)
/// before UDP 1234 -> 5678 "data". The UDP header is at offset 96. 108 bytes.
inline constexpr std::string_view kIpv6Ext =
    "6000 0000 0044 0040 fd00 0000 0000 0000 0000 0000 0000 0001 fd00 0000 0000 0000 "
    "0000 0000 0000 0002 3c00 0104 0000 0000 2c00 0104 0000 0000 2b00 0000 1234 5678 "
    "3300 0400 0000 0000 1104 0000 0000 0100 0000 0001 0000 0000 0000 0000 0000 0000 "
    "04d2 162e 000c 120f 6461 7461";

/// IPv6 fd00::1 -> fd00::2, fragment header (next UDP, offset 1232, M, id 0x42), 16 x "x". 64
/// bytes.
inline constexpr std::string_view kIpv6Frag =
    "6000 0000 0018 2c40 fd00 0000 0000 0000 0000 0000 0000 0001 fd00 0000 0000 0000 "
    "0000 0000 0000 0002 1100 04d1 0000 0042 7878 7878 7878 7878 7878 7878 7878 7878";

/// Ethernet aa:bb:cc:dd:ee:ff -> broadcast, ARP request who-has 10.0.0.2 tell 10.0.0.1, padded
/// to 60 bytes. 60 bytes.
inline constexpr std::string_view kArpRequest =
    "ffff ffff ffff aabb ccdd eeff 0806 0001 0800 0604 0001 aabb ccdd eeff 0a00 0001 "
    "0000 0000 0000 0a00 0002 0000 0000 0000 0000 0000 0000 0000 0000 0000";

/// Ethernet 02:00:00:00:00:02 -> 33:33:ff:00:00:01, IPv6 fd00::2 -> ff02::1:ff00:1 (hop limit 255),
/// neighbour solicitation for fd00::1 with source link-layer option 02:00:00:00:00:02. 86 bytes.
inline constexpr std::string_view kNsFrame =
    "3333 ff00 0001 0200 0000 0002 86dd 6000 0000 0020 3aff fd00 0000 0000 0000 0000 "
    "0000 0000 0002 ff02 0000 0000 0000 0000 0001 ff00 0001 8700 7d97 0000 0000 fd00 "
    "0000 0000 0000 0000 0000 0000 0001 0101 0200 0000 0002";

/// Duplicate address detection: Ethernet 02:00:00:00:00:03 -> 33:33:ff:00:00:01, IPv6 :: ->
/// ff02::1:ff00:1, neighbour solicitation for fd00::1 without options. 78 bytes.
inline constexpr std::string_view kDadFrame =
    "3333 ff00 0001 0200 0000 0003 86dd 6000 0000 0018 3aff 0000 0000 0000 0000 0000 "
    "0000 0000 0000 ff02 0000 0000 0000 0000 0001 ff00 0001 8700 7da5 0000 0000 fd00 "
    "0000 0000 0000 0000 0000 0000 0001";

/// Ethernet aa:bb:cc:dd:ee:ff -> 11:22:33:44:55:66, 802.1Q tag (priority 3, VLAN 10), then kUdp4.
/// 88 bytes.
inline constexpr std::string_view kVlanFrame =
    "1122 3344 5566 aabb ccdd eeff 8100 600a 0800 4500 0046 1c46 0000 4011 4a5f 0a00 "
    "0002 0a00 0001 14e9 0035 0032 30af 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f 1011 "
    "1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 2627 2829";

/// Ethernet aa:bb:cc:dd:ee:ff -> 11:22:33:44:55:66, IPv4, then kIcmp4Echo. 98 bytes.
inline constexpr std::string_view kEchoFrame =
    "1122 3344 5566 aabb ccdd eeff 0800 4500 0054 abcd 4000 4001 7ad9 0a00 0001 0a00 "
    "0002 0800 3f23 0007 0001 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 "
    "2627 2829 2a2b 2c2d 2e2f 3031 3233 3435 3637 3839 3a3b 3c3d 3e3f 4041 4243 4445 "
    "4647";

}  // namespace tunkit_test
