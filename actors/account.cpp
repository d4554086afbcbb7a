// The account actor: one per connected Instagram account. It loads its record, token,
// automations and pending work from PostgreSQL (asynchronously, through the pool),
// decides each event with rules::decide, records the decision and the planned actions
// in one transaction, and hands actions to a sender within the account's rate budgets.
// It never blocks: every database call is a pool job whose outcome comes back as a
// message, a task the actor runs on itself. Crashes are handled by the router, which
// restarts it (state is reloaded).
#include <deque>
#include <random>

#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "actors/router.hpp"
#include "common/json_writer.hpp"
#include "protocol/graph_api.hpp"
#include "rules/decide.hpp"
#include "rules/rate_budget.hpp"
#include "storage/pool.hpp"

namespace komentra::actors {
namespace {
struct account_state;
/// What a pool job's outcome or a timer asks of the actor, run on it: one message handler
/// for all of them, since every handler costs each actor ~40 B of its behavior.
using account_task = std::function<void(caf::stateful_actor<account_state>*)>;
}  // namespace
}  // namespace komentra::actors
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(komentra::actors::account_task)

namespace komentra::actors {

namespace {

using bucket = rules::rate_budget;

// Reply variants are picked with this; one engine per scheduler thread instead of one per
// account actor (a 64-bit Mersenne Twister is 2.5 KB, more than the rest of an idle actor).
std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

enum class phase { loading, ready, gone };

/// This actor's share of an engine-wide gauge, given back when the actor goes away
/// (also after a crash).
struct gauge_share {
  std::atomic<std::int64_t>* gauge = nullptr;
  std::int64_t mine = 0;
  void set(std::int64_t n) {
    *gauge += n - mine;
    mine = n;
  }
  ~gauge_share() {
    if (gauge) *gauge -= mine;
  }
};

// A FIFO that holds no memory while empty: an empty std::deque allocates its map and a first
// node (about 600 B, and sizeof(T) for a bigger T), more than the rest of an idle actor, and
// most actors are idle most of the time.
template <class T>
class fifo {
 public:
  bool empty() const { return !items_; }
  std::size_t size() const { return items_ ? items_->size() : 0; }
  void push_back(T x) { items().push_back(std::move(x)); }
  void push_front(T x) { items().push_front(std::move(x)); }
  T pop_front() {
    T x = std::move(items_->front());
    items_->pop_front();
    if (items_->empty()) items_.reset();
    return x;
  }
  /// Every element, oldest first; the fifo is left empty.
  std::deque<T> take() {
    auto items = items_ ? std::move(*items_) : std::deque<T>{};
    items_.reset();
    return items;
  }

 private:
  std::deque<T>& items() {
    if (!items_) items_ = std::make_unique<std::deque<T>>();
    return *items_;
  }
  std::unique_ptr<std::deque<T>> items_;  ///< null while empty
};

// Kept small: an idle actor is this state plus CAF's own ~1.3 KB (see README, Performance).
struct account_state {
  std::shared_ptr<engine_context> ctx;
  phase ph = phase::loading;
  rules::account_info info;  ///< info.id is the account id from the start
  rules::compiled_rules rules;
  std::string status = "active";                ///< ig_accounts.status
  std::optional<std::string> token;             ///< decrypted access token
  fifo<stored_event> waiting;                   ///< events to decide, in order
  bool planning = false;                        ///< one decision in the database at a time
  std::uint8_t refusals = 0;                    ///< of the current event's decision, for good
  std::shared_ptr<const stored_event> current;  ///< the event being planned (retried on failure)
  bool spilled = false;                         ///< events left in the journal past the watermark
  std::vector<storage::outbox_row> queued;      ///< actions waiting for budget or throttle
  std::int64_t tick_at_ms = 0;                  ///< when the armed wake-up fires (0: none armed)
  int in_flight = 0;
  int retrying = 0;  ///< updates the database failed, waiting to be tried again
  int marking = 0;   ///< pending rows being marked in_flight before their call
  std::int64_t throttled_until_ms = 0;
  bucket private_replies, sends, public_replies;
  caf::actor router;      ///< asked for passivation when idle
  bool stopping = false;  ///< the router took us out of its directory: stop once idle
  std::int64_t last_event_ms = 0;
  std::uint64_t events = 0, matched = 0, sent = 0, failed = 0;
  gauge_share waiting_gauge, in_flight_gauge;
  static inline const char* name = "account";
};

using account_ptr = caf::stateful_actor<account_state>*;

// A journal event to decide (after a restart, or fetched again after a spill).
stored_event from_journal(storage::journal_entry& e) {
  return {e.journal_id, std::move(e.delivery_id), std::move(e.event)};
}

void sync_gauges(account_state& st) {
  st.waiting_gauge.set(static_cast<std::int64_t>(st.waiting.size()));
  st.in_flight_gauge.set(st.in_flight);
}

// Has the actor `me` run `task` on itself.
void post(const caf::actor& me, account_task task) {
  caf::anon_send(me, run_atom::value, std::move(task));
}

void on_dbfail(account_ptr self, const std::string& what, const std::string& reason);
void give_up_event(account_ptr self, const std::string& reason);

// Logs a database error of this actor, at most one line per 10 s for all actors together.
void warn_db(account_ptr self, const std::string& what, const std::string& reason) {
  std::uint64_t held = 0;
  if (!self->state.ctx->db_warnings->allow(held)) return;
  spdlog::warn("account {}: database error ({}): {}; retrying{}", self->state.info.id, what, reason,
               held ? fmt::format(" ({} more such errors in the last seconds not logged)", held)
                    : std::string());
}

// Reports a failed database job to the actor `me`.
void post_dbfail(const caf::actor& me, std::string what, std::string reason) {
  post(me, [what = std::move(what), reason = std::move(reason)](account_ptr self) {
    on_dbfail(self, what, reason);
  });
}

// What a database job that failed does next. "load" and "plan" come back as on_dbfail
// (the account is loaded again, the event decided again). Any other job (an outbox
// transition, a follow check's follow-up, a status change, a fetch of spilled events) is
// not given up: a row left in_flight would make the next load read the call back from
// Instagram, a lost follow-up would never send the link. `again(self, attempt + 1)` runs it
// after 1 s, 2 s, 4 s ... (at most 30 s), for as long as the actor lives, which does not
// passivate with one waiting; a violated constraint (SQLSTATE class 23) is not retried, it
// would fail every time. (Written again after an in_doubt commit, a sent or final mark
// changes and counts nothing a second time; nothing is sent twice.)
using retry_fn = std::function<void(account_ptr, int)>;
// `undo` runs on the actor when the job is given up: a load or plan that failed (a plan gives
// back the budget it reserved: the decision made again reserves it again), or a write
// refused for good (an in_flight mark gives back its budget and its place).
std::function<void(const std::string&)> on_failure(const caf::actor& me, const std::string& what,
                                                   int attempt, retry_fn again,
                                                   account_task undo = {}) {
  return [me, what, attempt, again, undo](const std::string& reason) {
    if (what == "plan" && storage::is_permanent(reason)) {
      if (undo) post(me, undo);
      return post(me, [reason](account_ptr self) {
        // Decided again once first: a constraint may have been violated by a change the
        // actor had not loaded yet (an automation deleted meanwhile).
        if (self->state.refusals++ == 0) return on_dbfail(self, "plan", reason);
        give_up_event(self, reason);
      });
    }
    if (what == "load" || what == "plan") {
      if (undo) post(me, undo);
      return post_dbfail(me, what, reason);
    }
    if (storage::is_permanent(reason)) {
      // A violated constraint (an automation deleted meanwhile, say) fails every time: not
      // retried. A row it leaves pending or in flight is read back at the next load.
      spdlog::error("database refused a write ({}): {}; not retried", what, reason);
      if (undo) post(me, undo);
      return;
    }
    post(me, [what, attempt, again, reason](account_ptr self) {
      warn_db(self, what, reason);
      auto delay = std::min(std::chrono::milliseconds(1000 << std::min(attempt, 5)),
                            std::chrono::milliseconds(30000));
      ++self->state.retrying;
      self->delayed_send(self, delay, run_atom::value,
                         account_task{[attempt, again](account_ptr self) {
                           --self->state.retrying;
                           again(self, attempt + 1);
                         }});
    });
  };
}

// Runs `job(connection, me)` on the pool; its outcome comes back as a task (post).
template <class Job>
void db(account_ptr self, Job job, std::string what = "update", int attempt = 0) {
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto failed = on_failure(me, what, attempt,
                           [job, what](account_ptr self, int next) { db(self, job, what, next); });
  bool queued =
      self->state.ctx->db->submit([me, job](pqxx::connection& c) mutable { job(c, me); }, failed);
  if (!queued) failed("database queue full");
}

// Runs a write in a transaction it may share with other accounts' writes (group commit:
// one commit for many small writes). `job(tx, me)` returns what to do after the commit,
// typically a task for this actor.
template <class Job>
void write(account_ptr self, Job job, std::string what = "update", int attempt = 0,
           account_task undo = {}) {
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto failed = on_failure(
      me, what, attempt,
      [job, what, undo](account_ptr self, int next) { write(self, job, what, next, undo); }, undo);
  bool queued = self->state.ctx->db->submit_in_transaction(
      [me, job](storage::shared_tx& tx) mutable -> storage::pool::after_commit {
        return job(tx, me);
      },
      failed);
  if (!queued) failed("database queue full");
}

// A write with nothing to do after its commit.
template <class Job>
void write_only(account_ptr self, Job job) {
  write(self, [job](storage::shared_tx& tx, caf::actor) mutable -> storage::pool::after_commit {
    job(tx);
    return {};
  });
}

void process_next(account_ptr self);
void dispatch(account_ptr self, storage::outbox_row row, bool already_counted);
void dispatch_queued(account_ptr self);

std::string base_url(const account_state& st) {
  return st.info.login == protocol::login_type::facebook ? st.ctx->settings.facebook_graph_base_url
                                                         : st.ctx->settings.graph_base_url;
}

bucket* bucket_for(account_state& st, const std::string& kind) {
  if (kind == "public_reply") return &st.public_replies;
  if (kind == "private_reply") return &st.private_replies;
  if (kind == "follow_check") return nullptr;
  return &st.sends;
}

// Time until `kind` may be sent (0: now).
std::int64_t wait_for(account_state& st, const std::string& kind, std::int64_t now) {
  std::int64_t wait = std::max<std::int64_t>(0, st.throttled_until_ms - now);
  if (auto* b = bucket_for(st, kind)) wait = std::max(wait, b->wait_ms(now));
  if (kind == "private_reply") wait = std::max(wait, st.sends.wait_ms(now));
  return wait;
}

void take_budget(account_state& st, const std::string& kind, std::int64_t now) {
  if (auto* b = bucket_for(st, kind)) b->take(now);
  if (kind == "private_reply") st.sends.take(now);
}

void give_back_budget(account_state& st, const std::string& kind) {
  if (auto* b = bucket_for(st, kind)) b->give_back();
  if (kind == "private_reply") st.sends.give_back();
}

// Wakes the actor to dispatch its queued actions when the soonest of them may go. One
// wake-up is kept, the soonest asked for: a later one is not needed (each dispatch arms the
// next), and an earlier one replaces it (a break test found a DM waiting a second held up for
// an hour behind a public reply's wait armed first). A replaced wake-up does nothing.
void arm_tick(account_ptr self, std::int64_t delay_ms) {
  auto& st = self->state;
  delay_ms = std::max<std::int64_t>(delay_ms, 5);
  auto at = st.ctx->now_ms() + delay_ms;
  if (st.tick_at_ms != 0 && st.tick_at_ms <= at) return;
  st.tick_at_ms = at;
  self->delayed_send(self, std::chrono::milliseconds(delay_ms), run_atom::value,
                     account_task{[at](account_ptr self) {
                       if (self->state.tick_at_ms != at) return;
                       self->state.tick_at_ms = 0;
                       dispatch_queued(self);
                     }});
}

bool can_send(const account_state& st) {
  return st.status == "active" && st.token.has_value();
}

void send_now(account_ptr self, storage::outbox_row row) {
  auto& st = self->state;
  ++st.in_flight;
  st.in_flight_gauge.set(st.in_flight);
  ++st.ctx->counters->actions_planned;
  auto& sender = st.ctx->senders[std::hash<std::string>{}(st.info.id) % st.ctx->senders.size()];
  send_job job{std::move(row), base_url(st), *st.token, caf::actor_cast<caf::actor>(self),
               st.info.id};
  self->send(sender, send_atom::value, std::move(job));
}

// Queues a pending row, or sends it when the budget allows (it is then marked in flight
// in the database before the call, unless it was inserted in flight already).
void dispatch(account_ptr self, storage::outbox_row row, bool in_flight_already) {
  auto& st = self->state;
  if (!can_send(st)) {
    st.queued.push_back(std::move(row));
    return;
  }
  auto now = st.ctx->now_ms();
  auto wait = std::max(wait_for(st, row.kind, now), row.not_before_ms - now);
  if (wait > 0) {
    ++st.ctx->counters->budget_waits;
    st.ctx->counters->budget_wait_ms += static_cast<std::uint64_t>(wait);
    if (in_flight_already || now + wait > row.stored_not_before_ms + 1000) {
      // Over the budget: the row waits as pending with its not-before time, which the
      // dashboard shows and a restart keeps (a wait that is only the row's own not-before
      // time is stored already). In memory the row keeps its own not-before time: the
      // budget's wait is worked out again at each try, so a budget raised meanwhile (a new
      // cap for the account) lets it go at once.
      auto id = row.id;
      auto at = now + wait;
      write_only(self, [id, at](storage::shared_tx& tx) {
        storage::reschedule(tx.work, id, at, storage::over_budget);
      });
      row.stored_not_before_ms = at;
    }
    st.queued.push_back(std::move(row));
    ++st.ctx->counters->queued_actions;
    arm_tick(self, wait);
    return;
  }
  take_budget(st, row.kind, now);
  if (in_flight_already) return send_now(self, std::move(row));
  // The call waits for the in_flight mark's commit: a crash or an outage after the call
  // then finds the row interrupted and reads it back instead of sending it blind again.
  ++st.marking;
  auto rowp = std::make_shared<storage::outbox_row>(std::move(row));
  auto not_sent = [rowp](account_ptr self) {
    auto& st = self->state;
    --st.marking;
    give_back_budget(st, rowp->kind);
    process_next(self);
  };
  write(
      self,
      [rowp, not_sent](storage::shared_tx& tx, caf::actor me) -> storage::pool::after_commit {
        bool pending = storage::mark_in_flight(tx.work, rowp->id);
        return [me, rowp, pending, not_sent] {
          post(me, [rowp, pending, not_sent](account_ptr self) {
            if (!pending) {
              spdlog::info(
                  "account {}: {} {} is no longer pending (cancelled or settled); not "
                  "sent",
                  self->state.info.id, rowp->kind, rowp->id);
              return not_sent(self);
            }
            --self->state.marking;
            send_now(self, std::move(*rowp));
          });
        };
      },
      "mark", 0, not_sent);
}

// Every queued action is dispatched again: sent, or queued with a new wait.
void dispatch_queued(account_ptr self) {
  auto& st = self->state;
  auto queued = std::move(st.queued);
  st.queued.clear();
  st.ctx->counters->queued_actions -= static_cast<std::int64_t>(queued.size());
  for (auto& row : queued) dispatch(self, std::move(row), false);
}

void drain_queue(account_ptr self) {
  if (can_send(self->state)) dispatch_queued(self);
}

void apply_snapshot(account_ptr self, storage::account_snapshot& snap) {
  auto& st = self->state;
  auto& s = st.ctx->settings;
  st.status = snap.account.status;
  st.token = snap.account.token;
  st.info.username = snap.account.username;
  st.info.login = snap.account.login_type == "facebook" ? protocol::login_type::facebook
                                                        : protocol::login_type::instagram;
  st.info.page_id = snap.account.page_id;
  st.info.graph_version = s.graph_version;
  st.info.link_base_url = s.link_base_url;
  st.rules = rules::compiled_rules::compile(std::move(snap.automations));
  st.private_replies.configure(snap.account.private_replies_per_hour, std::chrono::hours(1));
  st.sends.configure(snap.account.sends_per_second, std::chrono::seconds(1));
  st.public_replies.configure(s.public_replies_per_hour, std::chrono::hours(1));
  // A reload (new caps, automations) keeps a pause taken meanwhile that is not stored (the
  // one at 95% of Meta's usage): it lasts as long as Meta's reason for it.
  st.throttled_until_ms = std::max(st.throttled_until_ms, snap.account.throttled_until_ms);
  if (!snap.account.token && snap.account.status == "active")
    spdlog::warn("account {}: cannot send: {}", st.info.id, snap.account.token_problem);
}

void on_plan(account_ptr self, const stored_event& ev, const rules::decision& d,
             storage::plan_result& res, const std::vector<bool>& reserved) {
  auto& st = self->state;
  // Budget reserved for actions that turned out to be planned before is returned.
  for (std::size_t i = 0; i < d.actions.size(); ++i) {
    bool is_new = std::any_of(res.new_actions.begin(), res.new_actions.end(), [&](auto& r) {
      return r.kind == rules::to_string(d.actions[i].kind) &&
             r.source_key == d.actions[i].source_key;
    });
    if (reserved[i] && !is_new) give_back_budget(st, rules::to_string(d.actions[i].kind));
  }
  // An event can reach the actor twice (live and from the journal after a restart); only
  // its recorded decision counts.
  if (res.already_processed) return;
  ++st.events;
  ++st.ctx->counters->events;
  if (d.outcome == "matched") {
    ++st.matched;
    ++st.ctx->counters->matched;
  } else if (d.outcome.rfind("skipped:", 0) == 0) {
    ++st.ctx->counters->skipped;
  }
  spdlog::debug(
      "account {}: delivery {}: event {}: {}{}", st.info.id, ev.delivery_id, ev.event.dedupe_key,
      d.outcome,
      d.actions.empty() ? "" : ", " + std::to_string(res.new_actions.size()) + " new action(s)");
  for (auto& row : res.new_actions) {
    row.delivery_id = ev.delivery_id;
    if (row.state == "in_flight")
      send_now(self, std::move(row));
    else
      dispatch(self, std::move(row), false);
  }
}

void decide_next(account_ptr self) {
  auto& st = self->state;
  auto ev = st.waiting.pop_front();
  auto d = std::make_shared<rules::decision>(
      rules::decide(st.info, st.rules, ev.event, st.ctx->now_ms(), thread_rng()));
  if (st.status != "active" && d->outcome == "matched") {
    d->outcome = "skipped:account_" + st.status;
    d->actions.clear();
  }
  // Reserve budget now so actions that can go at once are inserted in flight: one
  // database round trip between the webhook and the Graph API call.
  auto now = st.ctx->now_ms();
  auto reserved = std::make_shared<std::vector<bool>>();
  for (auto& a : d->actions) {
    auto kind = rules::to_string(a.kind);
    bool go = can_send(st) && wait_for(st, kind, now) == 0;
    if (go) take_budget(st, kind, now);
    reserved->push_back(go);
  }
  st.planning = true;
  auto evp = std::make_shared<const stored_event>(std::move(ev));
  st.current = evp;
  auto id = st.info.id;
  write(
      self,
      [id, evp, d, reserved](storage::shared_tx& tx, caf::actor me) -> storage::pool::after_commit {
        auto res = std::make_shared<storage::plan_result>(storage::record_decision(
            tx, id, evp->journal_id, evp->event, *d, *reserved, evp->replay));
        return [me, evp, d, res, reserved] {
          post(me, [evp, d, res, reserved](account_ptr self) {
            self->state.planning = false;
            self->state.refusals = 0;
            self->state.current.reset();
            on_plan(self, *evp, *d, *res, *reserved);
            process_next(self);
          });
        };
      },
      "plan", 0,
      [d, reserved](account_ptr self) {
        for (std::size_t i = 0; i < d->actions.size() && i < reserved->size(); ++i)
          if ((*reserved)[i]) give_back_budget(self->state, rules::to_string(d->actions[i].kind));
      });
}

bool idle(const account_state& st) {
  // Queued rows of an account that cannot send (reauth_required, faulted) wait in the
  // outbox for the reconnect, which starts the actor again; they do not keep it alive.
  return st.waiting.empty() && (st.queued.empty() || st.status != "active") && st.in_flight == 0 &&
         st.marking == 0 && !st.planning && st.retrying == 0;
}

void process_next(account_ptr self) {
  auto& st = self->state;
  sync_gauges(st);
  if (st.stopping && idle(st)) return self->quit();
  if (st.ph != phase::ready || st.planning) return;
  if (!st.waiting.empty()) {
    decide_next(self);
    return sync_gauges(st);
  }
  if (st.spilled) {
    // Caught up: fetch what was left in the journal past the watermark. All of the
    // account's undecided events, not only those past the last id seen: several journal
    // writers commit ids out of order. Nothing is waiting here now, and an event that is
    // also still in the mailbox is decided once (record_decision's processed mark).
    st.spilled = false;
    auto id = st.info.id;
    auto limit = st.ctx->settings.mailbox_high_watermark;
    db(
        self,
        [id, limit](pqxx::connection& c, caf::actor me) {
          auto batch = std::make_shared<std::vector<storage::journal_entry>>(
              storage::load_unprocessed(c, id, limit));
          post(me, [batch](account_ptr self) {
            auto& st = self->state;
            if (batch->size() >= st.ctx->settings.mailbox_high_watermark) st.spilled = true;
            for (auto& e : *batch) st.waiting.push_back(from_journal(e));
            process_next(self);
          });
        },
        "fetch");
  }
}

void handle_result(account_ptr self, send_result& r);

// A call that did not go through (a throttle, an outage) waits as pending until `at`,
// stored so that a restart keeps it; a write that may have landed keeps its mark, so the
// next try (or the next actor) reads back before it writes.
void wait_again(account_ptr self, storage::outbox_row row, std::int64_t at, const char* reason) {
  auto& st = self->state;
  write_only(self, [id = row.id, at, reason, verify = row.verify_first](storage::shared_tx& tx) {
    storage::reschedule(tx.work, id, at, reason, verify);
  });
  row.not_before_ms = row.stored_not_before_ms = at;
  st.queued.push_back(std::move(row));
  ++st.ctx->counters->queued_actions;
  arm_tick(self, at - st.ctx->now_ms());
}

void handle_result_then_continue(account_ptr self, send_result& r) {
  handle_result(self, r);
  process_next(self);
}

void handle_result(account_ptr self, send_result& r) {
  auto& st = self->state;
  --st.in_flight;
  auto row = r.row;
  auto now = st.ctx->now_ms();
  auto counters = st.ctx->counters;
  // Usage near the limit: slow down before Meta throttles (§5.2).
  if (r.usage_percent >= 95 && st.throttled_until_ms < now + 60000)
    st.throttled_until_ms = now + 60000;
  if (r.outcome == "ok") {
    ++st.sent;
    ++counters->actions_sent;
    if (row.kind == "public_reply")
      ++counters->public_replies;
    else if (row.kind != "follow_check")
      ++counters->dms;
    auto result_id = r.result_id;
    write_only(
        self, [row, result_id](storage::shared_tx& tx) { storage::mark_sent(tx, row, result_id); });
    if (row.kind != "follow_check") return;
    // A follow check answered: the link, a re-prompt, or nothing.
    auto follows = protocol::parse_follows(r.body);
    auto* a = st.rules.find(row.automation_id);
    if (!a) return;
    auto id = st.info.id;
    auto comment = row.source_key.substr(0, row.source_key.find(':'));
    auto automation = *a;
    auto info = st.info;
    auto seed = thread_rng()();
    write(self, [=](storage::shared_tx& tx, caf::actor me) -> storage::pool::after_commit {
      int prompts = storage::bump_follow_prompts(tx.work, id, row.recipient_id, automation.id,
                                                 comment, follows);
      // The funnel's step between the tap and the link (error 230 sends the link unconfirmed).
      if (follows.value_or(false)) tx.merged.count(automation.id, "following");
      std::mt19937_64 rng(seed);
      auto actions = rules::after_follow_check(info, automation, row.recipient_id, comment, follows,
                                               prompts, rng);
      auto res =
          std::make_shared<storage::plan_result>(storage::record_actions(tx, id, actions, false));
      // The follow-up is planned by the tap whose check this was: its delivery.
      return [me, res, delivery = row.delivery_id] {
        post(me, [res, delivery](account_ptr self) {
          for (auto& next : res->new_actions) {
            next.delivery_id = delivery;
            dispatch(self, std::move(next), false);
          }
        });
      };
    });
    return;
  }
  auto fail = [&](const std::string& state, const std::string& analytics) {
    if (state == "unknown")
      ++counters->actions_unknown;
    else
      ++counters->actions_failed;
    ++st.failed;
    auto error = r.error;
    write_only(self, [row, state, error, analytics](storage::shared_tx& tx) {
      storage::mark_final(tx, row, state, error, analytics);
    });
  };
  auto prefix =
      row.kind == "public_reply" ? std::string("public_reply_failed:") : std::string("dm_failed:");
  if (r.outcome == "throttled" || r.outcome == "spam_blocked") {
    ++counters->throttled;
    // BR-30: no tight loop; the first retry waits at least a minute, or as Meta says.
    auto pause_ms = r.outcome == "spam_blocked"
                        ? std::int64_t{6} * 3600 * 1000
                        : std::max<std::int64_t>(60000, r.regain_minutes * 60000LL);
    st.throttled_until_ms = std::max(st.throttled_until_ms, now + pause_ms);
    auto until = st.throttled_until_ms;
    auto id = st.info.id;
    spdlog::warn("account {}: throttled by Meta ({}); sends paused for {} s", id, r.error,
                 pause_ms / 1000);
    give_back_budget(st, row.kind);  // Meta refused the call: it counts in no hour
    write_only(self, [id, until](storage::shared_tx& tx) {
      storage::set_throttled_until(tx.work, id, until);
    });
    return wait_again(self, std::move(row), until, "throttled");
  }
  if (r.outcome == "unreachable") {
    // The Graph API could not be reached (our network or Meta down): nothing was sent, or
    // what was cannot be read back yet. Not the action's failure: it waits as pending and
    // is tried again, 10, 20, 40 ... at most 300 retry bases apart (5 s to 5 min by
    // default), for up to engine.unreachable_give_up_hours after it was planned.
    auto give_up =
        std::chrono::duration_cast<std::chrono::milliseconds>(st.ctx->settings.unreachable_give_up)
            .count();
    if (row.created_ms > 0 && now - row.created_ms > give_up)
      return fail("failed", prefix + "graph_api_unreachable");
    if (!row.verify_first) give_back_budget(st, row.kind);  // nothing was sent
    ++counters->actions_deferred;
    auto base = st.ctx->settings.retry_base.count();
    auto delay = std::min(300 * base, (10 * base) << std::min(std::max(row.attempts, 1) - 1, 5));
    ++row.attempts;
    std::uint64_t held = 0;
    if (st.ctx->outage_warnings->allow(held))
      spdlog::warn("account {}: Graph API unreachable ({}); {} {} tried again in {} s{}",
                   st.info.id, r.error, row.kind, row.id, delay / 1000,
                   held ? fmt::format(" ({} more actions deferred in the last seconds)", held)
                        : std::string());
    return wait_again(self, std::move(row), now + delay, "graph_api_unreachable");
  }
  if (r.outcome == "token_invalid") {
    // BR-28: reconnect needed; stop sending at once, pause automations, tell the owner.
    fail("failed", prefix + "token_invalid");
    if (st.status == "active") {
      st.status = "reauth_required";
      ++counters->accounts_reauth;
      auto id = st.info.id;
      spdlog::warn("account {}: access token rejected ({}); automations paused until reconnected",
                   id, r.error);
      db(
          self,
          [id](pqxx::connection& c, caf::actor) {
            storage::set_account_status(
                c, id, "reauth_required",
                "Instagram rejected the access token; reconnect the account");
          },
          "status");
    }
    return;
  }
  if (r.outcome == "already_replied") {
    // Meta refused a second private reply to this comment: ours (sent again after a lost
    // answer, or by another automation) is there, so it counts as sent.
    r.outcome = "ok";
    r.result_id = "already replied";
    ++st.in_flight;
    return handle_result(self, r);
  }
  if (r.outcome == "no_consent" && row.kind == "follow_check") {
    // Error 230: the profile is not readable yet; send the link (fact sheet §4.6).
    r.outcome = "ok";
    r.body = "{}";
    ++st.in_flight;
    return handle_result(self, r);
  }
  if (r.outcome == "unknown") return fail("unknown", prefix + "outcome_unknown");
  fail("failed", prefix + r.outcome);
}

void on_loaded(account_ptr self, storage::account_snapshot& snap) {
  auto& st = self->state;
  if (!snap.found) {
    // Not a connected account: its events are marked processed and dropped, and the
    // router drops its next ones itself for a while (no load per event).
    spdlog::info("account {}: not connected; {} event(s) ignored", st.info.id,
                 st.waiting.size() + snap.unprocessed.size());
    std::vector<storage::journal_key> ids;
    for (auto& e : st.waiting.take()) ids.push_back({st.info.id, e.journal_id});
    for (auto& e : snap.unprocessed) ids.push_back({st.info.id, e.journal_id});
    st.ph = phase::gone;
    write_only(self, [ids](storage::shared_tx& tx) { storage::mark_processed(tx.work, ids); });
    if (st.router) caf::anon_send(st.router, unknown_atom::value, st.info.id);
    self->quit();
    return;
  }
  apply_snapshot(self, snap);
  // The hourly budgets start with the last hour's calls counted (a private reply also used
  // a send, but that second is long gone).
  for (auto at : snap.recent_private_replies) st.private_replies.take(at);
  for (auto at : snap.recent_public_replies) st.public_replies.take(at);
  // Journal events not yet decided come first (they are older); duplicates of
  // queued live events are dropped by the journal's processed mark.
  fifo<stored_event> replay;
  for (auto& e : snap.unprocessed) replay.push_back(from_journal(e));
  if (snap.unprocessed.size() >= st.ctx->settings.mailbox_high_watermark) st.spilled = true;
  for (auto& e : st.waiting.take()) replay.push_back(std::move(e));
  st.waiting = std::move(replay);
  st.ph = phase::ready;
  for (auto& row : snap.pending) dispatch(self, std::move(row), false);
  process_next(self);
}

// Loads everything the actor needs (a new actor, or one whose load failed).
void load(account_ptr self) {
  auto& st = self->state;
  auto id = st.info.id;
  auto key = st.ctx->settings.token_key_hex;
  auto limit = st.ctx->settings.mailbox_high_watermark;
  db(
      self,
      [id, key, limit](pqxx::connection& c, caf::actor me) {
        auto snap =
            std::make_shared<storage::account_snapshot>(storage::load_account(c, id, key, limit));
        post(me, [snap](account_ptr self) { on_loaded(self, *snap); });
      },
      "load");
}

// Automations (or the account's settings) changed.
void reload_rules(account_ptr self) {
  auto& st = self->state;
  auto id = st.info.id;
  auto key = st.ctx->settings.token_key_hex;
  db(
      self,
      [id, key](pqxx::connection& c, caf::actor me) {
        auto snap = std::make_shared<storage::account_snapshot>(
            storage::load_account(c, id, key, 0, false));
        post(me, [snap](account_ptr self) {
          auto& st = self->state;
          if (!snap->found) return self->quit();
          apply_snapshot(self, *snap);
          spdlog::info("account {}: {} automation(s) compiled", st.info.id, st.rules.size());
          drain_queue(self);
        });
      },
      "reload");
}

// PostgreSQL refused the event's decision for good (a value it cannot store): trying again
// would hold the account's later events behind it forever. The event is recorded as
// skipped:undecidable, without its content (which may be what was refused), and the next one
// is decided.
void give_up_event(account_ptr self, const std::string& reason) {
  auto& st = self->state;
  auto ev = std::move(st.current);
  st.planning = false;
  st.refusals = 0;
  if (ev) {
    spdlog::error(
        "account {}: delivery {}: the decision of event {} cannot be stored ({}); "
        "recorded as skipped:undecidable",
        st.info.id, ev->delivery_id, ev->journal_id, reason);
    storage::skipped_event skipped;
    skipped.journal_id = ev->journal_id;
    skipped.event.account_id = st.info.id;
    skipped.event.kind = ev->event.kind;
    skipped.outcome = "skipped:undecidable";
    write_only(self, [skipped](storage::shared_tx& tx) { storage::record_skips(tx, {skipped}); });
    ++st.ctx->counters->events;
    ++st.ctx->counters->skipped;
  }
  process_next(self);
}

void on_dbfail(account_ptr self, const std::string& what, const std::string& reason) {
  auto& st = self->state;
  warn_db(self, what, reason);
  // The database being away is not this account's fault: wait and try again. The
  // journal keeps the events meanwhile (other jobs are retried, see on_failure).
  if (what == "load") {
    self->delayed_send(self, std::chrono::seconds(1), reload_atom::value);
  } else if (what == "plan" && st.current) {
    st.waiting.push_front(*st.current);
    st.current.reset();
    self->delayed_send(self, std::chrono::seconds(1), run_atom::value,
                       account_task{[](account_ptr self) {
                         self->state.planning = false;
                         process_next(self);
                       }});
  }
}

caf::behavior account_impl(account_ptr self, std::shared_ptr<engine_context> ctx, std::string id) {
  auto& st = self->state;
  st.ctx = ctx;
  st.info.id = id;
  st.waiting_gauge.gauge = &ctx->counters->waiting_events;
  st.in_flight_gauge.gauge = &ctx->counters->in_flight;
  ++ctx->counters->actors_active;
  ++ctx->counters->actors_spawned;
  self->attach_functor(
      [counters = ctx->counters](const caf::error&) { --counters->actors_active; });
  load(self);
  // Few handlers: each one costs every actor ~40 B (the outcomes of its own database jobs
  // and timers all come as tasks).
  return {
      [=](run_atom, account_task& task) { task(self); },
      [=](event_atom, stored_event& ev) {
        auto& st = self->state;
        st.last_event_ms = st.ctx->now_ms();
        if (st.waiting.size() >= st.ctx->settings.mailbox_high_watermark) {
          // Bounded memory: the event stays unprocessed in the journal and is fetched
          // again once the backlog is worked off.
          st.spilled = true;
          ++st.ctx->counters->mailbox_spills;
          return;
        }
        st.waiting.push_back(std::move(ev));
        process_next(self);
      },
      [=](replay_atom, const std::string& replay_id, journal_batch_ptr& batch) {
        // Bounded by the admin request's limit, so the watermark does not apply.
        auto& st = self->state;
        spdlog::info("account {}: delivery {}: deciding {} journal event(s) again", st.info.id,
                     replay_id, batch->size());
        st.ctx->counters->events_replayed += batch->size();
        for (auto& e : *batch)
          st.waiting.push_back({e.journal_id, replay_id, std::move(e.event), true});
        process_next(self);
      },
      [=](result_atom, send_result& r) { handle_result_then_continue(self, r); },
      [=](reload_atom) {
        if (self->state.ph == phase::loading)
          load(self);
        else
          reload_rules(self);
      },
      [=](state_atom) -> std::string {
        auto& st = self->state;
        auto now = st.ctx->now_ms();
        json::writer w;
        w.begin_object().field("account_id", st.info.id).field("username", st.info.username);
        w.field("status", st.ph == phase::loading ? std::string("loading") : st.status);
        w.field("mailbox_depth", static_cast<std::int64_t>(self->mailbox().size()));
        w.field("waiting_events", static_cast<std::int64_t>(st.waiting.size()));
        w.field("queued_actions", static_cast<std::int64_t>(st.queued.size()));
        w.field("in_flight", st.in_flight)
            .field("compiled_rules", static_cast<std::int64_t>(st.rules.size()));
        w.field("last_event_ms", st.last_event_ms);
        w.field("throttled_for_ms", std::max<std::int64_t>(0, st.throttled_until_ms - now));
        w.key("budget_left").begin_object();
        w.field("private_replies", st.private_replies.left(now));
        w.field("sends", st.sends.left(now));
        w.field("public_replies", st.public_replies.left(now));
        w.end_object();
        w.field("events", static_cast<std::int64_t>(st.events))
            .field("matched", static_cast<std::int64_t>(st.matched));
        w.field("sent", static_cast<std::int64_t>(st.sent))
            .field("failed", static_cast<std::int64_t>(st.failed));
        w.end_object();
        return w.take();
      },
      [=](passivate_atom, caf::actor& router) { self->state.router = std::move(router); },
      [=](passivate_atom) {
        auto& st = self->state;
        st.stopping = true;
        ++st.ctx->counters->actors_passivated;
        process_next(self);
      },
      caf::after(ctx->settings.passivate_after) >>
          [=] {
            auto& st = self->state;
            if (idle(st) && st.router && !st.stopping)
              self->send(st.router, passivate_atom::value, st.info.id);
          },
  };
}

}  // namespace

caf::actor spawn_account(caf::actor_system& sys, std::shared_ptr<engine_context> ctx,
                         std::string account_id) {
  return sys.spawn(account_impl, std::move(ctx), std::move(account_id));
}

}  // namespace komentra::actors
