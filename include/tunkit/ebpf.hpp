#pragma once
/// @file
/// Classic BPF filters for TUN devices: a classic program (what `TunDevice::attach_filter`,
/// `tcpdump -dd` and `tunkit::pcap::compile_filter` give) translated into an equivalent eBPF socket
/// filter and loaded into the kernel, for `TunDevice::set_filter_ebpf`.
///
/// Why: the tun driver runs classic programs (TUNATTACHFILTER) on TAP devices only; a TUN device
/// answers EINVAL. Both kinds run an eBPF filter (TUNSETFILTEREBPF), at the same place in
/// `tun_net_xmit`, on the same bytes (the IP header of a TUN device's packet, the Ethernet header
/// of a TAP device's frame; never the virtio-net or packet-information header). A packet the
/// program rejects is dropped and counted in the device's `tx_dropped`, for every queue.
///
/// @code
/// auto filter = tunkit::EbpfFilter::load(tunkit::pcap::compile_filter("icmp", LinkType::raw));
/// dev.set_filter_ebpf(filter.fd());  // the kernel keeps the program; `filter` may be closed
/// ...
/// dev.set_filter_ebpf(-1);           // removes it
/// @endcode
///
/// What the kernel does with it (Linux 6.18, measured by tests/netns/ebpf_filter_netns_test.cpp):
/// - Loading needs CAP_BPF (or CAP_SYS_ADMIN) in the initial user namespace wherever
///   `kernel.unprivileged_bpf_disabled` is not 0 (Debian's default is 2). Attaching needs only the
///   queue.
/// - The program belongs to the device, not to the queue that attached it: it stays when that
///   queue closes, also on a persistent device with no reader left, until it is replaced, removed
///   with -1, or the device is deleted. The kernel cannot be asked which program is attached.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "tunkit/device.hpp"
#include "tunkit/export.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
struct EbpfInstruction {
  std::uint8_t code = 0;  ///< opcode (BPF_ALU | BPF_MOV | BPF_K, ...; <linux/bpf.h>)
  /// The destination register in the low 4 bits, the source register in the high 4 bits.
  std::uint8_t regs = 0;
  std::int16_t off = 0;  ///< signed offset (jumps: in instructions, after this one)
  std::int32_t imm = 0;  ///< signed immediate constant
  /// The destination register (0..10).
  [[nodiscard]] constexpr std::uint8_t dst() const noexcept { return regs & 0x0fU; }
  /// The source register (0..10).
  [[nodiscard]] constexpr std::uint8_t src() const noexcept { return regs >> 4U; }
  /// Equal when every field is.
  friend constexpr bool operator==(const EbpfInstruction&,
                                   const EbpfInstruction&) noexcept = default;
};

/// Translates a classic BPF program into an eBPF program of type BPF_PROG_TYPE_SOCKET_FILTER that
/// returns what the classic program returns on every packet: the number of bytes to keep, 0 to
/// drop it. Checked first as the kernel checks a classic program (`bpf_check_classic`): 1 to
/// 4096 instructions, known opcodes, jumps inside the program, the last instruction a return,
/// scratch memory M[0..15] only, no division by a constant 0, no shift by 32 or more. Loads
/// with the kernel's negative offsets for the network and link-layer headers (SKF_NET_OFF,
/// SKF_LL_OFF) are kept; the ancillary loads (SKF_AD_OFF: protocol, ifindex, ...) are refused,
/// as is any program the kernel would refuse, with `errc::invalid_program` (which compares equal
/// to EINVAL) and the instruction's number in the message.
///
/// The translation: A in w0, X in w7, the packet context in r6, M[] on the stack (set to 0 first,
/// as the eBPF verifier requires); packet loads as eBPF's own packet loads (out of bounds ends
/// the program with 0, as in classic BPF); 32-bit arithmetic and comparisons (BPF_JMP32);
/// a division or modulo by X that is 0 returns 0, as in classic BPF.
[[nodiscard]] TUNKIT_EXPORT std::vector<EbpfInstruction> translate_filter(
    std::span<const BpfInstruction> program);
/// Non-throwing form: on failure `ec` is set and the result is empty.
[[nodiscard]] TUNKIT_EXPORT std::vector<EbpfInstruction> translate_filter(
    std::span<const BpfInstruction> program, std::error_code& ec) noexcept;

/// Owns one loaded eBPF socket-filter program: the descriptor bpf(BPF_PROG_LOAD) returned. Pass
/// `fd()` to `TunDevice::set_filter_ebpf` (or TUNSETSTEERINGEBPF, SO_ATTACH_BPF); whoever it is
/// attached to holds its own reference, so the object may be closed after attaching. Move-only.
class TUNKIT_EXPORT EbpfFilter {
 public:
  /// Holds nothing.
  EbpfFilter() noexcept = default;
  /// Translates `program` (`translate_filter`) and loads the result through `sys`. Throws
  /// `tunkit::Error`: `errc::invalid_program` for a program the translation refuses; otherwise
  /// the errno of BPF_PROG_LOAD with what tunkit saw, e.g. `tunkit: BPF_PROG_LOAD "filter of 12
  /// instructions": operation not permitted (kernel.unprivileged_bpf_disabled is 2: loading needs
  /// CAP_BPF or CAP_SYS_ADMIN)`, or the verifier's last words for EINVAL and EACCES.
  [[nodiscard]] static EbpfFilter load(std::span<const BpfInstruction> program,
                                       sys::Syscalls& sys = sys::real());
  /// Non-throwing form: on failure `ec` is set and the result holds nothing.
  [[nodiscard]] static EbpfFilter load(std::span<const BpfInstruction> program, std::error_code& ec,
                                       sys::Syscalls& sys = sys::real()) noexcept;

  /// Takes the other's program; the other then holds nothing.
  EbpfFilter(EbpfFilter&& other) noexcept;
  /// Closes this program's descriptor, then takes the other's.
  EbpfFilter& operator=(EbpfFilter&& other) noexcept;
  EbpfFilter(const EbpfFilter&) = delete;
  EbpfFilter& operator=(const EbpfFilter&) = delete;
  /// Closes the descriptor (the program lives on where it is attached).
  ~EbpfFilter();

  /// The program's descriptor, -1 when the object holds nothing.
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// The number of eBPF instructions loaded.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// True when a program is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Closes the descriptor now.
  void close() noexcept;

 private:
  EbpfFilter(int fd, std::size_t size, sys::Syscalls& sys) noexcept
      : fd_(fd), size_(size), sys_(&sys) {}
  int fd_ = -1;
  std::size_t size_ = 0;
  sys::Syscalls* sys_ = nullptr;
};

}  // namespace tunkit
