#pragma once
/// komentra-sim's core: a local Instagram Platform (Graph API with Instagram Login,
/// OAuth, webhooks) plus a control API under /_sim/, served by one http::server. The
/// engine talks to it exactly as to graph.instagram.com; tests and demos drive it through
/// the control API. Specification: shared/reference/instagram-platform.md §9.
///
/// Threads: requests run on the server's threads; all state sits behind one mutex.
/// Webhook deliveries go out through an http::client on its own thread; their timers
/// (batching, retries, duplicates) run on the server's timer.
///
/// Failure: bad requests get Meta's error JSON (or a 4xx JSON for /_sim/), never a crash;
/// start() returns an error message when the port cannot be bound.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace komentra::sim {

struct sim_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int threads = 2;

  std::string app_id = "1000000000000001";       ///< client_id for OAuth
  std::string app_secret = "test_app_secret";    ///< signs webhooks; client_secret for OAuth
  std::string verify_token = "komentra-verify";  ///< sent in the GET handshake

  /// Where deliveries go (the engine's webhook endpoint); empty: deliveries are logged only.
  std::string webhook_url;
  double duplicate_rate = 0.0;  ///< share of deliveries sent twice
  int batch_window_ms = 20;     ///< events within this window share one POST
  int batch_max = 50;           ///< entries per POST at most
  int delivery_timeout_ms = 5000;
  int max_attempts = 6;     ///< first try included
  int retry_base_ms = 500;  ///< backoff: base, 2*base, 4*base, ...
  bool sha1_header = true;  ///< also send the legacy X-Hub-Signature: sha1=...
  /// Only deliver fields an account subscribed to through POST /{ig-id}/subscribed_apps.
  bool require_subscription = false;

  int send_per_second = 100;            ///< Send API calls per account per second (613)
  int private_replies_per_hour = 750;   ///< private replies per account per hour (613)
  int buc_calls_per_hour = 4800;        ///< non-messaging calls per account per hour (80002)
  int app_calls_per_hour = 100000;      ///< all calls of the app per hour (4)
  bool postback_grants_consent = true;  ///< a postback tap allows profile reads (else 230)
  bool wrapped_token_response = false;  ///< code exchange answers {"data":[...]} not flat
  std::uint64_t seed = 0;               ///< randomness (duplicates, fault shares); 0 = random
};

class simulator {
 public:
  explicit simulator(sim_options opts);
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Binds and serves. Returns an error message, empty on success.
  std::string start();
  std::uint16_t port() const;
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace komentra::sim
