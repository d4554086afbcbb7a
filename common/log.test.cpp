#define CAF_SUITE log
#include <caf/test/unit_test.hpp>

#include <thread>
#include <vector>

#include "common/log.hpp"

using komentra::log::rate_limited;
using namespace std::chrono_literals;

CAF_TEST(one message per interval gets through and says how many were held back) {
  rate_limited limit(200ms);
  std::uint64_t held = 99;
  CAF_CHECK(limit.allow(held));
  CAF_CHECK_EQUAL(held, 0u);
  for (int i = 0; i < 5; ++i) CAF_CHECK(!limit.allow(held));
  std::this_thread::sleep_for(250ms);
  CAF_CHECK(limit.allow(held));
  CAF_CHECK_EQUAL(held, 5u);
  CAF_CHECK(!limit.allow(held));
}

CAF_TEST(many threads at once let exactly one through) {
  rate_limited limit(10s);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      std::uint64_t held = 0;
      for (int i = 0; i < 1000; ++i)
        if (limit.allow(held)) ++allowed;
    });
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(allowed.load(), 1);
}
