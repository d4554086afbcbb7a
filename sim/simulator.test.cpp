#define CAF_SUITE simulator
#include <caf/test/unit_test.hpp>
CAF_TEST(placeholder) {}
