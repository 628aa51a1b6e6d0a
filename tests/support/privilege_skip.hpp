#pragma once
// What a namespace test does when the kernel refuses it a privilege that only the initial user
// namespace (real root) has: it skips that part, saying which privilege and what the kernel
// answered, instead of failing. This happens when the suite runs without privileges in a user +
// network namespace (`./dev test --rootless`, or `./dev test` as a normal user).
//
// The privileges a test may find missing are the Privilege values below, and only those: a test
// detects the missing privilege by trying (the kernel answers EPERM or EACCES, or the ids it
// needs are not mapped) and then calls skip_without_privilege().
//
// The rule for CI:
//  - CI=true without TUNKIT_TEST_ROOTLESS=1 (CI as root): a skip is a failure, as every other
//    skip of the namespace tests is, so that root CI never silently skips.
//  - CI=true with TUNKIT_TEST_ROOTLESS=1 (the rootless CI run): these privilege skips are
//    allowed; nothing else may skip (a namespace that cannot be made still fails). The program
//    refuses TUNKIT_TEST_ROOTLESS=1 when it runs as root (see netns_main.cpp).
// A test program in which something was skipped and nothing failed exits 77 (CTest's
// SKIP_RETURN_CODE: the test is reported as skipped). When TUNKIT_TEST_SKIP_LOG names a file,
// each skip appends a line "TEST NAME<tab>REASON" to it (./dev test --rootless prints them).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "catch.hpp"

namespace tunkit_test {

// The privileges the namespace tests may lack when run in an unprivileged user namespace.
enum class Privilege {
  bpf,             // bpf(BPF_PROG_LOAD): CAP_BPF, unless kernel.unprivileged_bpf_disabled is 0
  napi_frags,      // IFF_NAPI_FRAGS: CAP_NET_ADMIN in the initial user namespace
  host_run_netns,  // a file under the host's /run/netns and a bind mount there (as `ip netns add`)
  unmapped_ids,    // owner/group ids other than the user's own: only a privileged parent maps them
};

inline const char* privilege_name(Privilege p) {
  switch (p) {
    case Privilege::bpf:
      return "bpf(BPF_PROG_LOAD) needs CAP_BPF in the initial user namespace (or "
             "kernel.unprivileged_bpf_disabled=0)";
    case Privilege::napi_frags:
      return "IFF_NAPI_FRAGS needs CAP_NET_ADMIN in the initial user namespace";
    case Privilege::host_run_netns:
      return "naming a namespace in /run/netns needs write access to it and a mount there (root)";
    case Privilege::unmapped_ids:
      return "owner and group ids other than the user's own need a user namespace that maps them "
             "(an unprivileged one maps only the user's own ids)";
  }
  return "?";
}

inline bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, value) == 0;
}

// Whether `id` is mapped in this process's user namespace; `map` is "/proc/self/uid_map" or
// "/proc/self/gid_map" (lines "FIRST-INSIDE FIRST-OUTSIDE COUNT").
inline bool id_mapped(const char* map, unsigned long id) {
  FILE* f = std::fopen(map, "r");
  if (f == nullptr) return false;
  unsigned long inside = 0;
  unsigned long outside = 0;
  unsigned long count = 0;
  bool mapped = false;
  while (!mapped && std::fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
    mapped = id >= inside && id - inside < count;
  std::fclose(f);
  return mapped;
}

// The run is named rootless (./dev test --rootless): privilege skips are allowed under CI=true.
inline bool rootless_run() {
  return env_is("TUNKIT_TEST_ROOTLESS", "1");
}

// Whether anything was skipped in this program (its exit status is then 77 unless it failed).
inline bool& skipped_something() {
  static bool skipped = false;
  return skipped;
}

// Appends "TEST<tab>REASON" to the file TUNKIT_TEST_SKIP_LOG names, if any.
inline void log_skip(const std::string& test, const std::string& reason) {
  if (const char* log = std::getenv("TUNKIT_TEST_SKIP_LOG"); log != nullptr && *log != '\0') {
    if (FILE* f = std::fopen(log, "a"); f != nullptr) {
      std::fprintf(f, "%s\t%s\n", test.c_str(), reason.c_str());
      std::fclose(f);
    }
  }
}

// Skips (the rest of) the calling test because the kernel refused `p`; `observed` is what it
// answered (e.g. "operation not permitted"). The caller then returns, or goes on without the
// part that needs the privilege. Under CI=true without TUNKIT_TEST_ROOTLESS=1 this is a test
// failure instead (and ends the test).
inline void skip_without_privilege(Privilege p, const std::string& observed) {
  const std::string reason = std::string(privilege_name(p)) + " (" + observed + ")";
  if (env_is("CI", "true") && !rootless_run()) {
    FAIL("a privilege is missing under CI=true (only TUNKIT_TEST_ROOTLESS=1 allows this skip): "
         << reason);
  }
  skipped_something() = true;
  WARN("skipped: " << reason);
  log_skip(Catch::getResultCapture().getCurrentTestName(), reason);
}

}  // namespace tunkit_test
