// The sender: performs Graph API calls for account actors over the shared HTTP client,
// retries transient failures with exponential backoff and jitter, and never repeats a
// write whose outcome is unknown until a read shows it did not happen (invariant 4).
#include <random>

#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "http/client.hpp"
#include "metrics/metrics.hpp"
#include "protocol/graph_api.hpp"

namespace komentra::actors {

namespace {

using verify_atom = caf::atom_constant<caf::atom("verify")>;

using steady = std::chrono::steady_clock;

struct attempt {
  send_job job;
  int tries = 0;
  steady::time_point started{};  ///< of the call in progress
};

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

struct sender_state {
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "sender";
};

using sender_ptr = caf::stateful_actor<sender_state>*;

void report(const send_job& job, send_result res) {
  spdlog::debug("account {}: delivery {}: {} {} -> {} (HTTP {})", job.account_id,
                job.row.delivery_id, job.row.kind, job.row.id, res.outcome, res.http_status);
  caf::anon_send(job.reply_to, result_atom::value, std::move(res));
}

send_result result_of(const send_job& job, const http::client_response& r, std::string outcome) {
  send_result res;
  res.row = job.row;
  res.outcome = std::move(outcome);
  res.http_status = r.status;
  res.body = r.body;
  if (!r.ok()) {
    res.error = r.error;
  } else if (auto err = protocol::parse_graph_error(r.body)) {
    res.error = protocol::describe(*err);
  }
  auto usage =
      protocol::parse_usage(r.header("x-app-usage"), r.header("x-business-use-case-usage"));
  res.usage_percent = usage.max_percent;
  res.regain_minutes = usage.regain_minutes;
  if (r.status >= 200 && r.status < 300) res.result_id = protocol::result_id(r.body);
  return res;
}

http::client_request request_of(const send_job& job, const std::string& method,
                                const std::string& path, const std::string& body,
                                std::chrono::milliseconds timeout) {
  http::client_request req;
  req.method = method;
  req.url = job.base_url + path;
  // The token travels in a header, so URLs in logs never carry it.
  req.headers = {{"Authorization", "Bearer " + job.token}};
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  req.timeout = timeout;
  return req;
}

void call(sender_ptr self, const std::shared_ptr<engine_context>& ctx, attempt a) {
  ++ctx->counters->graph_calls;
  auto req = request_of(a.job, a.job.row.method, a.job.row.path, a.job.row.body,
                        ctx->settings.call_timeout);
  a.started = steady::now();
  caf::actor me = caf::actor_cast<caf::actor>(self);
  ctx->graph->send(std::move(req), [me, a](http::client_response r) mutable {
    caf::anon_send(
        me, done_atom::value,
        std::make_shared<std::pair<attempt, http::client_response>>(std::move(a), std::move(r)));
  });
}

// Reads the comment's replies; the verify handler sends only if ours is not there.
void verify(sender_ptr self, const std::shared_ptr<engine_context>& ctx, attempt a) {
  auto path = a.job.row.path + "?fields=id,text,from";
  auto req = request_of(a.job, "GET", path, "", ctx->settings.call_timeout);
  caf::actor me = caf::actor_cast<caf::actor>(self);
  ++ctx->counters->graph_calls;
  a.started = steady::now();
  ctx->graph->send(std::move(req), [me, a](http::client_response v) mutable {
    caf::anon_send(
        me, verify_atom::value,
        std::make_shared<std::pair<attempt, http::client_response>>(std::move(a), std::move(v)));
  });
}

void retry_later(sender_ptr self, const std::shared_ptr<engine_context>& ctx, attempt a) {
  auto base = ctx->settings.retry_base.count() << std::min(a.tries - 1, 10);
  std::uniform_int_distribution<long> jitter(0, base / 2 + 1);
  auto delay = std::chrono::milliseconds(base + jitter(self->state.rng));
  self->delayed_send(self, delay, send_atom::value, std::make_shared<attempt>(std::move(a)));
}

}  // namespace

}  // namespace komentra::actors

using attempt_ptr = std::shared_ptr<komentra::actors::attempt>;
using done_ptr =
    std::shared_ptr<std::pair<komentra::actors::attempt, komentra::http::client_response>>;
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(attempt_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(done_ptr)

namespace komentra::actors {

namespace {

caf::behavior sender_impl(sender_ptr self, std::shared_ptr<engine_context> ctx) {
  return {
      [=](send_atom, send_job& job) {
        bool check = job.row.verify_first && job.row.kind == "public_reply";
        attempt a{std::move(job), 1};
        if (check) return verify(self, ctx, std::move(a));
        call(self, ctx, std::move(a));
      },
      [=](send_atom, attempt_ptr& a) {
        ++a->tries;
        call(self, ctx, std::move(*a));
      },
      [=](done_atom, done_ptr& d) {
        auto& [a, r] = *d;
        auto& row = a.job.row;
        std::optional<protocol::graph_error> err;
        if (r.ok() && (r.status < 200 || r.status >= 300))
          err = protocol::parse_graph_error(r.body);
        auto cls = r.ok() ? protocol::classify(r.status, err) : protocol::outcome::transient;
        metrics::graph_call(row.kind, r.ok() ? protocol::to_string(cls) : "transport_error",
                            seconds_since(a.started));
        if (cls != protocol::outcome::transient) {
          return report(a.job, result_of(a.job, r, protocol::to_string(cls)));
        }
        bool is_read = row.method == "GET";
        bool may_have_happened =
            !is_read &&
            (r.ok() ? protocol::outcome_may_have_happened(r.status, err) : r.request_sent);
        if (may_have_happened) {
          if (row.kind == "public_reply") return verify(self, ctx, std::move(a));
          spdlog::warn("account {}: delivery {}: {} {} outcome unknown ({}); not retried",
                       a.job.account_id, row.delivery_id, row.kind, row.id,
                       r.ok() ? "transient error" : r.error);
          return report(a.job, result_of(a.job, r, "unknown"));
        }
        if (a.tries >= ctx->settings.max_send_attempts)
          return report(a.job, result_of(a.job, r, "transient"));
        retry_later(self, ctx, std::move(a));
      },
      [=](verify_atom, done_ptr& d) {
        auto& [a, v] = *d;
        metrics::graph_call("verify",
                            !v.ok()           ? "transport_error"
                            : v.status == 200 ? "ok"
                                              : "error",
                            seconds_since(a.started));
        if (!v.ok() || v.status != 200) {
          // Cannot tell: leave it unknown rather than risk a second public reply.
          return report(a.job, result_of(a.job, v, "unknown"));
        }
        if (protocol::replies_contain(v.body, a.job.row.body)) {
          auto res = result_of(a.job, v, "ok");
          res.result_id = "verified";
          return report(a.job, std::move(res));
        }
        if (a.tries >= ctx->settings.max_send_attempts)
          return report(a.job, result_of(a.job, v, "transient"));
        retry_later(self, ctx, std::move(a));
      },
  };
}

}  // namespace

caf::actor spawn_sender(caf::actor_system& sys, std::shared_ptr<engine_context> ctx) {
  return sys.spawn(sender_impl, std::move(ctx));
}

}  // namespace komentra::actors
