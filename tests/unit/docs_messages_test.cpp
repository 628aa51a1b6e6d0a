// The messages docs/troubleshooting.md quotes for text that does not parse are the library's own:
// each is produced here by the call that fails and looked up, word for word, in the page.
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "catch.hpp"
#include "tunkit/address.hpp"
#include "tunkit/error.hpp"
#include "tunkit/mac.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The message of the tunkit::Error `call` throws, without the "tunkit: " every message starts with
// (the page quotes them without it).
std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const tunkit::Error& e) {
    std::string what = e.what();
    if (what.starts_with("tunkit: ")) what = what.substr(8);
    return what;
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("docs/troubleshooting.md quotes the parse errors as the library words them",
          "[docs][error]") {
  const std::string page = read_file(std::string(TUNKIT_SOURCE_DIR) + "/docs/troubleshooting.md");
  REQUIRE_FALSE(page.empty());
  const std::function<void()> calls[] = {
      [] { (void)tunkit::MacAddress::parse("aa:bb"); },
      [] { (void)tunkit::IpPrefix::parse("10.0.0.1/33"); },
      [] { (void)tunkit::IpAddress::parse("10.0.0.300"); },
  };
  for (const auto& call : calls) {
    const std::string quoted = "`" + message_of(call) + "`";
    INFO("docs/troubleshooting.md should quote " << quoted);
    CHECK(page.find(quoted) != std::string::npos);
  }
}
