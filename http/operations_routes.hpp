#pragma once
/// The operator's surface: GET /metrics (Prometheus text format: the process registry of
/// metrics/ plus the engine's, journal's, database pool's and HTTP server's and client's
/// own counters, read at scrape time) and the admin routes, which need
/// `Authorization: Bearer <admin_token>` (compared in constant time; wrong, missing, or no
/// admin_token configured → 401):
///   GET  /admin/actors                    every live account actor's state
///   GET  /admin/actors/{account_id}       one actor's state (or "passivated")
///   POST /admin/accounts/{id}/replay?from=T&to=T[&limit=N]
///                                         decide the account's journal events received
///                                         in [from, to) again (see record_decision)
///   POST /admin/webhook-check[?url=U]     the set-up self-check: sends Meta's
///                                         verification GET to the public callback URL
///                                         (or U) and says whether Meta would accept it
/// Actor states come from the actors themselves through the router, asked by a
/// short-lived event-based actor, so no HTTP thread and no actor ever blocks; the journal
/// is read on the database pool. Every handler answers within a deadline.

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/journal.hpp"
#include "actors/router.hpp"
#include "http/router.hpp"

namespace komentra::storage {
class pool;
}

namespace komentra::http {

class server;
class client;

struct operations_context {
  std::string admin_token;      ///< empty: every admin route answers 401
  std::string verify_token;     ///< meta.verify_token, for the self-check
  std::string public_base_url;  ///< the self-check's default callback is under it
  server* srv = nullptr;
  storage::pool* db = nullptr;
  client* graph = nullptr;  ///< outgoing Graph API client (stats), may be null
  caf::actor_system* actors = nullptr;
  actors::router_actor router;
  std::shared_ptr<actors::engine_counters> engine;
  actors::journal_handle journal;
};

/// Adds /metrics and /admin/*, and has `r` time every request for the metrics.
void add_operations_routes(router& r, operations_context ctx);

/// Whether an Authorization header carries `Bearer <token>` (false for an empty token).
bool bearer_matches(std::string_view authorization, const std::string& token);

}  // namespace komentra::http
