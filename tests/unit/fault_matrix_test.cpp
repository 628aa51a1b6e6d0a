// The fault matrix: for every public operation, each errno the kernel can answer its system
// calls with (KERNEL.md, the man pages, drivers/net/tun.c and rtnetlink) is scripted through the
// fake kernel, and the test checks the result: the error's category and value, the whole
// message (operation, device, cause, hint), and the object afterwards: still usable (the same
// operation succeeds once the fault is gone, no descriptor gained or lost) or, for a failed
// open, cleanly closed (nothing open, no device left behind). EINTR is retried everywhere but
// close(2).
//
// docs/fault-matrix.md is generated from this table: a test checks that it is up to date, and
// TUNKIT_WRITE_FAULT_MATRIX=1 rewrites it.
#include <linux/ethtool_netlink.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/ebpf.hpp"
#include "tunkit/error.hpp"
#include "tunkit/ethtool.hpp"
#include "tunkit/link.hpp"
#include "tunkit/queue.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"
#include "tunkit/tun_info.hpp"

namespace {

using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::MacAddress;
using tunkit::Mode;
using tunkit::Options;
using tunkit::TunDevice;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;
using namespace std::chrono_literals;

// The cause each errno is reported with: an independent statement of what the messages say.
const std::map<int, std::string>& causes() {
  static const std::map<int, std::string> m{
      {EPERM, "operation not permitted"},
      {EACCES, "permission denied"},
      {ENOENT, "no such file or directory"},
      {ENODEV, "no such device"},
      {ESRCH, "no such process"},
      {ENXIO, "no such device or address"},
      {EBUSY, "device busy"},
      {EINVAL, "invalid argument"},
      {EEXIST, "already exists"},
      {EBADF, "bad file descriptor"},
      {EBADFD, "device removed or not attached"},
      {EAGAIN, "would block"},
      {EMFILE, "too many open files in this process"},
      {ENFILE, "too many open files in the system"},
      {ENOMEM, "out of memory"},
      {ENOBUFS, "no buffer space available"},
      {EFAULT, "bad address"},
      {EIO, "input/output error"},
      {E2BIG, "too many queues"},
      {ERANGE, "out of range"},
      {EADDRNOTAVAIL, "address not assigned"},
      {EOPNOTSUPP, "operation not supported"},
      {ENETUNREACH, "network is unreachable"},
      {ENOTTY, "not supported by this device (no such ioctl)"},
      {ECONNREFUSED, "connection refused"},
  };
  return m;
}

const char* errno_name(int err) {
  switch (err) {
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case ENOENT:
      return "ENOENT";
    case ENODEV:
      return "ENODEV";
    case ENXIO:
      return "ENXIO";
    case EBUSY:
      return "EBUSY";
    case EINVAL:
      return "EINVAL";
    case EEXIST:
      return "EEXIST";
    case EBADF:
      return "EBADF";
    case EBADFD:
      return "EBADFD";
    case EAGAIN:
      return "EAGAIN";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ENOMEM:
      return "ENOMEM";
    case ENOBUFS:
      return "ENOBUFS";
    case EFAULT:
      return "EFAULT";
    case EIO:
      return "EIO";
    case E2BIG:
      return "E2BIG";
    case ERANGE:
      return "ERANGE";
    case EADDRNOTAVAIL:
      return "EADDRNOTAVAIL";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case ENETUNREACH:
      return "ENETUNREACH";
    case ESRCH:
      return "ESRCH";
    case EINTR:
      return "EINTR";
    case ENOTTY:
      return "ENOTTY";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    default:
      return "?";
  }
}

using test::sys;

// What the fixture holds: a TAP device "ft0" with two queues, non-blocking, up, and a Link on it.
struct Rig {
  FakeKernel k;
  TunDevice dev;
  std::unique_ptr<Link> link;
  std::unique_ptr<tunkit::Ethtool> ethtool;
  std::vector<int> spare_fds;  // descriptors the operations hand out (open_netns)
  int xdp_fd = -1;             // an XDP program that `prepare` attached (Link::*_xdp)

  explicit Rig(bool open = true) {
    if (!open) return;
    dev.open({.name = "ft0", .mode = Mode::tap, .queues = 2, .non_blocking = true}, k);
    k.set_up("ft0", true);
    link = std::make_unique<Link>(dev.ifindex(), k);
    ethtool = std::make_unique<tunkit::Ethtool>(dev.ifindex(), k);
  }
  ~Rig() {
    for (const int fd : spare_fds)
      (void)k.close(fd);
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  void inject_frame() {
    std::vector<std::byte> f(60, std::byte{0x22});
    f[12] = std::byte{0x08};
    f[13] = std::byte{0x00};
    k.inject("ft0", f);
  }
};

std::vector<std::byte> frame() {
  std::vector<std::byte> f(60, std::byte{0x22});
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x00};
  return f;
}

// How an operation ends under a fault.
enum class Outcome : std::uint8_t {
  error,     // reported; the object stays usable
  closed,    // reported by a failed open; nothing is left open and no device exists
  retried,   // EINTR: retried transparently, the operation succeeds
  absorbed,  // not an error for this operation (TUNGETFILTER's EINVAL: no filter, size 0)
};

struct Fault {
  int err = 0;
  Outcome outcome = Outcome::error;
  std::string hint;     // the hint in parentheses, when the library gives one for this errno
  std::string cause{};  // when the operation words the cause itself (else `causes()`)
};

// One public operation and the faults scripted under it.
struct Operation {
  std::string name;     // as in the matrix
  std::string syscall;  // the call the fault is scripted on
  std::string message;  // the message's start: "tunkit: OP \"DEV\": "
  std::function<void(Rig&, int)> arm;
  std::function<void(Rig&, std::error_code&)> run_ec;
  std::function<void(Rig&)> run_throw;
  std::vector<Fault> faults;
  std::function<void(Rig&)> prepare = [](Rig&) {};
  bool opens = false;  // runs on a closed rig (open, features)
};

std::function<void(Rig&, int)> on_call(Call call, std::size_t after = 0) {
  return [=](Rig& r, int err) { r.k.fail_next(call, err, after); };
}

std::function<void(Rig&, int)> on_ioctl(unsigned long request) {
  return [=](Rig& r, int err) { r.k.fail_next_ioctl(request, err); };
}

std::function<void(Rig&, int)> on_rtnl(std::uint16_t type) {
  return [=](Rig& r, int err) { r.k.rtnetlink().fail_next(type, err); };
}

std::function<void(Rig&, int)> on_genl(std::uint8_t cmd) {
  return [=](Rig& r, int err) { r.k.rtnetlink().fail_next_genl(cmd, err); };
}

Fault e(int err, std::string hint = {}) {
  return {err, Outcome::error, std::move(hint)};
}
Fault closed(int err, std::string hint = {}) {
  return {err, Outcome::closed, std::move(hint)};
}
Fault absorbed(int err) {
  return {err, Outcome::absorbed, {}};
}
Fault retried() {
  return {EINTR, Outcome::retried, {}};
}

const Options kOpen{.name = "ft1", .queues = 2, .persist = true, .owner = 1000, .group = 100};

constexpr std::string_view kCap = "needs CAP_NET_ADMIN";
constexpr std::string_view kGone = "the interface was deleted";
constexpr std::string_view kUnmappedId =
    "the id is -1, or not mapped in this user namespace (an unprivileged user namespace maps "
    "only its creator's own ids)";
constexpr std::string_view kSetiffPerm =
    "needs CAP_NET_ADMIN, or to be the device's owner or in its group";
constexpr std::string_view kCreateCap =
    "creating a device needs CAP_NET_ADMIN: run as root, or have an administrator create it "
    "persistent with an owner or group that includes you (see "
    "docs/permissions-and-namespaces.md)";
constexpr std::string_view kTunAccess =
    "needs read and write access to /dev/net/tun: run as root, or ask an administrator to grant "
    "it and to create the device with an owner or group that includes you (see "
    "docs/permissions-and-namespaces.md)";
constexpr std::string_view kBusy = "another process has it open without IFF_MULTI_QUEUE";
constexpr std::string_view kMismatch =
    "the name belongs to a device of another kind, or the existing device differs in TUN/TAP "
    "mode or multi-queue setting";
constexpr std::string_view kQueueLimit =
    "the device already has the most queues the kernel allows (256)";
constexpr std::string_view kTapOnly = "TAP devices only";
constexpr std::string_view kEbpf = "needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program";
constexpr std::string_view kRtnlCap = "needs CAP_NET_ADMIN in the interface's network namespace";

// The faults every device-wide ioctl is checked under, with the hints those errnos get.
std::vector<Fault> ioctl_faults(std::string einval_hint = {}, std::string eperm_hint = {},
                                std::vector<Fault> more = {}) {
  std::vector<Fault> f{e(EBADFD, std::string(kGone)),
                       e(EPERM, std::move(eperm_hint)),
                       e(EINVAL, std::move(einval_hint)),
                       e(EFAULT),
                       e(ENOMEM),
                       retried()};
  f.insert(f.end(), more.begin(), more.end());
  return f;
}

// A device-wide ioctl wrapper as a row.
template <typename Ec, typename Throw>
Operation device_op(std::string name, unsigned long request, std::string op, Ec ec, Throw t,
                    std::vector<Fault> faults) {
  return {std::move(name),  "ioctl " + op, "tunkit: " + op + " \"ft0\": ", on_ioctl(request), ec, t,
          std::move(faults)};
}

std::vector<Operation> operations() {
  static const std::array<MacAddress, 1> macs{MacAddress{{0x02, 0, 0, 0, 0, 1}}};
  static const std::array<tunkit::BpfInstruction, 1> accept{{{0x06, 0, 0, 0xFFFFFFFF}}};
  static const auto packet = frame();
  std::vector<Operation> ops;

  // --- open -----------------------------------------------------------------------------------
  const std::vector<Fault> setiff_faults{closed(EPERM, std::string(kCreateCap)),
                                         closed(EBUSY, std::string(kBusy)),
                                         closed(EINVAL, std::string(kMismatch)),
                                         closed(EEXIST),
                                         closed(E2BIG, std::string(kQueueLimit)),
                                         closed(ENOMEM),
                                         retried()};
  auto open_ec = [](Rig& r, std::error_code& ec) { r.dev.open(kOpen, ec, r.k); };
  auto open_throw = [](Rig& r) { r.dev.open(kOpen, r.k); };
  ops.push_back({"TunDevice::open",
                 "open /dev/net/tun",
                 "tunkit: open /dev/net/tun for \"ft1\": ",
                 on_call(Call::open),
                 open_ec,
                 open_throw,
                 {closed(ENOENT, "no TUN/TAP support: load it with 'modprobe tun'"),
                  closed(ENODEV, "no TUN/TAP support: load it with 'modprobe tun'"),
                  closed(EACCES, std::string(kTunAccess)), closed(EMFILE), closed(ENFILE),
                  closed(ENOMEM), retried()},
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "open of the 2nd queue",
                 "tunkit: open /dev/net/tun for \"ft1\": ",
                 on_call(Call::open, 1),
                 open_ec,
                 open_throw,
                 {closed(EMFILE), closed(ENFILE), closed(ENOMEM), retried()},
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "eventfd",
                 "tunkit: eventfd for \"ft1\": ",
                 on_call(Call::eventfd),
                 open_ec,
                 open_throw,
                 {closed(EMFILE), closed(ENFILE), closed(ENOMEM), closed(EINVAL)},
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "ioctl TUNSETIFF",
                 "tunkit: TUNSETIFF \"ft1\": ",
                 on_ioctl(TUNSETIFF),
                 open_ec,
                 open_throw,
                 setiff_faults,
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "ioctl TUNSETOWNER",
                 "tunkit: TUNSETOWNER \"ft1\": ",
                 on_ioctl(TUNSETOWNER),
                 open_ec,
                 open_throw,
                 {closed(EPERM, std::string(kCap)), closed(EINVAL, std::string(kUnmappedId)),
                  closed(EBADFD), retried()},
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "ioctl TUNSETGROUP",
                 "tunkit: TUNSETGROUP \"ft1\": ",
                 on_ioctl(TUNSETGROUP),
                 open_ec,
                 open_throw,
                 {closed(EPERM, std::string(kCap)), closed(EINVAL, std::string(kUnmappedId)),
                  closed(EBADFD), retried()},
                 {},
                 true});
  ops.push_back({"TunDevice::open",
                 "ioctl TUNSETPERSIST",
                 "tunkit: TUNSETPERSIST \"ft1\": ",
                 on_ioctl(TUNSETPERSIST),
                 open_ec,
                 open_throw,
                 {closed(EPERM, std::string(kCap)), closed(EINVAL), closed(EBADFD), retried()},
                 {},
                 true});
  ops.push_back({"TunDevice::features",
                 "ioctl TUNGETFEATURES",
                 "tunkit: TUNGETFEATURES on /dev/net/tun: ",
                 on_ioctl(TUNGETFEATURES),
                 [](Rig& r, std::error_code& ec) { (void)TunDevice::features(ec, r.k); },
                 [](Rig& r) { (void)TunDevice::features(r.k); },
                 {closed(ENOTTY), closed(EFAULT), retried()},
                 {},
                 true});

  // --- queues ---------------------------------------------------------------------------------
  ops.push_back({"TunDevice::add_queue",
                 "ioctl TUNSETIFF",
                 "tunkit: TUNSETIFF \"ft0\": ",
                 on_ioctl(TUNSETIFF),
                 [](Rig& r, std::error_code& ec) { (void)r.dev.add_queue(ec); },
                 [](Rig& r) { (void)r.dev.add_queue(); },
                 {e(E2BIG, std::string(kQueueLimit)), e(EBUSY, std::string(kBusy)),
                  e(EINVAL, std::string(kMismatch)), e(EPERM, std::string(kSetiffPerm)), e(ENOMEM),
                  retried()}});
  ops.push_back({"TunDevice::add_queue",
                 "open /dev/net/tun",
                 "tunkit: open /dev/net/tun for \"ft0\": ",
                 on_call(Call::open),
                 [](Rig& r, std::error_code& ec) { (void)r.dev.add_queue(ec); },
                 [](Rig& r) { (void)r.dev.add_queue(); },
                 {e(EMFILE), e(ENFILE), e(ENOMEM), e(EACCES, std::string(kTunAccess)), retried()}});
  ops.push_back({"Queue::disable",
                 "ioctl TUNSETQUEUE",
                 "tunkit: TUNSETQUEUE detach \"ft0\": ",
                 on_ioctl(TUNSETQUEUE),
                 [](Rig& r, std::error_code& ec) { r.dev.queue(1).disable(ec); },
                 [](Rig& r) { r.dev.queue(1).disable(); },
                 {e(EINVAL, "not a multi-queue device, or already disabled"),
                  e(EBADFD, std::string(kGone)), e(EPERM), e(ENOMEM), retried()}});
  ops.push_back({"Queue::enable",
                 "ioctl TUNSETQUEUE",
                 "tunkit: TUNSETQUEUE attach \"ft0\": ",
                 on_ioctl(TUNSETQUEUE),
                 [](Rig& r, std::error_code& ec) { r.dev.queue(1).enable(ec); },
                 [](Rig& r) { r.dev.queue(1).enable(); },
                 {e(EINVAL, "not a multi-queue device, or already enabled"),
                  e(EBADFD, std::string(kGone)), e(EPERM), e(ENOMEM), retried()},
                 [](Rig& r) { r.dev.queue(1).disable(); }});

  // --- packet I/O -----------------------------------------------------------------------------
  std::vector<Fault> read_faults{e(EBADFD, "the interface was deleted"),
                                 e(EAGAIN, "no packet ready"),
                                 e(EFAULT),
                                 e(EINVAL),
                                 e(EIO, "the interface is down: bring it up first"),
                                 retried()};
  auto inject = [](Rig& r) { r.inject_frame(); };
  // read goes through readv(2) (a spare byte detects truncation unless the buffer holds the
  // largest packet); write of a plain packet through write(2), writev through writev(2).
  ops.push_back({"Queue::read", "readv", "tunkit: read \"ft0\": ", on_call(Call::readv),
                 [](Rig& r, std::error_code& ec) {
                   std::array<std::byte, 2048> buf{};
                   (void)r.dev.read(buf, ec);
                 },
                 [](Rig& r) {
                   std::array<std::byte, 2048> buf{};
                   (void)r.dev.read(buf);
                 },
                 read_faults, inject});
  ops.push_back({"Queue::readv", "readv", "tunkit: readv \"ft0\": ", on_call(Call::readv),
                 [](Rig& r, std::error_code& ec) {
                   std::array<std::byte, 1024> a{};
                   std::array<std::byte, 1024> b{};
                   const std::array<std::span<std::byte>, 2> bufs{a, b};
                   (void)r.dev.readv(bufs, ec);
                 },
                 [](Rig& r) {
                   std::array<std::byte, 1024> a{};
                   std::array<std::byte, 1024> b{};
                   const std::array<std::span<std::byte>, 2> bufs{a, b};
                   (void)r.dev.readv(bufs);
                 },
                 read_faults, inject});
  std::vector<Fault> write_faults{e(EINVAL, "the kernel rejected the frame (too short?)"),
                                  e(EBADFD, "the interface was deleted"),
                                  e(EIO, "the interface is down: bring it up first"),
                                  e(EAGAIN),
                                  e(ENOBUFS),
                                  e(ENOMEM),
                                  e(EFAULT),
                                  retried()};
  ops.push_back({"Queue::write", "write", "tunkit: write \"ft0\": ", on_call(Call::write),
                 [](Rig& r, std::error_code& ec) { (void)r.dev.write(packet, ec); },
                 [](Rig& r) { (void)r.dev.write(packet); }, write_faults});
  ops.push_back({"Queue::writev", "writev", "tunkit: writev \"ft0\": ", on_call(Call::writev),
                 [](Rig& r, std::error_code& ec) {
                   const std::array<std::span<const std::byte>, 2> bufs{
                       std::span(packet).first(14), std::span(packet).subspan(14)};
                   (void)r.dev.writev(bufs, ec);
                 },
                 [](Rig& r) {
                   const std::array<std::span<const std::byte>, 2> bufs{
                       std::span(packet).first(14), std::span(packet).subspan(14)};
                   (void)r.dev.writev(bufs);
                 },
                 write_faults});
  std::vector<Fault> poll_faults{e(ENOMEM), e(EINVAL), e(EFAULT), retried()};
  ops.push_back({"Queue::wait_readable", "poll", "tunkit: poll \"ft0\": ", on_call(Call::poll),
                 [](Rig& r, std::error_code& ec) { (void)r.dev.wait_readable(10ms, ec); },
                 [](Rig& r) { (void)r.dev.wait_readable(10ms); }, poll_faults, inject});
  ops.push_back({"Queue::wait_writable", "poll", "tunkit: poll \"ft0\": ", on_call(Call::poll),
                 [](Rig& r, std::error_code& ec) { (void)r.dev.wait_writable(10ms, ec); },
                 [](Rig& r) { (void)r.dev.wait_writable(10ms); }, poll_faults});

  // --- device-wide ioctls ---------------------------------------------------------------------
  const std::string cap(kCap);
  ops.push_back(device_op(
      "TunDevice::set_persist", TUNSETPERSIST, "TUNSETPERSIST",
      [](Rig& r, std::error_code& ec) { r.dev.set_persist(false, ec); },
      [](Rig& r) { r.dev.set_persist(false); }, ioctl_faults({}, cap)));
  ops.push_back(device_op(
      "TunDevice::set_owner", TUNSETOWNER, "TUNSETOWNER",
      [](Rig& r, std::error_code& ec) { r.dev.set_owner(1000, ec); },
      [](Rig& r) { r.dev.set_owner(1000); }, ioctl_faults(std::string(kUnmappedId), cap)));
  ops.push_back(device_op(
      "TunDevice::set_group", TUNSETGROUP, "TUNSETGROUP",
      [](Rig& r, std::error_code& ec) { r.dev.set_group(100, ec); },
      [](Rig& r) { r.dev.set_group(100); }, ioctl_faults(std::string(kUnmappedId), cap)));
  ops.push_back(device_op(
      "TunDevice::send_buffer", TUNGETSNDBUF, "TUNGETSNDBUF",
      [](Rig& r, std::error_code& ec) { (void)r.dev.send_buffer(ec); },
      [](Rig& r) { (void)r.dev.send_buffer(); }, ioctl_faults()));
  ops.push_back(device_op(
      "TunDevice::set_send_buffer", TUNSETSNDBUF, "TUNSETSNDBUF",
      [](Rig& r, std::error_code& ec) { r.dev.set_send_buffer(4096, ec); },
      [](Rig& r) { r.dev.set_send_buffer(4096); }, ioctl_faults("the size must be positive")));
  ops.push_back(device_op(
      "TunDevice::set_tx_filter", TUNSETTXFILTER, "TUNSETTXFILTER",
      [](Rig& r, std::error_code& ec) { r.dev.set_tx_filter(macs, false, ec); },
      [](Rig& r) { r.dev.set_tx_filter(macs); }, ioctl_faults(std::string(kTapOnly))));
  ops.push_back(device_op(
      "TunDevice::clear_tx_filter", TUNSETTXFILTER, "TUNSETTXFILTER",
      [](Rig& r, std::error_code& ec) { r.dev.clear_tx_filter(ec); },
      [](Rig& r) { r.dev.clear_tx_filter(); }, ioctl_faults(std::string(kTapOnly))));
  ops.push_back(device_op(
      "TunDevice::attach_filter", TUNATTACHFILTER, "TUNATTACHFILTER",
      [](Rig& r, std::error_code& ec) { r.dev.attach_filter(accept, ec); },
      [](Rig& r) { r.dev.attach_filter(accept); },
      ioctl_faults("TAP devices only, with a valid program of 1 to 4096 instructions")));
  ops.push_back(device_op(
      "TunDevice::detach_filter", TUNDETACHFILTER, "TUNDETACHFILTER",
      [](Rig& r, std::error_code& ec) { r.dev.detach_filter(ec); },
      [](Rig& r) { r.dev.detach_filter(); }, ioctl_faults(std::string(kTapOnly))));
  ops.back().prepare = [](Rig& r) { r.dev.attach_filter(accept); };
  ops.push_back(device_op(
      "TunDevice::filter_size", TUNGETFILTER, "TUNGETFILTER",
      [](Rig& r, std::error_code& ec) { (void)r.dev.filter_size(ec); },
      [](Rig& r) { (void)r.dev.filter_size(); },
      {e(EBADFD, std::string(kGone)), e(EPERM), absorbed(EINVAL), e(EFAULT), e(ENOMEM),
       retried()}));
  ops.push_back(device_op(
      "TunDevice::set_steering_ebpf", TUNSETSTEERINGEBPF, "TUNSETSTEERINGEBPF",
      [](Rig& r, std::error_code& ec) { r.dev.set_steering_ebpf(-1, ec); },
      [](Rig& r) { r.dev.set_steering_ebpf(-1); },
      ioctl_faults(std::string(kEbpf), {}, {e(EBADF, std::string(kEbpf))})));
  ops.push_back(device_op(
      "TunDevice::set_filter_ebpf", TUNSETFILTEREBPF, "TUNSETFILTEREBPF",
      [](Rig& r, std::error_code& ec) { r.dev.set_filter_ebpf(-1, ec); },
      [](Rig& r) { r.dev.set_filter_ebpf(-1); },
      ioctl_faults(std::string(kEbpf), {}, {e(EBADF, std::string(kEbpf))})));
  ops.push_back(device_op(
      "TunDevice::set_carrier", TUNSETCARRIER, "TUNSETCARRIER",
      [](Rig& r, std::error_code& ec) { r.dev.set_carrier(true, ec); },
      [](Rig& r) { r.dev.set_carrier(true); },
      ioctl_faults({}, "no queue is enabled: enable one first")));
  ops.push_back(device_op(
      "TunDevice::set_link_type", TUNSETLINK, "TUNSETLINK",
      [](Rig& r, std::error_code& ec) { r.dev.set_link_type(ARPHRD_ETHER, ec); },
      [](Rig& r) { r.dev.set_link_type(ARPHRD_ETHER); },
      ioctl_faults({}, {}, {e(EBUSY, "bring the link down first")})));
  ops.back().prepare = [](Rig& r) { r.k.set_up("ft0", false); };
  ops.push_back(device_op(
      "TunDevice::open_netns", TUNGETDEVNETNS, "TUNGETDEVNETNS",
      [](Rig& r, std::error_code& ec) {
        const int fd = r.dev.open_netns(ec);
        if (fd >= 0) r.spare_fds.push_back(fd);
      },
      [](Rig& r) { r.spare_fds.push_back(r.dev.open_netns()); },
      ioctl_faults({}, "needs CAP_NET_ADMIN in the device's namespace", {e(EMFILE), e(ENFILE)})));
  ops.push_back(device_op(
      "TunDevice::vnet_header_size", TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ",
      [](Rig& r, std::error_code& ec) { (void)r.dev.vnet_header_size(ec); },
      [](Rig& r) { (void)r.dev.vnet_header_size(); }, ioctl_faults()));
  ops.push_back(device_op(
      "TunDevice::set_vnet_header_size", TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ",
      [](Rig& r, std::error_code& ec) { r.dev.set_vnet_header_size(12, ec); },
      [](Rig& r) { r.dev.set_vnet_header_size(12); }, ioctl_faults("at least 10 bytes")));
  ops.push_back(device_op(
      "TunDevice::vnet_little_endian", TUNGETVNETLE, "TUNGETVNETLE",
      [](Rig& r, std::error_code& ec) { (void)r.dev.vnet_little_endian(ec); },
      [](Rig& r) { (void)r.dev.vnet_little_endian(); }, ioctl_faults()));
  ops.push_back(device_op(
      "TunDevice::set_vnet_little_endian", TUNSETVNETLE, "TUNSETVNETLE",
      [](Rig& r, std::error_code& ec) { r.dev.set_vnet_little_endian(true, ec); },
      [](Rig& r) { r.dev.set_vnet_little_endian(true); }, ioctl_faults()));
  ops.push_back(device_op(
      "TunDevice::vnet_big_endian", TUNGETVNETBE, "TUNGETVNETBE",
      [](Rig& r, std::error_code& ec) { (void)r.dev.vnet_big_endian(ec); },
      [](Rig& r) { (void)r.dev.vnet_big_endian(); },
      ioctl_faults("kernel built without CONFIG_TUN_VNET_CROSS_LE?")));
  ops.back().prepare = [](Rig& r) { r.k.set_vnet_cross_le(true); };
  ops.push_back(device_op(
      "TunDevice::set_vnet_big_endian", TUNSETVNETBE, "TUNSETVNETBE",
      [](Rig& r, std::error_code& ec) { r.dev.set_vnet_big_endian(false, ec); },
      [](Rig& r) { r.dev.set_vnet_big_endian(false); },
      ioctl_faults("kernel built without CONFIG_TUN_VNET_CROSS_LE?")));
  ops.back().prepare = [](Rig& r) { r.k.set_vnet_cross_le(true); };
  ops.push_back(device_op(
      "TunDevice::set_offloads", TUNSETOFFLOAD, "TUNSETOFFLOAD",
      [](Rig& r, std::error_code& ec) { (void)r.dev.set_offloads({}, ec); },
      [](Rig& r) { (void)r.dev.set_offloads({}); }, ioctl_faults()));

  // --- Link (rtnetlink) -----------------------------------------------------------------------
  // The kernel's rtnetlink answers for each request; EPERM gets the capability hint everywhere.
  auto link_faults = [](std::vector<Fault> more) {
    std::vector<Fault> f{e(EPERM, std::string(kRtnlCap)),
                         e(ENODEV, "the interface no longer exists"),
                         e(EINVAL),
                         e(ENOBUFS),
                         e(ENOMEM),
                         e(EOPNOTSUPP),
                         e(EBUSY)};
    f.insert(f.end(), more.begin(), more.end());
    return f;
  };
  const auto p4 = IpPrefix::parse("10.0.0.1/24");
  const tunkit::Route r4{.destination = IpPrefix::parse("10.9.0.0/16")};
  auto link_op = [&](std::string name, std::uint16_t type, std::string message,
                     std::function<void(Rig&, std::error_code&)> ec, std::function<void(Rig&)> t,
                     std::vector<Fault> more) {
    const char* type_name = type == RTM_NEWLINK    ? "RTM_NEWLINK"
                            : type == RTM_GETLINK  ? "RTM_GETLINK"
                            : type == RTM_NEWADDR  ? "RTM_NEWADDR"
                            : type == RTM_DELADDR  ? "RTM_DELADDR"
                            : type == RTM_GETADDR  ? "RTM_GETADDR"
                            : type == RTM_NEWROUTE ? "RTM_NEWROUTE"
                            : type == RTM_DELROUTE ? "RTM_DELROUTE"
                                                   : "RTM_GETROUTE";
    ops.push_back({std::move(name), std::string("rtnetlink ") + type_name,
                   "tunkit: " + message + " \"ft0\": ", on_rtnl(type), std::move(ec), std::move(t),
                   link_faults(std::move(more))});
  };
  link_op(
      "Link::set_up", RTM_NEWLINK, "set up",
      [](Rig& r, std::error_code& ec) { r.link->set_up(ec); }, [](Rig& r) { r.link->set_up(); },
      {});
  link_op(
      "Link::set_down", RTM_NEWLINK, "set down",
      [](Rig& r, std::error_code& ec) { r.link->set_down(ec); }, [](Rig& r) { r.link->set_down(); },
      {});
  link_op(
      "Link::set_mtu", RTM_NEWLINK, "set MTU 1400 on",
      [](Rig& r, std::error_code& ec) { r.link->set_mtu(1400, ec); },
      [](Rig& r) { r.link->set_mtu(1400); }, {e(ERANGE)});
  link_op(
      "Link::set_txqueuelen", RTM_NEWLINK, "set txqueuelen 100 on",
      [](Rig& r, std::error_code& ec) { r.link->set_txqueuelen(100, ec); },
      [](Rig& r) { r.link->set_txqueuelen(100); }, {});
  link_op(
      "Link::set_mac", RTM_NEWLINK, "set MAC address 02:00:00:00:00:07 on",
      [](Rig& r, std::error_code& ec) {
        r.link->set_mac(MacAddress{{0x02, 0, 0, 0, 0, 7}}, ec);
      },
      [](Rig& r) {
        r.link->set_mac(MacAddress{{0x02, 0, 0, 0, 0, 7}});
      },
      {e(EADDRNOTAVAIL, "a device address must be unicast and not all zeros")});
  // The fake, like the kernel for TAP devices, answers EOPNOTSUPP and EBUSY with no hint of its
  // own; tunkit explains them.
  ops.back().faults[5].hint =
      "this device has no link-layer address to set (TUN devices have none; TAP devices do)";
  ops.back().faults[6].hint =
      "the device does not accept a new address while it is up: set it down first";
  ops.back().prepare = [](Rig& r) { r.link->set_down(); };
  link_op(
      "Link::add_address", RTM_NEWADDR, "add address 10.0.0.1/24 on",
      [p4](Rig& r, std::error_code& ec) { r.link->add_address(p4, ec); },
      [p4](Rig& r) { r.link->add_address(p4); }, {e(EEXIST)});
  link_op(
      "Link::remove_address", RTM_DELADDR, "remove address 10.0.0.1/24 from",
      [p4](Rig& r, std::error_code& ec) { r.link->remove_address(p4, ec); },
      [p4](Rig& r) { r.link->remove_address(p4); },
      {e(EADDRNOTAVAIL, "no assigned address matches both address and prefix length")});
  ops.back().prepare = [p4](Rig& r) { r.link->add_address(p4); };
  link_op(
      "Link::add_route", RTM_NEWROUTE, "add route 10.9.0.0/16 on",
      [r4](Rig& r, std::error_code& ec) { r.link->add_route(r4, ec); },
      [r4](Rig& r) { r.link->add_route(r4); },
      {e(EEXIST, "a route to this destination with this metric exists"), e(ENETUNREACH)});
  ops.back().prepare = [](Rig& r) { r.link->set_up(); };
  link_op(
      "Link::remove_route", RTM_DELROUTE, "remove route 10.9.0.0/16 from",
      [r4](Rig& r, std::error_code& ec) { r.link->remove_route(r4, ec); },
      [r4](Rig& r) { r.link->remove_route(r4); },
      {{ESRCH, Outcome::error,
        "no route through this interface matches destination, gateway and metric",
        "no such route"}});
  ops.back().prepare = [r4](Rig& r) {
    r.link->set_up();
    r.link->add_route(r4);
  };
  link_op(
      "Link::state", RTM_GETLINK, "read state of",
      [](Rig& r, std::error_code& ec) { (void)r.link->state(ec); },
      [](Rig& r) { (void)r.link->state(); }, {});
  link_op(
      "Link::statistics", RTM_GETLINK, "read statistics of",
      [](Rig& r, std::error_code& ec) { (void)r.link->statistics(ec); },
      [](Rig& r) { (void)r.link->statistics(); }, {});
  link_op(
      "Link::addresses", RTM_GETADDR, "read addresses of",
      [](Rig& r, std::error_code& ec) { (void)r.link->addresses(ec); },
      [](Rig& r) { (void)r.link->addresses(); }, {});
  link_op(
      "Link::routes", RTM_GETROUTE, "read routes of",
      [](Rig& r, std::error_code& ec) { (void)r.link->routes(ec); },
      [](Rig& r) { (void)r.link->routes(); }, {});
  link_op(
      "Link::txqueuelen", RTM_GETLINK, "read txqueuelen of",
      [](Rig& r, std::error_code& ec) { (void)r.link->txqueuelen(ec); },
      [](Rig& r) { (void)r.link->txqueuelen(); }, {});
  link_op(
      "Link::address_details", RTM_GETADDR, "read addresses of",
      [](Rig& r, std::error_code& ec) { (void)r.link->address_details(ec); },
      [](Rig& r) { (void)r.link->address_details(); }, {});
  // XDP: programs from the fake's bpf(2) stand-in. One made by the operation is one of the
  // descriptors it hands out (spare_fds); one made by `prepare` is attached there (xdp_fd).
  const auto new_program = [](Rig& r) {
    r.spare_fds.push_back(r.k.add_ebpf_program(FakeKernel::EbpfProgramType::xdp));
    return r.spare_fds.back();
  };
  const auto attach_prepared = [](Rig& r) {
    r.xdp_fd = r.k.add_ebpf_program(FakeKernel::EbpfProgramType::xdp);
    r.link->attach_xdp(r.xdp_fd, tunkit::XdpAttachMode::generic);
  };
  link_op(
      "Link::attach_xdp", RTM_NEWLINK, "attach XDP program (generic mode) to",
      [new_program](Rig& r, std::error_code& ec) {
        r.link->attach_xdp(new_program(r), tunkit::XdpAttachMode::generic, ec);
      },
      [new_program](Rig& r) { r.link->attach_xdp(new_program(r), tunkit::XdpAttachMode::generic); },
      {e(EEXIST), e(EBADF, "the program descriptor is not open")});
  ops.back().faults[2].hint = "the descriptor is not an XDP program (BPF_PROG_TYPE_XDP)";
  link_op(
      "Link::replace_xdp", RTM_NEWLINK, "replace XDP program (generic mode) on",
      [new_program](Rig& r, std::error_code& ec) {
        r.link->replace_xdp(new_program(r), r.xdp_fd, tunkit::XdpAttachMode::generic, ec);
        if (!ec) r.xdp_fd = r.spare_fds.back();  // the one attached now
      },
      [new_program](Rig& r) {
        r.link->replace_xdp(new_program(r), r.xdp_fd, tunkit::XdpAttachMode::generic);
      },
      {e(EEXIST,
         "the attached program 100 (generic mode) is not the expected program, or runs "
         "in another mode"),
       e(EBADF, "a program descriptor is not open")});
  ops.back().faults[2].hint = "a descriptor is not an XDP program (BPF_PROG_TYPE_XDP)";
  ops.back().prepare = attach_prepared;
  link_op(
      "Link::detach_xdp", RTM_NEWLINK, "detach XDP program from",
      [](Rig& r, std::error_code& ec) { r.link->detach_xdp(ec); },
      [](Rig& r) { r.link->detach_xdp(); }, {});
  ops.back().prepare = attach_prepared;
  link_op(
      "Link::xdp", RTM_GETLINK, "read XDP program of",
      [](Rig& r, std::error_code& ec) { (void)r.link->xdp(ec); },
      [](Rig& r) { (void)r.link->xdp(); }, {});
  // Ethtool: the ethtool generic-netlink family (and SIOCETHTOOL for the driver's name). The
  // device is named by its index: that is what an Ethtool holds.
  const std::string by_index = "\"interface index " + std::to_string(Rig().dev.ifindex()) + "\": ";
  auto ethtool_op = [&](std::string name, std::uint8_t cmd, std::string cmd_name,
                        std::string message, std::function<void(Rig&, std::error_code&)> ec,
                        std::function<void(Rig&)> t, bool set) {
    std::vector<Fault> faults{e(ENODEV, "the interface no longer exists"), e(EINVAL), e(EOPNOTSUPP),
                              e(ENOBUFS), e(ENOMEM)};
    if (set) faults.insert(faults.begin(), e(EPERM, std::string(kRtnlCap)));
    ops.push_back({std::move(name), "genetlink " + cmd_name, "tunkit: " + message + " " + by_index,
                   on_genl(cmd), std::move(ec), std::move(t), std::move(faults)});
  };
  ethtool_op(
      "Ethtool::link_settings", ETHTOOL_MSG_LINKMODES_GET, "ETHTOOL_MSG_LINKMODES_GET",
      "read link settings", [](Rig& r, std::error_code& ec) { (void)r.ethtool->link_settings(ec); },
      [](Rig& r) { (void)r.ethtool->link_settings(); }, false);
  ethtool_op(
      "Ethtool::set_link_settings", ETHTOOL_MSG_LINKMODES_SET, "ETHTOOL_MSG_LINKMODES_SET",
      "set link settings",
      [](Rig& r, std::error_code& ec) { r.ethtool->set_link_settings({.speed = 100}, ec); },
      [](Rig& r) { r.ethtool->set_link_settings({.speed = 100}); }, true);
  ethtool_op(
      "Ethtool::message_level", ETHTOOL_MSG_DEBUG_GET, "ETHTOOL_MSG_DEBUG_GET",
      "read message level", [](Rig& r, std::error_code& ec) { (void)r.ethtool->message_level(ec); },
      [](Rig& r) { (void)r.ethtool->message_level(); }, false);
  ethtool_op(
      "Ethtool::set_message_level", ETHTOOL_MSG_DEBUG_SET, "ETHTOOL_MSG_DEBUG_SET",
      "set message level 0x1",
      [](Rig& r, std::error_code& ec) { r.ethtool->set_message_level(1, ec); },
      [](Rig& r) { r.ethtool->set_message_level(1); }, true);
  ethtool_op(
      "Ethtool::rx_frames", ETHTOOL_MSG_COALESCE_GET, "ETHTOOL_MSG_COALESCE_GET", "read rx-frames",
      [](Rig& r, std::error_code& ec) { (void)r.ethtool->rx_frames(ec); },
      [](Rig& r) { (void)r.ethtool->rx_frames(); }, false);
  ethtool_op(
      "Ethtool::set_rx_frames", ETHTOOL_MSG_COALESCE_SET, "ETHTOOL_MSG_COALESCE_SET",
      "set rx-frames 8", [](Rig& r, std::error_code& ec) { r.ethtool->set_rx_frames(8, ec); },
      [](Rig& r) { r.ethtool->set_rx_frames(8); }, true);
  ethtool_op(
      "Ethtool::features", ETHTOOL_MSG_FEATURES_GET, "ETHTOOL_MSG_FEATURES_GET", "read features",
      [](Rig& r, std::error_code& ec) { (void)r.ethtool->features(ec); },
      [](Rig& r) { (void)r.ethtool->features(); }, false);
  static const std::vector<tunkit::FeatureChange> gro_off{{"rx-gro", false}};
  ethtool_op(
      "Ethtool::set_features", ETHTOOL_MSG_FEATURES_SET, "ETHTOOL_MSG_FEATURES_SET", "set features",
      [](Rig& r, std::error_code& ec) { (void)r.ethtool->set_features(gro_off, ec); },
      [](Rig& r) { (void)r.ethtool->set_features(gro_off); }, true);
  ops.push_back(
      {"Ethtool::driver_info",
       "ioctl SIOCETHTOOL",
       "tunkit: ETHTOOL_GDRVINFO " + by_index,
       on_ioctl(SIOCETHTOOL),
       [](Rig& r, std::error_code& ec) { (void)r.ethtool->driver_info(ec); },
       [](Rig& r) { (void)r.ethtool->driver_info(); },
       {e(ENODEV, "the interface no longer exists"), e(EOPNOTSUPP), e(EFAULT), retried()}});
  // Signal-driven I/O: the hint only where the failed call names the cause.
  static const tunkit::SignalIo rt_signal{.signal = 40};
  ops.push_back(
      {"Queue::enable_signal_io",
       "fcntl F_GETFL",
       "tunkit: enable signal-driven I/O on \"ft0\": ",
       on_call(Call::fcntl),
       [](Rig& r, std::error_code& ec) { r.dev.queue(0).enable_signal_io(rt_signal, ec); },
       [](Rig& r) { r.dev.queue(0).enable_signal_io(rt_signal); },
       {e(EBADF), e(EINVAL), retried()}});
  ops.push_back(
      {"Queue::enable_signal_io",
       "fcntl F_SETSIG",
       "tunkit: enable signal-driven I/O on \"ft0\": ",
       on_call(Call::fcntl, 2),
       [](Rig& r, std::error_code& ec) { r.dev.queue(0).enable_signal_io(rt_signal, ec); },
       [](Rig& r) { r.dev.queue(0).enable_signal_io(rt_signal); },
       {e(EINVAL, "signal 40 is not a signal number (0..64)"), retried()}});
  ops.push_back(
      {"Queue::enable_signal_io",
       "fcntl F_SETOWN_EX",
       "tunkit: enable signal-driven I/O on \"ft0\": ",
       on_call(Call::fcntl_ptr, 1),
       [](Rig& r, std::error_code& ec) { r.dev.queue(0).enable_signal_io(rt_signal, ec); },
       [](Rig& r) { r.dev.queue(0).enable_signal_io(rt_signal); },
       {e(ESRCH, "no process with id " + std::to_string(::getpid())), e(EPERM), retried()}});
  ops.push_back({"Queue::disable_signal_io",
                 "fcntl F_SETFL",
                 "tunkit: disable signal-driven I/O on \"ft0\": ",
                 on_call(Call::fcntl, 1),
                 [](Rig& r, std::error_code& ec) { r.dev.queue(0).disable_signal_io(ec); },
                 [](Rig& r) { r.dev.queue(0).disable_signal_io(); },
                 {e(EBADF), e(EPERM), retried()},
                 [](Rig& r) { r.dev.queue(0).enable_signal_io(rt_signal); }});

  // Loading a classic program as an eBPF filter: the one bpf(2) call (EINVAL and EACCES, which
  // load again for the verifier's words, and ENOSYS are in tests/unit/ebpf_test.cpp).
  static const std::array<tunkit::BpfInstruction, 1> accept_all{{{0x06, 0, 0, 0xFFFFFFFF}}};
  ops.push_back(
      {"EbpfFilter::load",
       "bpf BPF_PROG_LOAD",
       "tunkit: BPF_PROG_LOAD: ",
       on_call(Call::bpf),
       [](Rig& r, std::error_code& ec) { (void)tunkit::EbpfFilter::load(accept_all, ec, r.k); },
       [](Rig& r) { (void)tunkit::EbpfFilter::load(accept_all, r.k); },
       {e(EPERM, "loading an eBPF program needs CAP_BPF or CAP_SYS_ADMIN"), e(ENOMEM), retried()}});

  // rename words its message itself: the old and the new name.
  ops.push_back(
      {"Link::rename",
       "rtnetlink RTM_NEWLINK",
       "tunkit: rename \"ft0\" to \"ft9\": ",
       on_rtnl(RTM_NEWLINK),
       [](Rig& r, std::error_code& ec) { r.link->rename("ft9", ec); },
       [](Rig& r) { r.link->rename("ft9"); },
       {e(EPERM, std::string(kRtnlCap)), e(ENODEV, "the interface no longer exists"), e(EINVAL),
        e(ENOBUFS), e(ENOMEM), e(EOPNOTSUPP), e(EBUSY, "the interface is up: set it down first"),
        e(EEXIST, "another interface has that name")},
       [](Rig& r) { r.link->set_down(); }});
  ops.push_back({"list_tun_devices",
                 "rtnetlink RTM_GETLINK",
                 "tunkit: list TUN/TAP devices: ",
                 on_rtnl(RTM_GETLINK),
                 [](Rig& r, std::error_code& ec) { (void)tunkit::list_tun_devices(ec, r.k); },
                 [](Rig& r) { (void)tunkit::list_tun_devices(r.k); },
                 {e(EPERM), e(EINVAL), e(ENOBUFS), e(ENOMEM), e(EOPNOTSUPP), e(EBUSY)}});
  // The socket under every Link operation: transport errors of sendto/recvfrom.
  ops.push_back({"Link (any request)",
                 "sendto",
                 "tunkit: set up \"ft0\": ",
                 on_call(Call::sendto),
                 [](Rig& r, std::error_code& ec) { r.link->set_up(ec); },
                 [](Rig& r) { r.link->set_up(); },
                 {e(ENOBUFS), e(ENOMEM), e(EAGAIN), e(ECONNREFUSED), retried()}});
  ops.push_back({"Link (any request)",
                 "recvfrom",
                 "tunkit: set up \"ft0\": ",
                 on_call(Call::recvfrom),
                 [](Rig& r, std::error_code& ec) { r.link->set_up(ec); },
                 [](Rig& r) { r.link->set_up(); },
                 {e(ENOBUFS), e(ENOMEM), e(EAGAIN), retried()}});
  return ops;
}

std::string expected_message(const Operation& op, const Fault& f) {
  std::string m = op.message + (f.cause.empty() ? causes().at(f.err) : f.cause);
  if (!f.hint.empty()) m += " (" + f.hint + ")";
  return m;
}

// Runs one cell; returns whether the fault was observed as the table says.
void check_cell(const Operation& op, const Fault& f, bool throwing) {
  Rig rig(!op.opens);
  if (op.prepare) op.prepare(rig);
  const std::size_t fds = rig.k.open_fd_count();
  const std::size_t queues = rig.dev.queue_count();
  op.arm(rig, f.err);
  std::error_code ec;
  std::string what;
  if (throwing) {
    try {
      op.run_throw(rig);
    } catch (const tunkit::Error& x) {
      ec = x.code();
      what = x.what();
    }
  } else {
    op.run_ec(rig, ec);
  }
  switch (f.outcome) {
    case Outcome::retried:
    case Outcome::absorbed:
      CHECK_FALSE(ec);
      break;
    case Outcome::closed:
      CHECK(ec == sys(f.err));
      CHECK(ec.category() == std::system_category());
      if (throwing) CHECK(what == expected_message(op, f));
      CHECK_FALSE(rig.dev.is_open());
      CHECK(rig.k.open_fd_count() == 0);
      CHECK(rig.k.devices().empty());
      break;
    case Outcome::error:
      CHECK(ec == sys(f.err));
      CHECK(ec.category() == std::system_category());
      if (throwing) CHECK(what == expected_message(op, f));
      CHECK(rig.dev.is_open());
      CHECK(rig.dev.queue_count() == queues);
      CHECK(rig.k.open_fd_count() == fds + rig.spare_fds.size());
      break;
  }
  if (f.outcome == Outcome::error) {
    // Still usable: the same operation, with the fault gone, succeeds (a scripted fault has no
    // effect, so what `prepare` set up is still in place).
    std::error_code again;
    op.run_ec(rig, again);
    CHECK_FALSE(again);
  }
}

// Whether the operation works on the device's descriptors, so that after the interface is
// deleted it must say so (EBADFD, "the interface was deleted") whatever errno the kernel gives:
// every TUN ioctl but the ones that open (TUNSETIFF, TUNGETFEATURES), and packet I/O. Not
// waiting (poll reports the descriptor ready: the next I/O says why), nor rtnetlink (ENODEV).
bool on_descriptor(const Operation& op) {
  if (op.opens) return false;
  if (op.syscall == "readv" || op.syscall == "write" || op.syscall == "writev") return true;
  return op.syscall.starts_with("ioctl TUN") && op.syscall != "ioctl TUNSETIFF";
}

constexpr std::string_view kDeleted = "device removed or not attached (the interface was deleted)";

// Runs `op` after `ip link del`: the error and the message must name the deleted interface.
void check_deleted(const Operation& op, bool throwing) {
  Rig rig;
  if (op.prepare) op.prepare(rig);
  REQUIRE(rig.k.delete_device("ft0"));
  std::error_code ec;
  std::string what;
  if (throwing) {
    try {
      op.run_throw(rig);
    } catch (const tunkit::Error& x) {
      ec = x.code();
      what = x.what();
    }
  } else {
    op.run_ec(rig, ec);
  }
  CHECK(ec == sys(EBADFD));
  if (throwing) CHECK(what == op.message + std::string(kDeleted));
}

// The matrix as markdown: one row per operation and scripted call, one column per errno.
std::string matrix_markdown() {
  const auto ops = operations();
  std::set<int> all;
  for (const auto& op : ops)
    for (const auto& f : op.faults)
      all.insert(f.err);
  std::vector<int> columns(all.begin(), all.end());
  std::sort(columns.begin(), columns.end(),
            [](int a, int b) { return std::string(errno_name(a)) < std::string(errno_name(b)); });
  std::ostringstream out;
  out << "# Fault matrix\n\n"
      << "Generated from `tests/unit/fault_matrix_test.cpp` (run the unit tests with\n"
      << "`TUNKIT_WRITE_FAULT_MATRIX=1` to rewrite it; a test fails while it is out of date).\n"
      << "Each cell is one fault scripted through `tunkit::testing::FakeKernel` on the call in\n"
      << "the second column, checked in both the throwing and the `std::error_code` form:\n\n"
      << "- **E**: reported as `std::system_category()` with that errno and the exact message\n"
      << "  (operation, device, cause, hint where the library knows the fix); afterwards the "
         "object\n"
      << "  is still open with the same queues and descriptors, and the operation succeeds again;\n"
      << "- **E+h**: as E, and the message carries a hint for this errno;\n"
      << "- **C**: a failed open: reported as for E, and nothing is left: no descriptor open, no\n"
      << "  device (also for a persistent device created by this open);\n"
      << "- **C+h**: as C, with a hint;\n"
      << "- **R**: EINTR, retried transparently; the operation succeeds;\n"
      << "- **0**: not an error for this operation: TUNGETFILTER answers EINVAL when no filter\n"
      << "  is attached, which `filter_size()` reports as 0.\n\n"
      << "The last column, **deleted**, is the operation run after the interface was deleted\n"
      << "(`ip link del`; the fake's `delete_device`): **D** means it reports EBADFD with\n"
      << "`device removed or not attached (the interface was deleted)`, whatever errno the\n"
      << "kernel answered (TUNSETQUEUE says EINVAL): tunkit asks the descriptor (TUNGETIFF) and\n"
      << "names the cause it observed.\n\n"
      << "`close(2)` is never retried (also from destructors); see \"close is never retried\" in\n"
      << "`tests/unit/device_test.cpp`.\n\n";
  std::size_t cells = 0;
  out << "| operation | scripted call |";
  for (const int c : columns)
    out << " " << errno_name(c) << " |";
  out << " deleted |\n|---|---|";
  for (std::size_t i = 0; i <= columns.size(); ++i)
    out << ":-:|";
  out << "\n";
  for (const auto& op : ops) {
    out << "| `" << op.name << "` | " << op.syscall << " |";
    for (const int c : columns) {
      const auto it = std::find_if(op.faults.begin(), op.faults.end(),
                                   [c](const Fault& f) { return f.err == c; });
      if (it == op.faults.end()) {
        out << " |";
        continue;
      }
      ++cells;
      const char* mark = it->outcome == Outcome::retried    ? "R"
                         : it->outcome == Outcome::absorbed ? "0"
                         : it->outcome == Outcome::closed   ? (it->hint.empty() ? "C" : "C+h")
                                                            : (it->hint.empty() ? "E" : "E+h");
      out << " " << mark << " |";
    }
    out << (on_descriptor(op) ? " D |" : " |") << "\n";
  }
  out << "\n"
      << ops.size() << " operation/call rows, " << columns.size() << " errnos, " << cells
      << " scripted faults (each checked twice: throwing and `error_code` forms).\n";
  return out.str();
}

}  // namespace

TEST_CASE("fault matrix: every operation under every errno its calls can return",
          "[faults][matrix]") {
  for (const auto& op : operations()) {
    for (const auto& f : op.faults) {
      for (const bool throwing : {false, true}) {
        CAPTURE(op.name, op.syscall, errno_name(f.err), throwing);
        CHECK_NOTHROW(check_cell(op, f, throwing));
      }
    }
  }
}

TEST_CASE("fault matrix: every operation on a deleted interface says it was deleted",
          "[faults][matrix]") {
  std::size_t checked = 0;
  for (const auto& op : operations()) {
    if (!on_descriptor(op)) continue;
    ++checked;
    for (const bool throwing : {false, true}) {
      CAPTURE(op.name, op.syscall, throwing);
      CHECK_NOTHROW(check_deleted(op, throwing));
    }
  }
  CHECK(checked > 20);
}

TEST_CASE("fault matrix: docs/fault-matrix.md is up to date", "[faults][matrix]") {
  const std::string path = std::string(TUNKIT_SOURCE_DIR) + "/docs/fault-matrix.md";
  const std::string now = matrix_markdown();
  const char* write = std::getenv("TUNKIT_WRITE_FAULT_MATRIX");
  if (write != nullptr && std::string(write) == "1") {
    std::ofstream(path) << now;
  }
  std::ifstream in(path);
  std::stringstream committed;
  committed << in.rdbuf();
  INFO("regenerate with: TUNKIT_WRITE_FAULT_MATRIX=1 build/tests/tunkit_unit_tests '[matrix]'");
  CHECK(committed.str() == now);
}
