#include "storage/merged_writes.hpp"

#include <pqxx/pqxx>

#include "storage/prepared.hpp"
#include "storage/sql_array.hpp"

namespace komentra::storage {

void merged_writes::count(std::int64_t automation_id, const std::string& metric) {
  if (automation_id > 0) ++counts_[{automation_id, metric}];
}

void merged_writes::contact(const std::string& account_id, const std::string& igsid,
                            const std::string& username, int triggered,
                            std::optional<std::int64_t> inbound_ms) {
  auto& c = contacts_[{account_id, igsid}];
  if (!username.empty()) c.username = username;
  c.triggered += triggered;
  if (inbound_ms) c.inbound_ms = inbound_ms;
}

void merged_writes::decision(decision_row row) {
  decisions_.push_back(std::move(row));
}

void merged_writes::sent(std::int64_t outbox_id, std::string result_json,
                         std::int64_t automation_id, std::string metric) {
  sent_[outbox_id] = {std::move(result_json), automation_id, std::move(metric)};
}

bool merged_writes::empty() const {
  return counts_.empty() && contacts_.empty() && decisions_.empty() && sent_.empty();
}

void merged_writes::flush(pqxx::work& tx) {
  if (!decisions_.empty()) {
    sql_array accounts, automations, journals, sources, senders, usernames, texts, outcomes;
    for (auto& d : decisions_) {
      accounts.add(d.account_id);
      automations.add_or_null(d.automation_id);
      journals.add_or_null(d.journal_id);
      sources.add(d.source_key);
      senders.add_or_null(d.sender_id);
      usernames.add_or_null(d.username);
      texts.add_or_null(d.text);
      outcomes.add(d.outcome);
    }
    // In job order, so an event's outcome comes before its notes (ids give the order).
    prepared(tx,
             "INSERT INTO decisions (account_id, automation_id, journal_id, source_key, sender_id,"
             " username, text, outcome)"
             " SELECT a, au, j, s, se, u, t, o FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
             "  $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
             "  WITH ORDINALITY AS x(a, au, j, s, se, u, t, o, n) ORDER BY n",
             accounts.str(), automations.str(), journals.str(), sources.str(), senders.str(),
             usernames.str(), texts.str(), outcomes.str());
    decisions_.clear();
  }
  if (!contacts_.empty()) {
    sql_array accounts, igsids, usernames, triggered, inbound;
    for (auto& [key, c] : contacts_) {
      accounts.add(key.first);
      igsids.add(key.second);
      usernames.add_or_null(c.username);
      triggered.add(c.triggered);
      inbound.add_or_null(c.inbound_ms);
    }
    prepared(
        tx,
        "INSERT INTO contacts (account_id, igsid, username, automations_triggered, last_inbound_at)"
        " SELECT a, i, u, n, to_timestamp(ms / 1000.0) FROM unnest($1::text[], $2::text[],"
        "  $3::text[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS x(a, i, u, n, ms, o)"
        "  ORDER BY o"
        " ON CONFLICT (account_id, igsid) DO UPDATE SET last_seen = now(),"
        " username = coalesce(excluded.username, contacts.username),"
        " automations_triggered = contacts.automations_triggered + excluded.automations_triggered,"
        " last_inbound_at = coalesce(excluded.last_inbound_at, contacts.last_inbound_at)",
        accounts.str(), igsids.str(), usernames.str(), triggered.str(), inbound.str());
    contacts_.clear();
  }
  if (!sent_.empty()) {
    sql_array ids, results;
    for (auto& [id, mark] : sent_) {
      ids.add(id);
      results.add(mark.result_json);
    }
    // Planned at each run, not prepared: a plan kept from when the outbox was small (a
    // fresh install, a burst before autovacuum's next ANALYZE) scans the whole table for
    // the ids (6.5 ms and 620 pages per call at 1,000 comments/s). Planned with the ids at
    // hand, it is the primary key; planning costs far less, once per transaction.
    // Rows sent already (this write tried again after a commit whose answer was lost) are
    // left alone and count nothing; the counts are written after this.
    for (auto const& r :
         tx.exec_params("UPDATE outbox SET state = 'sent',"
                        " result = ($2::text[])[array_position($1::bigint[], id)]::jsonb,"
                        " last_error = NULL, updated_at = now()"
                        " WHERE id = ANY($1::bigint[]) AND state <> 'sent' RETURNING id",
                        ids.str(), results.str())) {
      auto& mark = sent_[r[0].as<std::int64_t>()];
      count(mark.automation_id, mark.metric);
    }
    sent_.clear();
  }
  if (!counts_.empty()) {
    sql_array automations, metrics, amounts;
    for (auto& [key, n] : counts_) {
      automations.add(key.first);
      metrics.add(key.second);
      amounts.add(n);
    }
    // The day is the workspace's local day. An automation deleted meanwhile counts nothing.
    // The time zone is looked up per row (LATERAL, kept from being flattened into a join by
    // OFFSET 0): as a join, the generic plan hashed the array against a scan of every
    // automation. That generic plan is forced: PostgreSQL otherwise plans this statement
    // again at every run (a custom plan for a short array looks cheaper than the generic
    // one), 180 µs each time, a sixth of its CPU per comment at 1,000 comments/s. Last in
    // the transaction, as SET LOCAL lasts until the commit (the sent marks above are
    // planned at each run on purpose).
    tx.exec("SET LOCAL plan_cache_mode = force_generic_plan");
    prepared(
        tx,
        "INSERT INTO automation_daily (automation_id, day, metric, count)"
        " SELECT x.id, (now() AT TIME ZONE z.time_zone)::date, x.m, x.n"
        " FROM unnest($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS x(id, m, n, o)"
        " CROSS JOIN LATERAL (SELECT w.time_zone FROM automations a"
        "  JOIN ig_accounts g ON g.id = a.account_id JOIN workspaces w ON w.id = g.workspace_id"
        "  WHERE a.id = x.id OFFSET 0) z ORDER BY x.o"
        " ON CONFLICT (automation_id, day, metric)"
        " DO UPDATE SET count = automation_daily.count + excluded.count",
        automations.str(), metrics.str(), amounts.str());
    counts_.clear();
  }
}

}  // namespace komentra::storage
