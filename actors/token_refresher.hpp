#pragma once
/// The token refresher: an event-based actor that wakes every `interval` and renews the
/// long-lived access tokens that are due (fact sheet §6: tokens live 60 days and can be
/// renewed once at least 24 h old; a daily job renews those older than about 7 days or
/// with less than 10 days left). Database work runs on the pool and Graph API calls on the
/// HTTP client, so the actor never blocks. A renewed token is stored encrypted and the
/// account actor reloads it; a token Instagram rejects (code 190) or one that expired
/// makes the account reauth_required, pauses its automations and notifies the owner; any
/// other failure is retried at the next wake-up. Tokens are never logged.

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/engine.hpp"
#include "actors/router.hpp"

namespace komentra::actors {

struct token_refresher_settings {
  std::chrono::seconds interval{3600};
  std::chrono::seconds refresh_after{7 * 24 * 3600};
  std::chrono::seconds expiry_margin{10 * 24 * 3600};
  std::size_t batch = 100;  ///< tokens renewed per wake-up at most
};

/// Spawns the refresher; it uses ctx's pool, Graph API client and settings (graph base
/// URL, token key) and tells `router` which accounts to reload.
caf::actor spawn_token_refresher(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                                 router_actor router, token_refresher_settings settings);

}  // namespace komentra::actors
