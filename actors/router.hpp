#pragma once
/// The router and supervisor of account actors. It receives every newly stored webhook
/// event from the journal and hands it to the actor of the account it belongs to,
/// spawning that actor on the account's first event. It watches the actors: a crashed
/// one is restarted at once (its state is reloaded from PostgreSQL); more than
/// crash_limit crashes within crash_window put the account in 'faulted' and pause its
/// automations. Idle actors ask to be passivated. An account found not connected is
/// remembered for engine.unknown_account_ttl_s (or until it is connected): its events are
/// then marked decided in bulk instead of each costing an actor and a database load.
/// Event-based; never blocks.
/// Without an engine context (tests of the journal) it only counts events.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/engine.hpp"

namespace komentra::actors {

using passivate_atom = caf::atom_constant<caf::atom("passivate")>;

using router_actor = caf::typed_actor<
    caf::reacts_to<events_atom, std::vector<stored_event>>,
    caf::replies_to<stats_atom>::with<router_stats>,
    caf::reacts_to<reload_atom, std::string>,                     ///< automations changed
    caf::reacts_to<remove_atom, std::string>,                     ///< account disconnected
    caf::replies_to<state_atom, std::string>::with<std::string>,  ///< one actor's state JSON
    caf::replies_to<list_atom>::with<std::string>,                ///< all actors' states JSON
    caf::reacts_to<start_atom, std::vector<std::string>>,         ///< spawn (journal replay)
    caf::reacts_to<passivate_atom, std::string>,
    caf::reacts_to<unknown_atom, std::string>,  ///< no such connected account
    /// account id, replay id (logs), journal events to decide again
    caf::reacts_to<replay_atom, std::string, std::string, journal_batch_ptr>>;

router_actor spawn_router(caf::actor_system& sys, std::shared_ptr<engine_context> ctx = nullptr);

/// At start-up: starts the actors of accounts with work left from before the last stop
/// (storage::accounts_with_unfinished_work), asking the database again every 5 s until it
/// answers.
void resume_unfinished_work(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                            router_actor router);

/// Asks the router for a JSON answer (state of one account, list of all) from any thread
/// without blocking: a short-lived actor sends the request and hands the answer to `ok`, or
/// what went wrong to `fail`, on a CAF thread.
void ask_router(caf::actor_system& sys, const router_actor& router,
                std::chrono::milliseconds timeout, caf::message request,
                std::function<void(std::string)> ok, std::function<void(std::string)> fail);

}  // namespace komentra::actors
