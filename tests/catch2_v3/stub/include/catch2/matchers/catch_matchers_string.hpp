#pragma once
// Stand-in for Catch2 v3's header of that name (see lib/cmake/Catch2/Catch2Config.cmake): v3
// names v2's Contains string matcher ContainsSubstring.
#include <catch2/catch.hpp>

#include <string>

namespace Catch::Matchers {
inline StdString::ContainsMatcher ContainsSubstring(const std::string& text,
                                                    CaseSensitive::Choice cs = CaseSensitive::Yes) {
  return Contains(text, cs);
}
}  // namespace Catch::Matchers
