#pragma once
/// Rows that the jobs of one shared transaction (storage::pool) write without needing an
/// answer: analytics counts, contacts, decisions and sent marks. They are merged across
/// the jobs and written with one statement per table just before the commit, so a batch of
/// 64 accounts' writes costs four statements instead of a few hundred (each statement has
/// a fixed cost in PostgreSQL: executor start, constraint and foreign-key checks).
/// Merging keeps what writing them one by one in job order would leave.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction>

namespace komentra::storage {

struct decision_row {
  std::string account_id;
  std::optional<std::int64_t> automation_id;
  std::optional<std::int64_t> journal_id;
  std::string source_key, sender_id, username, text, outcome;  ///< empty stores NULL
};

class merged_writes {
 public:
  /// One more `metric` for the automation today (in its workspace's time zone); ids <= 0
  /// (no automation) count nothing.
  void count(std::int64_t automation_id, const std::string& metric);
  /// The contact was seen now: a later username replaces an earlier one, an empty one
  /// keeps what is known; `triggered` adds up; `inbound_ms` (the time of their last
  /// message) replaces the known one when set.
  void contact(const std::string& account_id, const std::string& igsid, const std::string& username,
               int triggered, std::optional<std::int64_t> inbound_ms);
  void decision(decision_row row);
  /// The outbox row was sent, with the Graph API's answer `result_json`; `metric` counts for
  /// the automation only if the row was not marked sent before (a write tried again after a
  /// commit whose answer was lost counts once).
  void sent(std::int64_t outbox_id, std::string result_json, std::int64_t automation_id,
            std::string metric);

  bool empty() const;
  /// Writes everything and empties this; throws what PostgreSQL throws. The last statements
  /// before the commit: it changes a setting until the commit (SET LOCAL).
  void flush(pqxx::work& tx);

 private:
  struct contact_seen {
    std::string username;
    std::int64_t triggered = 0;
    std::optional<std::int64_t> inbound_ms;
  };
  // Ordered maps: concurrent transactions lock shared rows in the same order.
  std::map<std::pair<std::int64_t, std::string>, std::int64_t> counts_;
  std::map<std::pair<std::string, std::string>, contact_seen> contacts_;
  std::vector<decision_row> decisions_;
  struct sent_mark {
    std::string result_json;
    std::int64_t automation_id = 0;
    std::string metric;
  };
  std::map<std::int64_t, sent_mark> sent_;
};

/// What a job of a shared transaction writes with: statements whose answer it needs run at
/// once on `work`; rows that need none go to `merged`.
struct shared_tx {
  pqxx::work& work;
  merged_writes merged;
};

}  // namespace komentra::storage
