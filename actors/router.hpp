#pragma once
/// The router receives every newly stored webhook event from the journal and hands it
/// to the account it belongs to. Until account actors exist it counts events per
/// account (visible through stats). Event-based; never blocks.

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace komentra::actors {

using router_actor = caf::typed_actor<caf::reacts_to<events_atom, std::vector<stored_event>>,
                                      caf::replies_to<stats_atom>::with<router_stats>>;

router_actor spawn_router(caf::actor_system& sys);

}  // namespace komentra::actors
