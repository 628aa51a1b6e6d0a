#pragma once
// tunkit 0.1 path, kept for 0.2: use <tunkit/testing/netns_sandbox.hpp>
#include "tunkit/testing/netns_sandbox.hpp"
