#pragma once
/// The simulator's webhook sender: batches queued events into Meta envelopes
/// ({"object":"instagram","entry":[...]}, changes entries timed in seconds, messaging
/// entries in milliseconds), signs the exact body (X-Hub-Signature-256, optionally the
/// legacy sha1 header) and POSTs it with http::client; non-2xx answers and time-outs are
/// retried with exponential backoff; a configurable share is delivered twice. Every
/// attempt is logged. Thread-safe; timers run through the `schedule` function given.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "http/client.hpp"

namespace komentra::sim {

struct webhook_event {
  std::string account_id;
  bool messaging = false;  ///< entry.messaging[] item (else entry.changes[])
  std::string item_json;   ///< the change {"value":..,"field":..} or the messaging object
};

struct sender_settings {
  std::string url;
  std::string app_secret;
  double duplicate_rate = 0;
  int batch_window_ms = 20;
  int batch_max = 50;
  int timeout_ms = 5000;
  int max_attempts = 6;
  int retry_base_ms = 500;
  bool sha1_header = true;
};

struct delivery_record {
  std::uint64_t seq = 0;
  std::uint64_t delivery_id = 0;  ///< same for retries and duplicates of one body
  int attempt = 1;
  bool duplicate = false;
  std::int64_t at_ms = 0;  ///< simulator clock, when the attempt finished
  std::string url;
  std::string body;
  std::string signature;  ///< the X-Hub-Signature-256 value
  int status = 0;
  std::string error;
  std::int64_t latency_us = 0;
  int entries = 0;
};

class webhook_sender {
 public:
  using clock_fn = std::function<std::chrono::system_clock::time_point()>;
  using schedule_fn = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

  webhook_sender(sender_settings s, clock_fn now, schedule_fn schedule, std::uint64_t seed);
  ~webhook_sender();

  void enqueue(webhook_event ev);
  /// The body for a batch of events at time `now` (exposed for tests).
  static std::string envelope(const std::vector<webhook_event>& events,
                              std::chrono::system_clock::time_point now);
  /// "sha256=<hex>" of body under secret.
  static std::string signature(const std::string& secret, const std::string& body);

  sender_settings settings() const;
  void update(const std::function<void(sender_settings&)>& change);
  std::vector<delivery_record> log(std::uint64_t since_seq) const;
  /// Events queued plus deliveries in flight or waiting for a retry.
  std::size_t pending() const;
  void reset();
  /// Abandons what is queued, in flight or waiting for a retry (nothing is flushed) and
  /// stops the client; prompt, whatever the webhook URL does.
  void stop();

 private:
  void abandon_pending();  ///< under mtx_
  void flush();
  void deliver(std::uint64_t id, std::string body, int entries, int attempt, bool duplicate);

  mutable std::mutex mtx_;
  sender_settings s_;
  clock_fn now_;
  schedule_fn schedule_;
  std::mt19937_64 rng_;
  std::vector<webhook_event> queue_;
  bool flush_scheduled_ = false;
  std::size_t in_flight_ = 0;
  std::uint64_t next_seq_ = 1, next_id_ = 1, generation_ = 0;
  std::vector<delivery_record> log_;
  std::unique_ptr<http::client> client_;
};

}  // namespace komentra::sim
