#pragma once
/// The journal: `writers` detached actors (each with its own thread and PostgreSQL
/// connection) that store webhook deliveries with group commit. Requests that arrive at a
/// writer while its commit runs (or within the configured wait) share its next
/// transaction, up to max_batch_rows events. Several writers keep PostgreSQL busy while
/// each one formats its next batch, so journal ids are no longer committed in id order;
/// readers of the journal must not assume they are. A delivery goes to the writer chosen
/// by a hash of its body, so Meta's repeated deliveries (the same bytes) queue behind each
/// other instead of racing for the same unique keys.
/// Each request's callback runs on the journal thread after the commit with the outcome,
/// and newly stored events (not duplicates) go to the router. When PostgreSQL fails,
/// every request of the batch gets stored == false; nothing is reported stored that is
/// not committed. A batch that fails for a reason other than the connection is retried
/// one delivery per transaction, so one bad delivery cannot fail its neighbours.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "actors/router.hpp"
#include "storage/journal_store.hpp"

namespace komentra::actors {

struct journal_options {
  std::string database_url;
  std::size_t writers = 2;
  std::size_t max_batch_rows = 256;
  std::chrono::microseconds batch_wait{0};
  std::chrono::seconds raw_retention{72 * 3600};
  /// Events of accounts nobody has connected (see storage::purge_unowned_events).
  std::chrono::seconds unowned_retention{168 * 3600};
  std::chrono::seconds purge_interval{60};
};

struct journal_outcome {
  bool stored = false;
  std::string error;  ///< why not stored (database unreachable, ...)
  std::size_t new_events = 0;
  std::size_t duplicates = 0;
};

struct journal_request {
  storage::delivery_record delivery;
  std::function<void(journal_outcome)> done;  ///< runs on the journal thread
};

/// Counters shared with the ingress (back-pressure) and metrics.
struct journal_counters {
  std::atomic<std::size_t> pending{0};  ///< requests sent but not yet answered
  std::atomic<std::uint64_t> commits{0}, deliveries{0}, events_stored{0}, duplicates{0},
      failures{0}, batch_rows{0};
};

/// The ingress side: submits requests unless too many are waiting.
class journal_handle {
 public:
  journal_handle() = default;
  journal_handle(std::vector<caf::actor> writers, std::shared_ptr<journal_counters> counters,
                 std::size_t queue_limit);
  /// Sends the request; false (and `done` not called) when the queue is full.
  bool submit(journal_request req) const;
  const journal_counters& counters() const { return *counters_; }
  /// Asks every writer to store what it holds and stop.
  void stop() const;

 private:
  std::vector<caf::actor> writers_;
  std::shared_ptr<journal_counters> counters_;
  std::size_t queue_limit_ = 0;
};

/// Spawns the journal (detached) and returns its handle.
journal_handle spawn_journal(caf::actor_system& sys, journal_options opts, router_actor router,
                             std::size_t queue_limit);

}  // namespace komentra::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::actors::journal_request)
