// `tunkit set` and the ethtool and XDP parts of `tunkit show`, driven as a user would and read
// back by the tool's JSON (through jq) and by ethtool(8) where it is installed.
// TUNKIT_CLI (the built tool's path) comes from tests/CMakeLists.txt.
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <regex>
#include <string>

#include "bpf_programs.hpp"
#include "catch.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifdef TUNKIT_CLI

namespace {

using tunkit::test::run;

tunkit::test::Result set_cli_run(const std::string& args) {
  return run(std::string(TUNKIT_CLI) + " " + args);
}

bool set_cli_contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// `tunkit show NAME --json` parses as JSON and `filter` holds for it (jq -e); without jq, only
// that it parses (python3), else nothing is checked and the test says so.
void set_cli_check_show_json(const std::string& name, const std::string& filter) {
  const std::string show = std::string(TUNKIT_CLI) + " show " + name + " --json";
  const auto r = run(show);
  INFO(r.output);
  REQUIRE(r.status == 0);
  if (run("command -v jq").status == 0) {
    const auto checked = run(show + " | jq -e '" + filter + "'");
    INFO("jq " << filter << ": " << checked.output);
    CHECK(checked.status == 0);
  } else if (run("command -v python3").status == 0) {
    WARN("jq is not installed: the JSON is only checked to parse");
    CHECK(run(show + " | python3 -c 'import json,sys; json.load(sys.stdin)'").status == 0);
  } else {
    WARN("neither jq nor python3 is installed: the JSON is not checked");
  }
}

// `tunkit show NAME` with the feature lists' continuation lines (wrapped before 100 columns,
// indented under the first item) joined to their first line.
std::string set_cli_show_unwrapped(const std::string& name) {
  const auto r = set_cli_run("show " + name);
  INFO(r.output);
  CHECK(r.status == 0);
  return std::regex_replace(r.output, std::regex("\n {15,}"), " ");
}

// ethtool(8)'s output for `args`, or nullopt (with a warning) when it is not installed.
std::optional<std::string> set_cli_ethtool(const std::string& args) {
  if (run("command -v ethtool").status != 0) {
    WARN("ethtool is not installed: not cross-checked with it");
    return std::nullopt;
  }
  const auto r = run("ethtool " + args);
  INFO("ethtool " << args << ": " << r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

}  // namespace

TEST_CASE("tunkit set: speed, duplex, msglvl and rx-frames, read back by show and ethtool",
          "[netns][cli][ethtool]") {
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(run("ip tuntap add dev tks0 mode tun").status == 0);

  auto r = set_cli_run(
      "set tks0 --speed 1000 --duplex half --autoneg off --msglvl 0x7 "
      "--rx-frames 16");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.empty());  // nothing to say but errors

  set_cli_check_show_json(
      "tks0",
      R"(.ethtool.driver == "tun" and .ethtool.bus_info == "tun" and .ethtool.speed == 1000 )"
      R"(and .ethtool.duplex == "half" and .ethtool.autoneg == false and .ethtool.msglvl == 7 )"
      R"(and .ethtool.rx_frames == 16 and .ethtool.errors == {} and .ethtool_error == null )"
      R"(and .xdp == null and .xdp_error == null and .name == "tks0" )"
      R"(and (.ethtool.features | length) > 10 )"
      R"(and (.ethtool.features | map(select(.name == "rx-checksum"))[0] == )"
      R"({"name":"rx-checksum","active":false,"requested":false,"fixed":true}) )"
      R"(and (.ethtool.features | all(has("name","active","requested","fixed"))))");
  if (const auto e = set_cli_ethtool("tks0")) {
    CHECK(set_cli_contains(*e, "Speed: 1000Mb/s"));
    CHECK(set_cli_contains(*e, "Duplex: Half"));
    CHECK(set_cli_contains(*e, "Auto-negotiation: off"));
    CHECK(set_cli_contains(*e, "Current message level: 0x00000007 (7)"));
  }
  if (const auto e = set_cli_ethtool("-c tks0")) CHECK(set_cli_contains(*e, "rx-frames: 16\n"));

  // The text: the driver line and the others, each in the layout of `show`.
  r = set_cli_run("show tks0");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(std::regex_search(r.output, std::regex(R"(\n  driver   tun \S+, bus tun\n)")));
  CHECK(set_cli_contains(r.output, "\n  link     1000Mb/s, half duplex, autoneg off\n"));
  CHECK(set_cli_contains(r.output, "\n  msglvl   0x00000007\n"));
  CHECK(set_cli_contains(r.output, "\n  rx-frames 16\n"));
  CHECK(set_cli_contains(r.output, "\n  xdp      none\n"));
  CHECK(set_cli_contains(r.output, "\n  features on: "));
  CHECK_FALSE(set_cli_contains(r.output, "rx-checksum"));  // off and fixed: left out
  CHECK_FALSE(set_cli_contains(r.output, "not shown"));

  // tun caps rx-frames at 64 without an error: the tool says so.
  r = set_cli_run("set tks0 --rx-frames 100");
  CHECK(r.status == 0);
  CHECK(r.output == "tunkit set: warning: rx-frames is 64: the driver took 100 as 64\n");
  set_cli_check_show_json("tks0", R"(.ethtool.rx_frames == 64)");
  REQUIRE(set_cli_run("set tks0 --rx-frames 16").status == 0);

  // Decimal message level; values ethtool sets, read by the tool.
  REQUIRE(set_cli_run("set tks0 --msglvl 3 --duplex full").status == 0);
  set_cli_check_show_json("tks0", R"(.ethtool.msglvl == 3 and .ethtool.duplex == "full")");
  if (set_cli_ethtool("-s tks0 speed 2500")) {
    set_cli_check_show_json("tks0", R"(.ethtool.speed == 2500)");
  }

  // Usage errors exit 2 in the words of the other commands and change nothing.
  for (const char* args : {"set tks0 --bogus",
                           "set tks0 --speed",
                           "set tks0 --speed 4294967296",
                           "set tks0 --speed -1",
                           "set tks0 --speed 10x",
                           "set tks0 --msglvl 0x",
                           "set tks0 --msglvl 0x100000000",
                           "set tks0 --msglvl 0xg",
                           "set tks0 --rx-frames 1e3",
                           "set tks0 --rx-frames",
                           "set tks0 --duplex quarter",
                           "set tks0 --autoneg yes",
                           "set tks0 -K gro",
                           "set tks0 -K gro maybe",
                           "set tks0 --feature gro",
                           "set tks0 --feature gro=1",
                           "set tks0 --feature =on",
                           "set tks0",
                           "set",
                           "set tks0 tks1 --speed 10",
                           "set 'a b' --speed 10"}) {
    r = set_cli_run(args);
    INFO(args << ": " << r.output);
    CHECK(r.status == 2);
    CHECK(r.output.starts_with("tunkit set: "));
    CHECK(set_cli_contains(r.output, "Try 'tunkit set --help'."));
  }
  CHECK(set_cli_contains(set_cli_run("set tks0 --speed 4294967296").output,
                         "tunkit set: --speed: \"4294967296\" is not a number from 0 to "
                         "4294967295"));
  CHECK(set_cli_contains(set_cli_run("set tks0 --bogus").output,
                         "tunkit set: unknown option \"--bogus\""));
  set_cli_check_show_json("tks0", R"(.ethtool.msglvl == 3 and .ethtool.rx_frames == 16)");

  // Runtime errors exit 1: no such device, not a TUN/TAP device, a level the kernel refuses.
  r = set_cli_run("set nothere --speed 10");
  CHECK(r.status == 1);
  CHECK(set_cli_contains(r.output, "tunkit: no device named \"nothere\""));
  r = set_cli_run("set lo --speed 10");
  CHECK(r.status == 1);
  CHECK(set_cli_contains(r.output, "tunkit: \"lo\" is not a TUN/TAP device"));
  r = set_cli_run("set tks0 --msglvl 0xffffffff");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.starts_with("tunkit: set message level 0xffffffff \"tks0\": "));
}

TEST_CASE("tunkit set: features as ethtool -K, a requested-not-active one warned about",
          "[netns][cli][ethtool]") {
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(run("ip tuntap add dev tks1 mode tun").status == 0);

  // Off first: the kernel's default for a new TUN is requested on.
  auto r = set_cli_run("set tks1 --feature tx-udp-segmentation=off -K gro off");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output == "tx-udp-segmentation: off\nrx-gro: off\n");
  if (const auto e = set_cli_ethtool("-k tks1")) {
    CHECK(set_cli_contains(*e, "\ngeneric-receive-offload: off\n"));
    CHECK(set_cli_contains(*e, "\ntx-udp-segmentation: off\n"));
  }
  set_cli_check_show_json(
      "tks1", R"(.ethtool.features | map(select(.name == "rx-gro" or .name == )"
              R"("tx-udp-segmentation")) | all(.active == false and .requested == false))");
  CHECK(std::regex_search(set_cli_show_unwrapped("tks1"),
                          std::regex(R"(\n  features off: .*rx-gro[,\n])")));

  // Nobody reads the device and offers offloads: the feature stays requested, not active.
  r = set_cli_run("set tks1 -K tx-udp-segmentation on");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(set_cli_contains(r.output, "tx-udp-segmentation: off [requested on]\n"));
  CHECK(set_cli_contains(r.output,
                         "tunkit set: warning: tx-udp-segmentation: off [requested on]: the device "
                         "cannot have it now (for a TUN/TAP offload: until the program reading it "
                         "offers it)\n"));
  if (const auto e = set_cli_ethtool("-k tks1")) {
    CHECK(set_cli_contains(*e, "\ntx-udp-segmentation: off [requested on]\n"));
  }
  CHECK(
      std::regex_search(set_cli_show_unwrapped("tks1"),
                        std::regex(R"(\n  features off: .*tx-udp-segmentation \[requested on\])")));

  // A group name changes its members; ethtool's two-word form and NAME=on agree.
  r = set_cli_run("set tks1 --feature gro=on");
  CHECK(r.status == 0);
  CHECK(r.output == "rx-gro: on\n");
  set_cli_check_show_json("tks1", R"(.ethtool.features | map(select(.name == "rx-gro"))[0] | )"
                                  R"(.active and .requested and (.fixed | not))");

  // A fixed feature asked to change, and a name the kernel does not know: exit 1, named.
  r = set_cli_run("set tks1 -K rx-checksum on");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(set_cli_contains(r.output, "tunkit: set feature rx-checksum \"tks1\": "));
  CHECK(set_cli_contains(r.output, "the driver does not let it change"));
  r = set_cli_run("set tks1 -K no-such-feature on");
  CHECK(r.status == 1);
  CHECK(set_cli_contains(r.output, "set feature no-such-feature \"tks1\": "));
}

TEST_CASE("tunkit show: the attached XDP program's id and mode", "[netns][cli][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  REQUIRE(run("ip tuntap add dev tks2 mode tun").status == 0);
  const int prog = tunkit::test::load_bpf_program(tunkit::test::xdp_return(XDP_PASS));
  const std::uint32_t id = tunkit::test::bpf_program_id(prog);
  tunkit::Link link = tunkit::Link::from_name("tks2");
  link.attach_xdp(prog, tunkit::XdpAttachMode::generic);
  ::close(prog);  // the kernel keeps its own reference while attached

  const auto r = set_cli_run("show tks2");
  INFO(r.output);
  CHECK(set_cli_contains(r.output, "\n  xdp      id " + std::to_string(id) + " (generic)\n"));
  set_cli_check_show_json("tks2", R"(.xdp.id == )" + std::to_string(id) +
                                      R"( and .xdp.mode == "generic" and .xdp_error == null)");
  link.detach_xdp();
  CHECK(set_cli_contains(set_cli_run("show tks2").output, "\n  xdp      none\n"));
}

#endif  // TUNKIT_CLI
