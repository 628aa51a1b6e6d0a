#pragma once
// The test programs share one main() (catch_impl.cpp with Catch2 v2; with v3 netns_main.cpp has
// its own). Each program defines this hook, which runs before any test: a value >= 0 ends the
// program with that exit status instead of running the tests. after_tests() gets the tests' exit
// status and returns the program's.
namespace tunkit_test {
int before_tests(int argc, char** argv);
int after_tests(int status);
}  // namespace tunkit_test
