#pragma once
/// The journal's SQL: one transaction stores many deliveries (raw body) and their
/// normalized events; the unique (account_id, dedupe_key) constraint drops duplicates,
/// and only the rows actually inserted are returned. Called by the journal actor on its
/// own connection; throws pqxx exceptions on database errors (nothing is committed then).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "protocol/webhook_event.hpp"

namespace komentra::storage {

struct delivery_record {
  std::string id;  ///< correlation id, also the row's key
  std::string body;
  std::vector<protocol::webhook_event> events;
};

struct inserted_event {
  std::int64_t journal_id;
  std::size_t delivery_index;  ///< into the batch
  std::size_t event_index;     ///< into that delivery's events
};

struct batch_result {
  std::vector<inserted_event> inserted;  ///< new events, in batch order
  std::size_t duplicates = 0;
  /// Duplicates whose stored copy is still undecided (journal_pending), e.g. stored by a
  /// commit whose answer was lost: the journal routes them again, as nothing else would
  /// until a restart. (Deciding an event twice decides it once.)
  std::vector<inserted_event> undecided;
  /// Why looking for those failed (the batch is stored all the same: it was committed
  /// before the lookup); empty when it did not.
  std::string undecided_error;
};

/// Stores the batch with one statement, committed when it returns (deliveries and events
/// with ON CONFLICT DO NOTHING, so storing a committed batch again changes nothing, and a
/// journal_pending row per new event). Throws only when that statement fails: nothing of the
/// batch is stored then. Duplicates are looked up afterwards (see `undecided`).
batch_result store_batch(pqxx::connection& conn, const std::vector<const delivery_record*>& batch);

/// Deletes raw delivery bodies older than `retention`; returns how many.
std::size_t purge_deliveries(pqxx::connection& conn, std::chrono::seconds retention);

/// Deletes decided journal events older than `retention` of accounts nobody has connected
/// (never, or disconnected since): Meta keeps sending them, and nothing of them is anyone's
/// to use. Connected accounts' events stay until the account is deleted. Returns how many.
std::size_t purge_unowned_events(pqxx::connection& conn, std::chrono::seconds retention);

}  // namespace komentra::storage
