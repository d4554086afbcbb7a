#include "metrics/metrics.hpp"

#include <map>
#include <memory>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace komentra::metrics {

namespace {

namespace pm = prometheus;

const pm::Histogram::BucketBoundaries latency_buckets{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct families {
  std::shared_ptr<pm::Registry> registry = std::make_shared<pm::Registry>();
  pm::Family<pm::Histogram>& http = pm::BuildHistogram()
                                        .Name("komentra_http_request_duration_seconds")
                                        .Help(
                                            "HTTP requests by route pattern, method and status: "
                                            "time from dispatch to the answer")
                                        .Register(*registry);
  pm::Family<pm::Counter>& webhooks =
      pm::BuildCounter()
          .Name("komentra_webhook_deliveries_total")
          .Help(
              "Webhook deliveries by result (accepted, bad_signature, invalid_payload, "
              "unavailable; bodies over http.body_limit_bytes are "
              "komentra_http_rejected_total{reason=\"body_too_large\"})")
          .Register(*registry);
  pm::Family<pm::Histogram>& journal_rows =
      pm::BuildHistogram()
          .Name("komentra_journal_batch_events")
          .Help("Events per journal transaction (group commit)")
          .Register(*registry);
  pm::Family<pm::Histogram>& journal_commit =
      pm::BuildHistogram()
          .Name("komentra_journal_commit_duration_seconds")
          .Help("Time to store and commit one journal transaction")
          .Register(*registry);
  pm::Family<pm::Histogram>& graph =
      pm::BuildHistogram()
          .Name("komentra_graph_api_request_duration_seconds")
          .Help("Graph API calls by endpoint kind and result class, with latency")
          .Register(*registry);
  pm::Family<pm::Counter>& token_refreshes =
      pm::BuildCounter()
          .Name("komentra_token_refreshes_total")
          .Help("Long-lived access token refreshes by result")
          .Register(*registry);
  pm::Histogram& journal_rows_h = journal_rows.Add(
      {}, pm::Histogram::BucketBoundaries{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000});
  pm::Histogram& journal_commit_h = journal_commit.Add({}, latency_buckets);

  families() {
    // Present from the start, so a rate() over them works before the first event.
    for (auto r : {"accepted", "bad_signature", "invalid_payload", "unavailable"})
      webhooks.Add({{"result", r}});
    for (auto r : {"ok", "failed"}) token_refreshes.Add({{"result", r}});
  }
};

families& fam() {
  static families f;
  return f;
}

// Family::Add locks and hashes the label map; each thread remembers what it looked up.
template <class T, class... Extra>
T& cached(pm::Family<T>& family, const char* tag, std::initializer_list<std::string_view> values,
          const std::vector<std::string>& names, Extra&&... extra) {
  thread_local std::unordered_map<std::string, void*> seen;
  std::string key(tag);
  for (auto v : values) {
    key += '\x1f';
    key += v;
  }
  auto it = seen.find(key);
  if (it != seen.end()) return *static_cast<T*>(it->second);
  std::map<std::string, std::string> l;
  std::size_t i = 0;
  for (auto v : values) l[names[i++]] = std::string(v);
  auto& metric = family.Add(l, std::forward<Extra>(extra)...);
  seen.emplace(std::move(key), &metric);
  return metric;
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
    if (m == known) return known;
  return "other";
}

}  // namespace

void http_request(std::string_view route, std::string_view method, int status, double seconds) {
  static const std::vector<std::string> names{"route", "method", "status"};
  auto code = std::to_string(status);
  cached(fam().http, "http", {route, method_label(method), code}, names, latency_buckets)
      .Observe(seconds);
}

void webhook_delivery(std::string_view result) {
  static const std::vector<std::string> names{"result"};
  cached(fam().webhooks, "webhook", {result}, names).Increment();
}

void journal_commit(std::size_t rows, double seconds) {
  auto& f = fam();
  f.journal_rows_h.Observe(static_cast<double>(rows));
  f.journal_commit_h.Observe(seconds);
}

void graph_call(std::string_view endpoint, std::string_view result, double seconds) {
  static const std::vector<std::string> names{"endpoint", "result"};
  cached(fam().graph, "graph", {endpoint, result}, names, latency_buckets).Observe(seconds);
}

void token_refresh(std::string_view result) {
  static const std::vector<std::string> names{"result"};
  cached(fam().token_refreshes, "token", {result}, names).Increment();
}

void scrape::counter(std::string_view name, std::string_view help, double value, labels l) {
  samples_.push_back({std::string(name), std::string(help), true, value, std::move(l)});
}

void scrape::gauge(std::string_view name, std::string_view help, double value, labels l) {
  samples_.push_back({std::string(name), std::string(help), false, value, std::move(l)});
}

void exporter::add(collector c) {
  std::lock_guard<std::mutex> lock(mtx_);
  collectors_.push_back(std::move(c));
}

std::string exporter::render() const {
  auto all = fam().registry->Collect();
  scrape s;
  {
    std::lock_guard<std::mutex> lock(mtx_);
    for (auto& c : collectors_) c(s);
  }
  // Samples of one name form one family, in the order the names first appear.
  std::map<std::string, std::size_t> index;
  for (auto& x : s.samples()) {
    auto [it, fresh] = index.emplace(x.name, all.size());
    if (fresh) {
      pm::MetricFamily f;
      f.name = x.name;
      f.help = x.help;
      f.type = x.is_counter ? pm::MetricType::Counter : pm::MetricType::Gauge;
      all.push_back(std::move(f));
    }
    pm::ClientMetric m;
    for (auto& [k, v] : x.label) m.label.push_back({k, v});
    if (x.is_counter)
      m.counter.value = x.value;
    else
      m.gauge.value = x.value;
    all[it->second].metric.push_back(std::move(m));
  }
  return pm::TextSerializer().Serialize(all);
}

}  // namespace komentra::metrics
