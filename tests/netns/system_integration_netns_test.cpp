// How tunkit fits a system: the bash completion (tools/completion/tunkit.bash) driven as bash
// drives it, and the systemd units (tools/systemd) checked by systemd-analyze and run, command
// line by command line, as systemd would, in a namespace of the test's own. TUNKIT_CLI,
// TUNKIT_COMPLETION and TUNKIT_SYSTEMD_TEST_DIR come from tests/CMakeLists.txt.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tun_devices.hpp"

#if !defined(TUNKIT_CLI) || !defined(TUNKIT_SYSTEMD_TEST_DIR)

TEST_CASE("bash completion and systemd units", "[netns][cli]") {
  WARN("the tunkit tool was not built (TUNKIT_BUILD_TOOLS=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::run;

namespace {

// Single-quoted for the shell.
std::string system_quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// What the completion offers for `words` (the last one is being completed), one per element,
// sorted: the function bash calls for `tunkit` run with COMP_WORDS and COMP_CWORD as bash sets
// them.
std::vector<std::string> complete_words(const std::vector<std::string>& words) {
  std::string array;
  for (const auto& w : words)
    array += system_quoted(w) + " ";
  const std::string script = "source " + system_quoted(TUNKIT_COMPLETION) + "; COMP_WORDS=(" +
                             array + "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                             "; _tunkit; printf '%s\\n' \"${COMPREPLY[@]}\"";
  const auto r = run("bash -c " + system_quoted(script));
  REQUIRE(r.status == 0);
  std::vector<std::string> out;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

// The options a `--help` text lists: in its usage line and the terms of its
// "  -x, --long VALUE    text" lines, sorted.
std::set<std::string> help_options(const std::string& help) {
  std::set<std::string> out;
  const std::regex line(R"(^  (-\S.*?)(?:\s{2,}|$))");
  const std::regex option(R"((^|[\s,/[])(--?[a-zA-Z][a-zA-Z0-9-]*))");
  std::istringstream lines(help);
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    std::string term;
    if (l.starts_with("usage: ")) {
      term = l.substr(7);  // "usage: tunkit list [--json]"
    } else if (std::regex_search(l, m, line)) {
      term = m[1].str();
    } else {
      continue;
    }
    for (auto it = std::sregex_iterator(term.begin(), term.end(), option);
         it != std::sregex_iterator(); ++it)
      out.insert((*it)[2].str());
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A unit file's `Key=value` lines of one key, in order.
std::vector<std::string> unit_file_values(const std::string& unit, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream lines(unit);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(key + "=")) out.push_back(line.substr(key.size() + 1));
  return out;
}

// A command line of a unit as systemd runs it: %i is the instance, $VAR is the variable of the
// environment file split at white space, ${VAR} the variable as one word.
std::string as_systemd_runs(std::string line, const std::string& instance,
                            const std::map<std::string, std::string>& env) {
  for (std::size_t at; (at = line.find("%i")) != std::string::npos;)
    line.replace(at, 2, instance);
  std::string out;
  std::istringstream words(line);
  for (std::string word; words >> word;) {
    if (word.starts_with('$')) {
      const std::string name = word.substr(word[1] == '{' ? 2 : 1, std::string::npos);
      const auto it = env.find(name.ends_with('}') ? name.substr(0, name.size() - 1) : name);
      if (it != env.end()) out += it->second + " ";  // split by the shell, as systemd splits it
      continue;
    }
    out += system_quoted(word) + " ";
  }
  return out;
}

std::map<std::string, std::string> unit_environment_file(const std::string& path) {
  std::map<std::string, std::string> env;
  std::istringstream lines(read_text_file(path));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with('#')) continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

const std::string kSystemdTestDir = TUNKIT_SYSTEMD_TEST_DIR;

}  // namespace

TEST_CASE("bash completion: commands, options as --help names them, device names",
          "[netns][cli][completion]") {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string tool = TUNKIT_CLI;
  REQUIRE(run(tool + " create --name compl0").status == 0);
  REQUIRE(run(tool + " create --tap --name compl1").status == 0);
  REQUIRE(run("ip link add cveth0 type veth peer name cveth1").status == 0);  // not TUN/TAP

  CHECK(run("bash -c " +
            system_quoted("source " + system_quoted(TUNKIT_COMPLETION) + "; complete -p tunkit"))
            .output == "complete -F _tunkit tunkit\n");
  const auto commands = complete_words({tool, ""});
  for (const char* c : {"create", "delete", "list", "show", "dump", "run", "help", "version"})
    CHECK(std::find(commands.begin(), commands.end(), c) != commands.end());
  CHECK(complete_words({tool, "sh"}) == std::vector<std::string>{"show"});

  // Device names where a command takes one, and only TUN/TAP devices.
  const std::vector<std::string> both{"compl0", "compl1"};
  CHECK(complete_words({tool, "show", ""}) == both);
  CHECK(complete_words({tool, "delete", "compl"}) == both);
  CHECK(complete_words({tool, "dump", "-c", "5", ""}) == both);
  CHECK(complete_words({tool, "run", "--attach", "compl1"}) == std::vector<std::string>{"compl1"});
  CHECK(complete_words({tool, "show", "compl0", ""}).empty());  // one device only
  CHECK(complete_words({tool, "create", "--group", "roo"}) == std::vector<std::string>{"root"});
  CHECK(complete_words({tool, "run", "--", "bas"}) != std::vector<std::string>{});
  // set: values of --duplex and of -K NAME; -K takes two words before the device.
  const std::vector<std::string> on_off{"off", "on"};
  CHECK(complete_words({tool, "set", "compl0", "--duplex", ""}) ==
        std::vector<std::string>{"full", "half"});
  CHECK(complete_words({tool, "set", "compl0", "-K", "rx-gro", ""}) == on_off);
  CHECK(complete_words({tool, "set", "compl0", "--autoneg", ""}) == on_off);
  CHECK(complete_words({tool, "set", "-K", "rx-gro", "off", ""}) == both);
  CHECK(complete_words({tool, "set", "compl0", "-K", "rx-gro", "off", ""}).empty());

  // Every option of every command's --help is offered, and nothing else.
  for (const std::string command : {"create", "list", "show", "set", "dump", "inject", "run"}) {
    const auto help = run(tool + " " + command + " --help");
    REQUIRE(help.status == 0);
    std::set<std::string> documented = help_options(help.output);
    documented.insert({"--help", "-h"});
    if (command == "run") documented.insert("--");  // what ends run's options
    const auto offered = complete_words({tool, command, "-"});
    INFO(command << " --help:\n" << help.output);
    CHECK(std::set<std::string>(offered.begin(), offered.end()) == documented);
  }
  (void)run(tool + " delete compl0");
  (void)run(tool + " delete compl1");
}

#ifdef TUNKIT_MAN_PAGE
TEST_CASE("tunkit(1): every command and every option of --help, as groff reads it",
          "[netns][cli][man]") {
  const std::string tool = TUNKIT_CLI;
  const std::string page = read_text_file(TUNKIT_MAN_PAGE);
  REQUIRE(!page.empty());
  // The page as roff would print it: "\-" is a hyphen, fonts dropped.
  std::string text = std::regex_replace(page, std::regex(R"(\\f[BIRP])"), "");
  text = std::regex_replace(text, std::regex(R"(\\-)"), "-");
  const auto main_help = run(tool + " --help");
  REQUIRE(main_help.status == 0);
  for (const std::string command : {"create", "delete", "list", "show", "set", "dump", "run"}) {
    const auto help = run(tool + " " + command + " --help");
    REQUIRE(help.status == 0);
    INFO(command);
    CHECK(text.find(".SS tunkit " + command) != std::string::npos);
    for (const auto& option : help_options(help.output))
      CHECK(text.find(option) != std::string::npos);
    // The first sentence of the command's description, as written in --help.
    const auto blank = help.output.find("\n\n");
    REQUIRE(blank != std::string::npos);
    const std::string first = help.output.substr(blank + 2, 40);
    CHECK(text.find(first) != std::string::npos);
  }
  CHECK(text.find("0 ok, 1 runtime error, 2 usage error.") != std::string::npos);
  // groff finds nothing to warn about (-ww: all warnings), and the page is the one make_man.pl
  // writes from this tool now (not a stale one).
  const auto groff = run("groff -man -ww -z " + system_quoted(TUNKIT_MAN_PAGE) + " 2>&1");
  INFO(groff.output);
  CHECK(groff.status == 0);
  CHECK(groff.output.empty());
  const auto again =
      run("perl " + system_quoted(std::string(TUNKIT_SOURCE_DIR) + "/tools/man/make_man.pl") + " " +
          system_quoted(tool) + " DATE");
  REQUIRE(again.status == 0);
  CHECK(std::regex_replace(again.output, std::regex(R"(\.TH TUNKIT 1 "[^"]*")"), ".TH") ==
        std::regex_replace(page, std::regex(R"(\.TH TUNKIT 1 "[^"]*")"), ".TH"));
}
#endif

TEST_CASE("systemd: the units pass systemd-analyze verify", "[netns][systemd]") {
  // ./dev installs systemd (which has systemd-analyze) with the test dependencies.
  REQUIRE(run("command -v systemd-analyze").status == 0);
  // Instances of the templates, as `systemctl enable tunkit@vpn0` loads them (the template file
  // is found next to the instance's path).
  for (const char* unit : {"tunkit@vpn0.service", "tunkit-worker@vpn0.service"}) {
    const auto r = run("cd " + system_quoted(kSystemdTestDir) +
                       " && SYSTEMD_LOG_LEVEL=warning systemd-analyze "
                       "verify --man=no " +
                       system_quoted(kSystemdTestDir + "/" + unit) + " 2>&1");
    INFO(unit << ":\n" << r.output);
    CHECK(r.status == 0);
    CHECK(r.output.empty());  // no warnings either (a command that is not executable, ...)
  }
}

TEST_CASE("systemd: tunkit@.service creates the configured device and deletes it at stop",
          "[netns][systemd]") {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string unit = read_text_file(kSystemdTestDir + "/tunkit@.service");
  REQUIRE(!unit.empty());
  // The condition and the environment file name the same configuration file.
  const auto env_files = unit_file_values(unit, "EnvironmentFile");
  REQUIRE(env_files.size() == 1);
  CHECK(unit_file_values(unit, "ConditionPathExists") == env_files);

  // The unit names SYSCONFDIR/tunkit/%i.conf (the build tree's etc/ here). The file is written
  // where this test may write (a rootless run may not write the build tree), and read from there
  // in the unit's place.
  const std::string env_file =
      std::regex_replace(env_files[0], std::regex("%i"), std::string("unit0"));
  REQUIRE(env_file == kSystemdTestDir + "/etc/tunkit/unit0.conf");
  char dir_template[] = "/tmp/tunkit-unit-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string conf = std::string(dir_template) + "/unit0.conf";
  std::ofstream(conf)
      << "# test\nTUNKIT_CREATE_OPTIONS=--tap --mtu 1400 --addr 10.93.0.1/24 --up\n";
  const auto env = unit_environment_file(conf);
  REQUIRE(env.count("TUNKIT_CREATE_OPTIONS") == 1);

  const auto start = unit_file_values(unit, "ExecStart");
  const auto stop = unit_file_values(unit, "ExecStop");
  REQUIRE(start.size() == 1);
  REQUIRE(stop.size() == 1);
  auto r = run(as_systemd_runs(start[0], "unit0", env));
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto info = tunkit::find_tun_device("unit0");
  REQUIRE(info);
  CHECK(info->mode == tunkit::Mode::tap);
  CHECK(info->persist);
  CHECK(info->link.mtu == 1400);
  CHECK(info->link.up);
  CHECK(run("ip -br addr show unit0").output.find("10.93.0.1/24") != std::string::npos);

  r = run(as_systemd_runs(stop[0], "unit0", env));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_FALSE(tunkit::find_tun_device("unit0"));
  std::filesystem::remove_all(dir_template);
}

TEST_CASE("systemd: tunkit-worker@.service hands the device's queues to an unprivileged worker",
          "[netns][systemd]") {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string worker_unit = read_text_file(kSystemdTestDir + "/tunkit-worker@.service");
  const auto start = unit_file_values(worker_unit, "ExecStart");
  REQUIRE(start.size() == 1);
  if (start[0].ends_with("-- ")) {
    WARN("the examples were not built (TUNKIT_BUILD_EXAMPLES=OFF): no worker to run");
    return;
  }
  CHECK(unit_file_values(worker_unit, "Requires") == std::vector<std::string>{"tunkit@%i.service"});

  REQUIRE(run(std::string(TUNKIT_CLI) + " create --name work0 --addr 10.94.0.1/24 --up").status ==
          0);
  // `tunkit run` as the unit starts it, in the background; the worker answers pings.
  std::vector<std::string> argv{"/bin/sh", "-c", "exec " + as_systemd_runs(start[0], "work0", {})};
  tunkit::test::Child service(argv);
  const auto ready = service.wait_for_line("ready", 10s);
  INFO(service.output());
  if (!ready && service.output().find("setgroups: operation not permitted") != std::string::npos) {
    // `tunkit run --user nobody --group nogroup` switches ids: a rootless run cannot.
    (void)service.wait_exit(5s);
    (void)run(std::string(TUNKIT_CLI) + " delete work0");
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::unmapped_ids,
                                        "setgroups: operation not permitted");
    return;
  }
  REQUIRE(ready);
  const auto ping = run("ping -c 2 -i 0.2 -W 2 10.94.0.2");
  INFO(ping.output);
  CHECK(ping.status == 0);
  service.signal(SIGTERM);  // systemctl stop: SIGTERM to the main process
  CHECK(service.wait_exit(5s) == 0);
  CHECK(service.output().find("uid 65534") != std::string::npos);
  (void)run(std::string(TUNKIT_CLI) + " delete work0");
}

#endif
