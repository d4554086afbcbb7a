#include "storage/journal_store.hpp"

#include <tuple>
#include <unordered_map>

#include <pqxx/pqxx>

#include "protocol/event_json.hpp"

namespace komentra::storage {

namespace {

// Rows are COPYed into a per-session staging table first: COPY is PostgreSQL's fastest
// way in, and INSERT ... SELECT ... ON CONFLICT then does the deduplication.
void ensure_staging(pqxx::work& tx) {
  tx.exec0(
      "CREATE TEMP TABLE IF NOT EXISTS journal_staging ("
      " ord integer, account_id text, dedupe_key text, kind text, event_time_ms bigint,"
      " delivery_id text, event text) ON COMMIT DELETE ROWS");
}

}  // namespace

batch_result store_batch(pqxx::connection& conn, const std::vector<const delivery_record*>& batch) {
  batch_result res;
  pqxx::work tx(conn);
  ensure_staging(tx);
  {
    pqxx::stream_to deliveries{tx, "webhook_deliveries",
                               std::vector<std::string>{"id", "body", "event_count"}};
    for (auto* d : batch)
      deliveries << std::make_tuple(d->id, d->body, static_cast<std::int64_t>(d->events.size()));
    deliveries.complete();
  }
  // ord encodes (delivery, event) so the returned ids map back to the events.
  std::vector<std::pair<std::size_t, std::size_t>> order;
  {
    pqxx::stream_to staging{tx, "journal_staging",
                            std::vector<std::string>{"ord", "account_id", "dedupe_key", "kind",
                                                     "event_time_ms", "delivery_id", "event"}};
    for (std::size_t di = 0; di < batch.size(); ++di) {
      auto* d = batch[di];
      for (std::size_t ei = 0; ei < d->events.size(); ++ei) {
        auto& ev = d->events[ei];
        staging << std::make_tuple(static_cast<std::int64_t>(order.size()), ev.account_id,
                                   ev.dedupe_key, std::string(protocol::to_string(ev.kind)),
                                   ev.time_ms, d->id, protocol::to_json(ev));
        order.emplace_back(di, ei);
      }
    }
    staging.complete();
  }
  auto rows = tx.exec(
      "INSERT INTO journal_events (account_id, dedupe_key, kind, event_time, delivery_id, event)"
      " SELECT account_id, dedupe_key, kind,"
      "  CASE WHEN event_time_ms > 0 THEN to_timestamp(event_time_ms / 1000.0) END,"
      "  delivery_id, event::jsonb"
      " FROM journal_staging ORDER BY ord"
      " ON CONFLICT ON CONSTRAINT journal_events_dedupe DO NOTHING"
      " RETURNING id, account_id, dedupe_key");
  tx.commit();

  // Map (account, key) back to the first staged event with it.
  std::unordered_map<std::string, std::int64_t> ids;
  ids.reserve(rows.size());
  for (auto const& row : rows)
    ids.emplace(row[1].as<std::string>() + '\n' + row[2].as<std::string>(),
                row[0].as<std::int64_t>());
  for (auto& [di, ei] : order) {
    auto& ev = batch[di]->events[ei];
    auto it = ids.find(ev.account_id + '\n' + ev.dedupe_key);
    if (it == ids.end() || it->second < 0) {
      ++res.duplicates;
      continue;
    }
    res.inserted.push_back({it->second, di, ei});
    it->second = -1;  // a second copy in the same batch is a duplicate
  }
  return res;
}

std::size_t purge_deliveries(pqxx::connection& conn, std::chrono::seconds retention) {
  pqxx::work tx(conn);
  auto r = tx.exec_params(
      "DELETE FROM webhook_deliveries WHERE received_at < now() - make_interval(secs => $1)",
      static_cast<double>(retention.count()));
  tx.commit();
  return r.affected_rows();
}

}  // namespace komentra::storage
