#include "storage/engine_store.hpp"

#include <algorithm>
#include <set>

#include <simdjson.h>

#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "protocol/event_json.hpp"
#include "storage/prepared.hpp"
#include "storage/sql_array.hpp"

namespace komentra::storage {

namespace od = simdjson::ondemand;

namespace {

std::vector<std::string> string_array(od::object& obj, std::string_view key) {
  std::vector<std::string> out;
  od::array arr;
  if (obj.find_field_unordered(key).get_array().get(arr)) return out;
  for (auto item : arr) {
    std::string_view s;
    if (!item.get_string().get(s)) out.emplace_back(s);
  }
  return out;
}

std::string text(od::object& obj, std::string_view key) {
  std::string_view s;
  if (obj.find_field_unordered(key).get_string().get(s)) return {};
  return std::string(s);
}

std::int64_t integer(od::object& obj, std::string_view key) {
  std::int64_t v = 0;
  if (obj.find_field_unordered(key).get_int64().get(v)) return 0;
  return v;
}

bool flag(od::object& obj, std::string_view key) {
  bool v = false;
  if (obj.find_field_unordered(key).get_bool().get(v)) return false;
  return v;
}

// One automations row as JSON (row_to_json) into the engine's struct.
std::optional<rules::automation> parse_automation(const std::string& json) {
  simdjson::padded_string buf(json);
  od::parser parser;
  od::document doc;
  od::object o;
  if (parser.iterate(buf).get(doc) || doc.get_object().get(o)) return std::nullopt;
  rules::automation a;
  a.id = integer(o, "id");
  a.account_id = text(o, "account_id");
  a.name = text(o, "name");
  rules::parse(text(o, "trigger"), a.trigger);
  rules::parse(text(o, "media_scope"), a.scope);
  a.media_ids = string_array(o, "media_ids");
  rules::parse(text(o, "match_type"), a.match);
  a.keywords = string_array(o, "keywords");
  a.exclude_keywords = string_array(o, "exclude_keywords");
  a.accent_insensitive = flag(o, "accent_insensitive");
  a.ignore_replies = flag(o, "ignore_replies");
  a.priority = static_cast<int>(integer(o, "priority"));
  a.public_replies = string_array(o, "public_replies");
  a.dm_text = text(o, "dm_text");
  od::array buttons;
  if (!o.find_field_unordered("dm_buttons").get_array().get(buttons))
    for (auto item : buttons) {
      od::object b;
      if (item.get_object().get(b)) continue;
      a.dm_buttons.push_back({text(b, "title"), text(b, "url")});
    }
  a.follow_gate = flag(o, "follow_gate");
  a.follow_prompt_text = text(o, "follow_prompt_text");
  a.follow_button_title = text(o, "follow_button_title");
  a.max_reprompts = static_cast<int>(integer(o, "max_reprompts"));
  a.active = text(o, "status") == "active";
  a.created_order = a.id;  // ids grow with creation time
  return a;
}

outbox_row read_outbox(const pqxx::row& r) {
  outbox_row o;
  o.id = r["id"].as<std::int64_t>();
  o.kind = r["kind"].as<std::string>();
  o.automation_id = r["automation_id"].as<std::int64_t>(0);
  o.source_key = r["source_key"].as<std::string>();
  o.recipient_id = r["recipient_id"].as<std::string>("");
  o.method = r["method"].as<std::string>("POST");
  o.path = r["path"].as<std::string>("");
  o.body = r["body"].as<std::string>("");
  o.state = r["state"].as<std::string>();
  o.attempts = r["attempts"].as<int>();
  o.not_before_ms = r["not_before_ms"].as<std::int64_t>(0);
  o.stored_not_before_ms = o.not_before_ms;
  if (r["over_budget"].as<bool>(false)) o.not_before_ms = 0;
  o.created_ms = r["created_ms"].as<std::int64_t>(0);
  o.verify_first = r["verify_first"].as<bool>(false);
  return o;
}

constexpr const char* outbox_columns =
    "id, kind, automation_id, source_key, recipient_id, request->>'method' AS method,"
    " request->>'path' AS path, request->>'body' AS body, state, attempts,"
    " (extract(epoch FROM not_before) * 1000)::bigint AS not_before_ms,"
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, verify_first,"
    " coalesce(last_error = 'over_budget', false) AS over_budget";

std::string request_json(const rules::planned_action& a) {
  json::writer w;
  w.begin_object()
      .field("method", a.method)
      .field("path", a.path)
      .field("body", a.body)
      .end_object();
  return w.take();
}

// The analytics metric an action counts under once sent.
const char* sent_metric(const std::string& kind) {
  if (kind == "public_reply") return "public_reply";
  if (kind == "follow_prompt") return "prompted";
  if (kind == "follow_check") return "follow_checked";
  if (kind == "link_dm") return "link_sent";
  return "dm_sent";
}

// The decisions row of an event (its outcome still to set).
decision_row decision_of(const std::string& account_id, std::int64_t journal_id,
                         const protocol::webhook_event& ev, std::int64_t automation_id) {
  decision_row row;
  row.account_id = account_id;
  if (automation_id > 0) row.automation_id = automation_id;
  if (journal_id > 0) row.journal_id = journal_id;
  row.source_key = !ev.comment_id.empty() ? ev.comment_id
                   : !ev.mid.empty()      ? ev.mid
                                          : ev.dedupe_key;
  row.sender_id = ev.sender_id;
  row.username = ev.sender_username;
  row.text = ev.text;
  return row;
}

// What decide_and_insert found and did.
struct inserted_actions {
  bool fresh = false;            ///< the journal event was not decided before (and is now)
  std::vector<outbox_row> rows;  ///< the actions inserted
};

// Marks the journal event decided (journal_id > 0) and inserts the event's actions, in one
// statement: one round trip per event. The actions go in when the event was not decided
// before, or anyway with `insert_anyway` (a replay, or no journal event); those planned
// before (the outbox's unique keys) are not inserted again and not returned.
inserted_actions decide_and_insert(pqxx::work& tx, const std::string& account_id,
                                   std::int64_t journal_id, bool insert_anyway,
                                   const std::vector<rules::planned_action>& actions,
                                   const std::vector<bool>& send_now) {
  inserted_actions out;
  sql_array automations, sources, kinds, recipients, requests, states;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    auto& a = actions[i];
    bool now = i < send_now.size() && send_now[i];
    automations.add_or_null(a.automation_id > 0 ? std::optional(a.automation_id) : std::nullopt);
    sources.add(a.source_key);
    kinds.add(rules::to_string(a.kind));
    recipients.add_or_null(a.recipient_id);
    requests.add(request_json(a));
    states.add(now ? "in_flight" : "pending");
  }
  // The event is fresh when its pending row is still there to delete (one descent of the
  // pending key). The LEFT JOIN gives one row (fresh, NULLs) when nothing was inserted.
  auto rows = prepared(
      tx,
      std::string("WITH j AS (DELETE FROM journal_pending WHERE account_id = $1 AND id = $8"
                  "  RETURNING id),"
                  " ins AS (INSERT INTO outbox (account_id, automation_id, source_key, kind,"
                  "  recipient_id, request, state, attempts)"
                  "  SELECT $1, au, s, k, r, q::jsonb, st,"
                  "   CASE WHEN st = 'in_flight' THEN 1 ELSE 0 END"
                  "  FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],"
                  "   $7::text[]) WITH ORDINALITY AS x(au, s, k, r, q, st, n)"
                  "  WHERE $9 OR EXISTS (SELECT 1 FROM j) ORDER BY n"
                  "  ON CONFLICT DO NOTHING RETURNING ") +
          outbox_columns +
          ") SELECT (SELECT count(*) FROM j) > 0 AS fresh, ins.* FROM (SELECT 1) one"
          " LEFT JOIN ins ON true",
      account_id, automations.str(), sources.str(), kinds.str(), recipients.str(), requests.str(),
      states.str(), journal_id, insert_anyway);
  if (!rows.empty()) out.fresh = rows[0]["fresh"].as<bool>();
  for (auto const& r : rows) {
    if (r["id"].is_null()) continue;
    out.rows.push_back(read_outbox(r));
    auto& row = out.rows.back();
    for (auto& a : actions) {
      if (rules::to_string(a.kind) != row.kind || a.source_key != row.source_key ||
          std::max<std::int64_t>(a.automation_id, 0) != row.automation_id)
        continue;
      std::optional<std::int64_t> automation;
      if (a.automation_id > 0) automation = a.automation_id;
      for (auto& link : a.links)
        prepared(
            tx,
            "INSERT INTO links (token, account_id, automation_id, igsid, url) VALUES ($1, $2, $3,"
            " NULLIF($4, ''), $5) ON CONFLICT DO NOTHING",
            link.token, account_id, automation, a.recipient_id, link.url);
    }
  }
  return out;
}

}  // namespace

account_snapshot load_account(pqxx::connection& c, const std::string& account_id,
                              const std::string& token_key_hex, std::size_t max_unprocessed,
                              bool recover) {
  account_snapshot snap;
  pqxx::work tx(c);
  auto acc = prepared(
      tx,
      "SELECT a.workspace_id, a.username, a.login_type, coalesce(a.page_id, '') AS page_id,"
      " a.status, a.token_ciphertext, " +
          std::string(budget_columns) +
          ", coalesce((extract(epoch FROM a.throttled_until) * 1000)::bigint, 0) AS throttled_ms"
          " FROM ig_accounts a JOIN workspaces w ON w.id = a.workspace_id WHERE a.id = $1",
      account_id);
  if (acc.empty()) {
    tx.commit();
    return snap;
  }
  snap.found = true;
  auto& a = snap.account;
  auto row = acc[0];
  a.id = account_id;
  a.workspace_id = row["workspace_id"].as<std::int64_t>();
  a.username = row["username"].as<std::string>();
  a.login_type = row["login_type"].as<std::string>();
  a.page_id = row["page_id"].as<std::string>();
  a.status = row["status"].as<std::string>();
  a.private_replies_per_hour = row["prh"].as<int>();
  a.sends_per_second = row["sps"].as<int>();
  a.throttled_until_ms = row["throttled_ms"].as<std::int64_t>();
  if (row["token_ciphertext"].is_null()) {
    a.token_problem = "no access token stored (reconnect the account)";
  } else {
    pqxx::binarystring sealed(row["token_ciphertext"]);
    auto key = token_key(token_key_hex);
    if (!key) {
      a.token_problem = "token_key is not configured (KOMENTRA_TOKEN_KEY)";
    } else if (auto token = crypto::aes256gcm_open(*key, sealed.str(), account_id)) {
      a.token = std::move(*token);
    } else {
      a.token_problem = "the stored token cannot be decrypted with the configured token_key";
    }
  }
  for (auto const& r : prepared(
           tx, "SELECT row_to_json(a)::text FROM automations a WHERE account_id = $1 ORDER BY id",
           account_id))
    if (auto parsed = parse_automation(r[0].as<std::string>())) snap.automations.push_back(*parsed);
  if (!recover) {
    tx.commit();
    return snap;
  }
  // Settled calls of the last hour (61 minutes: the budget's slots are minutes): a settled
  // row's updated_at is its call's time (partial index outbox_recent_calls). Rows left in
  // flight are not counted: they go back to pending below and take their budget again.
  for (auto const& r :
       prepared(tx,
                "SELECT kind, (extract(epoch FROM updated_at) * 1000)::bigint FROM outbox"
                " WHERE account_id = $1 AND kind IN ('public_reply', 'private_reply')"
                " AND state IN ('sent', 'unknown', 'failed') AND attempts > 0"
                " AND updated_at > now() - interval '61 minutes' ORDER BY updated_at",
                account_id))
    (r[0].as<std::string>() == "public_reply" ? snap.recent_public_replies
                                              : snap.recent_private_replies)
        .push_back(r[1].as<std::int64_t>());
  // A crash between "in flight" and the answer leaves the outcome unknown (invariant 4).
  // Such rows wait again, marked interrupted: the sender reads back (the comment's
  // replies, the conversation) before it writes, and leaves unknown what it cannot read.
  prepared(tx,
           "UPDATE outbox SET state = 'pending', verify_first = true,"
           " last_error = 'interrupted while in flight', updated_at = now() WHERE account_id = $1 "
           "AND state = 'in_flight'",
           account_id);
  for (auto const& r : prepared(tx,
                                std::string("SELECT ") + outbox_columns +
                                    " FROM outbox WHERE account_id = $1 AND state = 'pending'"
                                    " ORDER BY id",
                                account_id)) {
    snap.pending.push_back(read_outbox(r));
    // The outbox does not store the delivery that planned a row, and finding it (the
    // journal event behind source_key) would mean rebuilding the parser's dedupe keys or
    // scanning the account's decisions, for a log line. Logs name the row's id beside this,
    // which leads to the source; "recovered" says an earlier actor planned it.
    snap.pending.back().delivery_id = "recovered";
  }
  tx.commit();
  snap.unprocessed = load_unprocessed(c, account_id, max_unprocessed);
  return snap;
}

std::vector<rules::automation> load_automations(pqxx::connection& c,
                                                const std::string& account_id) {
  std::vector<rules::automation> out;
  pqxx::read_transaction tx(c);
  for (auto const& r : prepared(
           tx, "SELECT row_to_json(a)::text FROM automations a WHERE account_id = $1 ORDER BY id",
           account_id))
    if (auto parsed = parse_automation(r[0].as<std::string>())) out.push_back(*parsed);
  return out;
}

namespace {

// Rows of (id, delivery_id, event) as journal entries; events this build cannot read back
// are left out (they stay in the journal).
std::vector<journal_entry> journal_entries(const pqxx::result& rows) {
  std::vector<journal_entry> out;
  out.reserve(rows.size());
  for (auto const& r : rows)
    if (auto ev = protocol::event_from_json(r[2].as<std::string>()))
      out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(""), std::move(*ev)});
  return out;
}

}  // namespace

std::vector<journal_entry> load_journal_range(pqxx::connection& c, const std::string& account_id,
                                              const std::string& from, const std::string& to,
                                              std::size_t limit) {
  pqxx::read_transaction tx(c);
  return journal_entries(
      prepared(tx,
               "SELECT id, delivery_id, event::text FROM journal_events WHERE account_id = $1"
               " AND received_at >= $2::timestamptz AND received_at < $3::timestamptz"
               " ORDER BY id LIMIT $4",
               account_id, from, to, static_cast<std::int64_t>(limit)));
}

std::vector<journal_entry> load_unprocessed(pqxx::connection& c, const std::string& account_id,
                                            std::size_t limit) {
  pqxx::read_transaction tx(c);
  return journal_entries(prepared(tx,
                                  "SELECT e.id, e.delivery_id, e.event::text FROM journal_pending p"
                                  " JOIN journal_events e ON e.id = p.id WHERE p.account_id = $1"
                                  " ORDER BY p.id LIMIT $2",
                                  account_id, static_cast<std::int64_t>(limit)));
}

plan_result record_decision(shared_tx& stx, const std::string& account_id, std::int64_t journal_id,
                            const protocol::webhook_event& ev, const rules::decision& d,
                            const std::vector<bool>& send_now, bool replay) {
  auto& tx = stx.work;
  plan_result res;
  bool journaled = journal_id > 0;
  auto ins =
      decide_and_insert(tx, account_id, journal_id, !journaled || replay, d.actions, send_now);
  bool decided_before = journaled && !ins.fresh;
  res.new_actions = std::move(ins.rows);
  // Decided before: nothing was written unless a replay planned an action the outbox does
  // not have yet; then the decision is recorded as for a new event.
  if (decided_before && res.new_actions.empty()) {
    res.already_processed = true;
    return res;
  }
  auto row = decision_of(account_id, journal_id, ev, d.automation_id);
  auto record = [&](const std::string& outcome) {
    row.outcome = outcome;
    stx.merged.decision(row);
  };
  record(d.outcome);
  for (auto& note : d.notes) record(note);
  if (d.outcome == "matched") stx.merged.count(d.automation_id, "matched");
  if (d.outcome == "follow_tapped") stx.merged.count(d.automation_id, "tapped");
  for (auto& note : d.notes)
    stx.merged.count(d.automation_id,
                     note.rfind("skipped:", 0) == 0 ? "skip:" + note.substr(8) : note);
  bool is_self = ev.sender_id.empty() || ev.sender_id == account_id || ev.is_echo ||
                 d.outcome == "skipped:own_comment" || d.outcome == "skipped:own_postback" ||
                 d.outcome == "skipped:invalid_id";
  if (!is_self) {
    std::optional<std::int64_t> inbound_ms;
    if (d.inbound_message) inbound_ms = ev.time_ms;
    stx.merged.contact(account_id, ev.sender_id, ev.sender_username, d.outcome == "matched" ? 1 : 0,
                       inbound_ms);
  }
  // A follow-gated private reply (noted "prompted") opens the user's follow gate.
  bool prompted = std::find(d.notes.begin(), d.notes.end(), "prompted") != d.notes.end();
  for (auto& a : d.actions)
    if (prompted && a.kind == rules::action_kind::private_reply && !ev.sender_id.empty())
      prepared(tx,
               "INSERT INTO follow_gates (account_id, igsid, automation_id, source_key)"
               " SELECT $1, $2, $3, $4 FROM automations WHERE id = $3 AND follow_gate"
               " ON CONFLICT DO NOTHING",
               account_id, ev.sender_id, a.automation_id, a.source_key);
  return res;
}

plan_result record_actions(shared_tx& tx, const std::string& account_id,
                           const std::vector<rules::planned_action>& actions, bool send_now) {
  plan_result res;
  res.new_actions = decide_and_insert(tx.work, account_id, 0, true, actions,
                                      std::vector<bool>(actions.size(), send_now))
                        .rows;
  return res;
}

bool mark_in_flight(pqxx::work& tx, std::int64_t id) {
  // Only a pending row: one cancelled meanwhile (the account disconnected) or settled is
  // not sent.
  return prepared(tx,
                  "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1,"
                  " updated_at = now() WHERE id = $1 AND state = 'pending'",
                  id)
             .affected_rows() > 0;
}

void mark_sent(shared_tx& tx, const outbox_row& row, const std::string& result_id) {
  json::writer w;
  w.begin_object().field("id", result_id).end_object();
  tx.merged.sent(row.id, w.take(), row.automation_id, sent_metric(row.kind));
}

void mark_final(shared_tx& stx, const outbox_row& row, const std::string& state,
                const std::string& error, const std::string& analytics_outcome) {
  auto& tx = stx.work;
  // A success recorded earlier is never downgraded by a late error (BR-09); nor one
  // recorded in the same transaction, whose sent mark is written at the commit, after this.
  // A row in that state already (this write tried again after a commit whose answer was
  // lost) records and counts nothing more.
  auto changed = prepared(tx,
                          "UPDATE outbox SET state = $2, last_error = $3, updated_at = now()"
                          " WHERE id = $1 AND state <> 'sent' AND state <> $2 RETURNING id",
                          row.id, state, error);
  if (!changed.empty() && !analytics_outcome.empty()) {
    std::optional<std::int64_t> automation;
    if (row.automation_id > 0) automation = row.automation_id;
    prepared(tx,
             "INSERT INTO decisions (account_id, automation_id, source_key, sender_id, outcome)"
             " SELECT account_id, $2, source_key, recipient_id, $3 FROM outbox WHERE id = $1",
             row.id, automation, analytics_outcome);
    stx.merged.count(row.automation_id, analytics_outcome);
  }
}

void reschedule(pqxx::work& tx, std::int64_t id, std::int64_t not_before_ms,
                const std::string& error, bool verify_first) {
  // verify_first is only ever set here, never cleared: whatever the row waits for next, a
  // write that may have landed is read back before it is sent again.
  prepared(tx,
           "UPDATE outbox SET state = 'pending', not_before = to_timestamp($2 / 1000.0),"
           " last_error = NULLIF($3, ''), verify_first = verify_first OR $4, updated_at = now()"
           " WHERE id = $1 AND state IN ('pending', 'in_flight')",
           id, not_before_ms, error, verify_first);
}

void set_account_status(pqxx::connection& c, const std::string& account_id,
                        const std::string& status, const std::string& reason) {
  pqxx::work tx(c);
  auto upd = prepared(tx,
                      "UPDATE ig_accounts SET status = $2, status_reason = $3, updated_at = now()"
                      " WHERE id = $1 AND status <> $2 RETURNING workspace_id",
                      account_id, status, reason);
  if (!upd.empty() && status != "active")
    pause_for_status(tx, upd[0][0].as<std::int64_t>(), account_id, status, reason);
  tx.commit();
}

void pause_for_status(pqxx::work& tx, std::int64_t workspace_id, const std::string& account_id,
                      const std::string& status, const std::string& reason) {
  prepared(tx,
           "UPDATE automations SET status = 'paused', paused_reason = $2, updated_at = now()"
           " WHERE account_id = $1 AND status = 'active'",
           account_id, status);
  prepared(tx,
           "INSERT INTO notifications (workspace_id, account_id, kind, message)"
           " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
           workspace_id, account_id, status, reason);
}

namespace {

// An unread reauth or fault notice would silence the next one (one unread notice per kind).
void read_status_notices(pqxx::work& tx, const std::string& account_id) {
  tx.exec_params0(
      "UPDATE notifications SET read_at = now() WHERE account_id = $1"
      " AND kind IN ('reauth_required', 'faulted') AND read_at IS NULL",
      account_id);
}

}  // namespace

void resume_after_reconnect(pqxx::work& tx, const std::string& account_id) {
  // A faulted account has no other way back to active, and its automations were paused by
  // Komentra, not its owner; reconnecting is the owner asking for them to run again.
  tx.exec_params0(
      "UPDATE automations SET status = 'active', paused_reason = NULL, updated_at = now()"
      " WHERE account_id = $1 AND status = 'paused'"
      " AND paused_reason IN ('reauth_required', 'faulted')",
      account_id);
  read_status_notices(tx, account_id);
}

bool disconnect_account(pqxx::work& tx, const std::string& account_id, const std::string& reason) {
  auto found = tx.exec_params(
      "UPDATE ig_accounts SET token_ciphertext = NULL, token_key_id = NULL,"
      " token_expires_at = NULL, status = 'disconnected', status_reason = $2, updated_at = now()"
      " WHERE id = $1 RETURNING id",
      account_id, reason);
  if (found.empty()) return false;
  tx.exec_params0(
      "DELETE FROM automations WHERE account_id = $1 AND (status = 'active'"
      " OR paused_reason IN ('reauth_required', 'faulted'))",
      account_id);
  tx.exec_params0(
      "UPDATE outbox SET state = 'cancelled', updated_at = now() WHERE account_id = $1"
      " AND state IN ('pending', 'unknown')",
      account_id);
  tx.exec_params0("DELETE FROM media_cache WHERE account_id = $1", account_id);
  read_status_notices(tx, account_id);  // moot once disconnected
  return true;
}

void set_throttled_until(pqxx::work& tx, const std::string& account_id, std::int64_t until_ms) {
  prepared(tx, "UPDATE ig_accounts SET throttled_until = to_timestamp($2 / 1000.0) WHERE id = $1",
           account_id, until_ms);
}

int bump_follow_prompts(pqxx::work& tx, const std::string& account_id, const std::string& igsid,
                        std::int64_t automation_id, const std::string& source_key,
                        std::optional<bool> follows) {
  auto r = prepared(
      tx,
      "INSERT INTO follow_gates (account_id, igsid, automation_id, source_key) VALUES ($1, $2, $3, "
      "$4)"
      " ON CONFLICT (account_id, igsid, automation_id) DO UPDATE SET prompts = follow_gates.prompts"
      " + CASE WHEN $5 THEN 0 ELSE 1 END, updated_at = now() RETURNING prompts",
      account_id, igsid, automation_id, source_key, follows.value_or(true));
  if (follows)
    prepared(tx, "UPDATE contacts SET is_following = $3 WHERE account_id = $1 AND igsid = $2",
             account_id, igsid, *follows);
  return r[0][0].as<int>();
}

namespace {

// Deletes the pending rows of these events; returns the ids of those still undecided.
// Planned at each run for the same reason as merged_writes' sent marks (a kept generic plan
// may scan the table instead of one key descent per event).
std::set<std::int64_t> take_pending(pqxx::work& tx, const sql_array& accounts,
                                    const sql_array& ids) {
  std::set<std::int64_t> fresh;
  if (ids.empty()) return fresh;
  for (auto const& r : tx.exec_params(
           "DELETE FROM journal_pending p USING unnest($1::text[], $2::bigint[]) AS u(a, i)"
           " WHERE p.account_id = u.a AND p.id = u.i RETURNING p.id",
           accounts.str(), ids.str()))
    fresh.insert(r[0].as<std::int64_t>());
  return fresh;
}

}  // namespace

void mark_processed(pqxx::work& tx, const std::vector<journal_key>& events) {
  sql_array accounts, ids;
  for (auto& e : events)
    if (e.id > 0) {
      accounts.add(e.account_id);
      ids.add(e.id);
    }
  take_pending(tx, accounts, ids);
}

std::size_t record_skips(shared_tx& tx, const std::vector<skipped_event>& events) {
  sql_array accounts, ids;
  for (auto& e : events) {
    accounts.add(e.event.account_id);
    ids.add(e.journal_id);
  }
  // Only events not decided yet (an actor may have fetched one from the journal meanwhile).
  auto fresh = take_pending(tx.work, accounts, ids);
  for (auto& e : events) {
    if (!fresh.count(e.journal_id)) continue;
    auto row = decision_of(e.event.account_id, e.journal_id, e.event, 0);
    row.outcome = e.outcome;
    tx.merged.decision(std::move(row));
  }
  return fresh.size();
}

std::optional<std::string> record_click(pqxx::connection& c, const std::string& token) {
  pqxx::work tx(c);
  auto r = prepared(
      tx, "UPDATE links SET clicks = clicks + 1 WHERE token = $1 RETURNING url, automation_id",
      token);
  if (r.empty()) return std::nullopt;
  merged_writes counts;
  counts.count(r[0][1].as<std::int64_t>(0), "link_click");
  counts.flush(tx);
  tx.commit();
  return r[0][0].as<std::string>();
}

std::vector<std::string> accounts_with_unfinished_work(pqxx::connection& c) {
  std::vector<std::string> out;
  pqxx::read_transaction tx(c);
  // Once, at start-up: in_flight rows have no index of their own (they are most rows' first
  // state, and an index would cost every insert), so that part scans the outbox. Accounts
  // that cannot send (reauth_required, faulted) wait for their reconnect.
  for (auto const& r :
       tx.exec("SELECT account_id FROM journal_pending"
               " UNION SELECT o.account_id FROM outbox o JOIN ig_accounts g ON g.id = o.account_id"
               "  WHERE o.state IN ('pending', 'in_flight') AND g.status = 'active'"))
    out.push_back(r[0].as<std::string>());
  return out;
}

sealed_token seal_token(const std::string& token_key_hex, const std::string& token,
                        const std::string& account_id) {
  auto key = crypto::from_hex(token_key_hex).value_or("");
  return {crypto::to_hex(crypto::aes256gcm_seal(key, token, account_id)), crypto::key_id(key)};
}

std::optional<std::string> token_key(const std::string& token_key_hex) {
  auto key = crypto::from_hex(token_key_hex);
  if (!key || key->size() != 32) return std::nullopt;
  return key;
}

std::vector<token_due> tokens_due(pqxx::connection& c, const std::string& token_key_hex,
                                  std::chrono::seconds refresh_after,
                                  std::chrono::seconds expiry_margin, std::size_t limit) {
  std::vector<token_due> out;
  auto key = token_key(token_key_hex);
  if (!key) return out;
  pqxx::read_transaction tx(c);
  for (auto const& r : prepared(
           tx,
           "SELECT id, token_ciphertext FROM ig_accounts WHERE status = 'active' AND login_type = "
           "'instagram'"
           " AND token_ciphertext IS NOT NULL AND coalesce(token_expires_at, 'infinity') > now()"
           " AND coalesce(token_refreshed_at, connected_at) < now() - interval '24 hours'"
           " AND (coalesce(token_refreshed_at, connected_at) < now() - make_interval(secs => $1)"
           "      OR token_expires_at < now() + make_interval(secs => $2))"
           " ORDER BY coalesce(token_refreshed_at, connected_at) LIMIT $3",
           static_cast<double>(refresh_after.count()), static_cast<double>(expiry_margin.count()),
           static_cast<std::int64_t>(limit))) {
    auto id = r[0].as<std::string>();
    pqxx::binarystring sealed(r[1]);
    if (auto token = crypto::aes256gcm_open(*key, sealed.str(), id))
      out.push_back({std::move(id), std::move(*token)});
  }
  return out;
}

void store_refreshed_token(pqxx::connection& c, const std::string& account_id,
                           const std::string& token, const std::string& token_key_hex,
                           std::int64_t expires_in_s) {
  auto sealed = seal_token(token_key_hex, token, account_id);
  pqxx::work tx(c);
  // A disconnect meanwhile removed the token: the renewed one is not stored either.
  prepared(
      tx,
      "UPDATE ig_accounts SET token_ciphertext = decode($2, 'hex'), token_key_id = $3,"
      " token_expires_at = CASE WHEN $4::float8 > 0 THEN now() + make_interval(secs => $4::float8)"
      "   ELSE token_expires_at END,"
      " token_refreshed_at = now(), updated_at = now()"
      " WHERE id = $1 AND token_ciphertext IS NOT NULL",
      account_id, sealed.ciphertext_hex, sealed.key_id, static_cast<double>(expires_in_s));
  tx.commit();
}

std::vector<std::string> accounts_with_expired_tokens(pqxx::connection& c) {
  std::vector<std::string> out;
  pqxx::read_transaction tx(c);
  for (auto const& r :
       tx.exec("SELECT id FROM ig_accounts WHERE status = 'active' AND token_expires_at <= now()"))
    out.push_back(r[0].as<std::string>());
  return out;
}

}  // namespace komentra::storage
