#pragma once
/// A token bucket: the per-account rate budget of one action class (private replies per
/// hour, sends per second, public replies per hour). `capacity` tokens, refilled
/// continuously at `capacity` per `period`. Pure: the caller passes the time, so tests
/// and the account actor agree on it. Not thread-safe (one owner, the account actor).

#include <chrono>
#include <cstdint>

namespace komentra::rules {

class rate_budget {
 public:
  /// Sets the rate. The first call starts full; later calls (a reload of the account's
  /// settings) keep what was spent, so a reload never grants a fresh budget.
  void configure(double capacity, std::chrono::milliseconds period);

  /// Milliseconds until one token is available at `now_ms` (0: available now).
  std::int64_t wait_ms(std::int64_t now_ms);
  /// Takes one token (call after wait_ms returned 0; may go below zero otherwise).
  void take();
  /// Returns a token taken for an action that turned out not to be needed.
  void give_back();
  /// Whole tokens left at `now_ms`.
  std::int64_t left(std::int64_t now_ms);
  double capacity() const { return capacity_; }

 private:
  void refill(std::int64_t now_ms);
  double capacity_ = 1, tokens_ = 1, per_ms_ = 0;
  std::int64_t last_ms_ = 0;
  bool configured_ = false;
};

}  // namespace komentra::rules
