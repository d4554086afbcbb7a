// The sender: performs Graph API calls for account actors over the shared HTTP client,
// retries transient failures with exponential backoff and jitter, and never repeats a
// write whose outcome is unknown until a read shows it did not happen (invariant 4): the
// read waits engine.verify_delay_ms first, because a write slower than the call's
// deadline may still land, and a read made before it would have it sent twice.
#include <random>

#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "http/client.hpp"
#include "metrics/metrics.hpp"
#include "protocol/graph_api.hpp"

namespace komentra::actors {

namespace {

using verify_atom = caf::atom_constant<caf::atom("verify")>;
using checked_atom = caf::atom_constant<caf::atom("checked")>;

using steady = std::chrono::steady_clock;

struct attempt {
  send_job job;
  int tries = 0;                 ///< writes made
  int checks = 0;                ///< read-backs made
  int pages = 0;                 ///< further pages of the read-back in progress
  std::string page;              ///< that page's path (empty: the first)
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

std::optional<protocol::write_check> check_of(const attempt& a) {
  if (a.job.row.method == "GET") return std::nullopt;
  return protocol::check_for_write(a.job.row.path, a.job.row.body, a.job.row.recipient_id);
}

// Reads whether the write happened; the checked handler writes again only if it did not.
// A write that is its own check (a private reply) is sent again at once.
void verify(sender_ptr self, const std::shared_ptr<engine_context>& ctx, attempt a) {
  auto check = check_of(a);
  if (check->how == protocol::write_check::method::send_again) {
    ++a.tries;
    return call(self, ctx, std::move(a));
  }
  auto req = request_of(a.job, "GET", a.page.empty() ? check->path : a.page, "",
                        ctx->settings.call_timeout);
  caf::actor me = caf::actor_cast<caf::actor>(self);
  ++ctx->counters->graph_calls;
  ++a.checks;
  a.started = steady::now();
  ctx->graph->send(std::move(req), [me, a](http::client_response v) mutable {
    caf::anon_send(
        me, checked_atom::value,
        std::make_shared<std::pair<attempt, http::client_response>>(std::move(a), std::move(v)));
  });
}

std::chrono::milliseconds backoff(sender_ptr self, const std::shared_ptr<engine_context>& ctx,
                                  int n) {
  auto base = ctx->settings.retry_base.count() << std::min(n - 1, 10);
  std::uniform_int_distribution<long> jitter(0, base / 2 + 1);
  return std::chrono::milliseconds(base + jitter(self->state.rng));
}

void retry_later(sender_ptr self, const std::shared_ptr<engine_context>& ctx, attempt a) {
  auto delay = backoff(self, ctx, a.tries);
  self->delayed_send(self, delay, send_atom::value, std::make_shared<attempt>(std::move(a)));
}

void verify_later(sender_ptr self, std::chrono::milliseconds delay, attempt a) {
  self->delayed_send(self, delay, verify_atom::value, std::make_shared<attempt>(std::move(a)));
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
        attempt a{std::move(job), 1, 0, 0, {}, {}};
        // A write cut off in flight by a crash is read back first (after the same wait);
        // one that cannot be read back stays unknown. A read is simply made again.
        if (a.job.row.verify_first && a.job.row.method != "GET") {
          if (check_of(a)) return verify_later(self, ctx->settings.verify_delay, std::move(a));
          http::client_response none;
          none.error = "interrupted while in flight";
          return report(a.job, result_of(a.job, none, "unknown"));
        }
        call(self, ctx, std::move(a));
      },
      [=](send_atom, attempt_ptr& a) {
        ++a->tries;
        call(self, ctx, std::move(*a));
      },
      [=](verify_atom, attempt_ptr& a) { verify(self, ctx, std::move(*a)); },
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
        bool may_have_happened =
            row.method != "GET" &&
            (r.ok() ? protocol::outcome_may_have_happened(r.status, err) : r.request_sent);
        if (may_have_happened) {
          auto check = check_of(a);
          bool resend_left = a.tries < ctx->settings.max_send_attempts;
          if (check && (resend_left || check->how != protocol::write_check::method::send_again))
            return verify_later(self, ctx->settings.verify_delay, std::move(a));
          spdlog::warn("account {}: delivery {}: {} {} outcome unknown ({}); not retried",
                       a.job.account_id, row.delivery_id, row.kind, row.id,
                       r.ok() ? "transient error" : r.error);
          return report(a.job, result_of(a.job, r, "unknown"));
        }
        if (a.tries >= ctx->settings.max_send_attempts)
          // No connection at all (refused, unresolvable, no TLS): nothing reached Meta, so
          // this is an outage, not a failing action; the account tries again later.
          return report(a.job, result_of(a.job, r, r.ok() ? "transient" : "unreachable"));
        retry_later(self, ctx, std::move(a));
      },
      [=](checked_atom, done_ptr& d) {
        auto& [a, v] = *d;
        metrics::graph_call("verify",
                            !v.ok()           ? "transport_error"
                            : v.status == 200 ? "ok"
                                              : "error",
                            seconds_since(a.started));
        if (!v.ok() || v.status != 200) {
          // Cannot tell yet: read again later; only after the last read leave it unknown
          // rather than risk a second copy.
          if (a.checks < ctx->settings.max_send_attempts)
            return verify_later(self, backoff(self, ctx, a.checks), std::move(a));
          if (!v.ok()) {
            // Meta could not be reached to read back: the account tries again later, and
            // reads back first then too.
            a.job.row.verify_first = true;
            return report(a.job, result_of(a.job, v, "unreachable"));
          }
          spdlog::warn("account {}: delivery {}: {} {} outcome unknown (read-back failed: HTTP {})",
                       a.job.account_id, a.job.row.delivery_id, a.job.row.kind, a.job.row.id,
                       v.status);
          return report(a.job, result_of(a.job, v, "unknown"));
        }
        if (protocol::check_finds(*check_of(a), v.body, a.job.row.body, a.job.row.recipient_id)) {
          auto res = result_of(a.job, v, "ok");
          res.result_id = "verified";
          return report(a.job, std::move(res));
        }
        // Not on this page: a comment with many replies lists ours on a later one.
        if (auto next = protocol::next_page_path(v.body); !next.empty() && a.pages < 20) {
          a.page = std::move(next);
          ++a.pages;
          return verify(self, ctx, std::move(a));
        }
        a.page.clear();
        a.pages = 0;
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
