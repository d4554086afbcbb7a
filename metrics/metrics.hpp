#pragma once
/// The process's metrics, in one place. Hot paths record through the free functions
/// below (HTTP requests, webhook deliveries, journal commits, Graph API calls, token
/// refreshes) into one prometheus-cpp registry; each call is thread-safe, takes no global
/// lock once a label set has been seen by the calling thread, and never throws.
/// Components that already keep their own atomic counters (engine, journal, database
/// pool, HTTP server and client) are read at scrape time by collectors registered with an
/// `exporter`, whose render() returns the Prometheus text exposition format.
/// prometheus-cpp stays inside metrics.cpp.

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace komentra::metrics {

/// One request answered by the HTTP router: its route pattern ("/admin/actors/{account_id}",
/// "unmatched"), method, status and time from dispatch to the answer.
void http_request(std::string_view route, std::string_view method, int status, double seconds);

/// One webhook delivery's result: accepted, bad_signature, invalid_payload, unavailable.
void webhook_delivery(std::string_view result);

/// One journal transaction: the events it stored (rows) and the time to commit it.
void journal_commit(std::size_t rows, double seconds);

/// One Graph API call: endpoint kind (public_reply, private_reply, dm, follow_check,
/// verify, refresh_token, ...), result class (ok, transient, throttled, token_invalid,
/// transport_error, ...) and latency.
void graph_call(std::string_view endpoint, std::string_view result, double seconds);

/// One access-token refresh attempt: ok or failed.
void token_refresh(std::string_view result);

using labels = std::vector<std::pair<std::string, std::string>>;

/// What a collector writes at scrape time. Samples of one name must share help and type.
class scrape {
 public:
  void counter(std::string_view name, std::string_view help, double value, labels l = {});
  void gauge(std::string_view name, std::string_view help, double value, labels l = {});

  struct sample {
    std::string name, help;
    bool is_counter = false;
    double value = 0;
    labels label;
  };
  std::vector<sample>& samples() { return samples_; }

 private:
  std::vector<sample> samples_;
};

using collector = std::function<void(scrape&)>;

/// Collectors plus the process registry, rendered together.
class exporter {
 public:
  void add(collector c);
  /// The Prometheus text format (version 0.0.4) of everything recorded and collected.
  std::string render() const;

 private:
  mutable std::mutex mtx_;
  std::vector<collector> collectors_;
};

/// Content-Type of render()'s output.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace komentra::metrics
