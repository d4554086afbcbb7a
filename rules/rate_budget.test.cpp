#define CAF_SUITE rate_budget
#include <caf/test/unit_test.hpp>

#include "rules/rate_budget.hpp"

using namespace komentra::rules;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t t0 = 1796299200000;
}

CAF_TEST(750 private replies per hour are available at once and then one every 4.8 seconds) {
  rate_budget b;
  b.configure(750, 1h);
  for (int i = 0; i < 750; ++i) {
    CAF_REQUIRE_EQUAL(b.wait_ms(t0), 0);
    b.take();
  }
  CAF_CHECK_EQUAL(b.wait_ms(t0), 4800);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 4799), 1);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 4800), 0);
  CAF_CHECK_EQUAL(b.left(t0 + 3600 * 1000), 750);  // never more than the capacity
}

CAF_TEST(a token given back is available again) {
  rate_budget b;
  b.configure(1, 1s);
  b.take();
  CAF_CHECK_GREATER(b.wait_ms(t0), 0);
  b.give_back();
  CAF_CHECK_EQUAL(b.wait_ms(t0), 0);
}

CAF_TEST(a reload keeps what was spent) {
  rate_budget b;
  b.configure(10, 1h);
  for (int i = 0; i < 10; ++i) b.take();
  b.configure(10, 1h);
  CAF_CHECK_GREATER(b.wait_ms(t0), 0);
  b.configure(5, 1h);  // a lower cap never raises the tokens
  CAF_CHECK_EQUAL(b.left(t0), 0);
}

CAF_TEST(time going backwards grants nothing) {
  rate_budget b;
  b.configure(2, 1s);
  b.wait_ms(t0);
  b.take();
  b.take();
  CAF_CHECK_GREATER(b.wait_ms(t0 - 10000), 0);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 500), 0);
}
