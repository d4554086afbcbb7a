#pragma once
/// Test support: the child-process runner of common/ plus where ctest put the programs.

#include <string>

#include "common/child_process.hpp"

namespace komentra::testing {

using komentra::child_process;

/// Path of a built program, from the environment variable ctest sets (e.g.
/// KOMENTRA_BINARY); throws when unset.
std::string binary_path(const char* env_var);

}  // namespace komentra::testing
