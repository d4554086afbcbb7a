#pragma once
/// The engine's SQL: loading an account (record, decrypted token, automations, pending
/// outbox rows, unprocessed journal events), recording a decision with its planned
/// actions in one transaction (exactly once per journal event), outbox state changes,
/// analytics counters, and account status changes with owner notifications. Runs on
/// database pool threads; throws pqxx exceptions (the caller reports them).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/connection>
#include <pqxx/transaction>

#include "protocol/webhook_event.hpp"
#include "rules/automation.hpp"
#include "rules/decide.hpp"
#include "storage/merged_writes.hpp"

namespace komentra::storage {

struct account_record {
  std::string id;
  std::int64_t workspace_id = 0;
  std::string username;
  std::string login_type = "instagram";
  std::string page_id;
  std::string status = "active";
  std::optional<std::string> token;  ///< decrypted; nullopt when absent or undecryptable
  std::string token_problem;         ///< why token is nullopt
  int private_replies_per_hour = 750;
  int sends_per_second = 100;
  std::int64_t throttled_until_ms = 0;
};

/// An account's send budgets as the engine applies them, `prh` and `sps`: the account's own
/// (lower) ones, else its workspace's defaults, else Meta's limits (750 private replies an
/// hour; the Send API's 100 calls a second). For a query over `ig_accounts a JOIN workspaces w`.
inline constexpr const char* budget_columns =
    "coalesce(a.private_replies_per_hour,"
    " (w.settings->>'default_private_replies_per_hour')::int, 750) AS prh,"
    " coalesce(a.sends_per_second, (w.settings->>'default_sends_per_second')::int, 100) AS sps";

/// The last_error of a row waiting for its account's budget. Its not-before time is shown
/// and kept, but not the row's own: a new actor works the wait out again from the budget
/// (seeded from the outbox), so a cap raised across a restart applies at once.
inline constexpr const char* over_budget = "over_budget";

struct outbox_row {
  std::int64_t id = 0;
  std::string kind;
  std::int64_t automation_id = 0;
  std::string source_key;
  std::string recipient_id;
  std::string method;
  std::string path;
  std::string body;
  std::string state;
  int attempts = 0;
  /// Not sent before (a retry's backoff, a throttle, an outage; after a restart also a budget
  /// wait stored before).
  std::int64_t not_before_ms = 0;
  /// The not-before time in the database, which also holds budget waits (for the dashboard
  /// and restarts) that the running actor recomputes instead, so a budget raised meanwhile
  /// applies at once.
  std::int64_t stored_not_before_ms = 0;
  std::int64_t created_ms = 0;  ///< when it was planned
  /// Webhook delivery that planned it, for logs (not stored): "recovered" for a row
  /// load_account returns.
  std::string delivery_id;
  /// May have landed (interrupted in flight, or cut off with the read-backs unable to
  /// connect): the sender reads back before it writes again. Stored, never cleared.
  bool verify_first = false;
};

struct journal_entry {
  std::int64_t journal_id = 0;
  std::string delivery_id;  ///< correlation id of the webhook delivery that brought it
  protocol::webhook_event event;
};

struct account_snapshot {
  bool found = false;
  account_record account;
  std::vector<rules::automation> automations;
  std::vector<outbox_row> pending;         ///< pending rows to (re)send
  std::vector<journal_entry> unprocessed;  ///< journal events not yet decided
  /// When the account's private and public replies of about the last hour were called (ms
  /// since the epoch, oldest first): a new actor's hourly budgets start with them counted,
  /// so a restart or a passivation never grants a fresh hour.
  std::vector<std::int64_t> recent_private_replies, recent_public_replies;
};

/// Loads everything an account actor needs. With `recover` (a new actor), rows left
/// in_flight by a crash go back to pending marked interrupted (the sender reads back before
/// it writes again), and pending rows, unprocessed journal events and the last hour's calls
/// are returned; without it (a running actor reloading its automations) only the record and
/// automations.
account_snapshot load_account(pqxx::connection& c, const std::string& account_id,
                              const std::string& token_key_hex, std::size_t max_unprocessed,
                              bool recover = true);

/// Active automations of an account (for recompiling after a change).
std::vector<rules::automation> load_automations(pqxx::connection& c, const std::string& account_id);

/// An account's undecided journal events, oldest id first, at most `limit`.
std::vector<journal_entry> load_unprocessed(pqxx::connection& c, const std::string& account_id,
                                            std::size_t limit);

struct plan_result {
  bool already_processed = false;       ///< the journal event was decided before: nothing done
  std::vector<outbox_row> new_actions;  ///< actions inserted now (not duplicates)
};

/// The writes below run inside the caller's transaction (which other jobs may share, see
/// storage::pool) and never commit or abort it; nothing they skip needs undoing. Those
/// taking a shared_tx leave their decisions, counts, contacts and sent marks to its
/// merged_writes (written at the commit).
///
/// Records the decision for one event and inserts its actions into the outbox, in one
/// transaction. `journal_id` 0 means the decision does not come from a journal event
/// (a follow-check result). Actions whose index is in `send_now` are inserted in_flight.
///
/// A `replay` of a journal event that was decided before records nothing unless it plans
/// an action the outbox does not have yet (its unique keys: one action per source, kind
/// and automation, one private reply per comment); then the decision is recorded as for a
/// new event. So nothing is sent twice, and replaying the same range again changes nothing
/// (such a replay reports already_processed, so it is not counted again either).
/// A replayed event not decided yet is decided as usual.
plan_result record_decision(shared_tx& tx, const std::string& account_id, std::int64_t journal_id,
                            const protocol::webhook_event& ev, const rules::decision& d,
                            const std::vector<bool>& send_now, bool replay = false);

/// Journal events of an account received in [from, to) (timestamps PostgreSQL parses,
/// e.g. ISO 8601), oldest first, at most `limit`; decided or not.
std::vector<journal_entry> load_journal_range(pqxx::connection& c, const std::string& account_id,
                                              const std::string& from, const std::string& to,
                                              std::size_t limit);

/// Inserts follow-up actions (follow-gate results) for an account.
plan_result record_actions(shared_tx& tx, const std::string& account_id,
                           const std::vector<rules::planned_action>& actions, bool send_now);

/// Outbox transitions; each also counts the action's daily analytics metric when sent.
/// False when the row is not pending any more (cancelled, settled): it must not be sent.
bool mark_in_flight(pqxx::work& tx, std::int64_t id);
void mark_sent(shared_tx& tx, const outbox_row& row, const std::string& result_id);
/// failed (permanent), unknown (outcome unknown), cancelled. `analytics_outcome` (e.g.
/// "dm_failed:user_unavailable") is recorded as a decision and a daily metric.
void mark_final(shared_tx& tx, const outbox_row& row, const std::string& state,
                const std::string& error, const std::string& analytics_outcome);
/// A pending or in-flight row waits until `not_before_ms`; a settled or cancelled one is left
/// alone. `verify_first` marks it to be read back before it is sent (a write that may have
/// landed); a row marked so keeps its mark through every later wait.
void reschedule(pqxx::work& tx, std::int64_t id, std::int64_t not_before_ms,
                const std::string& error, bool verify_first = false);

/// Sets the account's status (reauth_required, faulted, active) with a reason; any status
/// other than active pauses its active automations (paused_reason: the status) and notifies
/// the owners once.
void set_account_status(pqxx::connection& c, const std::string& account_id,
                        const std::string& status, const std::string& reason);

/// What a status other than active means, in the caller's transaction (the OAuth callback's
/// when the webhook subscription is not confirmed): the account's active automations pause
/// with the status as paused_reason, and the workspace's owners get one notification.
void pause_for_status(pqxx::work& tx, std::int64_t workspace_id, const std::string& account_id,
                      const std::string& status, const std::string& reason);

/// Undoes what Komentra paused once the owner has reconnected the account (a new token,
/// status active), the only way back for a reauth_required or a faulted account: the
/// automations paused for either status run again, those paused for another reason (by a
/// user, say) stay paused, and the statuses' notifications count as read, so a later
/// rejection or crash loop notifies again. In the caller's transaction (the OAuth callback's).
void resume_after_reconnect(pqxx::work& tx, const std::string& account_id);

/// Disconnects an account (by its owner, or deauthorized on Instagram): forgets its token,
/// removes the automations that would run again (active ones, and those Komentra paused
/// for a reauth or a crash loop; the privacy policy's "removes related active
/// automations"), cancels its pending actions and drops its media cache. Automations a
/// user paused by hand stay, paused. False when there is no such account.
bool disconnect_account(pqxx::work& tx, const std::string& account_id, const std::string& reason);

/// Access tokens at rest: AES-256-GCM under token_key (64 hex digits) with the account id
/// as associated data, so a ciphertext cannot be moved to another account; key_id names
/// the key so keys can rotate.
struct sealed_token {
  std::string ciphertext_hex;
  std::string key_id;
};
sealed_token seal_token(const std::string& token_key_hex, const std::string& token,
                        const std::string& account_id);
/// The 32-byte key of token_key; nullopt when it is not 64 hex digits.
std::optional<std::string> token_key(const std::string& token_key_hex);

/// An access token the refresher should renew now.
struct token_due {
  std::string account_id;
  std::string token;  ///< decrypted
};

/// Active accounts whose long-lived token is due: refreshed more than `refresh_after` ago
/// or expiring within `expiry_margin`, but at least 24 h old (Meta refuses younger ones)
/// and not expired. Tokens that do not decrypt with the key are left out (the account
/// actor reports those). At most `limit`, oldest refresh first.
std::vector<token_due> tokens_due(pqxx::connection& c, const std::string& token_key_hex,
                                  std::chrono::seconds refresh_after,
                                  std::chrono::seconds expiry_margin, std::size_t limit);

/// Stores a renewed token, encrypted with the key, and its new expiry.
void store_refreshed_token(pqxx::connection& c, const std::string& account_id,
                           const std::string& token, const std::string& token_key_hex,
                           std::int64_t expires_in_s);

/// Active accounts whose token has expired: a refresh cannot save them any more.
std::vector<std::string> accounts_with_expired_tokens(pqxx::connection& c);

/// Remembers that the account is throttled until then (survives restarts).
void set_throttled_until(pqxx::work& tx, const std::string& account_id, std::int64_t until_ms);

/// Follow gate bookkeeping: how many prompts the user got; increments and returns it.
int bump_follow_prompts(pqxx::work& tx, const std::string& account_id, const std::string& igsid,
                        std::int64_t automation_id, const std::string& source_key,
                        std::optional<bool> follows);

/// An event decided without its account's actor (our own comments and DM echoes).
struct skipped_event {
  std::int64_t journal_id = 0;
  protocol::webhook_event event;
  std::string outcome;  ///< e.g. "skipped:echo"
};

/// Marks those not decided yet decided and records their decisions (no contact, no count:
/// they are not the audience's, nor an automation's). Returns how many it recorded.
std::size_t record_skips(shared_tx& tx, const std::vector<skipped_event>& events);

/// A journal event by its account and id, the key of its pending row while undecided.
struct journal_key {
  std::string account_id;
  std::int64_t id = 0;
};

/// Marks journal events decided without a decision row (events of unknown accounts).
void mark_processed(pqxx::work& tx, const std::vector<journal_key>& events);

/// Counts a click on a tracked link; returns where it redirects (nullopt: unknown token).
std::optional<std::string> record_click(pqxx::connection& c, const std::string& token);

/// Ids of accounts with work left from before the last stop: journal events not decided,
/// actions pending (waiting for a budget, a retry) or interrupted in flight of an active
/// account. Their actors start at once rather than at the account's next event.
std::vector<std::string> accounts_with_unfinished_work(pqxx::connection& c);

}  // namespace komentra::storage
