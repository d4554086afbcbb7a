#define CAF_SUITE rate_budget
#include <caf/test/unit_test.hpp>

#include <deque>

#include "rules/rate_budget.hpp"

using namespace komentra::rules;
using namespace std::chrono_literals;

namespace {
// 2026-12-04 08:00 UTC, a whole minute (the start of an hourly budget's slot).
constexpr std::int64_t t0 = 1796299200000;
constexpr std::int64_t minute = 60000;
}  // namespace

CAF_TEST(750 private replies per hour are available at once and the next one after the hour) {
  rate_budget b;
  b.configure(750, 1h);
  for (int i = 0; i < 750; ++i) {
    CAF_REQUIRE_EQUAL(b.wait_ms(t0), 0);
    b.take(t0);
  }
  // Not at half past (a token bucket would have 375 again): once the minute they were sent
  // in is an hour old.
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 30 * minute), 31 * minute);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 61 * minute - 1), 1);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 61 * minute), 0);
  CAF_CHECK_EQUAL(b.left(t0 + 61 * minute), 750);
}

CAF_TEST(sending as fast as allowed never puts more than the capacity in any hour) {
  rate_budget b;
  b.configure(10, 1h);
  std::deque<std::int64_t> sent;
  int total = 0;
  for (std::int64_t t = t0; t < t0 + 5 * 60 * minute; t += 7000) {
    if (b.wait_ms(t) == 0) {
      b.take(t);
      sent.push_back(t);
      ++total;
    }
    while (!sent.empty() && sent.front() <= t - 60 * minute) sent.pop_front();
    CAF_REQUIRE_LESS_OR_EQUAL(sent.size(), 10u);
  }
  // And the budget is used: 10 every 61 minutes over five hours, not fewer.
  CAF_CHECK_EQUAL(total, 50);
}

CAF_TEST(a budget rebuilt from the last hour of sends waits for the oldest to age out) {
  rate_budget b;
  b.configure(10, 1h);
  for (int i = 0; i < 10; ++i) b.take(t0 - 50 * minute + i * 1000);
  // Sent 50 minutes ago, in the minute that stops counting 61 minutes after its start.
  CAF_CHECK_EQUAL(b.left(t0), 0);
  CAF_CHECK_EQUAL(b.wait_ms(t0), 11 * minute);
  // Sends older than the window count nothing.
  rate_budget old;
  old.configure(10, 1h);
  for (int i = 0; i < 10; ++i) old.take(t0 - 62 * minute);
  CAF_CHECK_EQUAL(old.left(t0), 10);
}

CAF_TEST(100 sends per second are a rolling second) {
  rate_budget b;
  b.configure(100, 1s);
  for (int i = 0; i < 100; ++i) b.take(t0 + i);
  CAF_CHECK_GREATER(b.wait_ms(t0 + 500), 0);
  CAF_CHECK_LESS_OR_EQUAL(b.wait_ms(t0 + 500), 520);  // a second and one 16 ms slot
  // A second and one slot after the last send, all 100 again.
  CAF_CHECK_EQUAL(b.left(t0 + 99 + 1000 + 17), 100);
}

CAF_TEST(an action given back is available again) {
  rate_budget b;
  b.configure(1, 1s);
  b.take(t0);
  CAF_CHECK_GREATER(b.wait_ms(t0), 0);
  b.give_back();
  CAF_CHECK_EQUAL(b.wait_ms(t0), 0);
  b.give_back();  // nothing counted: nothing to take back
  CAF_CHECK_EQUAL(b.left(t0), 1);
}

CAF_TEST(a reload keeps what was spent) {
  rate_budget b;
  b.configure(10, 1h);
  for (int i = 0; i < 10; ++i) b.take(t0);
  b.configure(10, 1h);
  CAF_CHECK_GREATER(b.wait_ms(t0), 0);
  b.configure(5, 1h);  // a lower cap never raises what is left
  CAF_CHECK_EQUAL(b.left(t0), 0);
  b.configure(12, 1h);
  CAF_CHECK_EQUAL(b.left(t0), 2);
}

CAF_TEST(time going backwards grants nothing) {
  rate_budget b;
  b.configure(2, 1s);
  b.take(t0);
  b.take(t0);
  CAF_CHECK_GREATER(b.wait_ms(t0 - 10000), 0);
  b.give_back();
  b.take(t0 - 10000);  // counted with the newest
  CAF_CHECK_GREATER(b.wait_ms(t0 + 500), 0);
  CAF_CHECK_EQUAL(b.wait_ms(t0 + 1100), 0);
}
