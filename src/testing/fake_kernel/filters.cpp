// A TAP device's filters: the TX filter of TUNSETTXFILTER (and the driver's run_filter, which
// inject applies), classic BPF programs (TUNATTACHFILTER; recorded, never run) and eBPF programs
// (TUNSETSTEERINGEBPF, TUNSETFILTEREBPF; recorded, never run).
#include "testing/fake_kernel/state.hpp"

#include <linux/filter.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace tunkit::testing {
namespace {

using fake_kernel::Device;
using fake_kernel::FdKind;
using fake_kernel::read_arg;
using fake_kernel::TxFilterState;

constexpr std::size_t kTxFilterExact = 8;          // FLT_EXACT_COUNT: addresses matched exactly
constexpr std::size_t kMaxBpfInstructions = 4096;  // BPF_MAXINSNS

// ether_crc() >> 26: the bit of the TX filter's 64-bit multicast hash for `mac` (CRC-32 over the
// six bytes, least significant bit first, no final inversion; its top six bits bit-reversed).
unsigned multicast_hash_bit(const std::array<std::uint8_t, 6>& mac) noexcept {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const std::uint8_t byte : mac) {
    crc ^= byte;
    for (int i = 0; i < 8; ++i)
      crc = (crc >> 1U) ^ ((crc & 1U) != 0 ? 0xEDB88320U : 0U);
  }
  std::uint32_t reversed = 0;
  for (unsigned i = 0; i < 32; ++i)
    reversed |= ((crc >> i) & 1U) << (31U - i);
  return reversed >> 26U;
}

}  // namespace

namespace fake_kernel {

bool tx_filter_passes(const TxFilterState& f, std::span<const std::byte> frame) noexcept {
  if (!f.active) return true;
  if (frame.size() < 6) return false;
  MacAddress dst;
  for (std::size_t i = 0; i < 6; ++i)
    dst.bytes[i] = std::to_integer<std::uint8_t>(frame[i]);
  for (std::size_t i = 0; i < f.exact; ++i) {
    if (f.addresses[i] == dst) return true;
  }
  return dst.is_multicast() && ((f.hash >> multicast_hash_bit(dst.bytes)) & 1U) != 0;
}

}  // namespace fake_kernel

// update_filter(): returns the number of exactly matched addresses, or 0 when filtering is off.
int FakeKernel::State::set_tx_filter(Device& d, const void* arg) {
  const auto header = read_arg<tun_filter>(arg);
  TxFilterState next;
  next.all_multicast = (header.flags & TUN_FLT_ALLMULTI) != 0;
  const auto* bytes = static_cast<const std::uint8_t*>(arg) + sizeof header;
  for (std::size_t i = 0; i < header.count; ++i) {
    MacAddress mac;
    std::memcpy(mac.bytes.data(), bytes + i * mac.bytes.size(), mac.bytes.size());
    next.addresses.push_back(mac);
  }
  next.exact = std::min(next.addresses.size(), kTxFilterExact);
  next.active = !next.addresses.empty();
  for (std::size_t i = kTxFilterExact; i < next.addresses.size() && next.active; ++i) {
    // A unicast address past the exact ones leaves filtering off.
    next.active = next.addresses[i].is_multicast();
    next.hash |= std::uint64_t{1} << multicast_hash_bit(next.addresses[i].bytes);
  }
  if (next.all_multicast) next.hash = ~std::uint64_t{0};
  const int result = next.active ? static_cast<int>(next.exact) : 0;
  d.tx_filter = std::move(next);
  return result;
}

// TUNATTACHFILTER: the driver stores the program first (so TUNGETFILTER reports it even when it
// is refused), then attaches it to each enabled queue, which is when it is checked.
int FakeKernel::State::attach_filter(Device& d, const void* arg) {
  const auto prog = read_arg<sock_fprog>(arg);
  d.filter_length = prog.len;
  d.filter_program.clear();
  if (prog.filter != nullptr && prog.len <= kMaxBpfInstructions) {
    for (std::size_t i = 0; i < prog.len; ++i) {
      const sock_filter& in = prog.filter[i];
      d.filter_program.push_back({in.code, in.jt, in.jf, in.k});
    }
  }
  if (!d.queues.empty()) {
    if (prog.len == 0 || prog.len > kMaxBpfInstructions) return -EINVAL;
    if (prog.filter == nullptr) return -EFAULT;
    if (BPF_CLASS(d.filter_program.back().code) != BPF_RET) return -EINVAL;  // bpf_check_classic
  }
  for (int q : d.queues)
    fds.at(q).socket_filter = true;
  d.filter_attached = true;
  return 0;
}

// tun_set_ebpf(): -1 detaches; anything else must be a socket-filter program.
int FakeKernel::State::set_ebpf(int& slot, const void* arg) {
  const int prog = read_arg<int>(arg);
  if (prog == -1) {
    slot = -1;
    return 0;
  }
  const Fd* p = find_fd(prog);
  if (p == nullptr) return -EBADF;
  if (p->kind != FdKind::ebpf || !p->socket_filter_program) return -EINVAL;
  slot = prog;
  return 0;
}

}  // namespace tunkit::testing
