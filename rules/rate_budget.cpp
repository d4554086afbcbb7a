#include "rules/rate_budget.hpp"

#include <algorithm>
#include <cmath>

namespace komentra::rules {

void rate_budget::configure(double capacity, std::chrono::milliseconds period) {
  tokens_ = configured_ ? std::min(tokens_, capacity) : capacity;
  capacity_ = capacity;
  per_ms_ = capacity / static_cast<double>(std::max<std::int64_t>(1, period.count()));
  configured_ = true;
}

void rate_budget::refill(std::int64_t now_ms) {
  if (last_ms_ != 0 && now_ms > last_ms_)
    tokens_ = std::min(capacity_, tokens_ + static_cast<double>(now_ms - last_ms_) * per_ms_);
  if (now_ms > last_ms_) last_ms_ = now_ms;
}

std::int64_t rate_budget::wait_ms(std::int64_t now_ms) {
  refill(now_ms);
  if (tokens_ >= 1) return 0;
  return static_cast<std::int64_t>(std::ceil((1 - tokens_) / per_ms_));
}

void rate_budget::take() {
  tokens_ -= 1;
}

void rate_budget::give_back() {
  tokens_ = std::min(capacity_, tokens_ + 1);
}

std::int64_t rate_budget::left(std::int64_t now_ms) {
  refill(now_ms);
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(tokens_));
}

}  // namespace komentra::rules
