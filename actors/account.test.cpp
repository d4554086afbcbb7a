// The account actor's protocol, run by CAF's deterministic scheduler with injected time:
// an event is decided and its actions planned in the outbox (a real PostgreSQL), handed to a
// sender (here the test, which answers as a sender would), and settled by the result; a
// budget spent queues an action until the clock has moved on; a crashed actor is restarted
// by the router and reloads its state.
#define CAF_SUITE account
#include <pqxx/pqxx>

#include "actors/engine.hpp"
#include "actors/router.hpp"
#include "storage/journal_store.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"

// Last: it defines macros (allow, expect) that clash with names in the headers above.
#include <caf/test/dsl.hpp>

using namespace komentra;
using namespace komentra::actors;
using namespace std::chrono_literals;

namespace {

constexpr const char* account_id = "17841400000000001";
constexpr const char* media_id = "18000000000000001";
constexpr const char* key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct config : caf::actor_system_config {
  config() { komentra::actors::add_message_types(*this); }
};

struct fixture : test_coordinator_fixture<config> {
  std::string url = storage::testing::fresh_database();
  std::unique_ptr<storage::pool> db;
  std::shared_ptr<engine_context> ctx = std::make_shared<engine_context>();
  /// What the engine asked the (test's) sender to call, oldest first.
  std::vector<send_job> calls;
  /// Wall-clock time at the test clock's start; the engine's clock moves with the test's. A
  /// minute ahead of the real time, so that rows PostgreSQL stamps with now() while the test
  /// runs are never in the engine's future.
  std::int64_t epoch_ms = ctx->now_ms() + 60000;
  caf::actor_clock::time_point start = sched.clock().now();

  fixture() {
    auto conn = storage::connect(url);
    if (auto res = storage::migrate(*conn); !res.error.empty()) CAF_FAIL(res.error);
    auto sealed = storage::seal_token(key, "IGAA_TEST_TOKEN_1", account_id);
    pqxx::work tx(*conn);
    auto ws = tx.exec1("INSERT INTO workspaces (name) VALUES ('test') RETURNING id")[0].as<int>();
    tx.exec_params0(
        "INSERT INTO ig_accounts (id, workspace_id, username, token_ciphertext, token_key_id,"
        " private_replies_per_hour) VALUES ($1, $2, 'our_brand', decode($3, 'hex'), $4, 1)",
        account_id, ws, sealed.ciphertext_hex, sealed.key_id);
    tx.exec_params0(
        "INSERT INTO automations (account_id, name, trigger, media_scope, media_ids, keywords,"
        " match_type, public_replies, dm_text) VALUES ($1, 'r1', 'comment', 'selected',"
        " ARRAY[$2], '{link}', 'whole_word', '{\"Sent you a DM!\"}', 'Here is your link')",
        account_id, media_id);
    tx.commit();
    db = std::make_unique<storage::pool>(storage::pool_options{url, 2});
    db->hold(true);
    ctx->db = db.get();
    ctx->settings.token_key_hex = key;
    ctx->settings.graph_base_url = "http://graph.test";
    ctx->clock = [this] {
      return epoch_ms +
             std::chrono::duration_cast<std::chrono::milliseconds>(sched.clock().now() - start)
                 .count();
    };
    ctx->senders = {sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](send_atom, send_job& job) { calls.push_back(std::move(job)); }};
    })};
  }

  /// Actors the test started: stopped at its end (an account actor's idle timer would keep
  /// the test scheduler's shutdown running it forever).
  std::vector<caf::actor> started;

  ~fixture() override {
    settle();
    for (auto& a : started) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& a : ctx->senders) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    settle();
    db->hold(false);
  }

  caf::actor account() {
    started.push_back(spawn_account(sys, ctx, account_id));
    return started.back();
  }

  /// Runs actors and database jobs in turns until neither has anything left to do.
  void settle() {
    for (int turn = 0; turn < 1000; ++turn) {
      sched.run();
      db->hold(false);
      db->wait_idle();
      db->hold(true);
      if (!sched.has_job()) return;
    }
    CAF_FAIL("the actors did not settle");
  }

  /// Stores a comment in the journal as a delivery would, and returns it as routed.
  stored_event comment(const std::string& id, const std::string& text) {
    protocol::webhook_event e;
    e.kind = protocol::event_kind::comment;
    e.account_id = account_id;
    e.dedupe_key = "comment:" + id;
    e.field = "comments";
    e.time_ms = ctx->now_ms();
    e.comment_id = id;
    e.media_id = media_id;
    e.sender_id = "9000000000000001";
    e.sender_username = "user_a";
    e.text = text;
    storage::delivery_record d{"delivery-" + id, "{}", {e}};
    auto conn = storage::connect(url);
    auto stored = storage::store_batch(*conn, {&d});
    CAF_REQUIRE_EQUAL(stored.inserted.size(), 1u);
    return {stored.inserted[0].journal_id, d.id, e};
  }

  std::string query(const std::string& sql) {
    auto conn = storage::connect(url);
    pqxx::read_transaction tx(*conn);
    auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }

  /// Answers a call as a sender does once Meta answered 200.
  void answer_ok(const send_job& job, const std::string& id) {
    send_result r;
    r.row = job.row;
    r.outcome = "ok";
    r.http_status = 200;
    r.result_id = id;
    r.body = R"({"id":")" + id + "\"}";
    caf::anon_send(job.reply_to, result_atom::value, std::move(r));
  }

  /// The account's one private reply of the hour is spent on a first comment (both its
  /// actions answered); ten minutes later a second comment is decided.
  void second_comment_after_spent_budget() {
    auto account = this->account();
    caf::anon_send(account, event_atom::value, comment("17900000000000001", "link"));
    settle();
    answer_ok(calls[0], "17900000000000777");
    answer_ok(calls[1], "m_1");
    settle();
    sched.advance_time(10min);
    caf::anon_send(account, event_atom::value, comment("17900000000000002", "link"));
    settle();
  }

  /// After `after`, the router gets a comment for the account and its new actor is killed.
  void crash_on_event(const router_actor& router, caf::timespan after, const std::string& id) {
    sched.advance_time(after);
    caf::anon_send(router, events_atom::value, std::vector<stored_event>{comment(id, "hello")});
    caf::anon_send_exit(next_account_actor(), caf::exit_reason::kill);
    settle();
  }

  /// Answers a call as a sender does when Meta throttles it (code 4).
  void answer_throttled(const send_job& job) {
    send_result r;
    r.row = job.row;
    r.outcome = "throttled";
    r.http_status = 400;
    r.error = "code 4: Application request limit reached";
    caf::anon_send(job.reply_to, result_atom::value, std::move(r));
  }

  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (auto& c : calls) out.push_back(c.row.kind);
    return out;
  }

  /// Runs actors one message at a time until an account actor other than `old` has work
  /// waiting (the router just spawned it, or routed it an event), and returns it.
  caf::actor next_account_actor(const caf::actor& old = {}) {
    for (int step = 0; step < 100; ++step) {
      for (auto* job : sched.jobs)
        if (auto* a = dynamic_cast<caf::scheduled_actor*>(job);
            a && std::string(a->name()) == "account" && a->address() != old.address())
          return caf::actor_cast<caf::actor>(static_cast<caf::abstract_actor*>(a));
      if (!sched.try_run_once()) break;
    }
    CAF_FAIL("no account actor was started");
    return {};
  }
};

using strings = std::vector<std::string>;

}  // namespace

CAF_TEST_FIXTURE_SCOPE(account_tests, fixture)

CAF_TEST(a matching comment is planned in the outbox sent through a sender and settled) {
  auto account = this->account();
  caf::anon_send(account, event_atom::value, comment("17900000000000001", "send me the link"));
  settle();
  // Both actions were rows in flight before the sender got them.
  CAF_REQUIRE_EQUAL(kinds(), strings({"public_reply", "private_reply"}));
  CAF_CHECK_EQUAL(query("SELECT string_agg(kind || ' ' || state, ', ' ORDER BY id) FROM outbox"),
                  "public_reply in_flight, private_reply in_flight");
  CAF_CHECK_EQUAL(calls[0].row.path, "/v25.0/17900000000000001/replies");
  CAF_CHECK_NOT_EQUAL(calls[0].row.body.find("Sent you a DM!"), std::string::npos);
  CAF_CHECK_EQUAL(calls[1].row.path, "/v25.0/17841400000000001/messages");
  CAF_CHECK_NOT_EQUAL(calls[1].row.body.find(R"("comment_id":"17900000000000001")"),
                      std::string::npos);
  CAF_CHECK_EQUAL(calls[1].token, "IGAA_TEST_TOKEN_1");
  CAF_CHECK_EQUAL(calls[1].base_url, "http://graph.test");
  CAF_CHECK_EQUAL(query("SELECT outcome FROM decisions"), "matched");
  answer_ok(calls[0], "17900000000000777");
  answer_ok(calls[1], "m_1");
  settle();
  CAF_CHECK_EQUAL(query("SELECT string_agg(kind || ' ' || state || ' ' || (result->>'id'), ', '"
                        " ORDER BY id) FROM outbox"),
                  "public_reply sent 17900000000000777, private_reply sent m_1");
  CAF_CHECK_EQUAL(ctx->counters->actions_sent.load(), 2u);
  // A comment that matches nothing is recorded with its reason and sends nothing.
  caf::anon_send(account, event_atom::value, comment("17900000000000002", "nice photo"));
  settle();
  CAF_CHECK_EQUAL(calls.size(), 2u);
  CAF_CHECK_EQUAL(query("SELECT outcome FROM decisions WHERE source_key = '17900000000000002'"),
                  "skipped:no_match");
}

CAF_TEST(an event whose decision the database refuses for good does not hold up the next) {
  // PostgreSQL refuses to store this comment's decision, as it would a value it cannot hold.
  {
    auto conn = storage::connect(url);
    pqxx::work tx(*conn);
    tx.exec0("ALTER TABLE decisions ADD CONSTRAINT test_refuses CHECK (text NOT LIKE '%poison%')");
    tx.commit();
  }
  auto account = this->account();
  caf::anon_send(account, event_atom::value, comment("17900000000000001", "link poison"));
  caf::anon_send(account, event_atom::value, comment("17900000000000002", "link"));
  settle();
  sched.advance_time(2s);  // the first refusal is decided again after a second
  settle();
  CAF_CHECK_EQUAL(query("SELECT string_agg(source_key || ' ' || outcome, ', ' ORDER BY id)"
                        " FROM decisions"),
                  " skipped:undecidable, 17900000000000002 matched");
  CAF_CHECK_EQUAL(query("SELECT count(*) FROM journal_pending"), "0");
  // The second comment was answered; nothing was planned for the first.
  CAF_REQUIRE_EQUAL(calls.size(), 2u);
  CAF_CHECK_EQUAL(calls[0].row.source_key, "17900000000000002");
}

CAF_TEST(a spent budget queues the action until the clock has moved on) {
  // The account allows one private reply an hour.
  second_comment_after_spent_budget();
  // Its public reply goes; its private reply waits in the outbox, not-before stored.
  CAF_REQUIRE_EQUAL(kinds(), strings({"public_reply", "private_reply", "public_reply"}));
  CAF_CHECK_EQUAL(query("SELECT state FROM outbox WHERE kind = 'private_reply' AND source_key ="
                        " '17900000000000002'"),
                  "pending");
  auto due = std::stoll(
      query("SELECT (extract(epoch FROM not_before) * 1000)::bigint FROM outbox WHERE kind ="
            " 'private_reply' AND source_key = '17900000000000002'"));
  // An hour (and at most one minute) after the first one, 50 minutes from now.
  CAF_CHECK_GREATER_OR_EQUAL(due, epoch_ms + 60 * 60000);
  CAF_CHECK_LESS_OR_EQUAL(due, epoch_ms + 61 * 60000);
  CAF_CHECK_EQUAL(ctx->counters->queued_actions.load(), 1);
  sched.advance_time(40min);
  settle();
  CAF_CHECK_EQUAL(calls.size(), 3u);  // still waiting
  sched.advance_time(11min);
  settle();
  CAF_REQUIRE_EQUAL(calls.size(), 4u);
  CAF_CHECK_EQUAL(calls[3].row.kind, "private_reply");
  CAF_CHECK_EQUAL(calls[3].row.source_key, "17900000000000002");
  CAF_CHECK_EQUAL(query("SELECT state FROM outbox WHERE kind = 'private_reply' AND source_key ="
                        " '17900000000000002'"),
                  "in_flight");
  answer_ok(calls[2], "17900000000000778");
  answer_ok(calls[3], "m_2");
  settle();
  CAF_CHECK_EQUAL(query("SELECT count(*) FROM outbox WHERE state = 'sent'"), "4");
}

// Found by a break test: the actor kept one wake-up, the first one asked for, so an action
// with a short wait queued after one with a long wait waited as long (108 private replies
// stood still for an hour behind public replies waiting for their budget).
CAF_TEST(a short wait queued after a long one is not held up by it) {
  // The account allows one private reply an hour.
  second_comment_after_spent_budget();
  // Its private reply waits 50 minutes for the budget; its public reply is sent, and Meta
  // throttles it: it is tried again in a minute.
  CAF_REQUIRE_EQUAL(kinds(), strings({"public_reply", "private_reply", "public_reply"}));
  answer_throttled(calls[2]);
  settle();
  sched.advance_time(30s);
  settle();
  CAF_CHECK_EQUAL(calls.size(), 3u);  // the throttle's minute is not over
  sched.advance_time(31s);
  settle();
  CAF_REQUIRE_EQUAL(calls.size(), 4u);
  CAF_CHECK_EQUAL(calls[3].row.kind, "public_reply");
  CAF_CHECK_EQUAL(calls[3].row.source_key, "17900000000000002");
  CAF_CHECK_EQUAL(ctx->counters->queued_actions.load(), 1);  // the private reply, still
}

// Found by a break test: a call Meta refused for throttling still counted in the hour, so
// the account sent one private reply fewer than its cap.
CAF_TEST(a call refused for throttling does not count against the budget) {
  // The account allows one private reply an hour.
  auto account = this->account();
  caf::anon_send(account, event_atom::value, comment("17900000000000001", "link"));
  settle();
  CAF_REQUIRE_EQUAL(kinds(), strings({"public_reply", "private_reply"}));
  answer_ok(calls[0], "17900000000000777");
  answer_throttled(calls[1]);
  settle();
  // After the throttle's minute the private reply goes: the hour's one is still unused.
  sched.advance_time(61s);
  settle();
  CAF_REQUIRE_EQUAL(calls.size(), 3u);
  CAF_CHECK_EQUAL(calls[2].row.kind, "private_reply");
}

CAF_TEST(a crashed account actor is restarted by the router with its state reloaded) {
  ctx->settings.crash_limit = 2;
  ctx->settings.crash_window = 60s;
  auto router = spawn_router(sys, ctx);
  started.push_back(caf::actor_cast<caf::actor>(router));
  caf::anon_send(router, events_atom::value,
                 std::vector<stored_event>{comment("17900000000000001", "link")});
  auto first = next_account_actor();  // spawned by the router
  settle();
  CAF_REQUIRE_EQUAL(kinds(), strings({"public_reply", "private_reply"}));
  // It dies with both calls in flight, unanswered.
  caf::anon_send_exit(first, caf::exit_reason::kill);
  next_account_actor(first);  // the router restarts it at once
  settle();
  CAF_CHECK_EQUAL(ctx->counters->account_restarts.load(), 1u);
  // Reloaded from the outbox: the interrupted calls are handed out again, marked to be
  // read back before anything is written twice.
  CAF_REQUIRE_EQUAL(calls.size(), 4u);
  CAF_CHECK_EQUAL(calls[2].row.source_key, "17900000000000001");
  CAF_CHECK(calls[2].row.verify_first);
  CAF_CHECK(calls[3].row.verify_first);
  // Its compiled rules are back: a new comment is decided and answered.
  caf::anon_send(router, events_atom::value,
                 std::vector<stored_event>{comment("17900000000000002", "link")});
  settle();
  CAF_CHECK_EQUAL(query("SELECT outcome FROM decisions WHERE source_key = '17900000000000002'"),
                  "matched");
  CAF_CHECK_EQUAL(calls.size(), 5u);  // its public reply; the private reply waits an hour
  CAF_CHECK_EQUAL(calls[4].row.kind, "public_reply");
  // Crashes spread wider than the window restart it every time.
  for (int i = 0; i < 3; ++i) crash_on_event(router, 61s, "1790000000000010" + std::to_string(i));
  CAF_CHECK_EQUAL(ctx->counters->account_restarts.load(), 4u);
  CAF_CHECK_EQUAL(query("SELECT status FROM ig_accounts"), "active");
  // More than crash_limit crashes within the window (the last one above and two more):
  // faulted, automations paused.
  for (int i = 0; i < 2; ++i) crash_on_event(router, 1s, "1790000000000020" + std::to_string(i));
  CAF_CHECK_EQUAL(ctx->counters->accounts_faulted.load(), 1u);
  CAF_CHECK_EQUAL(query("SELECT status FROM ig_accounts"), "faulted");
  CAF_CHECK_EQUAL(query("SELECT status FROM automations"), "paused");
}

CAF_TEST_FIXTURE_SCOPE_END()
