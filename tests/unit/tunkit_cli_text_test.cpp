// The tunkit tool's number parsing and the escaping of device names in its text and JSON output
// (tools/tunkit/text.hpp), its lookups in the system (system.hpp), the order of `create`'s steps
// over the fake kernel (create.hpp), and the examples' number parser (examples/common/helpers.hpp).
#include "../../tools/tunkit/text.hpp"

#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "../../examples/common/helpers.hpp"
#include "../../tools/tunkit/create.hpp"
#include "../../tools/tunkit/system.hpp"
#include "catch.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

using tunkit_cli::escape_bytes;
using tunkit_cli::json_string;
using tunkit_cli::parse_decimal;
using tunkit_cli::shown;

TEST_CASE("tunkit CLI: numbers are parsed in 64 bits and checked against their range",
          "[cli][text]") {
  constexpr std::uint64_t uid_max = 0xFFFFFFFEu;  // (uid_t)-1 means "no change" to the kernel
  CHECK(parse_decimal("0", uid_max) == 0u);
  CHECK(parse_decimal("1000", uid_max) == 1000u);
  CHECK(parse_decimal("4294967294", uid_max) == 4294967294u);
  CHECK(parse_decimal("007", 10) == 7u);
  // 2^32 and 2^32 + 1000 wrapped to 0 and 1000 where unsigned long is 32 bits: root.
  CHECK_FALSE(parse_decimal("4294967295", uid_max));
  CHECK_FALSE(parse_decimal("4294967296", uid_max));
  CHECK_FALSE(parse_decimal("4294968296", uid_max));
  CHECK_FALSE(parse_decimal("18446744073709551615", uid_max));
  CHECK(parse_decimal("18446744073709551615", std::numeric_limits<std::uint64_t>::max()) ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK_FALSE(parse_decimal("18446744073709551616", std::numeric_limits<std::uint64_t>::max()));
  CHECK_FALSE(parse_decimal("99999999999999999999999", std::numeric_limits<std::uint64_t>::max()));
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1e3", "12a", "-0"}) {
    INFO(bad);
    CHECK_FALSE(parse_decimal(bad, 1000));
  }
  CHECK(parse_decimal("65535", 65535) == 65535u);
  CHECK_FALSE(parse_decimal("65536", 65535));
}

TEST_CASE("tunkit CLI: --msglvl takes decimal or 0x hex, checked against its range",
          "[cli][text]") {
  using tunkit_cli::parse_decimal_or_hex;
  constexpr std::uint64_t u32_max = 0xFFFFFFFFu;
  CHECK(parse_decimal_or_hex("0", u32_max) == 0u);
  CHECK(parse_decimal_or_hex("7", u32_max) == 7u);
  CHECK(parse_decimal_or_hex("0x7", u32_max) == 7u);
  CHECK(parse_decimal_or_hex("0X1f", u32_max) == 31u);
  CHECK(parse_decimal_or_hex("0xffffffff", u32_max) == u32_max);
  CHECK(parse_decimal_or_hex("4294967295", u32_max) == u32_max);
  CHECK_FALSE(parse_decimal_or_hex("0x100000000", u32_max));
  CHECK_FALSE(parse_decimal_or_hex("4294967296", u32_max));
  CHECK_FALSE(parse_decimal_or_hex("0xffffffffffffffffff", u32_max));
  for (const char* bad : {"", "0x", "0x-1", "0x+1", "0x 1", "0xg", "-1", "x10", "0x1g", "1.0"}) {
    INFO(bad);
    CHECK_FALSE(parse_decimal_or_hex(bad, u32_max));
  }
}

TEST_CASE("examples: to_number refuses what does not fit instead of wrapping", "[cli][text]") {
  CHECK(example::to_number("123") == 123ul);
  CHECK(example::to_number("999999999") == 999999999ul);
  CHECK_FALSE(example::to_number("1234567890"));  // more than 9 digits by default
  CHECK_FALSE(example::to_number("99999999999999999999999", 30));
  CHECK_FALSE(example::to_number("-1"));
  CHECK_FALSE(example::to_number("+1"));
  CHECK_FALSE(example::to_number(""));
}

TEST_CASE("tunkit CLI: device names are shown byte-exact and terminal-safe", "[cli][text]") {
  CHECK(shown("tun0") == "tun0");
  CHECK(shown("vpn-ü") == "vpn-ü");               // well-formed UTF-8 prints as itself
  CHECK(shown("a\\b'c") == "a\\b'c");             // printable: as it is
  CHECK(shown("u\xff\xfe") == "$'u\\xff\\xfe'");  // not UTF-8: \xNN, quoted for the shell
  CHECK(shown("e\x1b[2J") == "$'e\\x1b[2J'");     // ESC would drive the terminal
  CHECK(shown("x\x7f") == "$'x\\x7f'");
  CHECK(shown("c1\xc2\x9b") == "$'c1\\xc2\\x9b'");                // U+009B, CSI in 8-bit terminals
  CHECK(shown("q'\\\x01") == "$'q\\'\\\\\\x01'");                 // inside $'...': \' and \\ too
  CHECK(shown("\xed\xa0\x80") == "$'\\xed\\xa0\\x80'");           // a UTF-8-encoded surrogate
  CHECK(shown("\xc0\xaf") == "$'\\xc0\\xaf'");                    // an overlong '/'
  CHECK(shown("\xf4\x90\x80\x80") == "$'\\xf4\\x90\\x80\\x80'");  // above U+10FFFF
  CHECK(shown("\xe2\x82") == "$'\\xe2\\x82'");                    // truncated
  CHECK(escape_bytes("tunkit: open \"e\x1b[2J\"") == "tunkit: open \"e\\x1b[2J\"");
}

TEST_CASE("tunkit CLI: JSON strings are valid UTF-8 with every control escaped", "[cli][text]") {
  CHECK(json_string("tun0") == R"("tun0")");
  CHECK(json_string("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_string("vpn-ü") == "\"vpn-ü\"");
  CHECK(json_string("u\xff\xfe") == R"("u\ufffd\ufffd")");
  CHECK(json_string("e\x1b[2J") == R"("e\u001b[2J")");
  CHECK(json_string("\x7f\xc2\x9b") == R"("\u007f\u009b")");
  CHECK(json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");  // U+1F600 as it is
  CHECK(json_string("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");
  // Every byte value: the output is printable ASCII or well-formed UTF-8 above U+009F.
  for (int b = 0; b < 256; ++b) {
    const std::string s = json_string(std::string(1, static_cast<char>(b)));
    for (std::size_t at = 0; at < s.size();) {
      char32_t cp = 0;
      const std::size_t n = tunkit_cli::utf8_sequence(std::string_view(s).substr(at), cp);
      INFO("byte " << b << ": " << s);
      REQUIRE(n != 0);
      CHECK_FALSE(tunkit_cli::is_control(cp));
      at += n;
    }
  }
}

TEST_CASE("tunkit CLI: names no device can have are refused with their reason", "[cli][text]") {
  using tunkit_cli::name_problem;
  // What the kernel accepts as a name, and create's templates with a prefix.
  for (const char* ok : {"tun0", "vpn-1", "0", "a.b", "0123456789abcde", "e\x1b[2J"}) {
    INFO(ok);
    CHECK(name_problem(ok, false).empty());
    CHECK(name_problem(ok, true).empty());
  }
  CHECK(name_problem("vpn%d", true).empty());
  CHECK(name_problem("a%db", true).empty());
  // The kernel would take "" (tun0) and "%d" (a device named "0"): the tool refuses both.
  CHECK(name_problem("", true) ==
        "an empty name is not a name (leave out --name for the kernel's tun%d or tap%d)");
  CHECK(name_problem("", false) == "an empty name is not a name");
  CHECK(name_problem("%d", true).starts_with("\"%d\": a template needs a prefix before %d"));
  CHECK(name_problem("%dx", true).starts_with("\"%dx\": a template needs a prefix"));
  CHECK(name_problem("vpn%d", false) == "\"vpn%d\" is a template, not a device name");
  CHECK(name_problem("a%d%d", true) == "\"a%d%d\": a template has one %d and no other '%'");
  CHECK(name_problem("a%s", true) == "\"a%s\": a template has one %d and no other '%'");
  CHECK(name_problem("a%", true) == "\"a%\": a template has one %d and no other '%'");
  CHECK(name_problem("0123456789abcdef", true) ==
        "\"0123456789abcdef\" is 16 bytes long: a device name has at most 15");
  CHECK(name_problem("..", true) == "\"..\" is not a device name");
  for (const char* bad : {"a/b", "a:b", "a b", "a\tb", "a\nb", "a\xa0"}) {
    INFO(bad);
    CHECK(name_problem(bad, true).ends_with(": a device name has no '/', ':' or white space"));
  }
}

TEST_CASE("tunkit CLI: user and group lookups grow their buffer on ERANGE", "[cli][text]") {
  // A getpwnam_r that needs 100000 bytes (a group with many members): ERANGE until then.
  std::vector<std::size_t> sizes;
  auto lookup = [&](char*, std::size_t size) {
    sizes.push_back(size);
    return size < 100000 ? ERANGE : 0;
  };
  std::vector<char> buf;
  CHECK(tunkit_cli::call_growing(buf, lookup) == 0);
  CHECK(buf.size() >= 100000);
  CHECK(sizes.size() > 1);
  // "Not found" (0 with no entry) and other errors are answered at once, never retried.
  sizes.clear();
  CHECK(tunkit_cli::call_growing(buf, [&](char*, std::size_t size) {
          sizes.push_back(size);
          return EIO;
        }) == EIO);
  CHECK(sizes.size() == 1);
  // Bounded: an answer that is always ERANGE ends at the largest buffer.
  std::vector<char> big;
  CHECK(tunkit_cli::call_growing(big, [](char*, std::size_t) { return ERANGE; }) == ERANGE);
  CHECK(big.size() == tunkit_cli::kMaxLookupBuffer);
}

TEST_CASE("tunkit CLI: holders are the processes with an fdinfo line iff:<TAB>NAME",
          "[cli][text]") {
  CHECK(tunkit_cli::attached_to("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t9\niff:\ttun0\n", "tun0"));
  CHECK_FALSE(tunkit_cli::attached_to("pos:\t0\niff:\ttun01\n", "tun0"));
  CHECK_FALSE(tunkit_cli::attached_to("pos:\t0\niff:\ttun0\n", "tun"));
  CHECK_FALSE(tunkit_cli::attached_to("pos:\t0\nflags:\t02\n", "tun0"));  // not attached
  CHECK(tunkit_cli::attached_to("iff:\tu\xff\xfe", "u\xff\xfe"));         // no newline at end

  namespace fs = std::filesystem;
  const fs::path proc =
      fs::temp_directory_path() / ("tunkit-cli-proc-" + std::to_string(::getpid()));
  fs::remove_all(proc);
  auto process = [&](const std::string& pid, const std::string& comm,
                     const std::vector<std::string>& fdinfos) {
    fs::create_directories(proc / pid / "fdinfo");
    std::ofstream(proc / pid / "comm") << comm << "\n";
    for (std::size_t i = 0; i < fdinfos.size(); ++i)
      std::ofstream(proc / pid / "fdinfo" / std::to_string(i + 3)) << fdinfos[i];
  };
  process("4242", "forwarder", {"pos:\t0\niff:\tvpn0\n", "pos:\t0\niff:\tvpn0\n", "pos:\t0\n"});
  process("17", "tunkit", {"pos:\t0\niff:\tvpn0\n"});
  process("99", "other", {"pos:\t0\niff:\tvpn1\n"});
  fs::create_directories(proc / "self" / "fdinfo");  // not a pid
  std::ofstream(proc / "self" / "fdinfo" / "3") << "iff:\tvpn0\n";
  const auto holders = tunkit_cli::find_holders("vpn0", proc);
  fs::remove_all(proc);
  REQUIRE(holders.size() == 2);
  CHECK(holders[0].pid == 17);
  CHECK(holders[0].comm == "tunkit");
  CHECK(holders[0].queues == 1);
  CHECK(holders[1].pid == 4242);
  CHECK(holders[1].comm == "forwarder");
  CHECK(holders[1].queues == 2);
}

namespace {

// The position in the call log of the first call matching `pred`, or the log's size.
template <class Pred>
std::size_t first_call(const std::vector<tunkit::testing::FakeKernel::CallRecord>& calls,
                       Pred pred) {
  return static_cast<std::size_t>(std::find_if(calls.begin(), calls.end(), pred) - calls.begin());
}

}  // namespace

TEST_CASE("tunkit create makes the device persistent after configuring it", "[cli][create]") {
  using Call = tunkit::testing::FakeKernel::Call;
  using Record = tunkit::testing::FakeKernel::CallRecord;
  tunkit::testing::FakeKernel k;
  tunkit_cli::CreatePlan plan;
  plan.options.name = "vpn0";
  plan.options.owner = 1000;
  plan.mtu = 1400;
  plan.addresses = {*tunkit::IpPrefix::try_parse("10.9.0.1/24")};
  plan.up = true;
  auto is_persist = [](const Record& c) {
    return c.call == Call::ioctl && c.request == TUNSETPERSIST && c.arg == 1;
  };
  auto is_netlink_send = [](const Record& c) { return c.call == Call::sendto; };

  SECTION("every step, then persist") {
    CHECK(tunkit_cli::create_device(plan, k) == "vpn0");
    const auto calls = k.calls();
    const std::size_t persist = first_call(calls, is_persist);
    REQUIRE(persist < calls.size());
    CHECK(calls[persist].result == 0);
    std::size_t last_send = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (is_netlink_send(calls[i])) last_send = i;
    }
    CHECK(last_send > 0);
    CHECK(persist > last_send);  // after MTU, address and up
    CHECK(persist > first_call(calls, [](const Record& c) {
            return c.call == Call::ioctl && c.request == TUNSETOWNER;
          }));
    const auto dev = k.device("vpn0");  // outlives the tool's descriptor
    REQUIRE(dev);
    CHECK(dev->persist);
    CHECK(dev->up);
    CHECK(dev->owner == 1000u);
  }
  SECTION("a failed step leaves no device, and persist was never set") {
    k.rtnetlink().fail_next(RTM_NEWADDR, EACCES);
    CHECK_THROWS_AS(tunkit_cli::create_device(plan, k), tunkit::Error);
    CHECK_FALSE(k.device("vpn0"));
    const auto calls = k.calls();
    CHECK(first_call(calls, is_persist) == calls.size());
  }
}
