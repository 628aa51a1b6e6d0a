// tunkit: create, delete, list, show, set and dump TUN/TAP devices from the command line.
//
//   tunkit create --name vpn0 --user alice --mtu 1400 --addr 10.9.0.1/24 --up
//   tunkit list [--json]
//   tunkit show vpn0 [--json]
//   tunkit set vpn0 --speed 10000 --duplex full -K gro off
//   tunkit dump vpn0 --count 10
//   tunkit delete vpn0
//
// Devices are read over rtnetlink (tunkit::list_tun_devices), so the tool sees the network
// namespace it runs in (unlike /sys/class/net). Exit status: 0 ok, 1 runtime error, 2 usage.

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cctype>
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
#include <thread>
#include <vector>

#ifdef TUNKIT_CLI_HAVE_PCAP
#include <tunkit/pcap.hpp>
#endif

#include "common/dump.hpp"
#include "common/helpers.hpp"
#include "create.hpp"
#include "run.hpp"
#include "system.hpp"
#include "text.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: tunkit COMMAND [options]

Manage TUN/TAP devices in the current network namespace.

commands:
  create [--tap] [--name N] [--user U] [--group G] [--multi-queue] [--vnet-hdr] [--pi]
         [--mtu M] [--addr CIDR]... [--up]
                      create a persistent device (like `ip tuntap add`) and configure it
  delete NAME         delete a persistent device (like `ip tuntap del`)
  list [--json]       list every TUN/TAP device: type, flags, owner, group, queues, MTU, state,
                      the processes holding it
  show NAME [--json]  one device in detail: also offloads, holders, addresses, ethtool settings
                      and features, the attached XDP program
  set NAME [--speed MBIT] [--duplex half|full] [--autoneg on|off] [--msglvl N] [--rx-frames N]
         [--feature NAME=on|off]... [-K NAME on|off]...
                      change a device's ethtool settings and features (like `ethtool -s/-C/-K`)
  dump NAME [EXPRESSION] [-w FILE] [-k] [--hex] [--count N] [--timeout SEC]
                      attach to a device and print (or save) the packets the kernel sends
                      into it, those a tcpdump filter EXPRESSION accepts
  inject NAME -r FILE [--rate PPS] [--count N]
                      write the packets of a capture file into a device
  run [--user U] [--group G] [--queues N] [create options] -- COMMAND [ARG]...
                      create a device and start COMMAND with its queues, unprivileged
  help                show this help ("tunkit COMMAND --help" for one command)
  version, --version  print the version of the tunkit library the tool runs with

Exit status: 0 ok, 1 runtime error, 2 usage error.
)";

constexpr std::string_view kCreateUsage = R"(usage: tunkit create [options]

Creates a persistent TUN (default) or TAP device, as `ip tuntap add` does, then configures it.

options:
  --tap              a TAP device (Ethernet frames) instead of TUN (IP packets)
  -n, --name NAME    exact name, or a template with a prefix and one %d (default: tun%d /
                     tap%d); at most 15 bytes, no '/', ':' or white space
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
`ip tuntap del` does. The kernel deletes the device when its last descriptor closes: while
another program holds queues of it, it stays until that program closes them, and the tool says
so. A device that is not persistent belongs to the program holding it open.
)";

constexpr std::string_view kListUsage = R"(usage: tunkit list [--json]

Lists the TUN/TAP devices of the current network namespace, read over rtnetlink.
Columns: NAME TYPE FLAGS OWNER GROUP QUEUES MTU STATE HELD BY. QUEUES is "enabled/disabled"
for multi-queue devices and "-" for others (the kernel counts only multi-queue queues). HELD BY
lists "PID COMM" of each process with a queue attached (from /proc/PID/fdinfo), "-" for none.
)";

constexpr std::string_view kShowUsage = R"(usage: tunkit show NAME [--json]

Shows one TUN/TAP device: type, flags, virtio-net header, packet information, offloads, owner,
group, queues, the processes holding it, MTU, state (carrier), MAC, addresses; its ethtool
settings: driver, version and bus, link speed, duplex and autonegotiation, message level,
rx-frames; the XDP program attached (id and mode); and its features as `ethtool -k` names them.
The text lists the features that are on ("[fixed]" when they cannot change) and those that are
off and can be turned on; features that are off and fixed are left out. "[requested on]" or
"[requested off]" marks a feature asked for but not in effect (a TUN/TAP offload is on only
while the program reading the device offers it). --json lists every feature with its active,
requested and fixed state. When the ethtool settings or the XDP state cannot be read, the rest
is shown and the reason given (on standard error; in JSON as null and an error string).
)";

constexpr std::string_view kSetUsage = R"(usage: tunkit set NAME [options]

Changes the ethtool settings and features of the TUN/TAP device NAME, as `ethtool -s`, `-C` and
`-K` do (over the ethtool netlink family); needs CAP_NET_ADMIN. Settings are changed in the order
below; the first refusal ends the command (exit status 1) and names the setting. For a TUN/TAP
device the link settings are only stored and reported, and rx-frames batches only packets of the
in-kernel vhost-net sender. After changing features, prints the resulting state of each changed
feature, and a warning for one asked for that the device cannot have now.

options:
  --speed MBIT             link speed in Mbit/s (0 to 4294967295)
  --duplex half|full       duplex
  --autoneg on|off         autonegotiation
  --msglvl N               driver message level (NETIF_MSG_* bits), decimal or 0x hex
  --rx-frames N            coalesce setting rx-frames (tun caps it at 64)
  --feature NAME=on|off    turn a feature on or off (repeatable): a kernel feature name
                           (`tunkit show` lists them) or a group: tx-checksumming (tx),
                           scatter-gather (sg), tcp-segmentation-offload (tso),
                           generic-segmentation-offload (gso), generic-receive-offload (gro)
  -K NAME on|off           the same, in ethtool's words (repeatable)
)";

constexpr std::string_view kDumpUsage = R"(usage: tunkit dump NAME [EXPRESSION] [options]

Attaches to the TUN/TAP device NAME with the flags it has and prints every packet the kernel
sends into it, one line each like `tcpdump -n`. Its offloads and settings are left as they are.
The packets are consumed: nothing answers them, and on a multi-queue device this queue takes a
share of the flows from the others. A device without multi-queue must not be held by another
program (EBUSY). SIGINT and SIGTERM end it.

EXPRESSION (the words after NAME, as tcpdump takes them: `icmp or udp port 53`) keeps only the
packets it accepts. It runs in the kernel, as the device's filter, where that changes nothing
for anybody else: on a TAP device that no other program holds and that never had a filter (the
kernel reports the last filter attached even after it was removed); the filter is removed again
at the end. Elsewhere it runs here, on every packet read, and the tool says why on stderr: a
TAP device others hold (a device's filter applies to all its queues); a TUN device, which takes
only an eBPF filter, and that one cannot be read back, so attaching it could replace another
program's. --kernel-filter runs it in the kernel anyway (on a TUN device translated into eBPF,
which needs CAP_BPF), removed at the end. The filter sees the packet without virtio-net header
or packet information.

options:
  -w, --write FILE   save the packets in FILE (pcap format: tcpdump -r, Wireshark) instead
                     of printing them; link type RAW for TUN, EN10MB for TAP devices
  -k, --kernel-filter
                     run EXPRESSION in the kernel whatever the device: other programs' queues
                     then get only what it accepts, and a filter of the device's own is
                     replaced, until the end
  -x, --hex          add a hex dump of each packet
  -c, --count N      exit after N packets (default 0: no limit)
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
)";

constexpr std::string_view kInjectUsage = R"(usage: tunkit inject NAME -r FILE [options]

Attaches to the TUN/TAP device NAME with the flags it has and writes the packets of the capture
FILE into it, in order, as if a program had sent them: the kernel receives them on NAME. The
capture's link type must fit the device: RAW (IPv4/IPv6 packets) for TUN, EN10MB (Ethernet) for
TAP. A virtio-net header (all zero: no offload) or packet information is added where the device
has them. Prints how many packets were written.

options:
  -r, --read FILE    the capture file (pcap format, as tcpdump -w and tunkit dump -w write it)
  --rate PPS         at most PPS packets per second (default 0: as fast as the device takes them)
  -c, --count N      stop after N packets (default 0: the whole file)
)";

constexpr std::string_view kRunUsage = R"(usage: tunkit run [options] -- COMMAND [ARG]...

Creates a TUN (default) or TAP device and configures it as `tunkit create` does (or, with
--attach, takes queues of an existing device with the flags it has), then starts COMMAND with
the device's queues as descriptors 3, 4, ... under systemd's socket-activation convention:
LISTEN_FDS (their count), LISTEN_PID (COMMAND's pid), LISTEN_FDNAMES (the device's name for
each). COMMAND adopts them with tunkit::TunDevice::from_environment().

COMMAND runs as USER and GROUP with no supplementary groups, no capabilities (effective,
permitted, inheritable, ambient and bounding sets empty) and no_new_privs set, so it can move
packets through its queues but cannot create devices or change links. Without --user and
--group it keeps this process's ids, still without capabilities. A device created here gets
USER (without --user, this process's user) as its owner and GROUP as its group, so that COMMAND
may attach more queues itself and nobody else may attach any.

This process holds no queue while COMMAND runs: it forwards SIGINT, SIGTERM and SIGHUP to
COMMAND and exits with COMMAND's status (128+N when signal N ended it; 127 when COMMAND was not
found, 126 when it could not be executed). The device goes away with COMMAND's queues unless
--persist (or --attach).

options:
  -u, --user USER    run COMMAND as USER (name or uid); with a name, its group unless --group
  -g, --group GROUP  run COMMAND with group GROUP (name or gid)
  -q, --queues N     hand over N queues (1..253, default 1); more than 1 makes it multi-queue
  --attach NAME      take the queues from the existing device NAME instead of creating one
  --persist          keep the created device after COMMAND exits
  --tap, -n/--name NAME, --multi-queue, --vnet-hdr, --pi, --mtu M, --addr CIDR, --up
                     as for `tunkit create`
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
  /// Refuses argument `a`, which the command does not take: the same words in every command.
  [[noreturn]] void unknown(std::string_view a) const {
    if (a.starts_with('-')) fail(fmt::format("unknown option \"{}\"", a));
    fail(fmt::format("unexpected argument \"{}\"", a));
  }
  /// A device name argument, refused as a usage error when no device can have it.
  std::string_view device_name(std::string_view name) const {
    if (const std::string why = tunkit_cli::name_problem(name, false); !why.empty()) fail(why);
    return name;
  }
  [[nodiscard]] std::string_view command() const { return command_; }

 private:
  std::vector<std::string_view> argv_;
  std::size_t at_ = 0;
  std::string_view command_;
};

// The value of option `opt`: a decimal number from `min` to `max`.
std::uint64_t number(Args& args, std::string_view opt, std::uint64_t max, std::uint64_t min = 0) {
  const std::string_view text = args.value(opt);
  const auto v = tunkit_cli::parse_decimal(text, max);
  if (!v || *v < min) {
    args.fail(fmt::format("{}: \"{}\" is not a number from {} to {}", opt, text, min, max));
  }
  return *v;
}

// The largest uid or gid: (uid_t)-1 means "no change" to chown(2) and to the tun driver.
constexpr std::uint64_t kMaxId = 0xFFFFFFFEu;

// A user or group (`kind`) given by name or number: getpwnam_r(3) or getgrnam_r(3) as `find`,
// as tunctl and ip do. A number out of range is a usage error, never wrapped.
template <class Entry, class Id>
Id lookup_id(Args& args, std::string_view kind, std::string_view text,
             int (*find)(const char*, Entry*, char*, std::size_t, Entry**), Id Entry::*id) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == text.npos;
  if (digits) {
    const auto n = tunkit_cli::parse_decimal(text, kMaxId);
    if (!n) {
      args.fail(fmt::format("--{}: \"{}\" is not a {} name or an id from 0 to {}", kind, text, kind,
                            kMaxId));
    }
    return static_cast<Id>(*n);
  }
  Entry entry{};
  Entry* found = nullptr;
  const std::string name(text);
  std::vector<char> buf;
  const int err = tunkit_cli::call_growing(
      buf, [&](char* b, std::size_t size) { return find(name.c_str(), &entry, b, size, &found); });
  if (err != 0) {
    throw RuntimeError{fmt::format("--{}: cannot look up \"{}\": {}", kind, text,
                                   std::generic_category().message(err))};
  }
  if (found == nullptr) {
    args.fail(fmt::format("--{}: no {} \"{}\"", kind, kind, text));
  }
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

using tunkit_cli::json_string;

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

// The owner or group as `ip` prints it: the name where the system has one, else the number.
std::string owner_text(const std::optional<unsigned>& uid) {
  if (!uid) return "-";
  const auto name = tunkit_cli::user_name(*uid);
  return name ? tunkit_cli::shown(*name) : id_text(uid);
}
std::string group_text(const std::optional<unsigned>& gid) {
  if (!gid) return "-";
  const auto name = tunkit_cli::group_name(*gid);
  return name ? tunkit_cli::shown(*name) : id_text(gid);
}
template <class Lookup>
std::string json_name(const std::optional<unsigned>& id, Lookup lookup) {
  if (!id) return "null";
  const auto name = lookup(*id);
  return name ? json_string(*name) : std::string("null");
}

// What the tool finds out about a device beyond rtnetlink: who holds it (/proc) and its
// offloads (ethtool features).
struct Extra {
  std::vector<tunkit_cli::Holder> holders;
  std::optional<tunkit::Offloads> offloads;
};

Extra extra_of(const tunkit::TunDeviceInfo& d) {
  return {tunkit_cli::find_holders(d.link.name), tunkit_cli::device_offloads(d.link.name)};
}

unsigned attached_queues(const Extra& x) {
  unsigned n = 0;
  for (const auto& h : x.holders)
    n += h.queues;
  return n;
}

// "1234 forwarder, 5678 tunkit (2 queues)", or "-".
std::string holders_text(const Extra& x) {
  if (x.holders.empty()) return "-";
  std::string out;
  for (const auto& h : x.holders) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", h.pid, tunkit_cli::shown(h.comm));
    if (h.queues > 1) out += fmt::format(" ({} queues)", h.queues);
  }
  return out;
}

std::string offloads_text(const Extra& x) {
  return x.offloads ? tunkit::to_string(*x.offloads) : std::string("unknown");
}

// What `show` reads over the ethtool family and rtnetlink's IFLA_XDP. Each part may fail on its
// own (a kernel without the ethtool netlink family, a driver without an operation): the part is
// then empty and its error says why.
struct Settings {
  std::string ethtool_error;  // the ethtool family could not be used at all
  std::optional<tunkit::DriverInfo> driver;
  std::string driver_error;
  std::optional<tunkit::LinkSettings> link;
  std::string link_error;
  std::optional<std::uint32_t> msglvl;
  std::string msglvl_error;
  std::optional<std::uint32_t> rx_frames;
  std::string rx_frames_error;
  std::optional<std::vector<tunkit::Feature>> features;
  std::string features_error;
  std::optional<tunkit::XdpInfo> xdp;
  std::string xdp_error;
};

// A tunkit::Error's message of tunkit::Ethtool, which names the interface by its index
// ("interface index 7"), with the device's name there instead, as the rest of the tool says it.
std::string with_device_name(std::string what, const tunkit::TunDeviceInfo& d) {
  const std::string index = fmt::format("\"interface index {}\"", d.link.ifindex);
  if (const std::size_t at = what.find(index); at != std::string::npos) {
    what.replace(at, index.size(), fmt::format("\"{}\"", d.link.name));
  }
  return what;
}

// A tunkit::Error's message without the "tunkit: " it starts with, to follow other words.
std::string error_text(const std::exception& e, const tunkit::TunDeviceInfo& d) {
  std::string_view what = e.what();
  if (what.starts_with("tunkit: ")) what.remove_prefix(8);
  return with_device_name(std::string(what), d);
}

// Calls `read` and stores its value in `value`, or the error in `error`.
template <class T, class Read>
void read_part(const tunkit::TunDeviceInfo& d, std::optional<T>& value, std::string& error,
               Read read) {
  try {
    value = read();
  } catch (const tunkit::Error& e) {
    error = error_text(e, d);
  }
}

Settings settings_of(const tunkit::TunDeviceInfo& d) {
  Settings s;
  read_part(d, s.xdp, s.xdp_error, [&] { return tunkit::Link(d.link.ifindex).xdp(); });
  std::optional<tunkit::Ethtool> ethtool;
  read_part(d, ethtool, s.ethtool_error, [&] { return tunkit::Ethtool::from_name(d.link.name); });
  if (!ethtool) return s;
  read_part(d, s.driver, s.driver_error, [&] { return ethtool->driver_info(); });
  read_part(d, s.link, s.link_error, [&] { return ethtool->link_settings(); });
  read_part(d, s.msglvl, s.msglvl_error, [&] { return ethtool->message_level(); });
  read_part(d, s.rx_frames, s.rx_frames_error, [&] { return ethtool->rx_frames(); });
  read_part(d, s.features, s.features_error, [&] { return ethtool->features(); });
  return s;
}

std::string_view duplex_text(tunkit::Duplex d) {
  switch (d) {
    case tunkit::Duplex::half:
      return "half";
    case tunkit::Duplex::full:
      return "full";
    case tunkit::Duplex::unknown:
      break;
  }
  return "unknown";
}

// A feature as `ethtool -k` shows it: "rx-gro: on", "tx-tcp-segmentation: off [requested on]".
std::string feature_text(const tunkit::Feature& f) {
  std::string out = fmt::format("{}: {}", f.name, f.active ? "on" : "off");
  if (f.fixed) {
    out += " [fixed]";
  } else if (f.requested != f.active) {
    out += f.requested ? " [requested on]" : " [requested off]";
  }
  return out;
}

// The features worth an operator's eye, one line each way: those on, and those off that can be
// turned on; off and fixed ones are left out (kShowUsage says so).
void print_features(const std::vector<tunkit::Feature>& features) {
  std::vector<std::string> on;
  std::vector<std::string> off;
  for (const auto& f : features) {
    if (!f.active && f.fixed) continue;
    std::string item = tunkit_cli::shown(f.name);
    if (f.fixed) {
      item += " [fixed]";
    } else if (f.requested != f.active) {
      item += f.requested ? " [requested on]" : " [requested off]";
    }
    (f.active ? on : off).push_back(std::move(item));
  }
  // "  features on: a, b, ..." wrapped before 100 columns, continued under the first item.
  const auto print = [](std::string_view head, const std::vector<std::string>& items) {
    constexpr std::size_t kWidth = 100;
    std::string line(head);
    const std::string indent(head.size(), ' ');
    if (items.empty()) line += '-';
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string item = items[i] + (i + 1 < items.size() ? "," : "");
      if (line.size() > indent.size() && line.size() + 1 + item.size() > kWidth) {
        fmt::print("{}\n", line);
        line = indent;
      } else if (line.size() > indent.size()) {
        line += ' ';
      }
      line += item;
    }
    fmt::print("{}\n", line);
  };
  print("  features on: ", on);
  print("  features off: ", off);
}

std::string xdp_text(const tunkit::XdpInfo& x) {
  if (x.mode == tunkit::XdpMode::none) return "none";
  if (x.mode == tunkit::XdpMode::multi) {
    return fmt::format("multi (native id {}, generic id {}, offload id {})", x.native_prog_id,
                       x.generic_prog_id, x.offload_prog_id);
  }
  return fmt::format("id {} ({})", x.prog_id, tunkit::to_string(x.mode));
}

// The ethtool and XDP lines of `show`; what cannot be read is said on standard error.
void print_settings(const tunkit::TunDeviceInfo& d, const Settings& s) {
  const auto missing = [&](std::string_view part, const std::string& why) {
    fmt::print(stderr, "tunkit show: {}: {} not shown: {}\n",
               tunkit_cli::escape_bytes(tunkit_cli::shown(d.link.name)), part,
               tunkit_cli::escape_bytes(why));
  };
  if (s.driver) {
    fmt::print("  driver   {} {}, bus {}\n", tunkit_cli::shown(s.driver->driver),
               tunkit_cli::shown(s.driver->version), tunkit_cli::shown(s.driver->bus_info));
  }
  if (s.link) {
    fmt::print("  link     {}, {} duplex, autoneg {}\n",
               s.link->speed ? fmt::format("{}Mb/s", *s.link->speed) : std::string("speed unknown"),
               duplex_text(s.link->duplex), s.link->autoneg ? "on" : "off");
  }
  if (s.msglvl) fmt::print("  msglvl   {:#010x}\n", *s.msglvl);
  if (s.rx_frames) fmt::print("  rx-frames {}\n", *s.rx_frames);
  if (s.xdp) fmt::print("  xdp      {}\n", xdp_text(*s.xdp));
  if (s.features) print_features(*s.features);
  if (!s.ethtool_error.empty()) missing("ethtool settings and features", s.ethtool_error);
  if (!s.driver_error.empty()) missing("driver", s.driver_error);
  if (!s.link_error.empty()) missing("link settings", s.link_error);
  if (!s.msglvl_error.empty()) missing("message level", s.msglvl_error);
  if (!s.rx_frames_error.empty()) missing("rx-frames", s.rx_frames_error);
  if (!s.features_error.empty()) missing("features", s.features_error);
  if (!s.xdp_error.empty()) missing("XDP program", s.xdp_error);
}

std::string json_error(const std::string& error) {
  return error.empty() ? std::string("null") : json_string(error);
}

// ,"ethtool":{...}|null,"ethtool_error":...,"xdp":{...}|null,"xdp_error":...
std::string json_settings(const Settings& s) {
  std::string out = R"(,"ethtool":)";
  if (!s.ethtool_error.empty()) {
    out += "null";
  } else {
    out += '{';
    if (s.driver) {
      out += fmt::format(R"("driver":{},"version":{},"firmware_version":{},"bus_info":{})",
                         json_string(s.driver->driver), json_string(s.driver->version),
                         json_string(s.driver->firmware_version), json_string(s.driver->bus_info));
    } else {
      out += R"("driver":null,"version":null,"firmware_version":null,"bus_info":null)";
    }
    if (s.link) {
      out += fmt::format(R"(,"speed":{},"duplex":"{}","autoneg":{})", json_optional(s.link->speed),
                         duplex_text(s.link->duplex), s.link->autoneg);
    } else {
      out += R"(,"speed":null,"duplex":null,"autoneg":null)";
    }
    out += fmt::format(R"(,"msglvl":{},"rx_frames":{},"features":)", json_optional(s.msglvl),
                       json_optional(s.rx_frames));
    if (s.features) {
      out += '[';
      for (std::size_t i = 0; i < s.features->size(); ++i) {
        const auto& f = (*s.features)[i];
        out += fmt::format(R"({}{{"name":{},"active":{},"requested":{},"fixed":{}}})",
                           i != 0 ? "," : "", json_string(f.name), f.active, f.requested, f.fixed);
      }
      out += ']';
    } else {
      out += "null";
    }
    // Why a part is null: an error string per part that could not be read.
    out += R"(,"errors":{)";
    bool first = true;
    for (const auto& [key, error] :
         {std::pair<std::string_view, const std::string*>{"driver", &s.driver_error},
          {"link", &s.link_error},
          {"msglvl", &s.msglvl_error},
          {"rx_frames", &s.rx_frames_error},
          {"features", &s.features_error}}) {
      if (error->empty()) continue;
      out += fmt::format(R"({}"{}":{})", first ? "" : ",", key, json_string(*error));
      first = false;
    }
    out += "}}";
  }
  out += fmt::format(R"(,"ethtool_error":{},"xdp":)", json_error(s.ethtool_error));
  if (!s.xdp || s.xdp->mode == tunkit::XdpMode::none) {
    out += "null";
  } else {
    out += fmt::format(R"({{"id":{},"mode":"{}","native_id":{},"generic_id":{},"offload_id":{}}})",
                       s.xdp->prog_id, tunkit::to_string(s.xdp->mode), s.xdp->native_prog_id,
                       s.xdp->generic_prog_id, s.xdp->offload_prog_id);
  }
  out += fmt::format(R"(,"xdp_error":{})", json_error(s.xdp_error));
  return out;
}

std::string json_device(const tunkit::TunDeviceInfo& d, const Extra& x,
                        const std::vector<tunkit::IpPrefix>* addresses,
                        const Settings* settings = nullptr) {
  std::string out = fmt::format(
      R"({{"name":{},"ifindex":{},"type":"{}","flags":"{}","pi":{},"vnet_hdr":{},)"
      R"("persist":{},"multi_queue":{},"owner":{},"group":{},"owner_name":{},"group_name":{},)"
      R"("queues":{},"disabled_queues":{},)"
      R"("mtu":{},"up":{},"carrier":{},"mac":{},"offloads":{},"attached_queues":{},"holders":[)",
      json_string(d.link.name), d.link.ifindex, d.mode, d.flags(), d.packet_info, d.vnet_hdr,
      d.persist, d.multi_queue, json_optional(d.owner), json_optional(d.group),
      json_name(d.owner, tunkit_cli::user_name), json_name(d.group, tunkit_cli::group_name),
      json_optional(d.queues), json_optional(d.disabled_queues), d.link.mtu, d.link.up,
      d.link.lower_up, d.mac ? json_string(d.mac->to_string()) : std::string("null"),
      x.offloads ? json_string(tunkit::to_string(*x.offloads)) : std::string("null"),
      attached_queues(x));
  for (std::size_t i = 0; i < x.holders.size(); ++i) {
    const auto& h = x.holders[i];
    out += fmt::format(R"({}{{"pid":{},"comm":{},"queues":{}}})", i != 0 ? "," : "", h.pid,
                       json_string(h.comm), h.queues);
  }
  out += ']';
  if (addresses != nullptr) {
    out += R"(,"addresses":[)";
    for (std::size_t i = 0; i < addresses->size(); ++i) {
      if (i != 0) out += ',';
      out += json_string((*addresses)[i].to_string());
    }
    out += ']';
  }
  if (settings != nullptr) out += json_settings(*settings);
  out += '}';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Commands

int cmd_create(Args& args) {
  tunkit_cli::CreatePlan plan;
  tunkit::Options& options = plan.options;
  bool name_given = false;
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
      if (const std::string why = tunkit_cli::name_problem(options.name, true); !why.empty()) {
        args.fail(fmt::format("{}: {}", a, why));
      }
      name_given = true;
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
      // The range of a TUN/TAP device (dev->min_mtu, dev->max_mtu): refused before anything
      // is created.
      plan.mtu = static_cast<unsigned>(number(args, a, 65535, 68));
    } else if (a == "--addr") {
      const std::string_view text = args.value(a);
      const auto p = tunkit::IpPrefix::try_parse(text);
      if (!p) args.fail(fmt::format("--addr: \"{}\" is not ADDRESS/LENGTH", text));
      plan.addresses.push_back(*p);
    } else if (a == "--up") {
      plan.up = true;
    } else {
      args.unknown(a);
    }
  }
  if (!name_given) options.name = options.mode == tunkit::Mode::tap ? "tap%d" : "tun%d";
  if (options.name.find('%') == std::string::npos) {
    // IFF_TUN_EXCL would refuse it too; this says it in the user's words.
    if (if_exists(options.name)) {
      throw RuntimeError{fmt::format("a device named \"{}\" already exists", options.name)};
    }
  }
  // Persistent last: a failed step, a signal or a crash before it leaves no device.
  const std::string name = tunkit_cli::create_device(plan);
  fmt::print("created {}\n", tunkit_cli::shown(name));
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
    if (a.starts_with('-') || name) args.unknown(a);
    name = args.device_name(a);
  }
  if (!name) args.fail("delete needs a device name");
  const tunkit::TunDeviceInfo info = require_device(*name);
  if (!info.persist) {
    throw RuntimeError{fmt::format(
        "\"{}\" is not persistent: it belongs to the program that holds it open and goes away "
        "when that program closes it",
        *name)};
  }
  if (!info.multi_queue) {
    // One descriptor at a time: attaching would fail with EBUSY. Say who holds it.
    if (const Extra x = extra_of(info); !x.holders.empty()) {
      throw RuntimeError{fmt::format(
          "\"{}\" is held by {}: a device without multi-queue has one holder at a time; delete "
          "it once that program has closed it",
          *name, holders_text(x))};
    }
  }
  // Attach with the device's own flags (others would change them, or be refused), clear
  // persist; closing the last descriptor then deletes the device (tuntap.rst, "persistent").
  tunkit::TunDevice dev(info.attach_options());
  dev.set_persist(false);
  dev.close();
  // Another program's queues of a multi-queue device keep it: it goes when the last one closes.
  if (tunkit::find_tun_device(*name)) {
    fmt::print("{} is no longer persistent; it goes when its last holder closes it: {}\n",
               tunkit_cli::shown(*name), holders_text(extra_of(info)));
    return 0;
  }
  fmt::print("deleted {}\n", tunkit_cli::shown(*name));
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
    if (a != "--json") args.unknown(a);
    json = true;
  }
  const auto devices = tunkit::list_tun_devices();
  if (json) {
    std::string out = "[";
    for (std::size_t i = 0; i < devices.size(); ++i) {
      if (i != 0) out += ',';
      out += json_device(devices[i], extra_of(devices[i]), nullptr);
    }
    fmt::print("{}]\n", out);
    return 0;
  }
  fmt::print("{:<15} {:<4} {:<38} {:>6} {:>6} {:>6} {:>5} {:<13} {}\n", "NAME", "TYPE", "FLAGS",
             "OWNER", "GROUP", "QUEUES", "MTU", "STATE", "HELD BY");
  for (const auto& d : devices) {
    fmt::print("{:<15} {:<4} {:<38} {:>6} {:>6} {:>6} {:>5} {:<13} {}\n",
               tunkit_cli::shown(d.link.name), d.mode, d.flags(), owner_text(d.owner),
               group_text(d.group), queues_text(d), d.link.mtu, state_text(d.link),
               holders_text(extra_of(d)));
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
      args.unknown(a);
    } else {
      name = args.device_name(a);
    }
  }
  if (!name) args.fail("show needs a device name");
  const tunkit::TunDeviceInfo d = require_device(*name);
  const Extra x = extra_of(d);
  const std::vector<tunkit::IpPrefix> addresses = tunkit::Link(d.link.ifindex).addresses();
  const Settings settings = settings_of(d);
  if (json) {
    fmt::print("{}\n", json_device(d, x, &addresses, &settings));
    return 0;
  }
  fmt::print("{}: {} device, index {}\n", tunkit_cli::shown(d.link.name), d.mode, d.link.ifindex);
  fmt::print("  flags    {}\n", d.flags());
  fmt::print("  vnet_hdr {}\n  pi       {}\n", d.vnet_hdr ? "yes" : "no",
             d.packet_info ? "yes" : "no");
  fmt::print("  offloads {}\n", offloads_text(x));
  fmt::print("  owner    {}\n  group    {}\n", owner_text(d.owner), group_text(d.group));
  if (d.queues) {
    fmt::print("  queues   {} enabled, {} disabled\n", *d.queues, d.disabled_queues.value_or(0));
  } else {
    fmt::print("  queues   {} attached\n", attached_queues(x));
  }
  if (x.holders.empty()) {
    fmt::print("  held by  nobody\n");
  } else {
    fmt::print("  held by  {}\n", holders_text(x));
  }
  fmt::print("  mtu      {}\n  state    {}\n", d.link.mtu, state_text(d.link));
  if (d.mac) fmt::print("  mac      {}\n", *d.mac);
  for (const auto& p : addresses)
    fmt::print("  address  {}\n", p);
  print_settings(d, settings);
  if (x.holders.empty()) {
    fmt::print(
        "  note     no program holds it: it has no carrier and drops what is sent to it; it keeps "
        "its flags, offloads, owner and group for the next program that attaches\n");
  }
  return 0;
}

// --- set ----------------------------------------------------------------------------------------

// "on" or "off" as the value of `opt`.
bool on_off(Args& args, std::string_view opt, std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  args.fail(fmt::format("{}: \"{}\" is not on or off", opt, text));
}

// A feature name as a usage error sees it: a name the kernel could have (no space, no '='), else
// refused here; whether the device has it is the kernel's to say.
std::string feature_name(Args& args, std::string_view opt, std::string_view name) {
  if (name.empty()) args.fail(fmt::format("{}: a feature needs a name", opt));
  return std::string(name);
}

int cmd_set(Args& args) {
  std::optional<std::string_view> name;
  tunkit::LinkSettingsChange link;
  std::optional<std::uint32_t> msglvl;
  std::optional<std::uint32_t> rx_frames;
  std::vector<tunkit::FeatureChange> features;
  constexpr std::uint64_t kU32 = 0xFFFFFFFFu;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kSetUsage);
      return 0;
    }
    if (a == "--speed") {
      link.speed = static_cast<std::uint32_t>(number(args, a, kU32));
    } else if (a == "--duplex") {
      const std::string_view v = args.value(a);
      if (v == "half") {
        link.duplex = tunkit::Duplex::half;
      } else if (v == "full") {
        link.duplex = tunkit::Duplex::full;
      } else {
        args.fail(fmt::format("{}: \"{}\" is not half or full", a, v));
      }
    } else if (a == "--autoneg") {
      link.autoneg = on_off(args, a, args.value(a));
    } else if (a == "--msglvl") {
      const std::string_view v = args.value(a);
      const auto n = tunkit_cli::parse_decimal_or_hex(v, kU32);
      if (!n) {
        args.fail(
            fmt::format("{}: \"{}\" is not a number from 0 to {} (decimal or 0x hex)", a, v, kU32));
      }
      msglvl = static_cast<std::uint32_t>(*n);
    } else if (a == "--rx-frames") {
      rx_frames = static_cast<std::uint32_t>(number(args, a, kU32));
    } else if (a == "--feature") {
      const std::string_view v = args.value(a);
      const std::size_t eq = v.rfind('=');
      if (eq == std::string_view::npos) {
        args.fail(fmt::format("{}: \"{}\" is not NAME=on or NAME=off", a, v));
      }
      features.push_back(
          {feature_name(args, a, v.substr(0, eq)), on_off(args, a, v.substr(eq + 1))});
    } else if (a == "-K") {
      const std::string_view feature = args.value(a);
      if (args.done()) args.fail(fmt::format("option {} needs a feature name and on or off", a));
      features.push_back({feature_name(args, a, feature), on_off(args, a, args.next())});
    } else if (a.starts_with('-') || name) {
      args.unknown(a);
    } else {
      name = args.device_name(a);
    }
  }
  if (!name) args.fail("set needs a device name");
  if (!link.speed && !link.duplex && !link.autoneg && !msglvl && !rx_frames && features.empty()) {
    args.fail("set needs something to change: see the options");
  }
  const tunkit::TunDeviceInfo d = require_device(*name);
  std::vector<tunkit::Feature> changed;
  try {
    tunkit::Ethtool ethtool = tunkit::Ethtool::from_name(d.link.name);
    if (link.speed || link.duplex || link.autoneg) ethtool.set_link_settings(link);
    if (msglvl) ethtool.set_message_level(*msglvl);
    if (rx_frames) {
      ethtool.set_rx_frames(*rx_frames);
      // tun caps it (at 64) without an error: say what the device took.
      if (const std::uint32_t now = ethtool.rx_frames(); now != *rx_frames) {
        fmt::print(stderr, "tunkit set: warning: rx-frames is {}: the driver took {} as {}\n", now,
                   *rx_frames, now);
      }
    }
    if (!features.empty()) changed = ethtool.set_features(features);
  } catch (const tunkit::Error& e) {
    throw RuntimeError{error_text(e, d)};
  }
  // The state of each feature changed on standard output; a warning on standard error for one
  // that is not in effect as asked.
  for (const tunkit::Feature& f : changed) {
    fmt::print("{}\n", feature_text(f));
    if (f.requested == f.active) continue;
    fmt::print(stderr, "tunkit set: warning: {}: {}\n", tunkit_cli::escape_bytes(feature_text(f)),
               f.requested ? "the device cannot have it now (for a TUN/TAP offload: until the "
                             "program reading it offers it)"
                           : "the device keeps it on for now");
  }
  return 0;
}

// --- dump ---------------------------------------------------------------------------------------

// Where dump's filter runs, and why there.
struct DumpFilter {
  enum class Where : std::uint8_t {
    here,            // on each packet read (or no expression)
    kernel_classic,  // TUNATTACHFILTER (TAP)
    kernel_ebpf,     // TUNSETFILTEREBPF (TUN): the program translated into eBPF
  };
  std::vector<tunkit::BpfInstruction> program;  // empty: no expression
  Where where = Where::here;
  [[nodiscard]] bool in_kernel() const { return where != Where::here; }
};

#ifdef TUNKIT_CLI_HAVE_PCAP
tunkit::pcap::LinkType link_type(tunkit::Mode mode) {
  return mode == tunkit::Mode::tap ? tunkit::pcap::LinkType::ethernet : tunkit::pcap::LinkType::raw;
}

// Another program that holds the device, as "PID COMMAND", or "".
std::string other_holder(const std::string& device) {
  const pid_t self = ::getpid();
  for (const auto& h : tunkit_cli::find_holders(device)) {
    if (h.pid != self) return tunkit_cli::shown(fmt::format("{} {}", h.pid, h.comm));
  }
  return {};
}
#endif

// Compiles `expression` for the device and attaches it where that changes nothing for anybody
// else, or anywhere with `kernel` (see kDumpUsage); otherwise says on stderr that it filters here.
DumpFilter dump_filter(const std::string& expression, bool kernel, tunkit::TunDevice& dev,
                       const tunkit::TunDeviceInfo& info) {
  DumpFilter f;
  if (expression.empty()) return f;
#ifdef TUNKIT_CLI_HAVE_PCAP
  f.program = tunkit::pcap::compile_filter(expression, link_type(info.mode));
  const bool tap = info.mode == tunkit::Mode::tap;
  const std::string holder = other_holder(info.link.name);
  std::string why_here;
  if (!holder.empty()) {
    why_here = fmt::format("{} holds it too, and a device's filter applies to every queue", holder);
  } else if (!tap) {
    why_here =
        "a TUN device's eBPF filter cannot be read back, so attaching one could replace "
        "another program's";
  } else if (dev.filter_size() != 0) {
    // TUNGETFILTER reports the last program attached, also after TUNDETACHFILTER: whether one
    // applies now cannot be told, so none is attached (or detached) here.
    why_here = "the device has had a filter of its own, which may still apply";
  }
  if (!why_here.empty() && !kernel) {
    fmt::print(stderr,
               "tunkit dump: filtering in this process: {} (--kernel-filter to run it in "
               "the kernel anyway)\n",
               why_here);
    return f;
  }
  if (!why_here.empty()) {
    fmt::print(stderr, "tunkit dump: the filter runs in the kernel as asked, though {}\n",
               why_here);
  }
  if (tap) {
    dev.attach_filter(f.program);
    f.where = DumpFilter::Where::kernel_classic;
  } else {
    const auto program = tunkit::EbpfFilter::load(f.program);
    dev.set_filter_ebpf(program.fd());  // the device keeps the program; ours closes here
    f.where = DumpFilter::Where::kernel_ebpf;
  }
  return f;
#else
  (void)kernel;
  (void)dev;
  (void)info;
  throw RuntimeError{"this tunkit was built without libpcap: no filter expressions"};
#endif
}

// SIGINT and SIGTERM end the dump through a signalfd polled with the device: no signal handler,
// so no global state that an exception could leave pointing at a destroyed device. The signals
// stay blocked until the process exits (a late one is then pending, never delivered).
int cmd_dump(Args& args) {
  std::optional<std::string_view> name;
  std::string expression;
  std::optional<std::string> write_to;
  bool hex = false;
  bool kernel = false;
  std::uint64_t count = 0;
  std::uint64_t timeout_s = 0;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kDumpUsage);
      return 0;
    }
    if (a == "-x" || a == "--hex") {
      hex = true;
    } else if (a == "-k" || a == "--kernel-filter") {
      kernel = true;
    } else if (a == "-c" || a == "--count") {
      count = number(args, a, 1000000000);
    } else if (a == "-t" || a == "--timeout") {
      timeout_s = number(args, a, 1000000);
    } else if (a == "-w" || a == "--write") {
      write_to = std::string(args.value(a));
    } else if (a.starts_with('-')) {
      args.unknown(a);
    } else if (!name) {
      name = args.device_name(a);
    } else {
      expression += (expression.empty() ? "" : " ") + std::string(a);  // as tcpdump joins them
    }
  }
  if (!name) args.fail("dump needs a device name");
  if (kernel && expression.empty()) args.fail("--kernel-filter needs an EXPRESSION");
#ifndef TUNKIT_CLI_HAVE_PCAP
  if (write_to) throw RuntimeError{"this tunkit was built without libpcap: no capture files"};
#endif
  // Attach with the flags the device has (vnet header, packet info, multi-queue) and leave its
  // offloads alone (Options::offloads unset): its other users rely on them.
  const tunkit::TunDeviceInfo info = require_device(*name);
  tunkit::TunDevice dev(info.attach_options());
  const std::size_t vnet = info.vnet_hdr ? static_cast<std::size_t>(dev.vnet_header_size()) : 0;
  const DumpFilter filter = dump_filter(expression, kernel, dev, info);
  // No filter of ours left for the queues attached after this one, however the dump ends.
  struct RemoveFilter {
    tunkit::TunDevice& dev;
    DumpFilter::Where where;
    ~RemoveFilter() {
      std::error_code ec;
      if (where == DumpFilter::Where::kernel_classic) dev.detach_filter(ec);
      if (where == DumpFilter::Where::kernel_ebpf) dev.set_filter_ebpf(-1, ec);
    }
  } const remove_filter{dev, filter.where};
#ifdef TUNKIT_CLI_HAVE_PCAP
  std::optional<tunkit::pcap::Writer> writer;
  if (write_to)
    writer.emplace(*write_to, tunkit::pcap::WriterOptions{.link = link_type(info.mode)});
#endif

  const char* failed = nullptr;
  const example::Fd signals(example::open_signal_fd(failed));
  if (signals.get() < 0) throw std::system_error(errno, std::system_category(), failed);
  // With -w the packets go to the file and this line to stderr, as tcpdump does.
  fmt::print(write_to ? stderr : stdout, "listening on {}, {} ({}){}\n",
             tunkit_cli::shown(dev.name()), info.mode, info.flags(),
             filter.program.empty() ? ""
             : filter.in_kernel()   ? ", filter in the kernel"
                                    : ", filter in this process");

  const example::Deadline deadline{std::chrono::seconds(timeout_s)};
  std::vector<std::byte> buf(65536 + vnet + 64);
  std::uint64_t seen = 0;
  while (count == 0 || seen < count) {
    const auto wait = deadline.left();  // -1 ms: forever
    if (!wait) break;
    std::array<pollfd, 2> fds{{{dev.native_handle(), POLLIN, 0}, {signals.get(), POLLIN, 0}}};
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait->count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::system_error(errno, std::system_category(), "poll");
    if (ready == 0 || fds[1].revents != 0) break;  // timeout, or SIGINT / SIGTERM
    std::error_code ec;
    tunkit::PacketInfo pi;
    const std::size_t n = dev.read(buf, pi, ec);
    if (ec == std::errc::resource_unavailable_try_again) continue;
    if (ec && ec != tunkit::errc::packet_truncated) {
      throw tunkit::Error(ec, fmt::format("tunkit: read from {}: {}", dev.name(), ec.message()));
    }
    // What the filter sees, and what a capture holds: the packet without the virtio-net header.
    const auto packet =
        std::span<const std::byte>(buf).subspan(std::min(vnet, n), n - std::min(vnet, n));
#ifdef TUNKIT_CLI_HAVE_PCAP
    // Also where the kernel filters: packets queued before the filter was attached were not.
    if (!filter.program.empty() && !tunkit::pcap::matches(filter.program, packet)) continue;
    ++seen;
    if (writer) {
      writer->write(packet);
      continue;
    }
#else
    ++seen;
#endif
    example::print_packet(std::span<const std::byte>(buf).first(n), vnet,
                          info.mode == tunkit::Mode::tap, hex,
                          ec == tunkit::errc::packet_truncated);
  }
#ifdef TUNKIT_CLI_HAVE_PCAP
  if (writer) writer->close();
#endif
  fmt::print(write_to ? stderr : stdout, "{} packet{}{}\n", seen, seen == 1 ? "" : "s",
             write_to ? fmt::format(" written to {}", tunkit_cli::shown(*write_to)) : "");
  return 0;
}

int cmd_inject(Args& args) {
  std::optional<std::string_view> name;
  std::optional<std::string> read_from;
  std::uint64_t rate = 0;
  std::uint64_t count = 0;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kInjectUsage);
      return 0;
    }
    if (a == "-r" || a == "--read") {
      read_from = std::string(args.value(a));
    } else if (a == "--rate") {
      rate = number(args, a, 100000000, 1);
    } else if (a == "-c" || a == "--count") {
      count = number(args, a, 1000000000);
    } else if (a.starts_with('-') || name) {
      args.unknown(a);
    } else {
      name = args.device_name(a);
    }
  }
  if (!name) args.fail("inject needs a device name");
  if (!read_from) args.fail("inject needs a capture file (-r FILE)");
#ifdef TUNKIT_CLI_HAVE_PCAP
  tunkit::pcap::Reader reader(*read_from);
  const tunkit::TunDeviceInfo info = require_device(*name);
  if (reader.link_type() != link_type(info.mode)) {
    throw RuntimeError{
        fmt::format("{} holds link type {} packets; a {} device takes {} ({})",
                    tunkit_cli::shown(*read_from), static_cast<std::uint32_t>(reader.link_type()),
                    info.mode, info.mode == tunkit::Mode::tap ? "Ethernet frames" : "IP packets",
                    info.mode == tunkit::Mode::tap ? "LINKTYPE_ETHERNET, 1" : "LINKTYPE_RAW, 101")};
  }
  tunkit::TunDevice dev(info.attach_options());
  const std::size_t vnet = info.vnet_hdr ? static_cast<std::size_t>(dev.vnet_header_size()) : 0;
  std::vector<std::byte> header(vnet);  // all zero: no offload, no checksum to finish
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t written = 0;
  while (count == 0 || written < count) {
    const auto packet = reader.next();
    if (!packet) break;
    if (packet->data.size() < packet->original_length) {
      throw RuntimeError{
          fmt::format("{}: packet {} was captured cut to {} of {} bytes: it cannot be "
                      "sent as it was",
                      tunkit_cli::shown(*read_from), written + 1, packet->data.size(),
                      packet->original_length)};
    }
    if (rate != 0) {  // packet N leaves at N / rate seconds
      std::this_thread::sleep_until(start +
                                    std::chrono::nanoseconds(written * 1000000000ULL / rate));
    }
    const std::array<std::span<const std::byte>, 2> parts{std::span<const std::byte>(header),
                                                          std::span<const std::byte>(packet->data)};
    // Packet information, where the device has it, is added by the write (from the packet).
    (void)dev.writev(std::span(parts).subspan(vnet == 0 ? 1 : 0));
    ++written;
  }
  fmt::print("{} packet{} written to {}\n", written, written == 1 ? "" : "s",
             tunkit_cli::shown(dev.name()));
  return 0;
#else
  throw RuntimeError{"this tunkit was built without libpcap: no capture files"};
#endif
}

// The user's entry: uid and primary group.
struct UserEntry {
  uid_t uid = 0;
  std::optional<gid_t> gid;
};

UserEntry lookup_user(Args& args, std::string_view text) {
  UserEntry u;
  u.uid = lookup_id(args, "user", text, ::getpwnam_r, &passwd::pw_uid);
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buf;
  const int err = tunkit_cli::call_growing(
      buf, [&](char* b, std::size_t size) { return ::getpwuid_r(u.uid, &entry, b, size, &found); });
  if (err == 0 && found != nullptr) u.gid = found->pw_gid;
  return u;
}

int cmd_run(int argc, char** argv) {
  // Options up to "--"; COMMAND and its arguments after it, untouched.
  int dashes = 2;
  while (dashes < argc && std::string_view(argv[dashes]) != "--")
    ++dashes;
  Args args(dashes, argv, 2, "run");
  tunkit_cli::CreatePlan plan;
  tunkit::Options& options = plan.options;
  tunkit_cli::Identity who;
  std::optional<UserEntry> user;
  std::optional<std::string> attach;
  unsigned queues = 1;
  bool persist = false;
  bool name_given = false;
  while (!args.done()) {
    const std::string_view a = args.next();
    if (is_help(a)) {
      fmt::print("{}", kRunUsage);
      return 0;
    }
    if (a == "-u" || a == "--user") {
      user = lookup_user(args, args.value(a));
    } else if (a == "-g" || a == "--group") {
      who.gid = lookup_id(args, "group", args.value(a), ::getgrnam_r, &group::gr_gid);
    } else if (a == "-q" || a == "--queues") {
      queues = static_cast<unsigned>(number(args, a, 253, 1));
    } else if (a == "--attach") {
      attach = std::string(args.device_name(args.value(a)));
    } else if (a == "--persist") {
      persist = true;
    } else if (a == "--tap") {
      options.mode = tunkit::Mode::tap;
    } else if (a == "-n" || a == "--name") {
      options.name = args.value(a);
      if (const std::string why = tunkit_cli::name_problem(options.name, true); !why.empty()) {
        args.fail(fmt::format("{}: {}", a, why));
      }
      name_given = true;
    } else if (a == "--multi-queue") {
      options.multi_queue = true;
    } else if (a == "--vnet-hdr") {
      options.vnet_hdr = true;
    } else if (a == "--pi") {
      options.packet_info = true;
    } else if (a == "--mtu") {
      plan.mtu = static_cast<unsigned>(number(args, a, 65535, 68));
    } else if (a == "--addr") {
      const std::string_view text = args.value(a);
      const auto p = tunkit::IpPrefix::try_parse(text);
      if (!p) args.fail(fmt::format("--addr: \"{}\" is not ADDRESS/LENGTH", text));
      plan.addresses.push_back(*p);
    } else if (a == "--up") {
      plan.up = true;
    } else {
      args.unknown(a);
    }
  }
  if (dashes >= argc - 1) args.fail("missing -- COMMAND");
  if (attach && (name_given || options.mode == tunkit::Mode::tap || options.vnet_hdr ||
                 options.packet_info || options.multi_queue || persist)) {
    args.fail(
        "--attach takes the device's own flags: give no --name, --tap, --multi-queue, "
        "--vnet-hdr, --pi or --persist with it");
  }
  if (user) {
    who.uid = user->uid;
    if (!who.gid) who.gid = user->gid;
    if (!who.gid) {
      args.fail(
          fmt::format("--user: uid {} has no entry in the user database: give --group", user->uid));
    }
  }

  tunkit::TunDevice dev;
  if (attach) {
    const tunkit::TunDeviceInfo info = require_device(*attach);
    tunkit::Options o = info.attach_options();
    if (queues > 1 && !info.multi_queue) {
      throw RuntimeError{
          fmt::format("\"{}\" has no multi-queue: it hands over one queue", *attach)};
    }
    o.queues = queues;
    dev.open(o);
    tunkit::Link link(dev.ifindex());
    if (plan.mtu) link.set_mtu(*plan.mtu);
    for (const auto& p : plan.addresses)
      link.add_address(p);
    if (plan.up) link.set_up();
  } else {
    if (!name_given) options.name = options.mode == tunkit::Mode::tap ? "tap%d" : "tun%d";
    if (options.name.find('%') == std::string::npos && if_exists(options.name)) {
      throw RuntimeError{fmt::format("a device named \"{}\" already exists", options.name)};
    }
    options.queues = queues;
    // Always an owner: a device with neither owner nor group may be attached to by any user
    // who can open /dev/net/tun.
    options.owner = who.uid.value_or(::geteuid());
    options.group = who.gid;
    dev = tunkit_cli::create_configured(plan, persist);
  }
  const std::string name = dev.name();
  std::vector<int> fds;
  for (std::size_t i = 0; i < dev.queue_count(); ++i)
    fds.push_back(dev.queue(i).native_handle());

  std::array<int, 2> report{};
  if (::pipe2(report.data(), O_CLOEXEC) != 0) {
    throw RuntimeError{fmt::format("pipe: {}", std::generic_category().message(errno))};
  }
  // SIGINT, SIGTERM and SIGHUP are blocked from before the fork until COMMAND ends, and taken
  // with sigwaitinfo: one that arrives before COMMAND runs stays pending and is forwarded once it
  // does, none is lost, and no handler runs. SIGCHLD too, to learn that COMMAND ended. The child
  // unblocks them before exec.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD})
    sigaddset(&forwarded, sig);
  sigset_t before;
  (void)::sigprocmask(SIG_BLOCK, &forwarded, &before);
  const pid_t child = ::fork();
  if (child < 0) {
    const int err = errno;
    (void)::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::close(report[0]);
    ::close(report[1]);
    throw RuntimeError{fmt::format("fork: {}", std::generic_category().message(err))};
  }
  if (child == 0) {
    ::close(report[0]);
    tunkit_cli::exec_with_queues(fds, name, who, argv + dashes + 1, report[1]);
  }
  // Hold no queue: the kernel would steer packets to queues nobody reads, and the device is to
  // go when COMMAND's queues close.
  dev.close();
  ::close(report[1]);
  tunkit_cli::ChildFailure failure{};
  ssize_t got = 0;
  do {
    got = ::read(report[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  const int status = tunkit_cli::forward_until_exit(child, forwarded);
  (void)::sigprocmask(SIG_SETMASK, &before, nullptr);
  const int code = tunkit_cli::shell_status(status);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    const auto step = static_cast<tunkit_cli::RunStep>(failure.step);
    std::string what = std::generic_category().message(failure.err);
    if (!what.empty())
      what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
    if (step == tunkit_cli::RunStep::exec) {
      fmt::print(stderr, "tunkit run: {}: {}\n", tunkit_cli::escape_bytes(argv[dashes + 1]), what);
    } else {
      fmt::print(stderr, "tunkit run: {}: {}\n", tunkit_cli::step_name(step), what);
    }
  }
  if (!attach && !persist) {
    if (const auto left = tunkit::find_tun_device(name)) {
      if (left->persist) {
        // A queue's holder may set persist without privileges (TUNSETPERSIST checks none).
        fmt::print(stderr,
                   "tunkit run: {} was made persistent by COMMAND: it stays until `tunkit delete "
                   "{}`\n",
                   tunkit_cli::shown(name), tunkit_cli::shown(name));
      } else {
        fmt::print(stderr,
                   "tunkit run: {} is still held by {}: it goes when they close their queues\n",
                   tunkit_cli::shown(name), holders_text(extra_of(*left)));
      }
    }
  }
  return code;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) throw UsageError{"missing command", {}};
  const std::string_view command = argv[1];
  if (is_help(command) || command == "help") {
    fmt::print("{}", kUsage);
    return 0;
  }
  if (command == "--version" || command == "version") {
    if (argc > 2) throw UsageError{fmt::format("unexpected argument \"{}\"", argv[2]), {}};
    fmt::print("tunkit {}\n", tunkit::library_version());
    return 0;
  }
  Args args(argc, argv, 2, command);
  if (command == "create") return cmd_create(args);
  if (command == "delete" || command == "del") return cmd_delete(args);
  if (command == "list" || command == "ls") return cmd_list(args);
  if (command == "show") return cmd_show(args);
  if (command == "set") return cmd_set(args);
  if (command == "dump") return cmd_dump(args);
  if (command == "inject") return cmd_inject(args);
  if (command == "run") return cmd_run(argc, argv);
  if (command.starts_with('-')) throw UsageError{fmt::format("unknown option \"{}\"", command), {}};
  throw UsageError{fmt::format("unknown command \"{}\"", command), {}};
}

}  // namespace

// Every message goes through tunkit_cli::escape_bytes: names and arguments in it may hold bytes
// that a terminal would act on (escape sequences) or that are not text.
int main(int argc, char** argv) {
  using tunkit_cli::escape_bytes;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return dispatch(argc, argv);
  } catch (const UsageError& e) {
    const std::string hint =
        e.command.empty() ? "tunkit --help" : fmt::format("tunkit {} --help", e.command);
    // "tunkit create: ..." names the command the mistake was made in.
    const std::string who = e.command.empty() ? "tunkit" : fmt::format("tunkit {}", e.command);
    fmt::print(stderr, "{}: {}\nTry '{}'.\n", escape_bytes(who), escape_bytes(e.message), hint);
    return 2;
  } catch (const RuntimeError& e) {
    fmt::print(stderr, "tunkit: {}\n", escape_bytes(e.message));
  } catch (const tunkit::Error& e) {
    // Already "tunkit: OPERATION "DEVICE": cause (hint)".
    fmt::print(stderr, "{}\n", escape_bytes(e.what()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "tunkit: unexpected error: {}\n", escape_bytes(e.what()));
  }
  return 1;
}
