// `tunkit run`: a device created with privileges and its queues handed to a command that runs
// without them, under the LISTEN_FDS convention; checked from inside the command (its
// environment, descriptors, ids and capabilities as /proc shows them) and after it (exit status,
// no device left). TUNKIT_CLI (the built tool's path) comes from tests/CMakeLists.txt.
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "catch.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tun_info.hpp"

#ifndef TUNKIT_CLI

TEST_CASE("tunkit run", "[netns][cli]") {
  WARN("the tunkit tool was not built (TUNKIT_BUILD_TOOLS=OFF): nothing to test");
}

#else

namespace tunkit_run_test {

using tunkit::test::run;

tunkit::test::Result run_tool(const std::string& args) {
  return run(std::string(TUNKIT_CLI) + " " + args);
}

// "KEY=VALUE" lines (and /proc/self/status's "Key:\tvalue" ones) of a command's output.
std::map<std::string, std::string> output_values(const std::string& output) {
  std::map<std::string, std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find_first_of("=:");
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? "" : value.substr(first);
    out.emplace(line.substr(0, eq), value);
  }
  return out;
}

// Whether uid/gid 65534 exist in this user namespace (not in an unprivileged one, which maps
// only its creator's ids): otherwise that part is skipped, saying why.
bool nobody_mapped() {
  if (tunkit_test::id_mapped("/proc/self/uid_map", 65534) &&
      tunkit_test::id_mapped("/proc/self/gid_map", 65534))
    return true;
  tunkit_test::skip_without_privilege(tunkit_test::Privilege::unmapped_ids,
                                      "uid or gid 65534 is not mapped here");
  return false;
}

// What the command prints about itself.
constexpr const char* kReport =
    "sh -c 'echo FDS=$LISTEN_FDS; echo NAMES=$LISTEN_FDNAMES; echo PID=$LISTEN_PID; "
    "echo SELF=$$; echo FD3=$(readlink /proc/self/fd/3); echo FD4=$(readlink /proc/self/fd/4); "
    "echo FD5=$(readlink /proc/self/fd/5); grep iff /proc/self/fdinfo/3; "
    "grep -E \"^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):\" "
    "/proc/self/status; exit 7'";

}  // namespace tunkit_run_test

using namespace tunkit_run_test;

TEST_CASE("tunkit run hands the queues to an unprivileged command and leaves no device",
          "[netns][cli][run]") {
  tunkit::testing::NetNsSandbox sandbox;
  const bool nobody = nobody_mapped();
  const std::string user = nobody ? "--user 65534 --group 65534 " : "";
  const auto r =
      run_tool("run --name tkr0 --queues 2 " + user + "--addr 10.16.0.1/24 --up -- " + kReport);
  INFO(r.output);
  CHECK(r.status == 7);  // the command's own status
  auto v = output_values(r.output);
  CHECK(v["FDS"] == "2");
  CHECK(v["NAMES"] == "tkr0:tkr0");
  CHECK(v["PID"] == v["SELF"]);  // LISTEN_PID is the command's own pid
  CHECK(v["FD3"] == "/dev/net/tun");
  CHECK(v["FD4"] == "/dev/net/tun");
  CHECK(v["FD5"].empty());  // nothing else of the tool's leaks into the command
  CHECK(v["iff"] == "tkr0");
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    INFO(set);
    CHECK(v[set] == "0000000000000000");
  }
  CHECK(v["NoNewPrivs"] == "1");
  if (nobody) {
    CHECK(v["Uid"] == "65534\t65534\t65534\t65534");
    CHECK(v["Gid"] == "65534\t65534\t65534\t65534");
    CHECK(v["Groups"].empty());
  }
  // The device went with the command's queues.
  CHECK_FALSE(tunkit::find_tun_device("tkr0"));

  SECTION("--persist keeps it") {
    const auto p = run_tool("run --name tkr1 --persist -- true");
    CHECK(p.status == 0);
    const auto info = tunkit::find_tun_device("tkr1");
    REQUIRE(info);
    CHECK(info->persist);
    CHECK(info->owner == ::geteuid());  // never ownerless: anyone could attach to it
    CHECK(run_tool("delete tkr1").status == 0);
  }
  SECTION("a command ended by a signal: 128 + its number") {
    const auto k = run_tool("run --name tkr2 -- sh -c 'kill -TERM $$'");
    CHECK(k.status == 128 + 15);
    CHECK_FALSE(tunkit::find_tun_device("tkr2"));
  }
  SECTION("SIGTERM and SIGHUP are forwarded to the command, also one sent at once") {
    using namespace std::chrono_literals;
    const std::string tool = TUNKIT_CLI;
    tunkit::test::Child traps({tool, "run", "--name", "tkr5", "--", "sh", "-c",
                               "trap 'exit 5' TERM; trap 'exit 6' HUP; echo ready; "
                               "while :; do sleep 0.05; done"});
    REQUIRE(traps.wait_for_line("ready", 10s));
    traps.signal(SIGHUP);
    CHECK(traps.wait_exit(10s) == 6);
    tunkit::test::Child term({tool, "run", "--name", "tkr5", "--", "sh", "-c",
                              "trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done"});
    REQUIRE(term.wait_for_line("ready", 10s));
    term.signal(SIGTERM);
    CHECK(term.wait_exit(10s) == 5);
    // Sent before the command can run: kept pending until it does (or, earlier still, it ends
    // the tool itself); either way nothing waits for ever.
    tunkit::test::Child early({tool, "run", "--name", "tkr5", "--", "sleep", "30"});
    // Once the tool runs (not the test's own fork before exec, with the test's handlers).
    const std::string exe = "/proc/" + std::to_string(early.pid()) + "/exe";
    const auto tool_path = std::filesystem::canonical(tool);
    std::error_code no_link;
    for (int i = 0; i < 1000 && std::filesystem::read_symlink(exe, no_link) != tool_path; ++i)
      std::this_thread::sleep_for(1ms);
    early.signal(SIGTERM);
    CHECK(early.wait_exit(10s) == 128 + SIGTERM);
    CHECK_FALSE(tunkit::find_tun_device("tkr5"));
  }
  SECTION("a command that cannot be started: 127 or 126, as a shell says") {
    const auto missing = run_tool("run --name tkr3 -- /nonexistent/worker");
    CHECK(missing.status == 127);
    CHECK(missing.output.find("tunkit run: /nonexistent/worker: no such file or directory") !=
          std::string::npos);
    CHECK(run_tool("run --name tkr3 -- /proc/self/status").status == 126);
    CHECK_FALSE(tunkit::find_tun_device("tkr3"));
  }
  SECTION("--attach takes queues of an existing device and leaves it") {
    REQUIRE(run_tool("create --name tkr4 --multi-queue").status == 0);
    const auto a = run_tool("run --attach tkr4 --queues 2 -- sh -c 'echo FDS=$LISTEN_FDS'");
    CHECK(a.status == 0);
    CHECK(output_values(a.output)["FDS"] == "2");
    CHECK(tunkit::find_tun_device("tkr4"));
    CHECK(run_tool("delete tkr4").status == 0);
  }
}

TEST_CASE("tunkit run: usage errors exit 2 and create nothing", "[netns][cli][run]") {
  tunkit::testing::NetNsSandbox sandbox;
  struct Case {
    std::string args;
    std::string message;
  };
  for (const Case& c : {
           Case{"run --name tkr5", "tunkit run: missing -- COMMAND"},
           Case{"run --name tkr5 --", "tunkit run: missing -- COMMAND"},
           Case{"run --user no-such-user-here -- true", "tunkit run: --user: no user"},
           Case{"run --queues 0 -- true", "tunkit run: --queues: \"0\" is not a number from 1"},
           Case{"run --bogus -- true", "tunkit run: unknown option \"--bogus\""},
           Case{"run --attach tkr5 --tap -- true", "--attach takes the device's own flags"},
       }) {
    INFO(c.args);
    const auto r = run_tool(c.args);
    CHECK(r.status == 2);
    CHECK(r.output.find(c.message) != std::string::npos);
    CHECK(r.output.find("Try 'tunkit run --help'.") != std::string::npos);
  }
  CHECK_FALSE(tunkit::find_tun_device("tkr5"));
  const auto help = run_tool("run --help");
  CHECK(help.status == 0);
  CHECK(help.output.find("usage: tunkit run [options] -- COMMAND [ARG]...") != std::string::npos);
  CHECK(run_tool("--help").output.find("  run [--user U]") != std::string::npos);
}

#endif
