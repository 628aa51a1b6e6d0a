// Links tunkit::testing from the installed package.
#include <tunkit/testing/netns.hpp>

int main() {
  // Only proves the symbol resolves; the namespace tests exercise it for real.
  auto* probe = &tunkit::testing::NetnsSandbox::unavailable_reason;
  return probe == nullptr ? 1 : 0;
}
