#include "actors/router.hpp"

namespace komentra::actors {

namespace {

struct router_state {
  router_stats stats;
  static inline const char* name = "router";
};

router_actor::behavior_type router_impl(router_actor::stateful_pointer<router_state> self) {
  return {
      [=](events_atom, std::vector<stored_event>& events) {
        for (auto& e : events) {
          ++self->state.stats.events;
          ++self->state.stats.events_per_account[e.event.account_id];
        }
      },
      [=](stats_atom) { return self->state.stats; },
  };
}

}  // namespace

router_actor spawn_router(caf::actor_system& sys) {
  return sys.spawn(router_impl);
}

}  // namespace komentra::actors
