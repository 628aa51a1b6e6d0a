#pragma once
// A tiny JSON reader for the namespace tests, which cross-check tunkit against `ip -j` output.
// Enough for iproute2's JSON: objects, arrays, strings (with the simple escapes), numbers,
// true/false/null. Throws std::runtime_error on anything else.

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace test::json {

struct Value;
using Object = std::map<std::string, Value, std::less<>>;
using Array = std::vector<Value>;

struct Value {
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> data;

  [[nodiscard]] bool is_object() const { return std::holds_alternative<Object>(data); }
  [[nodiscard]] bool is_array() const { return std::holds_alternative<Array>(data); }
  [[nodiscard]] const Array& array() const { return std::get<Array>(data); }
  [[nodiscard]] const Object& object() const { return std::get<Object>(data); }
  [[nodiscard]] const std::string& str() const { return std::get<std::string>(data); }
  [[nodiscard]] std::int64_t integer() const {
    return static_cast<std::int64_t>(std::get<double>(data));
  }
  // The member `key` of an object, or null when absent (or not an object).
  [[nodiscard]] const Value* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    const auto it = object().find(key);
    return it == object().end() ? nullptr : &it->second;
  }
  // The member's text, or "" when absent or not a string.
  [[nodiscard]] std::string text(std::string_view key) const {
    const Value* v = find(key);
    return v != nullptr && std::holds_alternative<std::string>(v->data) ? v->str() : "";
  }
  // The member's number, or -1 when absent or not a number.
  [[nodiscard]] std::int64_t number(std::string_view key) const {
    const Value* v = find(key);
    return v != nullptr && std::holds_alternative<double>(v->data) ? v->integer() : -1;
  }
};

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Value parse() {
    Value v = value();
    space();
    if (at_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* why) const {
    throw std::runtime_error(std::string("json: ") + why + " at " + std::to_string(at_));
  }
  void space() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\n' || s_[at_] == '\t' || s_[at_] == '\r')) {
      ++at_;
    }
  }
  bool eat(char c) {
    space();
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail("unexpected character");
  }
  bool word(std::string_view w) {
    if (s_.substr(at_, w.size()) != w) return false;
    at_ += w.size();
    return true;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (at_ < s_.size() && s_[at_] != '"') {
      char c = s_[at_++];
      if (c == '\\') {
        if (at_ >= s_.size()) fail("bad escape");
        const char e = s_[at_++];
        switch (e) {
          case 'n':
            c = '\n';
            break;
          case 't':
            c = '\t';
            break;
          case 'u':  // iproute2 escapes only control characters: keep them as '?'
            at_ += 4;
            c = '?';
            break;
          default:
            c = e;  // \" \\ \/
            break;
        }
      }
      out += c;
    }
    expect('"');
    return out;
  }
  Value value() {
    space();
    if (at_ >= s_.size()) fail("unexpected end");
    const char c = s_[at_];
    if (c == '{') {
      ++at_;
      Object o;
      if (eat('}')) return {std::move(o)};
      do {
        space();
        std::string key = string();
        expect(':');
        o.emplace(std::move(key), value());
      } while (eat(','));
      expect('}');
      return {std::move(o)};
    }
    if (c == '[') {
      ++at_;
      Array a;
      if (eat(']')) return {std::move(a)};
      do {
        a.push_back(value());
      } while (eat(','));
      expect(']');
      return {std::move(a)};
    }
    if (c == '"') return {string()};
    if (word("true")) return {true};
    if (word("false")) return {false};
    if (word("null")) return {nullptr};
    const std::size_t start = at_;
    while (at_ < s_.size() &&
           (std::string_view("+-.eE0123456789").find(s_[at_]) != std::string_view::npos)) {
      ++at_;
    }
    if (start == at_) fail("unexpected character");
    return {std::stod(std::string(s_.substr(start, at_ - start)))};
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

inline Value parse(std::string_view text) {
  return Parser(text).parse();
}

}  // namespace test::json
