// tunkit: create, delete, list, show and dump TUN/TAP devices from the command line.
//
//   tunkit create --name vpn0 --user alice --mtu 1400 --addr 10.9.0.1/24 --up
//   tunkit list [--json]
//   tunkit show vpn0 [--json]
//   tunkit dump vpn0 --count 10
//   tunkit delete vpn0
//
// Devices are read over rtnetlink (tunkit::list_tun_devices), so the tool sees the network
// namespace it runs in (unlike /sys/class/net). Exit status: 0 ok, 1 runtime error, 2 usage.

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/dump.hpp"
#include "common/helpers.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: tunkit COMMAND [options]

Manage TUN/TAP devices in the current network namespace.

commands:
  create [--tap] [--name N] [--user U] [--group G] [--multi-queue] [--vnet-hdr] [--pi]
         [--mtu M] [--addr CIDR]... [--up]
                      create a persistent device (like `ip tuntap add`) and configure it
  delete NAME         delete a persistent device (like `ip tuntap del`)
  list [--json]       list every TUN/TAP device: type, flags, owner, group, queues, MTU, state
  show NAME [--json]  one device in detail, with its addresses
  dump NAME [--hex] [--count N] [--timeout SEC]
                      attach to a device and print every packet the kernel sends into it
  help                show this help ("tunkit COMMAND --help" for one command)

Exit status: 0 ok, 1 runtime error, 2 usage error.
)";

constexpr std::string_view kCreateUsage = R"(usage: tunkit create [options]

Creates a persistent TUN (default) or TAP device, as `ip tuntap add` does, then configures it.

options:
  --tap              a TAP device (Ethernet frames) instead of TUN (IP packets)
  -n, --name NAME    exact name, or a template with one %d (default: tun%d / tap%d)
  -u, --user USER    owner allowed to attach without CAP_NET_ADMIN (name or uid)
  -g, --group GROUP  group allowed to attach without CAP_NET_ADMIN (name or gid)
  --multi-queue      IFF_MULTI_QUEUE
  --vnet-hdr         IFF_VNET_HDR
  --pi               keep the 4-byte packet-information header (default: IFF_NO_PI)
  --mtu M            set the MTU (68..65535)
  --addr CIDR        add an address, e.g. 10.9.0.1/24 or fd00::1/64 (repeatable)
  --up               bring the interface up
Prints "created NAME".
)";

constexpr std::string_view kDeleteUsage = R"(usage: tunkit delete NAME

Deletes the persistent TUN/TAP device NAME: attaches to it and clears its persist flag, as
`ip tuntap del` does. A device that is not persistent belongs to the program holding it open.
)";

constexpr std::string_view kListUsage = R"(usage: tunkit list [--json]

Lists the TUN/TAP devices of the current network namespace, read over rtnetlink.
Columns: NAME TYPE FLAGS OWNER GROUP QUEUES MTU STATE. QUEUES is "enabled/disabled" for
multi-queue devices and "-" for others (the kernel counts only multi-queue queues).
)";

constexpr std::string_view kShowUsage = R"(usage: tunkit show NAME [--json]

Shows one TUN/TAP device: type, flags, owner, group, queues, MTU, state, MAC, addresses.
)";

constexpr std::string_view kDumpUsage = R"(usage: tunkit dump NAME [options]

Attaches to the TUN/TAP device NAME with the flags it has and prints every packet the kernel
sends into it, one line each like `tcpdump -n`. The packets are consumed: nothing answers them.
A device without multi-queue must not be held by another program (EBUSY).

options:
  -x, --hex          add a hex dump of each packet
  -c, --count N      exit after N packets (default 0: no limit)
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
)";

/// A command-line mistake: exit status 2.
struct UsageError {
  std::string message;
  std::string_view command;  // for the "Try" hint
};

/// A failure found by the tool itself (not a tunkit::Error): exit status 1.
struct RuntimeError {
  std::string message;
};

// ---------------------------------------------------------------------------------------------
// Argument helpers

class Args {
 public:
  Args(int argc, char** argv, int first, std::string_view command)
      : argv_(argv + first, argv + argc), command_(command) {}

  [[nodiscard]] bool done() const { return at_ >= argv_.size(); }
  std::string_view next() { return argv_[at_++]; }
  /// The value of option `opt` (the next argument).
  std::string_view value(std::string_view opt) {
    if (done()) fail(fmt::format("option {} needs a value", opt));
    return next();
  }
  [[noreturn]] void fail(std::string message) const {
    throw UsageError{std::move(message), command_};
  }
  [[nodiscard]] std::string_view command() const { return command_; }

 private:
  std::vector<std::string_view> argv_;
  std::size_t at_ = 0;
  std::string_view command_;
};

unsigned long number(Args& args, std::string_view opt, unsigned long max) {
  const std::string_view text = args.value(opt);
  const auto v = example::to_number(text, 10);
  if (!v || *v > max)
    args.fail(fmt::format("{}: \"{}\" is not a number from 0 to {}", opt, text, max));
  return *v;
}

// A user or group (`kind`) given by name or number: getpwnam_r(3) or getgrnam_r(3) as `find`,
// as tunctl and ip do.
template <class Entry, class Id>
Id lookup_id(Args& args, std::string_view kind, std::string_view text,
             int (*find)(const char*, Entry*, char*, std::size_t, Entry**), Id Entry::*id) {
  if (const auto n = example::to_number(text, 10); n && *n < 0xFFFFFFFFUL) {
    return static_cast<Id>(*n);
  }
  std::array<char, 16384> buf{};
  Entry entry{};
  Entry* found = nullptr;
  const std::string name(text);
  const int err = find(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (err != 0 || found == nullptr) args.fail(fmt::format("--{}: no {} \"{}\"", kind, kind, text));
  return found->*id;
}

bool is_help(std::string_view a) {
  return a == "-h" || a == "--help";
}

bool if_exists(std::string_view name) {
  try {
    (void)tunkit::Link::from_name(name);
    return true;
  } catch (const tunkit::Error&) {
    return false;
  }
}

// The device named NAME, or a runtime error saying what NAME is instead.
tunkit::TunDeviceInfo require_device(std::string_view name) {
  if (auto info = tunkit::find_tun_device(name)) return *info;
  if (if_exists(name)) throw RuntimeError{fmt::format("\"{}\" is not a TUN/TAP device", name)};
  throw RuntimeError{fmt::format("no device named \"{}\" in this network namespace", name)};
}

// ---------------------------------------------------------------------------------------------
// Text and JSON output

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

template <class T>
std::string json_optional(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : std::string("null");
}

std::string state_text(const tunkit::LinkState& s) {
  if (!s.up) return "down";
  return s.lower_up ? "up" : "up,no-carrier";
}

std::string queues_text(const tunkit::TunDeviceInfo& d) {
  if (!d.queues) return "-";
  return fmt::format("{}/{}", *d.queues, d.disabled_queues.value_or(0));
}

std::string id_text(const std::optional<unsigned>& id) {
  return id ? fmt::format("{}", *id) : std::string("-");
}

std::string json_device(const tunkit::TunDeviceInfo& d,
                        const std::vector<tunkit::IpPrefix>* addresses) {
  std::string out = fmt::format(
      R"({{"name":{},"ifindex":{},"type":"{}","flags":"{}","pi":{},"vnet_hdr":{},)"
      R"("persist":{},"multi_queue":{},"owner":{},"group":{},"queues":{},"disabled_queues":{},)"
      R"("mtu":{},"up":{},"carrier":{},"mac":{})",
      json_string(d.link.name), d.link.ifindex, d.mode, d.flags(), d.packet_info, d.vnet_hdr,
      d.persist, d.multi_queue, json_optional(d.owner), json_optional(d.group),
      json_optional(d.queues), json_optional(d.disabled_queues), d.link.mtu, d.link.up,
      d.link.lower_up, d.mac ? json_string(d.mac->to_string()) : std::string("null"));
  if (addresses != nullptr) {
    out += R"(,"addresses":[)";
    for (std::size_t i = 0; i < addresses->size(); ++i) {
      if (i != 0) out += ',';
      out += json_string((*addresses)[i].to_string());
    }
    out += ']';
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Commands

int cmd_create(Args& args) {
  tunkit::Options options;
  options.persist = true;
  options.exclusive = true;  // never take over a device that exists
  std::optional<unsigned> mtu;
  std::vector<tunkit::IpPrefix> addresses;
  bool up = false;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kCreateUsage);
      return 0;
    }
    if (a == "--tap") {
      options.mode = tunkit::Mode::tap;
    } else if (a == "-n" || a == "--name") {
      options.name = args.value(a);
    } else if (a == "-u" || a == "--user") {
      options.owner = lookup_id(args, "user", args.value(a), ::getpwnam_r, &passwd::pw_uid);
    } else if (a == "-g" || a == "--group") {
      options.group = lookup_id(args, "group", args.value(a), ::getgrnam_r, &group::gr_gid);
    } else if (a == "--multi-queue") {
      options.multi_queue = true;
    } else if (a == "--vnet-hdr") {
      options.vnet_hdr = true;
    } else if (a == "--pi") {
      options.packet_info = true;
    } else if (a == "--mtu") {
      mtu = static_cast<unsigned>(number(args, a, 65535));
    } else if (a == "--addr") {
      const std::string_view text = args.value(a);
      const auto p = tunkit::IpPrefix::try_parse(text);
      if (!p) args.fail(fmt::format("--addr: \"{}\" is not ADDRESS/LENGTH", text));
      addresses.push_back(*p);
    } else if (a == "--up") {
      up = true;
    } else {
      args.fail(fmt::format("unknown option \"{}\"", a));
    }
  }
  if (options.name.empty()) options.name = options.mode == tunkit::Mode::tap ? "tap%d" : "tun%d";
  if (options.name.find('%') == std::string::npos) {
    // IFF_TUN_EXCL would refuse it too; this says it in the user's words.
    if (if_exists(options.name)) {
      throw RuntimeError{fmt::format("a device named \"{}\" already exists", options.name)};
    }
  }

  tunkit::TunDevice dev(options);
  try {
    tunkit::Link link(dev.ifindex());
    if (mtu) link.set_mtu(*mtu);
    for (const auto& p : addresses)
      link.add_address(p);
    if (up) link.set_up();
  } catch (...) {
    // Half-configured is worse than absent: the device goes when `dev` closes.
    std::error_code ignored;
    dev.set_persist(false, ignored);
    throw;
  }
  fmt::print("created {}\n", dev.name());
  return 0;
}

int cmd_delete(Args& args) {
  std::optional<std::string_view> name;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kDeleteUsage);
      return 0;
    }
    if (a.starts_with('-') || name) args.fail(fmt::format("unexpected argument \"{}\"", a));
    name = a;
  }
  if (!name) args.fail("delete needs a device name");
  const tunkit::TunDeviceInfo info = require_device(*name);
  if (!info.persist) {
    throw RuntimeError{fmt::format(
        "\"{}\" is not persistent: it belongs to the program that holds it open and goes away "
        "when that program closes it",
        *name)};
  }
  // Attach with the device's own flags (others would change them, or be refused), clear
  // persist; closing the last descriptor then deletes the device (tuntap.rst, "persistent").
  tunkit::TunDevice dev(info.attach_options());
  dev.set_persist(false);
  dev.close();
  fmt::print("deleted {}\n", *name);
  return 0;
}

int cmd_list(Args& args) {
  bool json = false;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kListUsage);
      return 0;
    }
    if (a != "--json") args.fail(fmt::format("unexpected argument \"{}\"", a));
    json = true;
  }
  const auto devices = tunkit::list_tun_devices();
  if (json) {
    std::string out = "[";
    for (std::size_t i = 0; i < devices.size(); ++i) {
      if (i != 0) out += ',';
      out += json_device(devices[i], nullptr);
    }
    fmt::print("{}]\n", out);
    return 0;
  }
  fmt::print("{:<15} {:<4} {:<38} {:>6} {:>6} {:>6} {:>5} {}\n", "NAME", "TYPE", "FLAGS", "OWNER",
             "GROUP", "QUEUES", "MTU", "STATE");
  for (const auto& d : devices) {
    fmt::print("{:<15} {:<4} {:<38} {:>6} {:>6} {:>6} {:>5} {}\n", d.link.name, d.mode, d.flags(),
               id_text(d.owner), id_text(d.group), queues_text(d), d.link.mtu, state_text(d.link));
  }
  return 0;
}

int cmd_show(Args& args) {
  std::optional<std::string_view> name;
  bool json = false;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kShowUsage);
      return 0;
    }
    if (a == "--json") {
      json = true;
    } else if (a.starts_with('-') || name) {
      args.fail(fmt::format("unexpected argument \"{}\"", a));
    } else {
      name = a;
    }
  }
  if (!name) args.fail("show needs a device name");
  const tunkit::TunDeviceInfo d = require_device(*name);
  const std::vector<tunkit::IpPrefix> addresses = tunkit::Link(d.link.ifindex).addresses();
  if (json) {
    fmt::print("{}\n", json_device(d, &addresses));
    return 0;
  }
  fmt::print("{}: {} device, index {}\n", d.link.name, d.mode, d.link.ifindex);
  fmt::print("  flags    {}\n", d.flags());
  fmt::print("  owner    {}\n  group    {}\n", id_text(d.owner), id_text(d.group));
  if (d.queues) {
    fmt::print("  queues   {} enabled, {} disabled\n", *d.queues, d.disabled_queues.value_or(0));
  }
  fmt::print("  mtu      {}\n  state    {}\n", d.link.mtu, state_text(d.link));
  if (d.mac) fmt::print("  mac      {}\n", *d.mac);
  for (const auto& p : addresses)
    fmt::print("  address  {}\n", p);
  return 0;
}

// --- dump ---------------------------------------------------------------------------------------

std::atomic<tunkit::TunDevice*> g_device{nullptr};

extern "C" void on_signal(int /*signo*/) {
  if (tunkit::TunDevice* dev = g_device.load()) dev->interrupt();  // async-signal-safe
}

int cmd_dump(Args& args) {
  std::optional<std::string_view> name;
  bool hex = false;
  unsigned long count = 0;
  unsigned long timeout_s = 0;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kDumpUsage);
      return 0;
    }
    if (a == "-x" || a == "--hex") {
      hex = true;
    } else if (a == "-c" || a == "--count") {
      count = number(args, a, 1000000000);
    } else if (a == "-t" || a == "--timeout") {
      timeout_s = number(args, a, 1000000);
    } else if (a.starts_with('-') || name) {
      args.fail(fmt::format("unexpected argument \"{}\"", a));
    } else {
      name = a;
    }
  }
  if (!name) args.fail("dump needs a device name");
  const tunkit::TunDeviceInfo info = require_device(*name);
  tunkit::TunDevice dev(info.attach_options());
  const std::size_t vnet = info.vnet_hdr ? static_cast<std::size_t>(dev.vnet_header_size()) : 0;

  g_device.store(&dev);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  fmt::print("listening on {}, {} ({})\n", dev.name(), info.mode, info.flags());

  const example::Deadline deadline{std::chrono::seconds(timeout_s)};
  std::vector<std::byte> buf(65536 + vnet + 64);
  unsigned long seen = 0;
  while (count == 0 || seen < count) {
    const auto wait = deadline.left();  // -1 ms: forever
    if (!wait) break;
    std::error_code ec;
    const tunkit::WaitResult w = dev.wait_readable(*wait, ec);
    if (ec)
      throw tunkit::Error(ec, fmt::format("tunkit: wait on {}: {}", dev.name(), ec.message()));
    if (w != tunkit::WaitResult::ready) break;  // timeout, or interrupted by a signal
    tunkit::PacketInfo pi;
    const std::size_t n = dev.read(buf, pi, ec);
    if (ec == tunkit::errc::interrupted) break;
    if (ec == std::errc::resource_unavailable_try_again) continue;
    if (ec && ec != tunkit::errc::packet_truncated) {
      throw tunkit::Error(ec, fmt::format("tunkit: read from {}: {}", dev.name(), ec.message()));
    }
    ++seen;
    example::print_packet(std::span<const std::byte>(buf).first(n), vnet,
                          info.mode == tunkit::Mode::tap, hex,
                          ec == tunkit::errc::packet_truncated);
  }
  g_device.store(nullptr);
  fmt::print("{} packet{}\n", seen, seen == 1 ? "" : "s");
  return 0;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) throw UsageError{"missing command", {}};
  const std::string_view command = argv[1];
  if (is_help(command) || command == "help") {
    fmt::print("{}", kUsage);
    return 0;
  }
  Args args(argc, argv, 2, command);
  if (command == "create") return cmd_create(args);
  if (command == "delete" || command == "del") return cmd_delete(args);
  if (command == "list" || command == "ls") return cmd_list(args);
  if (command == "show") return cmd_show(args);
  if (command == "dump") return cmd_dump(args);
  throw UsageError{fmt::format("unknown command \"{}\"", command), {}};
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return dispatch(argc, argv);
  } catch (const UsageError& e) {
    const std::string hint =
        e.command.empty() ? "tunkit --help" : fmt::format("tunkit {} --help", e.command);
    fmt::print(stderr, "tunkit: {}\nTry '{}'.\n", e.message, hint);
    return 2;
  } catch (const RuntimeError& e) {
    fmt::print(stderr, "tunkit: {}\n", e.message);
  } catch (const tunkit::Error& e) {
    fmt::print(stderr, "{}\n", e.what());  // already "tunkit: OPERATION "DEVICE": cause (hint)"
  } catch (const std::exception& e) {
    fmt::print(stderr, "tunkit: unexpected error: {}\n", e.what());
  }
  return 1;
}
