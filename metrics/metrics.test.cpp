#define CAF_SUITE metrics
#include <caf/test/unit_test.hpp>

#include "metrics/metrics.hpp"

using namespace komentra;

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

CAF_TEST(recorded requests appear as a histogram by route method and status) {
  metrics::http_request("/admin/actors/{account_id}", "GET", 200, 0.003);
  metrics::http_request("/admin/actors/{account_id}", "GET", 200, 0.2);
  metrics::http_request("unmatched", "BREW", 404, 0.001);
  metrics::exporter e;
  auto text = e.render();
  CAF_CHECK(has(text, "# TYPE komentra_http_request_duration_seconds histogram"));
  CAF_CHECK(has(text,
                "komentra_http_request_duration_seconds_count{method=\"GET\",route=\"/admin/"
                "actors/{account_id}\",status=\"200\"} 2"));
  CAF_CHECK(has(text, "method=\"other\",route=\"unmatched\",status=\"404\""));
}

CAF_TEST(result counters exist before anything happened) {
  metrics::exporter e;
  auto text = e.render();
  CAF_CHECK(has(text, "komentra_webhook_deliveries_total{result=\"bad_signature\"} 0"));
  CAF_CHECK(has(text, "komentra_token_refreshes_total{result=\"ok\"} 0"));
}

CAF_TEST(collected samples of one name form one family) {
  metrics::exporter e;
  e.add([](metrics::scrape& s) {
    s.counter("komentra_outbox_actions_total", "Actions by state", 3, {{"state", "sent"}});
    s.gauge("komentra_account_actors", "Live account actors", 2);
    s.counter("komentra_outbox_actions_total", "Actions by state", 1, {{"state", "failed"}});
  });
  auto text = e.render();
  CAF_CHECK(has(text,
                "# TYPE komentra_outbox_actions_total counter\n"
                "komentra_outbox_actions_total{state=\"sent\"} 3\n"
                "komentra_outbox_actions_total{state=\"failed\"} 1\n"));
  CAF_CHECK(has(text, "# TYPE komentra_account_actors gauge\nkomentra_account_actors 2\n"));
}
