#include "storage/journal_store.hpp"

#include <unordered_map>

#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "protocol/event_json.hpp"
#include "storage/prepared.hpp"
#include "storage/sql_array.hpp"

namespace komentra::storage {

namespace {

// What the journal's unique key holds of an event's account and key: themselves, or past
// 256 bytes their SHA-256 (unique all the same). No Meta id comes near that; a broken or
// hostile one could exceed what a btree entry holds (2.7 KB), and its delivery would fail
// at every retry, with the good events beside it.
std::string indexable(const std::string& id) {
  return id.size() <= 256 ? id : "sha256:" + crypto::to_hex(crypto::sha256(id));
}

// The event's time as PostgreSQL's timestamptz can hold it (before the year 10000; 0 is
// unknown, stored NULL): a time past it failed the delivery at every retry.
std::int64_t storable_time_ms(std::int64_t ms) {
  return ms > 0 && ms < 253402300800000 ? ms : 0;
}

std::string unique_key_of(const protocol::webhook_event& ev) {
  return indexable(ev.account_id) + '\n' + indexable(ev.dedupe_key);
}

// The duplicates of the batch whose stored copy has a journal_pending row; `inserted` holds
// the keys this batch inserted (their copies are routed as new already). Planned at each
// run: it runs only for batches with duplicates, and a kept generic plan could scan the
// journal.
std::vector<inserted_event> undecided_duplicates(
    pqxx::transaction_base& tx, const std::vector<const delivery_record*>& batch,
    const std::unordered_map<std::string, std::int64_t>& inserted) {
  sql_array accounts, keys;
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> where;
  for (std::size_t di = 0; di < batch.size(); ++di)
    for (std::size_t ei = 0; ei < batch[di]->events.size(); ++ei) {
      auto& ev = batch[di]->events[ei];
      auto key = unique_key_of(ev);
      if (inserted.count(key) || !where.emplace(key, std::make_pair(di, ei)).second) continue;
      accounts.add(indexable(ev.account_id));
      keys.add(indexable(ev.dedupe_key));
    }
  std::vector<inserted_event> out;
  if (where.empty()) return out;
  for (auto const& row : tx.exec_params(
           "SELECT e.id, e.account_id, e.dedupe_key FROM unnest($1::text[], $2::text[]) AS u(a, k)"
           " JOIN journal_events e ON e.account_id = u.a AND e.dedupe_key = u.k"
           " JOIN journal_pending p ON p.account_id = e.account_id AND p.id = e.id",
           accounts.str(), keys.str())) {
    auto it = where.find(row[1].as<std::string>() + '\n' + row[2].as<std::string>());
    if (it != where.end())
      out.push_back({row[0].as<std::int64_t>(), it->second.first, it->second.second});
  }
  return out;
}

}  // namespace

batch_result store_batch(pqxx::connection& conn, const std::vector<const delivery_record*>& batch) {
  batch_result res;
  // One statement for the batch, so no BEGIN and COMMIT round trips: PostgreSQL commits it
  // as a whole (and durably) when it ends, or nothing of it.
  pqxx::nontransaction tx(conn);
  // The events go in as arrays; the raw bodies as one binary parameter cut by byte offsets
  // (no escapes to parse, unlike a text array: 100 µs more per 1-event delivery). (A COPY of
  // the bodies cost a round trip more, and a COPY of the events into a temp table ON COMMIT
  // DELETE ROWS cost its truncation, with its TOAST index, at every commit, about 8% of
  // PostgreSQL's time at 1,000 comments/s.)
  std::string bodies;
  sql_array delivery_rows, starts, lengths, counts;
  for (auto* d : batch) {
    delivery_rows.add(d->id);
    starts.add(static_cast<std::int64_t>(bodies.size() + 1));  // substring counts from 1
    lengths.add(static_cast<std::int64_t>(d->body.size()));
    counts.add(static_cast<std::int64_t>(d->events.size()));
    bodies += d->body;
  }
  sql_array accounts, keys, kinds, times, delivery_ids, events;
  for (auto* d : batch)
    for (auto& ev : d->events) {
      accounts.add(indexable(ev.account_id));
      keys.add(indexable(ev.dedupe_key));
      kinds.add(protocol::to_string(ev.kind));
      times.add(storable_time_ms(ev.time_ms));
      delivery_ids.add(d->id);
      events.add(protocol::to_json(ev));
    }
  auto rows = prepared(
      tx,
      "WITH raw AS (INSERT INTO webhook_deliveries (id, body, event_count)"
      "  SELECT i, convert_from(substring($7::bytea FROM s FOR l), 'UTF8'), c"
      "  FROM unnest($8::text[], $9::int[], $10::int[], $11::int[]) AS b(i, s, l, c)"
      "  ON CONFLICT (id) DO NOTHING),"
      " ins AS (INSERT INTO journal_events"
      "  (account_id, dedupe_key, kind, event_time, delivery_id, event)"
      "  SELECT a, k, t, CASE WHEN ms > 0 THEN to_timestamp(ms / 1000.0) END, d, e::json"
      "  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])"
      "   WITH ORDINALITY AS u(a, k, t, ms, d, e, ord) ORDER BY ord"
      "  ON CONFLICT ON CONSTRAINT journal_events_dedupe DO NOTHING"
      "  RETURNING id, account_id, dedupe_key),"
      " pending AS (INSERT INTO journal_pending (account_id, id) SELECT account_id, id FROM ins)"
      " SELECT id, account_id, dedupe_key FROM ins",
      accounts.str(), keys.str(), kinds.str(), times.str(), delivery_ids.str(), events.str(),
      pqxx::binarystring(bodies), delivery_rows.str(), starts.str(), lengths.str(), counts.str());

  // Map (account, key) back to the first event of the batch with it.
  std::unordered_map<std::string, std::int64_t> ids;
  ids.reserve(rows.size());
  for (auto const& row : rows)
    ids.emplace(row[1].as<std::string>() + '\n' + row[2].as<std::string>(),
                row[0].as<std::int64_t>());
  for (std::size_t di = 0; di < batch.size(); ++di)
    for (std::size_t ei = 0; ei < batch[di]->events.size(); ++ei) {
      auto& ev = batch[di]->events[ei];
      auto it = ids.find(unique_key_of(ev));
      if (it == ids.end() || it->second < 0) {
        ++res.duplicates;
        continue;
      }
      res.inserted.push_back({it->second, di, ei});
      it->second = -1;  // a second copy in the same batch is a duplicate
    }
  // The batch is committed: a failure from here on must not report it unstored (its
  // requests would get 503 and its new events would not be routed).
  if (res.duplicates > 0) {
    try {
      res.undecided = undecided_duplicates(tx, batch, ids);
    } catch (const std::exception& e) {
      res.undecided_error = e.what();
    }
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

std::size_t purge_unowned_events(pqxx::connection& conn, std::chrono::seconds retention) {
  pqxx::work tx(conn);
  // The journal's distinct account ids, walked through its (account_id, dedupe_key) index
  // one account at a time instead of reading every event; each unowned account's old
  // events are then found through its (account_id, received_at) index.
  auto r = tx.exec_params(
      "WITH RECURSIVE ids(a) AS ("
      "  (SELECT account_id FROM journal_events ORDER BY account_id LIMIT 1)"
      "  UNION ALL"
      "  SELECT (SELECT account_id FROM journal_events WHERE account_id > ids.a"
      "          ORDER BY account_id LIMIT 1) FROM ids WHERE ids.a IS NOT NULL),"
      " unowned AS (SELECT a FROM ids WHERE a IS NOT NULL AND NOT EXISTS ("
      "  SELECT 1 FROM ig_accounts g WHERE g.id = ids.a AND g.status <> 'disconnected'))"
      " DELETE FROM journal_events e USING unowned u WHERE e.account_id = u.a"
      " AND e.received_at < now() - make_interval(secs => $1)"
      " AND NOT EXISTS (SELECT 1 FROM journal_pending p"
      "                 WHERE p.account_id = e.account_id AND p.id = e.id)",
      static_cast<double>(retention.count()));
  tx.commit();
  return r.affected_rows();
}

}  // namespace komentra::storage
