#pragma once
/// The automation engine's shared pieces: what every account and sender actor needs
/// (database pool, Graph API client, settings), the account actor's and sender's
/// messages, and the spawn functions. The router owns the account actors (one per
/// connected Instagram account, spawned on its first event, passivated when idle,
/// restarted by the router after a crash).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "common/log.hpp"
#include "storage/engine_store.hpp"

namespace komentra::storage {
class pool;
}
namespace komentra::http {
class client;
}

namespace komentra::actors {

using event_atom = caf::atom_constant<caf::atom("event")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using state_atom = caf::atom_constant<caf::atom("state")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
/// An account actor runs a task on itself (its database jobs' outcomes, its timers).
using run_atom = caf::atom_constant<caf::atom("run")>;

/// Engine-wide counters, read by /metrics and the demo's progress line.
struct engine_counters {
  std::atomic<std::uint64_t> events{0}, matched{0}, skipped{0}, actions_planned{0}, actions_sent{0},
      actions_failed{0}, actions_unknown{0}, public_replies{0}, dms{0}, throttled{0},
      account_restarts{0}, accounts_faulted{0}, accounts_reauth{0}, actors_spawned{0},
      actors_passivated{0}, graph_calls{0}, budget_waits{0};
  /// Actions put back to wait because the Graph API could not be reached (an outage).
  std::atomic<std::uint64_t> actions_deferred{0};
  /// Our own comments and DM echoes the router recorded in bulk (no actor decided them).
  std::atomic<std::uint64_t> own_events{0};
  std::atomic<std::int64_t> actors_active{0}, queued_actions{0};
  /// Scheduled waits for a rate budget or a throttle, summed (ms).
  std::atomic<std::uint64_t> budget_wait_ms{0};
  /// Events re-decided on an operator's request; events left in the journal because an
  /// actor's backlog was at engine.mailbox_high_watermark.
  std::atomic<std::uint64_t> events_replayed{0}, mailbox_spills{0};
  /// Events waiting in account actors to be decided, and Graph API calls in progress,
  /// summed over the live actors.
  std::atomic<std::int64_t> waiting_events{0}, in_flight{0};
};

struct engine_settings {
  std::string graph_base_url = "https://graph.instagram.com";
  std::string facebook_graph_base_url = "https://graph.facebook.com";
  std::string graph_version = "v25.0";
  std::string token_key_hex;
  std::string link_base_url;  ///< "<public url>/l/"
  std::chrono::seconds passivate_after{300};
  std::chrono::seconds unknown_account_ttl{60};
  std::size_t mailbox_high_watermark = 1000;
  int public_replies_per_hour = 200;
  int max_send_attempts = 5;
  std::chrono::milliseconds retry_base{500};
  /// How long an action that cannot reach the Graph API keeps waiting for it.
  std::chrono::hours unreachable_give_up{24};
  std::chrono::milliseconds call_timeout{10000};
  /// Before a write whose answer was lost is read back: a write slower than call_timeout
  /// may still land, and a read made before it would send it a second time.
  std::chrono::milliseconds verify_delay{10000};
  int crash_limit = 3;  ///< restarts allowed within crash_window
  std::chrono::seconds crash_window{60};
  std::size_t senders = 2;
};

struct engine_context {
  engine_settings settings;
  storage::pool* db = nullptr;
  http::client* graph = nullptr;
  std::shared_ptr<engine_counters> counters = std::make_shared<engine_counters>();
  std::vector<caf::actor> senders;  ///< filled by spawn_engine
  /// Database errors of account actors, logged once per 10 s (an outage fails them all).
  std::shared_ptr<log::rate_limited> db_warnings =
      std::make_shared<log::rate_limited>(std::chrono::seconds(10));
  /// The same for actions waiting out a Graph API outage.
  std::shared_ptr<log::rate_limited> outage_warnings =
      std::make_shared<log::rate_limited>(std::chrono::seconds(10));
  /// Wall-clock time (ms since the epoch) as the account actors see it: the system clock,
  /// or the test clock of CAF's deterministic actor tests, which advance it with their
  /// timers.
  std::function<std::int64_t()> clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::int64_t now_ms() const { return clock(); }
};

/// A Graph API call for a sender, with everything it needs to answer.
struct send_job {
  storage::outbox_row row;
  std::string base_url;
  std::string token;
  caf::actor reply_to;
  std::string account_id;
};

/// What the sender reports to the account once a call is settled.
struct send_result {
  storage::outbox_row row;
  std::string outcome;  ///< protocol::to_string(outcome), or "unknown"
  int http_status = 0;
  std::string error;  ///< Meta's message or the transport error
  std::string result_id;
  std::string body;
  int usage_percent = 0;
  int regain_minutes = 0;
};

using journal_batch_ptr = std::shared_ptr<std::vector<storage::journal_entry>>;

/// Spawns the account actor for `account_id`.
caf::actor spawn_account(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                         std::string account_id);

/// Spawns one sender (calls the Graph API, retries transient failures).
caf::actor spawn_sender(caf::actor_system& sys, std::shared_ptr<engine_context> ctx);

}  // namespace komentra::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::actors::send_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::actors::send_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::actors::journal_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::storage::outbox_row)
