// The one translation unit that provides main() for CAF unit-test binaries.
#include <caf/test/unit_test_impl.hpp>
