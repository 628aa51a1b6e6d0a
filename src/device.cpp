#include "tunkit/device.hpp"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "detail/errors.hpp"
#include "detail/tun.hpp"
#include "tunkit/error.hpp"

namespace tunkit {

static_assert(sizeof(BpfInstruction) == sizeof(sock_filter));
static_assert(offsetof(BpfInstruction, k) == offsetof(sock_filter, k));

namespace {

using detail::retry_eintr;
using detail::sys_error;

// Only a permission error is about CAP_NET_ADMIN.
std::string_view cap_hint(std::error_code ec) noexcept {
  const bool perm =
      ec.category() == std::system_category() && (ec.value() == EPERM || ec.value() == EACCES);
  return perm ? "needs CAP_NET_ADMIN" : "";
}

}  // namespace

TunDevice::TunDevice(const Options& options, sys::Syscalls& sys) {
  open(options, sys);
}

void TunDevice::open(const Options& options, sys::Syscalls& sys) {
  std::string what;
  if (const std::error_code ec = open_impl(options, sys, &what)) throw Error(ec, std::move(what));
}

void TunDevice::open(const Options& options, std::error_code& ec, sys::Syscalls& sys) {
  ec = open_impl(options, sys, nullptr);
}

std::error_code TunDevice::open_impl(const Options& options, sys::Syscalls& sys,
                                     std::string* what) noexcept {
  close();
  auto describe = [&](std::error_code e, std::string_view op, std::string_view device,
                      std::string_view hint) {
    if (what == nullptr) return;
    try {
      *what = detail::message(e, op, device, hint);
    } catch (...) {
      what->clear();
    }
  };
  if (options.queues == 0 || options.queues > max_queues) {
    const auto e = sys_error(EINVAL);
    try {
      describe(e, "open", detail::shown_name(options),
               fmt::format("Options::queues must be 1..{}, not {}", max_queues, options.queues));
    } catch (...) {
    }
    return e;
  }
  try {
    options_ = options;
  } catch (...) {
    return sys_error(ENOMEM);
  }
  if (auto ec = first_.open_impl(options, sys, what)) return ec;

  // Every step after the first queue undoes itself by closing: persist is set last, so the kernel
  // deletes a device this call created when a later step fails.
  auto fail = [&](std::error_code e, std::string_view op, std::string_view hint) {
    describe(e, op, first_.name(), hint);
    close();
    return e;
  };
  if (options.owner) {
    if (auto ec = ioctl_value(TUNSETOWNER, *options.owner))
      return fail(ec, "TUNSETOWNER", cap_hint(ec));
  }
  if (options.group) {
    if (auto ec = ioctl_value(TUNSETGROUP, *options.group))
      return fail(ec, "TUNSETGROUP", cap_hint(ec));
  }
  for (unsigned i = 1; i < options.queues; ++i) {
    std::error_code ec;
    (void)add_queue(ec);
    if (ec) {
      return fail(
          ec, "TUNSETIFF (queue)",
          detail::setiff_hint(ec.category() == std::system_category() ? ec.value() : 0, options));
    }
  }
  if (options.persist) {
    if (auto ec = ioctl_value(TUNSETPERSIST, 1)) return fail(ec, "TUNSETPERSIST", cap_hint(ec));
  }
  return {};
}

void TunDevice::close() noexcept {
  more_.clear();
  first_.close();
}

int TunDevice::release() noexcept {
  more_.clear();
  return first_.release();
}

Queue* TunDevice::add_queue(std::error_code& ec) noexcept {
  ec.clear();
  if (!first_.is_open()) {
    ec = errc::not_open;
    return nullptr;
  }
  if (queue_count() >= max_queues) {
    ec = sys_error(E2BIG);
    return nullptr;
  }
  Options o;
  try {
    o = options_;
    o.name = first_.name();  // the resolved name, not the template
    o.exclusive = false;
    more_.emplace_back();
  } catch (...) {
    ec = sys_error(ENOMEM);
    return nullptr;
  }
  Queue& q = more_.back();
  ec = q.open_impl(o, *first_.sys_, nullptr);
  if (ec) {
    more_.pop_back();
    return nullptr;
  }
  return &q;
}

Queue& TunDevice::add_queue() {
  std::error_code ec;
  Queue* q = add_queue(ec);
  if (q == nullptr) {
    const int err = ec.category() == std::system_category() ? ec.value() : 0;
    // EBUSY here is this very device refusing a second queue, not another process holding it.
    const bool single = !options_.multi_queue && options_.queues <= 1;
    fail(ec, "TUNSETIFF (add queue)",
         err == EBUSY && single
             ? "the device was opened without multi-queue: set Options::multi_queue or queues > 1"
             : detail::setiff_hint(err, options_));
  }
  return *q;
}

void TunDevice::interrupt() noexcept {
  first_.interrupt();
  for (auto& q : more_)
    q.interrupt();
}

void TunDevice::clear_interrupt() noexcept {
  first_.clear_interrupt();
  for (auto& q : more_)
    q.clear_interrupt();
}

int TunDevice::control_fd() const noexcept {
  if (first_.is_open() && first_.enabled()) return first_.native_handle();
  for (const auto& q : more_) {
    if (q.is_open() && q.enabled()) return q.native_handle();
  }
  return first_.native_handle();  // all disabled: the kernel will say EBADFD
}

std::error_code TunDevice::ioctl_ptr(unsigned long request, void* arg) const noexcept {
  const int fd = control_fd();
  if (fd < 0) return errc::not_open;
  if (int r = retry_eintr([&] { return first_.sys_->ioctl(fd, request, arg); }); r < 0) {
    return sys_error(-r);
  }
  return {};
}

std::error_code TunDevice::ioctl_value(unsigned long request, unsigned long value) const noexcept {
  return ioctl_ptr(request, detail::int_arg(value));
}

void TunDevice::fail(std::error_code ec, const char* op, std::string_view hint) const {
  detail::throw_error(ec, op, first_.name(), hint);
}

// --- device-wide settings -----------------------------------------------------------------------

void TunDevice::set_persist(bool on, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETPERSIST, on ? 1 : 0);
}
void TunDevice::set_persist(bool on) {
  std::error_code ec;
  set_persist(on, ec);
  if (ec) fail(ec, "TUNSETPERSIST", cap_hint(ec));
}

void TunDevice::set_owner(uid_t uid, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETOWNER, uid);
}
void TunDevice::set_owner(uid_t uid) {
  std::error_code ec;
  set_owner(uid, ec);
  if (ec) fail(ec, "TUNSETOWNER", cap_hint(ec));
}

void TunDevice::set_group(gid_t gid, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETGROUP, gid);
}
void TunDevice::set_group(gid_t gid) {
  std::error_code ec;
  set_group(gid, ec);
  if (ec) fail(ec, "TUNSETGROUP", cap_hint(ec));
}

int TunDevice::send_buffer(std::error_code& ec) const noexcept {
  int bytes = 0;
  ec = ioctl_ptr(TUNGETSNDBUF, &bytes);
  return ec ? 0 : bytes;
}
int TunDevice::send_buffer() const {
  std::error_code ec;
  const int bytes = send_buffer(ec);
  if (ec) fail(ec, "TUNGETSNDBUF");
  return bytes;
}

void TunDevice::set_send_buffer(int bytes, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETSNDBUF, &bytes);
}
void TunDevice::set_send_buffer(int bytes) {
  std::error_code ec;
  set_send_buffer(bytes, ec);
  if (ec) fail(ec, "TUNSETSNDBUF", ec.value() == EINVAL ? "the size must be positive" : "");
}

void TunDevice::set_tx_filter(std::span<const MacAddress> macs, bool all_multicast,
                              std::error_code& ec) noexcept {
  // struct tun_filter { __u16 flags; __u16 count; __u8 addr[][ETH_ALEN]; } with the addresses
  // following the header; the kernel takes at most 64K of them.
  if (macs.size() > 0xFFFF) {
    ec = sys_error(EINVAL);
    return;
  }
  std::vector<std::uint8_t> buf;
  try {
    buf.resize(sizeof(tun_filter) + macs.size() * 6);
  } catch (...) {
    ec = sys_error(ENOMEM);
    return;
  }
  tun_filter header{};
  header.flags = all_multicast ? TUN_FLT_ALLMULTI : 0;
  header.count = static_cast<__u16>(macs.size());
  std::memcpy(buf.data(), &header, sizeof header);
  for (std::size_t i = 0; i < macs.size(); ++i) {
    std::memcpy(buf.data() + sizeof header + i * 6, macs[i].bytes.data(), 6);
  }
  ec = ioctl_ptr(TUNSETTXFILTER, buf.data());
}
void TunDevice::set_tx_filter(std::span<const MacAddress> macs, bool all_multicast) {
  std::error_code ec;
  set_tx_filter(macs, all_multicast, ec);
  if (ec) fail(ec, "TUNSETTXFILTER", ec.value() == EINVAL ? "TAP devices only" : "");
}

void TunDevice::clear_tx_filter(std::error_code& ec) noexcept {
  // A filter with no addresses and no flags turns filtering off (tun's update_filter()).
  tun_filter header{};
  ec = ioctl_ptr(TUNSETTXFILTER, &header);
}
void TunDevice::clear_tx_filter() {
  std::error_code ec;
  clear_tx_filter(ec);
  if (ec) fail(ec, "TUNSETTXFILTER", ec.value() == EINVAL ? "TAP devices only" : "");
}

void TunDevice::attach_filter(std::span<const BpfInstruction> program,
                              std::error_code& ec) noexcept {
  if (program.empty() || program.size() > BPF_MAXINSNS) {
    ec = sys_error(EINVAL);
    return;
  }
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  // The kernel only reads the program; sock_fprog's pointer is non-const by its declaration.
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<BpfInstruction*>(program.data()));
  ec = ioctl_ptr(TUNATTACHFILTER, &prog);
}
void TunDevice::attach_filter(std::span<const BpfInstruction> program) {
  std::error_code ec;
  attach_filter(program, ec);
  if (ec) {
    fail(ec, "TUNATTACHFILTER",
         ec.value() == EINVAL ? "TAP devices only, with a valid program of 1 to 4096 instructions"
                              : "");
  }
}

void TunDevice::detach_filter(std::error_code& ec) noexcept {
  sock_fprog prog{};
  ec = ioctl_ptr(TUNDETACHFILTER, &prog);
}
void TunDevice::detach_filter() {
  std::error_code ec;
  detach_filter(ec);
  if (ec)
    fail(ec, "TUNDETACHFILTER",
         ec.value() == EINVAL ? "TAP devices only, with a filter attached" : "");
}

std::size_t TunDevice::filter_size(std::error_code& ec) const noexcept {
  sock_fprog prog{};
  ec = ioctl_ptr(TUNGETFILTER, &prog);
  if (ec == std::error_code(EINVAL, std::system_category())) {
    ec.clear();  // EINVAL is the kernel's way of saying "no filter attached"
    return 0;
  }
  return ec ? 0 : prog.len;
}
std::size_t TunDevice::filter_size() const {
  std::error_code ec;
  const std::size_t n = filter_size(ec);
  if (ec) fail(ec, "TUNGETFILTER");
  return n;
}

void TunDevice::set_steering_ebpf(int program_fd, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETSTEERINGEBPF, &program_fd);
}
void TunDevice::set_steering_ebpf(int program_fd) {
  std::error_code ec;
  set_steering_ebpf(program_fd, ec);
  if (ec) fail(ec, "TUNSETSTEERINGEBPF", "needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program");
}

void TunDevice::set_filter_ebpf(int program_fd, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETFILTEREBPF, &program_fd);
}
void TunDevice::set_filter_ebpf(int program_fd) {
  std::error_code ec;
  set_filter_ebpf(program_fd, ec);
  if (ec) fail(ec, "TUNSETFILTEREBPF", "needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program");
}

void TunDevice::set_carrier(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETCARRIER, &value);
}
void TunDevice::set_carrier(bool on) {
  std::error_code ec;
  set_carrier(on, ec);
  if (ec) fail(ec, "TUNSETCARRIER", cap_hint(ec));
}

void TunDevice::set_link_type(std::uint16_t arphrd, std::error_code& ec) noexcept {
  ec = ioctl_value(TUNSETLINK, arphrd);
}
void TunDevice::set_link_type(std::uint16_t arphrd) {
  std::error_code ec;
  set_link_type(arphrd, ec);
  if (ec) fail(ec, "TUNSETLINK", ec.value() == EBUSY ? "bring the link down first" : "");
}

int TunDevice::open_netns(std::error_code& ec) const noexcept {
  ec.clear();
  const int fd = control_fd();
  if (fd < 0) {
    ec = errc::not_open;
    return -1;
  }
  // TUNGETDEVNETNS returns a new descriptor (O_CLOEXEC is set by the kernel's open_related_ns).
  const int r = retry_eintr([&] { return first_.sys_->ioctl(fd, TUNGETDEVNETNS, nullptr); });
  if (r < 0) {
    ec = sys_error(-r);
    return -1;
  }
  return r;
}
int TunDevice::open_netns() const {
  std::error_code ec;
  const int fd = open_netns(ec);
  if (ec) fail(ec, "TUNGETDEVNETNS", "needs CAP_NET_ADMIN in the device's namespace");
  return fd;
}

int TunDevice::vnet_header_size(std::error_code& ec) const noexcept {
  int size = 0;
  ec = ioctl_ptr(TUNGETVNETHDRSZ, &size);
  return ec ? 0 : size;
}
int TunDevice::vnet_header_size() const {
  std::error_code ec;
  const int size = vnet_header_size(ec);
  if (ec) fail(ec, "TUNGETVNETHDRSZ");
  return size;
}

void TunDevice::set_vnet_header_size(int bytes, std::error_code& ec) noexcept {
  ec = ioctl_ptr(TUNSETVNETHDRSZ, &bytes);
}
void TunDevice::set_vnet_header_size(int bytes) {
  std::error_code ec;
  set_vnet_header_size(bytes, ec);
  if (ec) fail(ec, "TUNSETVNETHDRSZ", ec.value() == EINVAL ? "at least 10 bytes" : "");
}

bool TunDevice::vnet_little_endian(std::error_code& ec) const noexcept {
  int value = 0;
  ec = ioctl_ptr(TUNGETVNETLE, &value);
  return !ec && value != 0;
}
bool TunDevice::vnet_little_endian() const {
  std::error_code ec;
  const bool on = vnet_little_endian(ec);
  if (ec) fail(ec, "TUNGETVNETLE");
  return on;
}
void TunDevice::set_vnet_little_endian(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETVNETLE, &value);
}
void TunDevice::set_vnet_little_endian(bool on) {
  std::error_code ec;
  set_vnet_little_endian(on, ec);
  if (ec) fail(ec, "TUNSETVNETLE");
}

bool TunDevice::vnet_big_endian(std::error_code& ec) const noexcept {
  int value = 0;
  ec = ioctl_ptr(TUNGETVNETBE, &value);
  return !ec && value != 0;
}
bool TunDevice::vnet_big_endian() const {
  std::error_code ec;
  const bool on = vnet_big_endian(ec);
  if (ec) fail(ec, "TUNGETVNETBE", "kernel built without CONFIG_TUN_VNET_CROSS_LE?");
  return on;
}
void TunDevice::set_vnet_big_endian(bool on, std::error_code& ec) noexcept {
  int value = on ? 1 : 0;
  ec = ioctl_ptr(TUNSETVNETBE, &value);
}
void TunDevice::set_vnet_big_endian(bool on) {
  std::error_code ec;
  set_vnet_big_endian(on, ec);
  if (ec) fail(ec, "TUNSETVNETBE", "kernel built without CONFIG_TUN_VNET_CROSS_LE?");
}

Flags TunDevice::features(sys::Syscalls& sys) {
  std::error_code ec;
  const Flags f = features(ec, sys);
  if (ec) {
    detail::throw_error(ec, "TUNGETFEATURES on /dev/net/tun", {}, detail::open_hint(ec.value()));
  }
  return f;
}

Flags TunDevice::features(std::error_code& ec, sys::Syscalls& sys) noexcept {
  ec.clear();
  const int fd = retry_eintr([&] { return sys.open(detail::kTunPath, O_RDWR | O_CLOEXEC); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  unsigned int bits = 0;
  const int r = retry_eintr([&] { return sys.ioctl(fd, TUNGETFEATURES, &bits); });
  (void)sys.close(fd);
  if (r < 0) {
    ec = sys_error(-r);
    return {};
  }
  return Flags::from_bits(static_cast<std::uint16_t>(bits));
}

}  // namespace tunkit
