// Packets and counters: read, write, readv and writev on every kind of descriptor (TUN packets
// as tun_chr_read_iter / tun_chr_write_iter give and take them, eventfd counters, netlink
// sockets forwarded), and the test's side of a device: inject, written.
#include "testing/fake_kernel/state.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <stdexcept>

#include "tunkit/vnet.hpp"

namespace tunkit::testing {
namespace {

using fake_kernel::Device;
using fake_kernel::FdKind;
using fake_kernel::make_record;

constexpr std::size_t kTxQueueLen = 500;  // default tx_queue_len: the per-queue ring size
constexpr int kIovMax = 1024;             // UIO_MAXIOV
constexpr std::size_t kPiSize = 4;        // sizeof(struct tun_pi)
constexpr std::size_t kEthHeader = 14;

std::uint16_t ip_protocol(std::span<const std::byte> packet) noexcept {
  if (packet.empty()) return 0;
  switch (std::to_integer<unsigned>(packet[0]) >> 4U) {
    case 4:
      return 0x0800;  // ETH_P_IP
    case 6:
      return 0x86DD;  // ETH_P_IPV6
    default:
      return 0;
  }
}

std::uint16_t frame_protocol(std::span<const std::byte> frame) noexcept {
  if (frame.size() < kEthHeader) return 0;
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(frame[12]) << 8U) |
                                    std::to_integer<unsigned>(frame[13]));
}

// Total length of an iovec array, or -EINVAL / -EFAULT as readv(2)/writev(2) report.
ssize_t iov_total(const iovec* iov, int iovcnt) noexcept {
  if (iovcnt < 0 || iovcnt > kIovMax) return -EINVAL;
  if (iovcnt > 0 && iov == nullptr) return -EFAULT;
  std::size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) {
    const iovec& v = iov[i];
    if (v.iov_len > 0 && v.iov_base == nullptr) return -EFAULT;
    total += v.iov_len;
    if (total > static_cast<std::size_t>(std::numeric_limits<ssize_t>::max())) return -EINVAL;
  }
  return static_cast<ssize_t>(total);
}

}  // namespace

// --- The seam --------------------------------------------------------------------------------

ssize_t FakeKernel::read(int fd, void* buf, std::size_t count) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::read, fd, 0, static_cast<std::int64_t>(count));
  return s.call<ssize_t>(std::move(rec), [&](CallRecord&) -> ssize_t {
    if (buf == nullptr && count > 0) return -EFAULT;
    return s.read_into(fd, {static_cast<std::byte*>(buf), count});
  });
}

ssize_t FakeKernel::write(int fd, const void* buf, std::size_t count) noexcept {
  State& s = *state_;
  CallRecord rec = make_record(Call::write, fd, 0, static_cast<std::int64_t>(count));
  return s.call<ssize_t>(std::move(rec), [&](CallRecord&) -> ssize_t {
    if (buf == nullptr && count > 0) return -EFAULT;
    return s.write_from(fd, {static_cast<const std::byte*>(buf), count});
  });
}

// The driver's iov_iter is one byte stream over the buffers: readv reads into one flat buffer and
// scatters it, writev gathers the buffers and writes them as one.
ssize_t FakeKernel::readv(int fd, const iovec* iov, int iovcnt) noexcept {
  State& s = *state_;
  const ssize_t total = iov_total(iov, iovcnt);
  return s.call<ssize_t>(make_record(Call::readv, fd, 0, total), [&](CallRecord&) -> ssize_t {
    if (total < 0) return total;
    std::vector<std::byte> flat(static_cast<std::size_t>(total));
    const ssize_t r = s.read_into(fd, flat);
    if (r <= 0) return r;
    std::size_t left = std::min(static_cast<std::size_t>(r), flat.size());
    std::size_t at = 0;
    for (int i = 0; i < iovcnt && left > 0; ++i) {
      const std::size_t n = std::min(left, iov[i].iov_len);
      std::memcpy(iov[i].iov_base, flat.data() + at, n);
      at += n;
      left -= n;
    }
    return r;
  });
}

ssize_t FakeKernel::writev(int fd, const iovec* iov, int iovcnt) noexcept {
  State& s = *state_;
  const ssize_t total = iov_total(iov, iovcnt);
  return s.call<ssize_t>(make_record(Call::writev, fd, 0, total), [&](CallRecord&) -> ssize_t {
    if (total < 0) return total;
    std::vector<std::byte> flat;
    flat.reserve(static_cast<std::size_t>(total));
    for (int i = 0; i < iovcnt; ++i) {
      const auto* base = static_cast<const std::byte*>(iov[i].iov_base);
      flat.insert(flat.end(), base, base + iov[i].iov_len);
    }
    return s.write_from(fd, flat);
  });
}

// --- Reading and writing by descriptor kind --------------------------------------------------

// One read of at most out.size() bytes (readv has already flattened its buffers).
ssize_t FakeKernel::State::read_into(int fd, std::span<std::byte> out) {
  Fd* f = find_fd(fd);
  if (f == nullptr) return -EBADF;
  switch (f->kind) {
    case FdKind::tun:
      return tun_read(*f, out);
    case FdKind::event: {
      if (out.size() < sizeof(std::uint64_t)) return -EINVAL;
      if (f->counter == 0) return -EAGAIN;  // also when blocking: a fake never blocks in read
      const std::uint64_t value = f->semaphore ? 1 : f->counter;
      f->counter -= value;
      std::memcpy(out.data(), &value, sizeof value);
      return static_cast<ssize_t>(sizeof value);
    }
    case FdKind::netlink:
      return rtnl.recvfrom(fd, out.data(), out.size(), 0, nullptr, nullptr);
    case FdKind::inet:
      return -EAGAIN;
    case FdKind::netns:
    case FdKind::ebpf:
      return -EINVAL;  // nsfs and bpf-prog files have no read
  }
  return -EBADF;
}

// tun_chr_read_iter() / tun_put_user().
ssize_t FakeKernel::State::tun_read(Fd& f, std::span<std::byte> out) {
  Device* dev = attached_device(f);
  if (dev == nullptr) return -EBADFD;
  if (out.empty()) return 0;
  if (f.rx.empty()) return -EAGAIN;
  const fake_kernel::Packet p = std::move(f.rx.front());
  f.rx.pop_front();
  // tun_put_user counts a transmitted packet when the program reads it (measured).
  rtnl.count_packet(dev->ifindex, false, p.data.size());
  const bool pi = (dev->flags & IFF_NO_PI) == 0;
  const bool vnet = (dev->flags & IFF_VNET_HDR) != 0;
  const auto vnet_size = static_cast<std::size_t>(dev->vnet_hdr_size);
  std::size_t total = p.data.size() + (vnet ? vnet_size : 0);
  std::size_t at = 0;
  if (pi) {
    if (out.size() < kPiSize) return -EINVAL;  // and the packet is dropped
    total += kPiSize;
    const std::uint16_t pi_flags = out.size() < total ? TUN_PKT_STRIP : 0;
    std::memcpy(out.data(), &pi_flags, sizeof pi_flags);  // host order, as struct tun_pi
    out[2] = static_cast<std::byte>(p.protocol >> 8U);    // big-endian
    out[3] = static_cast<std::byte>(p.protocol & 0xFFU);
    at = kPiSize;
  }
  if (vnet) {
    if (out.size() - at < vnet_size) return -EINVAL;
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(at), vnet_size, std::byte{0});
    at += vnet_size;
  }
  const std::size_t n = std::min(out.size() - at, p.data.size());
  std::copy_n(p.data.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(at));
  return static_cast<ssize_t>(std::min(total, out.size()));
}

ssize_t FakeKernel::State::write_from(int fd, std::span<const std::byte> in) {
  Fd* f = find_fd(fd);
  if (f == nullptr) return -EBADF;
  switch (f->kind) {
    case FdKind::tun:
      return tun_write(fd, *f, in);
    case FdKind::event: {
      if (in.size() < sizeof(std::uint64_t)) return -EINVAL;
      std::uint64_t value = 0;
      std::memcpy(&value, in.data(), sizeof value);
      constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
      if (value == kMax) return -EINVAL;
      if (kMax - 1 - f->counter < value) return -EAGAIN;  // would block: never in a fake
      f->counter += value;
      return static_cast<ssize_t>(sizeof value);
    }
    case FdKind::netlink:
      return rtnl.sendto(fd, in.data(), in.size(), 0, nullptr, 0);
    case FdKind::inet:
      return -EDESTADDRREQ;
    case FdKind::netns:
    case FdKind::ebpf:
      return -EINVAL;
  }
  return -EBADF;
}

// tun_chr_write_iter() / tun_get_user(), in the kernel's order of checks (measured).
ssize_t FakeKernel::State::tun_write(int fd, Fd& f, std::span<const std::byte> in) {
  Device* dev = attached_device(f);
  if (dev == nullptr) return -EBADFD;
  std::span<const std::byte> rest = in;
  WrittenPacket out;
  out.fd = fd;
  const bool pi = (dev->flags & IFF_NO_PI) == 0;
  if (pi) {
    if (rest.size() < kPiSize) return -EINVAL;
    out.protocol = static_cast<std::uint16_t>((std::to_integer<unsigned>(rest[2]) << 8U) |
                                              std::to_integer<unsigned>(rest[3]));
    rest = rest.subspan(kPiSize);
  }
  if ((dev->flags & IFF_VNET_HDR) != 0) {
    const auto size = static_cast<std::size_t>(dev->vnet_hdr_size);
    if (rest.size() < size) return -EINVAL;
    out.vnet_header.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(size));
    rest = rest.subspan(size);
    // tun_vnet_hdr_get() and virtio_net_hdr_to_skb(): every rule by which the driver refuses a
    // header, as VirtioNetHeader::kernel_check states them (tests/netns/vnet_rules_netns_test.cpp
    // holds them against the real driver); the byte order is tun_is_little_endian()'s.
    const bool little_endian = dev->vnet_le || !(vnet_cross_le && dev->vnet_be);
    const auto h = VirtioNetHeader::parse(out.vnet_header, size, little_endian);
    if (!h || h->kernel_check(rest, dev->mode)) return -EINVAL;
  }
  if (dev->mode == Mode::tap) {
    if (rest.size() < kEthHeader) return -EINVAL;
    if (!pi) out.protocol = frame_protocol(rest);
  } else if (!pi) {
    out.protocol = ip_protocol(rest);
    if (out.protocol == 0) return -EINVAL;  // neither IPv4 nor IPv6 (or empty)
  }
  if (!dev->up) return -EIO;
  out.data.assign(rest.begin(), rest.end());
  rtnl.count_packet(dev->ifindex, true, out.data.size());  // the interface received it
  written[dev->name].push_back(std::move(out));
  return static_cast<ssize_t>(in.size());
}

// --- The test's side of a device -------------------------------------------------------------

int FakeKernel::inject(std::string_view name, std::span<const std::byte> packet) {
  std::uint16_t protocol = 0;
  {
    std::lock_guard lock(state_->mu);
    const Device* d = state_->find_tun(name);
    if (d == nullptr) throw std::invalid_argument("FakeKernel::inject: no such TUN/TAP device");
    protocol = d->mode == Mode::tap ? frame_protocol(packet) : ip_protocol(packet);
  }
  return inject(name, packet, protocol);
}

int FakeKernel::inject(std::string_view name, std::span<const std::byte> packet,
                       std::uint16_t protocol) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  Device* d = s.find_tun(name);
  if (d == nullptr) throw std::invalid_argument("FakeKernel::inject: no such TUN/TAP device");
  // tun_net_xmit() drops when no queue is enabled, when a TAP device's TX filter refuses the
  // destination, and when the chosen queue's ring (txqueuelen packets: tun_queue_resize follows
  // IFLA_TXQLEN) is full.
  auto dropped = [&] {
    s.rtnl.count_packet(d->ifindex, false, packet.size(), true);
    return -1;
  };
  if (d->queues.empty()) return dropped();
  if (d->mode == Mode::tap && !fake_kernel::tx_filter_passes(d->tx_filter, packet)) {
    return dropped();
  }
  const int fd = d->queues[d->next_queue % d->queues.size()];
  d->next_queue = (d->next_queue + 1) % d->queues.size();
  State::Fd& f = s.fds.at(fd);
  const auto link = s.rtnl.link(d->ifindex);
  if (f.rx.size() >= (link ? link->txqlen : kTxQueueLen)) return dropped();
  f.rx.push_back({{packet.begin(), packet.end()}, protocol});
  if ((f.status & O_ASYNC) != 0) ++f.signals_raised;  // kill_fasync in tun_net_xmit
  s.cv.notify_all();
  return fd;
}

std::vector<FakeKernel::WrittenPacket> FakeKernel::written(std::string_view name) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->written.find(name);
  return it == state_->written.end() ? std::vector<WrittenPacket>{} : it->second;
}

void FakeKernel::clear_written() {
  std::lock_guard lock(state_->mu);
  state_->written.clear();
}

}  // namespace tunkit::testing
