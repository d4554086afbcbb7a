#pragma once
/// The per-account rate budget of one action class (private replies per hour, sends per
/// second, public replies per hour): at most `capacity` actions in any window of `period`,
/// which is how Meta counts its limits (a rolling hour). A token bucket would let twice the
/// capacity through within one hour (the full bucket, then its refill).
/// Actions are counted in slots of period/60; a slot leaves the window one period after it
/// ends, so the count is never below the exact rolling count and an action waits at most one
/// slot (a minute, for an hour) longer than it must. Only slots with actions are kept: an
/// account that sent nothing in the last period holds no memory for it.
/// Pure: the caller passes the time, so tests and the account actor agree on it. Not
/// thread-safe (one owner, the account actor).

#include <chrono>
#include <cstdint>
#include <vector>

namespace komentra::rules {

class rate_budget {
 public:
  /// Sets the rate. A later call (a reload of the account's settings) keeps what was
  /// counted, so a reload never grants a fresh budget.
  void configure(int capacity, std::chrono::milliseconds period);

  /// Milliseconds until one more action is allowed at `now_ms` (0: now).
  std::int64_t wait_ms(std::int64_t now_ms);
  /// Counts one action at `at_ms` (now, or a past action's time, in ascending order, when the
  /// budget is rebuilt from the outbox).
  void take(std::int64_t at_ms);
  /// Takes back the latest action counted (one that turned out not to be needed).
  void give_back();
  /// Actions still allowed at `now_ms`.
  std::int64_t left(std::int64_t now_ms);
  int capacity() const { return capacity_; }

 private:
  struct slot {
    std::int64_t index;  ///< time / slot_ms_
    std::int32_t count;
  };
  void expire(std::int64_t now_ms);
  /// When slot `index` stops counting.
  std::int64_t leaves_at(std::int64_t index) const { return (index + 1) * slot_ms_ + period_ms_; }
  std::vector<slot> slots_;  ///< oldest first
  std::int32_t capacity_ = 1, counted_ = 0;
  std::int64_t period_ms_ = 1, slot_ms_ = 1;
};

}  // namespace komentra::rules
