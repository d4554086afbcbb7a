#include "rules/rate_budget.hpp"

#include <algorithm>

namespace komentra::rules {

namespace {
constexpr std::int64_t slots_per_period = 60;
}

void rate_budget::configure(int capacity, std::chrono::milliseconds period) {
  capacity_ = std::max(0, capacity);
  auto ms = std::max<std::int64_t>(1, period.count());
  if (ms != period_ms_) {
    // Slot numbers depend on the slot length: a new period starts an empty window (the
    // account actor's periods are fixed, so this is the first call).
    slots_.clear();
    counted_ = 0;
  }
  period_ms_ = ms;
  slot_ms_ = std::max<std::int64_t>(1, ms / slots_per_period);
}

void rate_budget::expire(std::int64_t now_ms) {
  auto gone = std::find_if(slots_.begin(), slots_.end(),
                           [&](const slot& s) { return leaves_at(s.index) > now_ms; });
  for (auto it = slots_.begin(); it != gone; ++it) counted_ -= it->count;
  slots_.erase(slots_.begin(), gone);
  if (slots_.empty()) slots_.shrink_to_fit();
}

std::int64_t rate_budget::wait_ms(std::int64_t now_ms) {
  expire(now_ms);
  if (counted_ < capacity_) return 0;
  if (capacity_ == 0) return period_ms_;
  // The wait ends when enough old slots have left for one more action.
  std::int32_t over = counted_ - capacity_ + 1;
  for (auto& s : slots_) {
    over -= s.count;
    if (over <= 0) return leaves_at(s.index) - now_ms;
  }
  return period_ms_;
}

void rate_budget::take(std::int64_t at_ms) {
  auto index = at_ms / slot_ms_;
  ++counted_;
  // A time before the newest slot (the clock stepped back) counts in the newest slot.
  if (!slots_.empty() && slots_.back().index >= index) {
    ++slots_.back().count;
    return;
  }
  slots_.push_back({index, 1});
}

void rate_budget::give_back() {
  if (slots_.empty()) return;
  --counted_;
  if (--slots_.back().count == 0) slots_.pop_back();
}

std::int64_t rate_budget::left(std::int64_t now_ms) {
  expire(now_ms);
  return std::max<std::int64_t>(0, capacity_ - counted_);
}

}  // namespace komentra::rules
