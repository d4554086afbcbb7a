#include "actors/router.hpp"

#include <caf/logger.hpp>

#include <deque>
#include <map>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/json_writer.hpp"
#include "common/memory.hpp"
#include "rules/decide.hpp"
#include "storage/pool.hpp"

namespace komentra::actors {

namespace {

using steady = std::chrono::steady_clock;

struct live_actor {
  caf::actor actor;
  std::string account_id;
};

struct router_state {
  router_stats stats;
  std::shared_ptr<engine_context> ctx;
  std::map<std::string, caf::actor> accounts;
  /// Crash times (engine clock, ms) per account within the crash window.
  std::map<std::string, std::deque<std::int64_t>> crash_history;
  /// Accounts found not connected, until when their events are dropped here.
  std::unordered_map<std::string, steady::time_point> unknown;
  /// Every live account actor by address, with its account id: shared with the router's
  /// exit hook (which runs after the state is gone) so they all stop with the router.
  std::shared_ptr<std::map<caf::actor_addr, live_actor>> live =
      std::make_shared<std::map<caf::actor_addr, live_actor>>();
  std::size_t gone_since_trim = 0;  ///< account actors stopped since memory was last trimmed
  static inline const char* name = "router";
};

using router_ptr = router_actor::stateful_pointer<router_state>;

// The allocator keeps what account actors freed, pinned by the few live chunks around it:
// after a wave of passivations glibc's RSS stayed at ~7 KB per account without a trim, 0.1 KB
// with one. A trim or purge of a large heap takes ~100 ms, so it runs on its own thread, once
// per trim_every actors gone.
constexpr std::size_t trim_every = 4096;

void count_gone(router_ptr self) {
  if (++self->state.gone_since_trim < trim_every) return;
  self->state.gone_since_trim = 0;
  self->system().spawn<caf::detached>([] { memory::give_back_freed_memory(); });
}

// Nothing retries this either: an event whose mark is lost stays undecided and is decided
// by its account's actor at the next start.
void record_own(router_ptr self, std::vector<storage::skipped_event> own) {
  auto counters = self->state.ctx->counters;
  auto events = std::make_shared<std::vector<storage::skipped_event>>(std::move(own));
  self->state.ctx->db->submit_in_transaction(
      [events, counters](storage::shared_tx& tx) -> storage::pool::after_commit {
        auto n = storage::record_skips(tx, *events);
        return [counters, n] {
          counters->events += n;
          counters->skipped += n;
          counters->own_events += n;
        };
      },
      [](const std::string& why) {
        spdlog::warn(
            "could not record our own comments and echoes: {}; their accounts' actors "
            "decide them at the next start",
            why);
      });
}

caf::actor& actor_for(router_ptr self, const std::string& id) {
  auto& st = self->state;
  auto& actor = st.accounts[id];
  if (!actor) {
    actor = spawn_account(self->system(), st.ctx, id);
    self->monitor(actor);
    (*st.live)[actor.address()] = {actor, id};
    // The actor tells us when it is idle; it needs our handle for that.
    caf::anon_send(actor, passivate_atom::value, caf::actor_cast<caf::actor>(self));
  }
  return actor;
}

bool known_unknown(router_state& st, const std::string& id) {
  auto it = st.unknown.find(id);
  if (it == st.unknown.end()) return false;
  if (steady::now() < it->second) return true;
  st.unknown.erase(it);
  return false;
}

void remember_unknown(router_state& st, const std::string& id) {
  auto now = steady::now();
  if (st.unknown.size() >= 100000)  // bounded: forget the expired ones first
    for (auto it = st.unknown.begin(); it != st.unknown.end();)
      it = it->second <= now ? st.unknown.erase(it) : std::next(it);
  if (st.unknown.size() < 100000) st.unknown[id] = now + st.ctx->settings.unknown_account_ttl;
}

void on_down(router_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto it = st.live->find(dm.source);
  if (it == st.live->end()) return;
  auto id = std::move(it->second.account_id);
  st.live->erase(it);
  auto acc = st.accounts.find(id);
  if (acc != st.accounts.end() && acc->second.address() == dm.source) st.accounts.erase(acc);
  count_gone(self);
  if (!dm.reason || dm.reason == caf::exit_reason::normal ||
      dm.reason == caf::exit_reason::user_shutdown)
    return;
  // A crash: restart with state reloaded, unless it keeps crashing.
  auto& history = st.crash_history[id];
  auto now = st.ctx->now_ms();
  auto window =
      std::chrono::duration_cast<std::chrono::milliseconds>(st.ctx->settings.crash_window);
  history.push_back(now);
  while (!history.empty() && now - history.front() > window.count()) history.pop_front();
  ++st.ctx->counters->account_restarts;
  auto reason = self->system().render(dm.reason);
  if (static_cast<int>(history.size()) > st.ctx->settings.crash_limit) {
    ++st.ctx->counters->accounts_faulted;
    spdlog::error(
        "account {}: crashed {} times within {} s ({}); marked faulted, automations paused", id,
        history.size(), st.ctx->settings.crash_window.count(), reason);
    auto message = "The account's automation crashed repeatedly (" + reason +
                   "); it is paused until the account is reconnected.";
    st.ctx->db->submit(
        [id, message](pqxx::connection& c) {
          storage::set_account_status(c, id, "faulted", message);
        },
        [id](const std::string& err) {
          spdlog::error("account {}: could not record the faulted status: {}", id, err);
        });
    history.clear();
    return;
  }
  spdlog::warn("account {}: actor crashed ({}); restarting with its state reloaded", id, reason);
  actor_for(self, id);
}

}  // namespace

router_actor spawn_router(caf::actor_system& sys, std::shared_ptr<engine_context> ctx) {
  return sys.spawn([ctx](router_ptr self) -> router_actor::behavior_type {
    self->state.ctx = ctx;
    self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
    // Account actors do not outlive the router.
    self->attach_functor([live = self->state.live](const caf::error&) {
      for (auto& [addr, a] : *live) caf::anon_send_exit(a.actor, caf::exit_reason::user_shutdown);
    });
    return {
        [=](events_atom, std::vector<stored_event>& events) {
          auto& st = self->state;
          std::vector<storage::journal_key> ignored;
          std::vector<storage::skipped_event> own;
          for (auto& e : events) {
            ++st.stats.events;
            if (!st.ctx) {
              ++st.stats.events_per_account[e.event.account_id];
              continue;
            }
            if (known_unknown(st, e.event.account_id)) {
              ignored.push_back({e.event.account_id, e.journal_id});
              continue;
            }
            // Our own comments and DM echoes (two per answered comment) of an account whose
            // actor is alive (so it is connected) are recorded here in bulk: no actor hop, no
            // statement per event. An account without an actor gets its actor, which finds
            // out whether it is connected.
            if (st.accounts.count(e.event.account_id)) {
              if (auto d = rules::decide_own(e.event)) {
                own.push_back({e.journal_id, std::move(e.event), d->outcome});
                continue;
              }
            }
            caf::anon_send(actor_for(self, e.event.account_id), event_atom::value, std::move(e));
          }
          if (!own.empty()) record_own(self, std::move(own));
          if (ignored.empty()) return;
          // Nothing retries this: an event whose mark is lost stays undecided and is seen
          // again at the next start.
          st.ctx->db->submit_in_transaction(
              [ignored](storage::shared_tx& tx) -> storage::pool::after_commit {
                storage::mark_processed(tx.work, ignored);
                return {};
              },
              {});
        },
        [=](unknown_atom, const std::string& id) { remember_unknown(self->state, id); },
        [=](stats_atom) { return self->state.stats; },
        [=](reload_atom, const std::string& id) {
          self->state.unknown.erase(id);  // connected (or changed) now
          auto it = self->state.accounts.find(id);
          if (it != self->state.accounts.end()) {
            caf::anon_send(it->second, reload_atom::value);
          } else {
            // Not running: started now, so actions that waited for a reconnect go at once
            // (it passivates again when idle).
            actor_for(self, id);
          }
        },
        [=](remove_atom, const std::string& id) {
          auto it = self->state.accounts.find(id);
          if (it == self->state.accounts.end()) return;
          spdlog::info("account {}: removed; its actor stops now", id);
          self->demonitor(it->second);
          self->state.live->erase(it->second.address());
          caf::anon_send_exit(it->second, caf::exit_reason::user_shutdown);
          self->state.accounts.erase(it);
        },
        [=](state_atom, const std::string& id) -> caf::result<std::string> {
          auto it = self->state.accounts.find(id);
          if (it == self->state.accounts.end()) {
            json::writer w;
            w.begin_object().field("account_id", id).field("status", "passivated").end_object();
            return w.take();
          }
          auto rp = self->make_response_promise<std::string>();
          self->request(it->second, std::chrono::seconds(2), state_atom::value)
              .then([rp](std::string& s) mutable { rp.deliver(std::move(s)); },
                    [rp, id](caf::error&) mutable {
                      rp.deliver("{\"account_id\":" + json::quote(id) + ",\"status\":\"busy\"}");
                    });
          return rp;
        },
        [=](list_atom) -> caf::result<std::string> {
          auto& st = self->state;
          auto rp = self->make_response_promise<std::string>();
          if (st.accounts.empty()) {
            rp.deliver(std::string("[]"));
            return rp;
          }
          auto parts = std::make_shared<std::vector<std::string>>();
          auto left = std::make_shared<std::size_t>(st.accounts.size());
          auto finish = [rp, parts]() mutable {
            std::string out = "[";
            for (std::size_t i = 0; i < parts->size(); ++i) out += (i ? "," : "") + (*parts)[i];
            rp.deliver(out + "]");
          };
          for (auto& [id, e] : st.accounts)
            self->request(e, std::chrono::seconds(2), state_atom::value)
                .then(
                    [=](std::string& s) mutable {
                      parts->push_back(std::move(s));
                      if (--*left == 0) finish();
                    },
                    [=](caf::error&) mutable {
                      if (--*left == 0) finish();
                    });
          return rp;
        },
        [=](start_atom, const std::vector<std::string>& ids) {
          for (auto& id : ids) actor_for(self, id);
        },
        [=](replay_atom, const std::string& id, const std::string& replay_id,
            journal_batch_ptr& batch) {
          if (!self->state.ctx) return;
          caf::anon_send(actor_for(self, id), replay_atom::value, replay_id, std::move(batch));
        },
        [=](passivate_atom, const std::string& id) {
          auto it = self->state.accounts.find(id);
          if (it == self->state.accounts.end()) return;
          // No more events go to it; it finishes what it has, then stops.
          caf::anon_send(it->second, passivate_atom::value);
          self->state.accounts.erase(it);
        },
    };
  });
}

void ask_router(caf::actor_system& sys, const router_actor& router,
                std::chrono::milliseconds timeout, caf::message request,
                std::function<void(std::string)> ok, std::function<void(std::string)> fail) {
  // spawn() from a thread CAF does not own (an HTTP or database pool thread) leaves the
  // system's logger referenced from that thread, and ~actor_system waits for the logger to
  // go: shutdown would hang while that thread lives. The reference is dropped again.
  bool foreign_thread = caf::logger::current_logger() == nullptr;
  auto untyped = caf::actor_cast<caf::actor>(router);
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(untyped, timeout, request)
        .then([=](std::string& s) { ok(std::move(s)); },
              [=](caf::error& err) { fail(self->system().render(err)); });
  });
  if (foreign_thread) caf::logger::set_current_actor_system(nullptr);
}

void resume_unfinished_work(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                            router_actor router) {
  sys.spawn([ctx, router](caf::event_based_actor* self) -> caf::behavior {
    self->send(self, run_atom::value);
    return {
        [=](run_atom) {
          caf::actor me = caf::actor_cast<caf::actor>(self);
          auto again = [me](const std::string& why) {
            spdlog::warn(
                "could not look for work left from before the last stop: {}; trying "
                "again in 5 s",
                why);
            caf::delayed_anon_send(me, std::chrono::seconds(5), run_atom::value);
          };
          bool queued = ctx->db->submit(
              [me, router](pqxx::connection& c) {
                auto ids = storage::accounts_with_unfinished_work(c);
                if (!ids.empty()) {
                  spdlog::info("resuming {} account(s) with work left from before the last stop",
                               ids.size());
                  caf::anon_send(router, start_atom::value, std::move(ids));
                }
                caf::anon_send(me, done_atom::value);
              },
              again);
          if (!queued) again("database queue full");
        },
        [=](done_atom) { self->quit(); },
    };
  });
}

}  // namespace komentra::actors
