#include "http/operations_routes.hpp"

#include <regex>

#include <spdlog/spdlog.h>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "common/url.hpp"
#include "http/client.hpp"
#include "http/health_routes.hpp"
#include "http/server.hpp"
#include "metrics/metrics.hpp"
#include "protocol/handshake_check.hpp"
#include "storage/engine_store.hpp"
#include "storage/pool.hpp"

namespace komentra::http {

namespace {

namespace ms = std::chrono;

constexpr std::size_t default_replay_limit = 1000;
constexpr std::size_t max_replay_limit = 10000;
constexpr ms::milliseconds admin_deadline{5000};

response unauthorized() {
  auto res = response::error(401, "unauthorized",
                             "admin routes need 'Authorization: Bearer <admin_token>' "
                             "(KOMENTRA_ADMIN_TOKEN; empty disables them)");
  res.headers.emplace_back("WWW-Authenticate", "Bearer");
  return res;
}

// Asks the router and completes from the answer.
void ask(const operations_context& ctx, responder respond,
         std::function<response(std::string)> to_response, caf::message request) {
  actors::ask_router(
      *ctx.actors, ctx.router, ms::seconds(4), std::move(request),
      [respond, to_response](std::string s) { respond(to_response(std::move(s))); },
      [respond](std::string err) {
        respond(response::unavailable("the account actors did not answer: " + err, 5));
      });
}

void collect(const operations_context& ctx, metrics::scrape& s) {
  auto& e = *ctx.engine;
  auto v = [](auto& atomic) { return static_cast<double>(atomic.load()); };
  s.counter("komentra_rule_evaluations_total",
            "Events decided (by account actors; our own comments and echoes by the router)",
            v(e.events));
  s.counter("komentra_rule_matches_total", "Events an automation matched", v(e.matched));
  s.counter("komentra_rule_skips_total", "Events decided with a skip reason", v(e.skipped));
  s.counter("komentra_own_events_total",
            "Our own comments and DM echoes recorded by the router without an account actor",
            v(e.own_events));
  s.counter("komentra_events_replayed_total", "Journal events decided again on request",
            v(e.events_replayed));
  s.gauge("komentra_account_actors", "Live account actors", v(e.actors_active));
  s.counter("komentra_account_actors_spawned_total", "Account actors started", v(e.actors_spawned));
  s.counter("komentra_account_passivations_total", "Account actors stopped for being idle",
            v(e.actors_passivated));
  s.counter("komentra_account_restarts_total", "Account actors restarted after a crash",
            v(e.account_restarts));
  s.counter("komentra_accounts_faulted_total",
            "Accounts paused after crashing more than engine.crash_limit times",
            v(e.accounts_faulted));
  s.counter("komentra_accounts_reauth_required_total",
            "Accounts paused because Instagram rejected their access token", v(e.accounts_reauth));
  s.gauge("komentra_account_mailbox_events",
          "Events waiting in account actors to be decided, summed over actors",
          v(e.waiting_events));
  s.counter("komentra_account_mailbox_spills_total",
            "Events left in the journal because an actor's backlog reached "
            "engine.mailbox_high_watermark",
            v(e.mailbox_spills));
  const char* actions_help =
      "Outbox actions by state: planned (handed to a sender), sent, "
      "failed, unknown (outcome unknown, never resent)";
  s.counter("komentra_outbox_actions_total", actions_help, v(e.actions_planned),
            {{"state", "planned"}});
  s.counter("komentra_outbox_actions_total", actions_help, v(e.actions_sent), {{"state", "sent"}});
  s.counter("komentra_outbox_actions_total", actions_help, v(e.actions_failed),
            {{"state", "failed"}});
  s.counter("komentra_outbox_actions_total", actions_help, v(e.actions_unknown),
            {{"state", "unknown"}});
  s.gauge("komentra_outbox_actions_queued", "Actions waiting for a rate budget or a throttle",
          v(e.queued_actions));
  s.gauge("komentra_outbox_actions_in_flight", "Graph API calls in progress", v(e.in_flight));
  s.counter("komentra_graph_api_throttled_total", "Graph API answers that paused an account",
            v(e.throttled));
  s.counter("komentra_graph_api_unreachable_deferrals_total",
            "Actions put back to wait because the Graph API could not be reached",
            v(e.actions_deferred));
  s.counter("komentra_budget_waits_total", "Actions that had to wait for a rate budget",
            v(e.budget_waits));
  s.counter("komentra_budget_wait_seconds_total",
            "Time actions were scheduled to wait for rate budgets or throttles",
            v(e.budget_wait_ms) / 1000.0);

  auto& j = ctx.journal.counters();
  s.counter("komentra_webhook_events_total", "Webhook events by result", v(j.events_stored),
            {{"result", "stored"}});
  s.counter("komentra_webhook_events_total", "Webhook events by result", v(j.duplicates),
            {{"result", "duplicate"}});
  s.counter("komentra_journal_commits_total", "Journal transactions committed", v(j.commits));
  s.counter("komentra_journal_failures_total", "Deliveries the journal could not store",
            v(j.failures));
  s.gauge("komentra_journal_pending", "Deliveries waiting for the journal", v(j.pending));

  auto srv = ctx.srv->stats();
  s.gauge("komentra_http_connections_open", "Open HTTP connections",
          static_cast<double>(srv.open_connections));
  const char* rejected = "HTTP connections or requests refused before routing";
  s.counter("komentra_http_rejected_total", rejected, static_cast<double>(srv.rejected_connections),
            {{"reason", "connection_limit"}});
  s.counter("komentra_http_rejected_total", rejected, static_cast<double>(srv.body_too_large),
            {{"reason", "body_too_large"}});
  s.counter("komentra_http_rejected_total", rejected, static_cast<double>(srv.headers_too_large),
            {{"reason", "headers_too_large"}});
  if (ctx.graph) {
    auto c = ctx.graph->stats();
    s.counter("komentra_http_client_requests_total", "Outgoing HTTP requests (Graph API, OAuth)",
              static_cast<double>(c.requests));
    s.counter("komentra_http_client_failures_total", "Outgoing requests without an HTTP answer",
              static_cast<double>(c.failures));
    s.counter("komentra_http_client_connections_total", "Outgoing requests by connection",
              static_cast<double>(c.connections_opened), {{"connection", "new"}});
    s.counter("komentra_http_client_connections_total", "Outgoing requests by connection",
              static_cast<double>(c.connections_reused), {{"connection", "reused"}});
  }
  auto p = ctx.db->snapshot();
  s.gauge("komentra_db_pool_connections", "Database pool workers", static_cast<double>(p.size));
  s.gauge("komentra_db_pool_busy", "Database pool workers running a job",
          static_cast<double>(p.busy));
  s.gauge("komentra_db_pool_connected", "Database pool workers with an open connection",
          static_cast<double>(p.connected));
  s.gauge("komentra_db_pool_queued", "Database jobs waiting for a worker",
          static_cast<double>(p.queued));
}

bool plausible_time(const std::string& s) {
  // PostgreSQL parses the value; this only keeps odd input (and 'now', 'epoch') out.
  static const std::regex iso(
      R"(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)");
  return s.size() <= 40 && std::regex_match(s, iso);
}

void replay(const operations_context& ctx, const request& req, const std::string& id,
            responder respond) {
  auto from = req.query_param("from");
  auto to = req.query_param("to");
  if (!from || !to || !plausible_time(*from) || !plausible_time(*to))
    return respond(response::error(
        400, "invalid_range",
        "from and to are required ISO 8601 times, e.g. ?from=2026-01-01T00:00:00Z&to=2026-01-02"));
  std::size_t limit = default_replay_limit;
  if (auto l = req.query_param("limit")) {
    char* end = nullptr;
    auto n = std::strtoull(l->c_str(), &end, 10);
    if (l->empty() || *end || n == 0 || n > max_replay_limit)
      return respond(response::error(400, "invalid_limit",
                                     "limit is 1 to " + std::to_string(max_replay_limit)));
    limit = n;
  }
  auto replay_id = "replay-" + crypto::to_hex(crypto::random_bytes(6));
  auto router = ctx.router;
  bool queued = ctx.db->submit(
      [=, from = *from, to = *to](pqxx::connection& c) {
        actors::journal_batch_ptr batch;
        try {
          {
            pqxx::read_transaction tx(c);
            if (tx.exec_params("SELECT 1 FROM ig_accounts WHERE id = $1", id).empty())
              return respond(response::error(404, "not_found", "no connected account " + id));
            if (!tx.exec_params1("SELECT $1::timestamptz < $2::timestamptz", from, to)[0]
                     .as<bool>())
              return respond(response::error(400, "invalid_range", "from must be before to"));
          }
          batch = std::make_shared<std::vector<storage::journal_entry>>(
              storage::load_journal_range(c, id, from, to, limit));
        } catch (const pqxx::data_exception& e) {
          return respond(response::error(400, "invalid_range", e.what()));
        }
        auto n = static_cast<std::int64_t>(batch->size());
        spdlog::info(
            "admin: delivery {}: replaying {} journal event(s) of account {} from {} to {}",
            replay_id, n, id, from, to);
        if (n > 0) caf::anon_send(router, actors::replay_atom::value, id, replay_id, batch);
        json::writer w;
        w.begin_object().field("account_id", id).field("replay_id", replay_id);
        w.field("events", n).field("truncated", static_cast<std::size_t>(n) == limit);
        w.end_object();
        respond(response::json(202, w.take()));
      },
      [respond](const std::string& reason) { respond(response::unavailable(reason, 5)); });
  if (!queued) respond(response::unavailable("the database queue is full", 5));
}

// Sends Meta's verification GET, without browser headers, as Meta does.
void webhook_check(const operations_context& ctx, const request& req, responder respond) {
  auto base = ctx.public_base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto target = req.query_param("url").value_or(base + "/webhooks/instagram");
  if (target.rfind("http://", 0) != 0 && target.rfind("https://", 0) != 0)
    return respond(response::error(400, "invalid_url", "url must start with http:// or https://"));
  auto verdict = [target](bool ok, const std::string& problem) {
    json::writer w;
    w.begin_object().field("url", target).field("ok", ok);
    if (!ok) w.field("problem", problem);
    w.end_object();
    return response::json(200, w.take());
  };
  if (ctx.verify_token.empty())
    return respond(verdict(false,
                           "meta.verify_token is not set (KOMENTRA_META_VERIFY_TOKEN); "
                           "Meta's verification needs it"));
  if (!ctx.graph) return respond(response::unavailable("no HTTP client", 5));
  std::uint32_t n = 0;
  for (unsigned char b : crypto::random_bytes(4)) n = n << 8 | b;
  auto challenge = std::to_string(100000000 + n % 900000000);  // nine digits, as Meta sends
  client_request get;
  get.url = target + (target.find('?') == std::string::npos ? "?" : "&") +
            "hub.mode=subscribe&hub.verify_token=" + url::encode(ctx.verify_token) +
            "&hub.challenge=" + challenge;
  get.timeout = ms::seconds(4);
  ctx.graph->send(std::move(get), [respond, verdict, challenge, target](client_response r) {
    if (!r.ok()) {
      spdlog::warn("admin: webhook check of {}: cannot reach it: {}", target, r.error);
      return respond(verdict(false, "cannot reach the callback URL: " + r.error));
    }
    auto problem =
        protocol::handshake_problem(r.status, r.header("content-type"), r.body, challenge);
    spdlog::info("admin: webhook check of {}: {}", target, problem.empty() ? "ok" : problem);
    respond(verdict(problem.empty(), problem));
  });
}

}  // namespace

bool bearer_matches(std::string_view authorization, const std::string& token) {
  constexpr std::string_view scheme = "Bearer ";
  if (token.empty() || authorization.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i])))
      return false;
  return crypto::constant_time_equal(authorization.substr(scheme.size()), token);
}

void add_operations_routes(router& r, operations_context ctx) {
  r.observe([](std::string_view pattern, std::string_view method, int status,
               ms::steady_clock::duration d) {
    metrics::http_request(pattern, method, status, ms::duration<double>(d).count());
  });
  auto shared = std::make_shared<operations_context>(std::move(ctx));
  auto exporter = std::make_shared<metrics::exporter>();
  exporter->add([shared](metrics::scrape& s) { collect(*shared, s); });
  r.add("GET", "/metrics", [exporter](request&&, const path_params&, responder respond) {
    response res{200, metrics::content_type, exporter->render(), {}};
    respond(std::move(res));
  });

  // Wraps an admin handler: the token first, then a deadline.
  auto admin = [shared](auto handle) {
    return [shared, handle](request&& req, const path_params& p, responder respond) {
      if (!bearer_matches(req.header("authorization"), shared->admin_token)) {
        spdlog::warn("admin: {} {} refused: wrong or missing bearer token (from {})", req.method,
                     req.path, req.remote_address);
        return respond(unauthorized());
      }
      respond = with_deadline(*shared->srv, admin_deadline, respond,
                              response::unavailable("no answer within the deadline", 5));
      handle(*shared, req, p, std::move(respond));
    };
  };
  r.add(
      "GET", "/admin/actors",
      admin([](const operations_context& c, const request&, const path_params&, responder respond) {
        ask(
            c, respond,
            [](std::string list) { return response::json(200, "{\"actors\":" + list + "}"); },
            caf::make_message(actors::list_atom::value));
      }));
  r.add("GET", "/admin/actors/{account_id}",
        admin([](const operations_context& c, const request&, const path_params& p,
                 responder respond) {
          ask(
              c, respond, [](std::string state) { return response::json(200, std::move(state)); },
              caf::make_message(actors::state_atom::value, p.at("account_id")));
        }));
  r.add("POST", "/admin/webhook-check",
        admin([](const operations_context& c, const request& req, const path_params&,
                 responder respond) { webhook_check(c, req, std::move(respond)); }));
  r.add("POST", "/admin/accounts/{id}/replay",
        admin([](const operations_context& c, const request& req, const path_params& p,
                 responder respond) { replay(c, req, p.at("id"), std::move(respond)); }));
}

}  // namespace komentra::http
