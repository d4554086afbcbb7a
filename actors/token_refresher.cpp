#include "actors/token_refresher.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "http/client.hpp"
#include "metrics/metrics.hpp"
#include "protocol/graph_api.hpp"
#include "storage/pool.hpp"

using response_ptr = std::shared_ptr<komentra::http::client_response>;
using due_list = std::shared_ptr<std::vector<komentra::storage::token_due>>;
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(response_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(due_list)

namespace komentra::actors {

namespace {

using due_atom = caf::atom_constant<caf::atom("due")>;
using renewed_atom = caf::atom_constant<caf::atom("renewed")>;

struct refresher_state {
  std::shared_ptr<engine_context> ctx;
  router_actor router;
  token_refresher_settings settings;
  std::size_t in_flight = 0;  ///< renewals of this round not settled yet
  static inline const char* name = "token_refresher";
};

using refresher_ptr = caf::stateful_actor<refresher_state>*;

// Runs `job` on the pool; a database that is away only delays the round.
template <class Job>
void on_pool(refresher_ptr self, Job job, const char* what) {
  caf::actor me = caf::actor_cast<caf::actor>(self);
  bool queued = self->state.ctx->db->submit(
      [job, me](pqxx::connection& c) { job(c, me); },
      [what](const std::string& reason) {
        spdlog::warn("token refresher: {} failed: {}; trying at the next round", what, reason);
      });
  if (!queued) spdlog::warn("token refresher: the database queue is full; {} skipped", what);
}

void reauth(refresher_ptr self, const std::string& id, const std::string& reason) {
  ++self->state.ctx->counters->accounts_reauth;
  auto router = self->state.router;
  on_pool(
      self,
      [id, reason, router](pqxx::connection& c, caf::actor) {
        storage::set_account_status(c, id, "reauth_required", reason);
        caf::anon_send(router, reload_atom::value, id);
      },
      "marking an account reauth_required");
}

void renew(refresher_ptr self, storage::token_due due) {
  auto& st = self->state;
  ++st.in_flight;
  http::client_request req;
  req.url = st.ctx->settings.graph_base_url + protocol::refresh_token_target(due.token);
  req.timeout = st.ctx->settings.call_timeout;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto id = due.account_id;
  st.ctx->graph->send(std::move(req), [me, id](http::client_response r) {
    caf::anon_send(me, renewed_atom::value, id,
                   std::make_shared<http::client_response>(std::move(r)));
  });
}

void settle(refresher_ptr self, const std::string& id, const http::client_response& r) {
  auto& st = self->state;
  --st.in_flight;
  auto token = r.ok() && r.status == 200 ? protocol::parse_access_token(r.body) : std::nullopt;
  if (token) {
    metrics::token_refresh("ok");
    auto key = st.ctx->settings.token_key_hex;
    auto router = st.router;
    on_pool(
        self,
        [id, token = *token, key, router](pqxx::connection& c, caf::actor) {
          storage::store_refreshed_token(c, id, token.token, key, token.expires_in_s);
          caf::anon_send(router, reload_atom::value, id);
          spdlog::info("token refresher: account {}: access token renewed ({} s left)", id,
                       token.expires_in_s);
        },
        "storing a renewed token");
    return;
  }
  metrics::token_refresh("failed");
  auto err = r.ok() ? protocol::parse_graph_error(r.body) : std::nullopt;
  auto cls = r.ok() ? protocol::classify(r.status, err) : protocol::outcome::transient;
  std::string detail = !r.ok() ? r.error
                       : err   ? protocol::describe(*err)
                               : "HTTP " + std::to_string(r.status);
  if (cls == protocol::outcome::token_invalid) {
    spdlog::warn("token refresher: account {}: Instagram refused to renew the token ({})", id,
                 detail);
    return reauth(self, id, "Instagram rejected the access token; reconnect the account");
  }
  spdlog::warn("token refresher: account {}: renewal failed ({}); trying at the next round", id,
               detail);
}

void round(refresher_ptr self) {
  auto& st = self->state;
  if (st.in_flight > 0) return;  // the last round is still waiting for answers
  auto key = st.ctx->settings.token_key_hex;
  auto s = st.settings;
  on_pool(
      self,
      [key, s](pqxx::connection& c, caf::actor me) {
        for (auto& id : storage::accounts_with_expired_tokens(c))
          caf::anon_send(me, due_atom::value, id);
        auto due = std::make_shared<std::vector<storage::token_due>>(
            storage::tokens_due(c, key, s.refresh_after, s.expiry_margin, s.batch));
        caf::anon_send(me, due_atom::value, due);
      },
      "looking for tokens to renew");
}

caf::behavior refresher_impl(refresher_ptr self, std::shared_ptr<engine_context> ctx,
                             router_actor router, token_refresher_settings settings) {
  self->state.ctx = std::move(ctx);
  self->state.router = std::move(router);
  self->state.settings = settings;
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        round(self);
        self->delayed_send(self, self->state.settings.interval, tick_atom::value);
      },
      [=](due_atom, const std::string& expired_id) {
        spdlog::warn("token refresher: account {}: the access token expired", expired_id);
        reauth(self, expired_id,
               "the access token expired before it could be renewed; reconnect the account");
      },
      [=](due_atom, due_list& due) {
        if (!due->empty())
          spdlog::info("token refresher: renewing {} access token(s)", due->size());
        for (auto& d : *due) renew(self, std::move(d));
      },
      [=](renewed_atom, const std::string& id, response_ptr& r) { settle(self, id, *r); },
  };
}

}  // namespace

caf::actor spawn_token_refresher(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                                 router_actor router, token_refresher_settings settings) {
  return sys.spawn(refresher_impl, std::move(ctx), std::move(router), settings);
}

}  // namespace komentra::actors
