// Every message docs/cli.md quotes from the tunkit tool is the tool's own text: each code span
// of the page that is a message (not a command, a path or a single word) must appear in the
// tool's sources, its words in capitals (NAME, PID, ...) and numbers standing for values.
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The tool's sources with adjacent string literals joined ("ab " "cd" as "ab cd") and \" as ".
std::string tool_text() {
  std::string s;
  for (const char* file : {"main.cpp", "create.hpp", "run.hpp", "system.hpp", "text.hpp"})
    s += read_file(std::string(TUNKIT_SOURCE_DIR) + "/tools/tunkit/" + file);
  s = std::regex_replace(s, std::regex("\"\\s*\n\\s*(R\\()?\""), "");
  s = std::regex_replace(s, std::regex(R"(\\")"), "\"");
  return s;
}

// The code spans of a Markdown page (single backticks; a span may cross a line break, which
// counts as one space), outside indented and fenced code blocks.
std::vector<std::string> code_spans(const std::string& page) {
  std::string prose;
  std::istringstream lines(page);
  bool fenced = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("```")) fenced = !fenced;
    if (fenced || line.starts_with("    ")) {
      prose += "\n\n";
      continue;
    }
    prose += line + "\n";
  }
  std::vector<std::string> spans;
  for (std::size_t at = 0;;) {
    const std::size_t open = prose.find('`', at);
    if (open == std::string::npos) break;
    const std::size_t close = prose.find('`', open + 1);
    if (close == std::string::npos) break;
    std::string span =
        std::regex_replace(prose.substr(open + 1, close - open - 1), std::regex("\\s*\n\\s*"), " ");
    spans.push_back(span);
    at = close + 1;
  }
  return spans;
}

// A span quotes the tool's output unless it is one word or a command line.
bool is_message(const std::string& span) {
  if (span.find(' ') == std::string::npos) return false;
  for (const char* command : {"tunkit ", "ip ", "tcpdump ", "cmake ", "ethtool "}) {
    if (span.starts_with(command)) return false;
  }
  return true;
}

// The literal pieces of a quoted message: split at placeholders (words in capitals, numbers);
// pieces without a lower-case letter are left out. "tunkit: " (or "tunkit COMMAND: " for a
// usage error) is the prefix main() puts on every error.
std::vector<std::string> literal_pieces(std::string span) {
  span = std::regex_replace(span, std::regex("^tunkit( [a-z]+)?: "), "");
  std::vector<std::string> pieces;
  const std::regex placeholder(R"(\b([A-Z][A-Z_|]*|[0-9]+)\b)");
  std::sregex_token_iterator it(span.begin(), span.end(), placeholder, -1), end;
  for (; it != end; ++it) {
    const std::string piece = *it;
    bool has_letter = false;
    for (const char c : piece)
      has_letter = has_letter || std::islower(static_cast<unsigned char>(c)) != 0;
    if (has_letter) pieces.push_back(piece);
  }
  return pieces;
}

}  // namespace

TEST_CASE("docs/cli.md quotes the tunkit tool's messages as the code prints them", "[cli][docs]") {
  const std::string page = read_file(std::string(TUNKIT_SOURCE_DIR) + "/docs/cli.md");
  REQUIRE_FALSE(page.empty());
  const std::string code = tool_text();
  int checked = 0;
  for (const auto& span : code_spans(page)) {
    if (!is_message(span)) continue;
    for (const auto& piece : literal_pieces(span)) {
      INFO("docs/cli.md quotes `" << span << "`; the tool has no \"" << piece << "\"");
      CHECK(code.find(piece) != std::string::npos);
      ++checked;
    }
  }
  CHECK(checked >= 10);
}
