#define CAF_SUITE journal_store
#include <caf/test/unit_test.hpp>

#include <unistd.h>

#include <pqxx/pqxx>

#include "storage/journal_store.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"

using namespace komentra;
using namespace komentra::storage;

namespace {

protocol::webhook_event comment(const std::string& id, const std::string& text) {
  protocol::webhook_event e;
  e.kind = protocol::event_kind::comment;
  e.account_id = "17841400000000001";
  e.dedupe_key = "comment:" + id;
  e.comment_id = id;
  e.text = text;
  e.time_ms = 1796299200000;
  return e;
}

struct fixture {
  std::string url = storage::testing::fresh_database();
  std::unique_ptr<pqxx::connection> conn;
  fixture() {
    conn = storage::connect(url);
    auto res = migrate(*conn);
    if (!res.error.empty()) CAF_FAIL(res.error);
  }
  std::size_t count(const std::string& sql) {
    pqxx::read_transaction tx(*conn);
    return tx.exec1(sql)[0].as<std::size_t>();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(journal_store_tests, fixture)

// The bodies of a batch travel together; each comes back byte for byte (multi-byte
// characters, escapes, an empty-looking body, one with no events).
CAF_TEST(each delivery of a batch keeps its own raw body exactly) {
  delivery_record a{"d1", R"({"t":"pre\u00e7o \/ x"})", {comment("17900000000000021", "a")}};
  delivery_record b{"d2", "{\"t\":\"\xF0\x9F\x94\xA5 caf\xC3\xA9\"}", {}};
  delivery_record c{"d3", "{}", {comment("17900000000000022", "c")}};
  store_batch(*conn, {&a, &b, &c});
  pqxx::read_transaction tx(*conn);
  auto rows = tx.exec("SELECT id, body, event_count FROM webhook_deliveries ORDER BY id");
  CAF_REQUIRE_EQUAL(rows.size(), 3u);
  CAF_CHECK_EQUAL(rows[0][1].as<std::string>(), R"({"t":"pre\u00e7o \/ x"})");
  CAF_CHECK_EQUAL(rows[1][1].as<std::string>(), "{\"t\":\"\xF0\x9F\x94\xA5 caf\xC3\xA9\"}");
  CAF_CHECK_EQUAL(rows[1][2].as<int>(), 0);
  CAF_CHECK_EQUAL(rows[2][1].as<std::string>(), "{}");
}

CAF_TEST(a batch stores every delivery and event and reports them as new) {
  delivery_record a{
      "d1", "{}", {comment("17900000000000011", "link"), comment("17900000000000012", "x")}};
  delivery_record b{"d2", "{}", {comment("17900000000000013", "pre\xC3\xA7o")}};
  auto res = store_batch(*conn, {&a, &b});
  CAF_CHECK_EQUAL(res.inserted.size(), 3u);
  CAF_CHECK_EQUAL(res.duplicates, 0u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 3u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries"), 2u);
  pqxx::read_transaction tx(*conn);
  CAF_CHECK_EQUAL(tx.exec1("SELECT event->>'text' FROM journal_events WHERE dedupe_key = "
                           "'comment:17900000000000013'")[0]
                      .as<std::string>(),
                  "pre\xC3\xA7o");
  CAF_CHECK_EQUAL(tx.exec1("SELECT event_time FROM journal_events LIMIT 1")[0].as<std::string>(),
                  "2026-12-03 12:00:00+00");
}

CAF_TEST(a second delivery of the same event is a duplicate) {
  delivery_record a{"d1", "{}", {comment("17900000000000001", "link")}};
  delivery_record b{"d2", "{}", {comment("17900000000000001", "link")}};
  CAF_CHECK_EQUAL(store_batch(*conn, {&a}).inserted.size(), 1u);
  auto res = store_batch(*conn, {&b});
  CAF_CHECK_EQUAL(res.inserted.size(), 0u);
  CAF_CHECK_EQUAL(res.duplicates, 1u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 1u);
}

// A commit whose answer was lost (the connection broke as it committed) stored events that
// nobody routed; Meta's retry finds them as duplicates and they are reported for routing,
// until they are decided.
CAF_TEST(a duplicate of an event still undecided is reported for routing again) {
  delivery_record a{"d1", "{}", {comment("17900000000000001", "link")}};
  delivery_record b{
      "d2", "{}", {comment("17900000000000002", "x"), comment("17900000000000001", "link")}};
  auto first = store_batch(*conn, {&a});
  CAF_REQUIRE_EQUAL(first.inserted.size(), 1u);
  auto retry = store_batch(*conn, {&b});
  CAF_CHECK_EQUAL(retry.inserted.size(), 1u);
  CAF_CHECK_EQUAL(retry.duplicates, 1u);
  CAF_REQUIRE_EQUAL(retry.undecided.size(), 1u);
  CAF_CHECK_EQUAL(retry.undecided[0].journal_id, first.inserted[0].journal_id);
  CAF_CHECK_EQUAL(retry.undecided[0].delivery_index, 0u);
  CAF_CHECK_EQUAL(retry.undecided[0].event_index, 1u);
  {
    pqxx::work tx(*conn);
    tx.exec_params0("DELETE FROM journal_pending WHERE id = $1", first.inserted[0].journal_id);
    tx.commit();
  }
  delivery_record c{"d3", "{}", {comment("17900000000000001", "link")}};
  auto decided = store_batch(*conn, {&c});
  CAF_CHECK_EQUAL(decided.duplicates, 1u);
  CAF_CHECK_EQUAL(decided.undecided.size(), 0u);
}

// Found by a break test: the lookup of undecided duplicates runs after the batch's statement
// committed, so its failure (here: a writer role that may not read journal_pending; in
// production a cancel or a timeout) answered 503 for stored deliveries and routed nothing,
// and storing them again one by one failed on their delivery ids.
CAF_TEST(a failed duplicate lookup leaves the batch stored and reported stored) {
  auto role = "journal_writer_" + std::to_string(::getpid());
  {
    pqxx::nontransaction tx(*conn);
    tx.exec0("DROP ROLE IF EXISTS " + role);
    tx.exec0("CREATE ROLE " + role + " LOGIN");
    tx.exec0("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role);
    tx.exec0("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO " + role);
    tx.exec0("REVOKE SELECT ON journal_pending FROM " + role);
  }
  delivery_record a{"d1", "{}", {comment("17900000000000001", "link")}};
  CAF_REQUIRE_EQUAL(store_batch(*conn, {&a}).inserted.size(), 1u);
  batch_result res;
  delivery_record b{
      "d2", "{}", {comment("17900000000000002", "x"), comment("17900000000000001", "link")}};
  delivery_record c{"d3", "{}", {comment("17900000000000003", "y")}};
  {
    auto writer = storage::connect(url + " user=" + role);
    std::string error;
    try {
      res = store_batch(*writer, {&b, &c});
    } catch (const std::exception& e) {
      error = e.what();
    }
    CAF_CHECK_EQUAL(error, "");
  }
  CAF_CHECK_EQUAL(res.inserted.size(), 2u);
  CAF_CHECK_EQUAL(res.duplicates, 1u);
  CAF_CHECK_NOT_EQUAL(res.undecided_error, "");
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries WHERE id IN ('d2', 'd3')"), 2u);
  // Stored again (as after a commit whose answer was lost): nothing new, nothing refused.
  auto again = store_batch(*conn, {&c});
  CAF_CHECK_EQUAL(again.inserted.size(), 0u);
  CAF_CHECK_EQUAL(again.duplicates, 1u);
  CAF_CHECK_EQUAL(again.undecided.size(), 1u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries"), 3u);
  pqxx::nontransaction tx(*conn);
  tx.exec0("DROP OWNED BY " + role);
  tx.exec0("DROP ROLE " + role);
}

// Found by a break test: a signed delivery with a time past what timestamptz holds, or an
// id longer than a btree entry holds, got 503 at every retry (and took its good events
// with it). Both are stored; the long key still dedupes.
CAF_TEST(an event with an absurd time or an overlong id is stored and still deduplicated) {
  auto far = comment("17900000000000031", "a");
  far.time_ms = 9300000000000000;
  std::string noise;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 4000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // not compressible, as a hostile id would be
    noise += static_cast<char>('!' + x % 90);
  }
  auto longid = comment(noise, "b");
  delivery_record a{"d1", "{}", {far, longid, comment("17900000000000032", "c")}};
  auto res = store_batch(*conn, {&a});
  CAF_CHECK_EQUAL(res.inserted.size(), 3u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events WHERE event_time IS NULL"), 1u);
  delivery_record again{"d2", "{}", {longid}};
  auto dup = store_batch(*conn, {&again});
  CAF_CHECK_EQUAL(dup.inserted.size(), 0u);
  CAF_CHECK_EQUAL(dup.duplicates, 1u);
  CAF_CHECK_EQUAL(dup.undecided.size(), 1u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events"), 3u);
}

CAF_TEST(duplicates inside one batch are stored once) {
  delivery_record a{"d1", "{}", {comment("17900000000000001", "link")}};
  delivery_record b{"d2", "{}", {comment("17900000000000001", "link")}};
  auto res = store_batch(*conn, {&a, &b});
  CAF_REQUIRE_EQUAL(res.inserted.size(), 1u);
  CAF_CHECK_EQUAL(res.inserted[0].delivery_index, 0u);
  CAF_CHECK_EQUAL(res.duplicates, 1u);
  CAF_CHECK_EQUAL(res.undecided.size(), 0u);  // the first copy is routed as new
}

CAF_TEST(the same key on two accounts is two events) {
  auto e1 = comment("17900000000000001", "a");
  auto e2 = e1;
  e2.account_id = "17841400000000002";
  delivery_record a{"d1", "{}", {e1, e2}};
  CAF_CHECK_EQUAL(store_batch(*conn, {&a}).inserted.size(), 2u);
}

CAF_TEST(purge removes raw bodies past retention and keeps the events) {
  delivery_record a{"d1", "{}", {comment("17900000000000001", "a")}};
  store_batch(*conn, {&a});
  {
    pqxx::work tx(*conn);
    tx.exec0("UPDATE webhook_deliveries SET received_at = now() - interval '5 hours'");
    tx.commit();
  }
  CAF_CHECK_EQUAL(purge_deliveries(*conn, std::chrono::hours(6)), 0u);
  CAF_CHECK_EQUAL(purge_deliveries(*conn, std::chrono::hours(4)), 1u);
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM webhook_deliveries"), 0u);
  // The event keeps its delivery's id: the correlation id of its log lines.
  CAF_CHECK_EQUAL(count("SELECT count(*) FROM journal_events WHERE delivery_id = 'd1'"), 1u);
}

// Meta keeps sending the events of accounts disconnected from Komentra (and of accounts
// never connected); nobody can use them, so they are not kept for good.
CAF_TEST(events of accounts nobody has connected are removed past their retention) {
  {
    pqxx::work tx(*conn);
    tx.exec0("INSERT INTO workspaces (name) VALUES ('w')");
    tx.exec0(
        "INSERT INTO ig_accounts (id, workspace_id, username, status) VALUES"
        " ('17841400000000001', 1, 'connected', 'active'),"
        " ('17841400000000002', 1, 'gone', 'disconnected')");
    tx.commit();
  }
  auto on = [](const std::string& account, const std::string& id) {
    auto e = comment(id, "x");
    e.account_id = account;
    return e;
  };
  delivery_record d{
      "d1",
      "{}",
      {on("17841400000000001", "1"), on("17841400000000002", "2"), on("17841400000000003", "3"),
       on("17841400000000003", "4"), on("17841400000000003", "5")}};
  store_batch(*conn, {&d});
  {
    pqxx::work tx(*conn);
    // Decided, except the unknown account's comment 5; all old but comment 4.
    tx.exec0(
        "DELETE FROM journal_pending WHERE id NOT IN (SELECT id FROM journal_events"
        " WHERE dedupe_key = 'comment:5')");
    tx.exec0(
        "UPDATE journal_events SET received_at = now() - interval '8 days'"
        " WHERE dedupe_key <> 'comment:4'");
    tx.commit();
  }
  CAF_CHECK_EQUAL(purge_unowned_events(*conn, std::chrono::hours(24 * 9)), 0u);
  CAF_CHECK_EQUAL(purge_unowned_events(*conn, std::chrono::hours(24 * 7)), 2u);
  pqxx::read_transaction tx(*conn);
  auto left = tx.exec("SELECT dedupe_key FROM journal_events ORDER BY dedupe_key");
  CAF_REQUIRE_EQUAL(left.size(), 3u);
  // The connected account's, the recent one, and the one not decided yet.
  CAF_CHECK_EQUAL(left[0][0].as<std::string>(), "comment:1");
  CAF_CHECK_EQUAL(left[1][0].as<std::string>(), "comment:4");
  CAF_CHECK_EQUAL(left[2][0].as<std::string>(), "comment:5");
}

CAF_TEST_FIXTURE_SCOPE_END()
