#pragma once
/// Process-wide logging set-up over spdlog: human-readable text or one JSON object per
/// line (the message JSON-escaped, so any text is safe to log). Call setup() once in
/// main before other threads start; spdlog's default logger is then used everywhere.
/// Never pass secrets (tokens, app secrets, passwords, session ids) to a log call.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace komentra::log {

enum class format { text, json };

/// Installs the default logger writing to stderr. `level` is an spdlog level name.
void setup(format fmt, const std::string& level);

/// Lets one message of a kind through per interval and counts the others, for a failure
/// that strikes everywhere at once (a database outage fails every account's writes: one
/// line per interval says so, not thousands). Thread-safe.
class rate_limited {
 public:
  explicit rate_limited(std::chrono::milliseconds interval) : interval_ms_(interval.count()) {}
  /// True when this one should be logged; `suppressed` is then how many were held back
  /// since the last one logged.
  bool allow(std::uint64_t& suppressed);

 private:
  std::int64_t interval_ms_;
  std::atomic<std::int64_t> next_ms_{0};
  std::atomic<std::uint64_t> held_{0};
};

}  // namespace komentra::log
