// main() of the namespace tests: decides once whether network namespaces can be made here.
// When they cannot, every test reports itself skipped with the reason (exit 77, CTest's
// SKIP_RETURN_CODE), except under CI=true, where a skip is a failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tunkit/testing/netns_sandbox.hpp"

#if TUNKIT_CATCH2_V3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char** argv) {
  using tunkit::testing::NetNsSandbox;
  // Listing tests (CTest discovery) needs no namespace.
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--list", 6) == 0) listing = true;
  }
  if (!listing) {
    auto why = NetNsSandbox::prepare_process();
    if (!why) why = NetNsSandbox::unavailable_reason();
    if (why) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::strcmp(ci, "true") == 0) {
        std::fprintf(stderr, "FAILED: namespace tests cannot run under CI: %s\n", why->c_str());
        return 1;
      }
      std::printf("skipped: %s\n", why->c_str());
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
