#pragma once
/// @file
/// Forward declarations of tunkit's public types, for headers that only name them (a member
/// pointer, a function parameter) and do not want the definitions. Include the type's own
/// header where it is used.

#include <cstddef>
#include <cstdint>

namespace tunkit {

// error.hpp, result.hpp
enum class errc;
class Error;
template <class T, class E>
class Result;

// sys.hpp
namespace sys {
class Syscalls;
}  // namespace sys

// address.hpp, mac.hpp
class IpAddress;
struct IpPrefix;
struct MacAddress;

// options.hpp
enum class Mode : std::uint8_t;
enum class Flag : std::uint16_t;
class Flags;
enum class Offload : std::uint16_t;
class Offloads;
struct Options;
struct AdoptOptions;

// queue.hpp, device.hpp, batch.hpp
struct PacketInfo;
enum class WaitResult : std::uint8_t;
class Queue;
struct BpfInstruction;
class TunDevice;
class PacketBatch;
class PacketBuffers;
enum class BatchBackend : std::uint8_t;
struct BatchOptions;
class BatchIo;

// handover.hpp
struct HandOverInfo;
struct PeerCredentials;
struct SendOptions;
struct ReceiveOptions;
struct ReceivedDevice;
struct ListenFd;

// tun_info.hpp, link.hpp, link_events.hpp, netns.hpp
struct TunDeviceInfo;
struct LinkStats;
struct AddressInfo;
struct Route;
struct LinkConfig;
struct LinkState;
class Link;
struct LinkEvent;
class LinkEvents;
class NetNs;

// vnet.hpp, offload/gso.hpp, offload/gro.hpp
enum class GsoType : std::uint8_t;
struct OffloadError;
struct VirtioNetHeader;
struct CoalescerOptions;
struct CoalescedPacket;
struct GatheredPacket;
struct PacketParts;
struct SegmentView;
enum class SegmentChecksum : std::uint8_t;
class Coalescer;

// packet/*.hpp
struct ParseError;
struct BuildError;
struct EchoRequest;
struct UdpDatagram;
struct TcpSyn;
class Checksum;
class EthernetView;
class ArpView;
class Ipv4View;
class Ipv6View;
class TcpView;
class UdpView;
class IcmpView;
class Icmpv6View;
class IpPacket;
class Frame;

}  // namespace tunkit
