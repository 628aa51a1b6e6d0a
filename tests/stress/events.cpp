// tunkit_stress, part "events": the LinkEvents overflow storm. A LinkEvents of every interface,
// with its socket's receive buffer cut to the kernel's minimum and read only every 50 ms, while
// two threads create and delete TUN/TAP devices as fast as they can (some set up, some with
// another MTU, some persistent, a few left open at the end). The kernel drops notifications
// (ENOBUFS; the socket's drop count in /proc/net/netlink proves it), LinkEvents reads the state
// again, and a view kept from its events alone (added, removed, renamed, up/down) must, once the
// storm is over and the events are read, equal what `ip -j link` shows: the same interfaces, by
// index, name and administrative state. No phantom device, none missing. The storm ends with one
// overflow forced on purpose (a device created and deleted while LinkEvents does not read), so
// that the comparison always follows an overflow.
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "json.hpp"
#include "stress.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/link_events.hpp"
#include "tunkit/tun_info.hpp"

namespace tunkit::stress {
namespace {

struct Seen {
  std::string name;
  bool up = false;
  friend bool operator==(const Seen&, const Seen&) = default;
};
using View = std::map<unsigned, Seen>;

// The interfaces as `ip -j link show` reports them.
std::optional<View> kernel_view(Report& report) {
  const std::string text = capture("ip -j link show 2>/dev/null");
  View view;
  try {
    const test::json::Value doc = test::json::Parser(text).parse();
    for (const test::json::Value& link : doc.array()) {
      Seen s{link.text("ifname"), false};
      if (const test::json::Value* flags = link.find("flags"); flags && flags->is_array()) {
        for (const test::json::Value& f : flags->array()) {
          if (f.str() == "UP") s.up = true;
        }
      }
      view[static_cast<unsigned>(link.number("ifindex"))] = s;
    }
  } catch (const std::exception& e) {
    report.fail(fmt::format("ip -j link show: {} (output: {:.200})", e.what(), text));
    return std::nullopt;
  }
  return view;
}

// The notifications the kernel dropped for socket `fd` (the Drops column of /proc/net/netlink,
// as the calling thread's namespace shows it), or -1.
long netlink_drops(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -1;
  std::ifstream in("/proc/thread-self/net/netlink");
  std::string line;
  if (!std::getline(in, line)) return -1;
  std::vector<std::string> columns;
  {
    std::istringstream head(line);
    std::string c;
    while (head >> c)
      columns.push_back(c);
  }
  std::size_t drops_at = columns.size();
  std::size_t inode_at = columns.size();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == "Drops") drops_at = i;
    if (columns[i] == "Inode") inode_at = i;
  }
  if (drops_at == columns.size() || inode_at == columns.size()) return -1;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::vector<std::string> cells;
    std::string c;
    while (row >> c)
      cells.push_back(c);
    if (cells.size() <= std::max(drops_at, inode_at)) continue;
    if (cells[inode_at] == std::to_string(st.st_ino)) return std::stol(cells[drops_at]);
  }
  return -1;
}

// What the churn threads leave for the comparison: devices still open, persistent ones.
struct Leftovers {
  std::deque<TunDevice> open;
  std::deque<std::string> persistent;
};

void churn(int t, const std::atomic<bool>& stop, const Budget& budget, Leftovers& left,
           std::atomic<int>& finished, Report& report) {
  std::map<std::string, std::uint64_t> counts;
  std::uint64_t i = 0;
  while (!stop.load() && budget.more(i)) {
    ++i;
    const std::string name = fmt::format("tke{}x{}", t, i % 10000);
    Options options{.name = name, .mode = i % 2 == 0 ? Mode::tun : Mode::tap};
    std::error_code ec;
    TunDevice dev;
    if (i % 7 == 0) {
      options.persist = true;
      dev.open(options, ec);
      if (!ec) {
        dev.close();
        left.persistent.push_back(name);
        ++counts["persistent created"];
      }
      if (left.persistent.size() > 2) {
        // Delete the oldest: attach with its flags, clear persist, close.
        const std::string old = left.persistent.front();
        left.persistent.pop_front();
        std::error_code del_ec;
        if (auto info = find_tun_device(old, del_ec)) {
          TunDevice again;
          again.open(info->attach_options(), del_ec);
          if (!del_ec) again.set_persist(false, del_ec);
        }
        if (del_ec) report.fail(fmt::format("delete persistent {}: {}", old, del_ec.message()));
        ++counts["persistent deleted"];
      }
    } else {
      dev.open(options, ec);
      if (!ec) {
        Link link(dev.ifindex());
        if (i % 3 == 0) link.set_up(ec);
        if (!ec && i % 5 == 0) link.set_mtu(1400, ec);
        left.open.push_back(std::move(dev));
        if (left.open.size() > 3) left.open.pop_front();
        ++counts["created"];
      }
    }
    if (ec) {
      report.fail(fmt::format("churn {}: {}", name, ec.message()));
      break;
    }
  }
  counts["iterations"] += i;
  report.merge(counts);
  ++finished;
}

}  // namespace

void run_events(const Settings& settings, Report& report) {
  const Baseline start = Baseline::take();
  const std::optional<View> initial = kernel_view(report);
  if (!initial) return;
  LinkEvents events = LinkEvents::all();
  // The smallest receive buffer the kernel allows (it doubles the value and applies a floor).
  const int tiny = 1;
  ::setsockopt(events.native_handle(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);
  int rcvbuf = 0;
  socklen_t len = sizeof rcvbuf;
  ::getsockopt(events.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);

  View view = *initial;
  std::map<std::string, std::uint64_t> anomalies;
  auto apply = [&](const LinkEvent& e) {
    report.count(fmt::format("event {}", to_string(e.type)));
    const auto it = view.find(e.ifindex);
    switch (e.type) {
      case LinkEventType::added:
        if (it != view.end()) ++anomalies["added twice"];
        view[e.ifindex] = Seen{e.name, (e.flags & IFF_UP) != 0};
        break;
      case LinkEventType::removed:
        if (it == view.end()) {
          ++anomalies["removed without added"];
        } else {
          view.erase(it);
        }
        break;
      default:
        if (it == view.end()) {
          ++anomalies["changed without added"];
        } else {
          it->second = Seen{e.name, (e.flags & IFF_UP) != 0};
        }
        break;
    }
  };

  const Budget budget(settings.seconds * 0.8, 300);  // churn iterations per thread
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  std::array<Leftovers, 2> left;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back(churn, t, std::cref(stop), std::cref(budget),
                         std::ref(left[static_cast<std::size_t>(t)]), std::ref(finished),
                         std::ref(report));
  }
  std::uint64_t dispatches = 0;
  while (!budget.expired() && finished.load() < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a slow reader
    try {
      (void)events.dispatch(apply);
      ++dispatches;
    } catch (const tunkit::Error& e) {
      report.fail(fmt::format("dispatch: {}", e.what()));
      break;
    }
  }
  stop = true;
  for (auto& t : threads)
    t.join();
  // The storm is over: read everything that is left, until 500 ms pass without an event.
  auto read_until_quiet = [&] {
    const auto quiet_limit = Clock::now() + std::chrono::seconds(20);
    try {
      while (Clock::now() < quiet_limit) {
        const std::optional<LinkEvent> e = events.next_event(std::chrono::milliseconds(500));
        if (!e) return;
        apply(*e);
      }
    } catch (const tunkit::Error& e) {
      report.fail(fmt::format("next_event: {}", e.what()));
    }
  };
  read_until_quiet();
  // Then one overflow forced on purpose, the last one: with nothing queued, a device is created
  // (its announcement is queued: the buffer was empty) and deleted (that announcement no longer
  // fits: dropped, ENOBUFS), and only then are the events read. The device is gone before
  // LinkEvents reads the state again.
  const long drops_before = netlink_drops(events.native_handle());
  { TunDevice last({.name = "tkforced0"}); }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const long forced = netlink_drops(events.native_handle()) - drops_before;
  read_until_quiet();
  report.note(fmt::format("the forced overflow at the end: {} notifications dropped", forced));
  if (forced <= 0) report.fail("the forced overflow at the end dropped nothing");
  const long drops = netlink_drops(events.native_handle());

  report.note(
      fmt::format("receive buffer {} bytes, {} reads every 50 ms; the kernel dropped {} "
                  "notifications",
                  rcvbuf, dispatches, drops));
  report.note(fmt::format(
      "devices created {}, persistent created {} and deleted {}, churn "
      "iterations {} (bound: {:.0f} s or {} per thread)",
      report.get("created"), report.get("persistent created"), report.get("persistent deleted"),
      report.get("iterations"), settings.seconds * 0.8, budget.max()));
  report.print_counts("events", "event ");
  if (!anomalies.empty()) {
    std::string line;
    for (const auto& [what, n] : anomalies)
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", what, n);
    report.note("events that did not fit the view: " + line);
  }
  if (drops == 0) report.fail("the kernel dropped no notification: the overflow was not forced");
  if (drops < 0) report.note("the socket's drop count could not be read from /proc/net/netlink");

  // The comparison.
  if (const std::optional<View> kernel = kernel_view(report)) {
    std::size_t differences = 0;
    std::size_t phantoms = 0;
    for (const auto& [index, seen] : view) {
      const auto it = kernel->find(index);
      if (it == kernel->end()) {
        report.fail(fmt::format("phantom: LinkEvents holds {} (index {}, {}), ip -j link does not",
                                seen.name, index, seen.up ? "up" : "down"));
        ++differences;
        ++phantoms;
      } else if (!(it->second == seen)) {
        report.fail(fmt::format("index {}: LinkEvents says {} {}, ip -j link says {} {}", index,
                                seen.name, seen.up ? "up" : "down", it->second.name,
                                it->second.up ? "up" : "down"));
        ++differences;
      }
    }
    for (const auto& [index, seen] : *kernel) {
      if (!view.contains(index)) {
        report.fail(fmt::format("missing: ip -j link shows {} (index {}), LinkEvents does not",
                                seen.name, index));
        ++differences;
      }
    }
    report.note(fmt::format("final view {} interfaces, ip -j link {} interfaces, {} differences",
                            view.size(), kernel->size(), differences));
    if (phantoms > 0) {
      report.note(
          "a phantom is a device deleted long ago that LinkEvents still holds: after ENOBUFS it "
          "read the state again and then applied notifications queued before the overflow on top "
          "of it (issue 14, item 2: drain what was queued, then take the snapshot)");
    }
  }

  // Clean up: the subscription, the devices left open, then the persistent ones.
  events = LinkEvents();
  for (Leftovers& l : left) {
    l.open.clear();
    for (const std::string& name : l.persistent) {
      std::error_code ec;
      if (auto info = find_tun_device(name, ec)) {
        TunDevice again(info->attach_options());
        again.set_persist(false);
      }
    }
  }
  start.check_same(report, "after cleaning up");
}

}  // namespace tunkit::stress
