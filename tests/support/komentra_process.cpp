#include "tests/support/komentra_process.hpp"

#include <cstdlib>
#include <stdexcept>

namespace komentra::testing {

std::string binary_path(const char* env_var) {
  const char* p = std::getenv(env_var);
  if (!p)
    throw std::runtime_error(std::string(env_var) + " is not set (run the tests through ctest)");
  return p;
}

}  // namespace komentra::testing
