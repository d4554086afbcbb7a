#define CAF_SUITE merged_writes
#include <caf/test/unit_test.hpp>

#include <future>

#include <pqxx/pqxx>

#include "storage/merged_writes.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"

using namespace komentra::storage;

namespace {

// One account in a workspace on Tokyo time with two automations (ids 11 and 12), and one
// outbox row (id 21).
struct fixture {
  std::string url = testing::fresh_database();
  std::unique_ptr<pqxx::connection> conn;
  fixture() {
    conn = connect(url);
    auto res = migrate(*conn);
    if (!res.error.empty()) CAF_FAIL(res.error);
    pqxx::work tx(*conn);
    tx.exec0("INSERT INTO workspaces (id, name, time_zone) VALUES (1, 'w', 'Asia/Tokyo')");
    tx.exec0("INSERT INTO ig_accounts (id, workspace_id, username) VALUES ('178', 1, 'shop')");
    tx.exec0(
        "INSERT INTO automations (id, account_id, name, trigger) VALUES (11, '178', 'a', "
        "'comment'), (12, '178', 'b', 'comment')");
    tx.exec0(
        "INSERT INTO outbox (id, account_id, automation_id, source_key, kind, request, state)"
        " VALUES (21, '178', 11, '179001', 'public_reply', '{}', 'in_flight')");
    tx.commit();
  }
  std::string one(const std::string& sql) {
    pqxx::read_transaction tx(*conn);
    auto r = tx.exec(sql);
    if (r.empty()) return "<none>";
    std::string out;
    for (auto const& row : r) {
      if (!out.empty()) out += "; ";
      for (pqxx::row::size_type i = 0; i < row.size(); ++i)
        out += (i ? "|" : "") + std::string(row[i].is_null() ? "NULL" : row[i].c_str());
    }
    return out;
  }
  void write(merged_writes& m) {
    pqxx::work tx(*conn);
    m.flush(tx);
    tx.commit();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(merged_writes_tests, fixture)

CAF_TEST(counts of many jobs add up per automation and metric on the day of the workspace) {
  merged_writes m;
  m.count(11, "matched");
  m.count(12, "matched");
  m.count(11, "matched");
  m.count(11, "dm_sent");
  m.count(0, "matched");  // no automation: nothing
  write(m);
  CAF_CHECK(m.empty());
  m.count(11, "matched");  // a later transaction adds to the same row
  write(m);
  CAF_CHECK_EQUAL(one("SELECT automation_id, metric, count FROM automation_daily"
                      " ORDER BY automation_id, metric"),
                  "11|dm_sent|1; 11|matched|3; 12|matched|1");
  CAF_CHECK_EQUAL(one("SELECT count(*) FROM automation_daily"
                      " WHERE day = (now() AT TIME ZONE 'Asia/Tokyo')::date"),
                  "3");
}

CAF_TEST(a contact seen twice in one transaction ends as if written twice) {
  merged_writes m;
  m.contact("178", "900", "alice", 1, 1796299200000);
  m.contact("178", "900", "", 0, std::nullopt);  // a postback: no username, no message
  m.contact("178", "901", "", 0, std::nullopt);
  write(m);
  CAF_CHECK_EQUAL(one("SELECT igsid, username, automations_triggered,"
                      " extract(epoch FROM last_inbound_at)::bigint FROM contacts ORDER BY igsid"),
                  "900|alice|1|1796299200; 901|NULL|0|NULL");
  m.contact("178", "900", "alice.new", 1, 1796299260000);
  m.contact("178", "900", "", 1, std::nullopt);
  write(m);
  CAF_CHECK_EQUAL(one("SELECT username, automations_triggered,"
                      " extract(epoch FROM last_inbound_at)::bigint FROM contacts"
                      " WHERE igsid = '900'"),
                  "alice.new|3|1796299260");
}

CAF_TEST(decisions keep the order they were added in and store empty fields as NULL) {
  merged_writes m;
  m.decision({"178", 11, std::nullopt, "179001", "900", "alice", "link please", "matched"});
  m.decision({"178", 11, std::nullopt, "179001", "900", "alice", "link please", "prompted"});
  m.decision({"178", std::nullopt, std::nullopt, "179002", "", "", "", "skipped:no_match"});
  write(m);
  CAF_CHECK_EQUAL(one("SELECT automation_id, source_key, sender_id, username, text, outcome"
                      " FROM decisions ORDER BY id"),
                  "11|179001|900|alice|link please|matched; 11|179001|900|alice|link please|"
                  "prompted; NULL|179002|NULL|NULL|NULL|skipped:no_match");
}

CAF_TEST(a sent mark records the answer and counts once) {
  merged_writes m;
  m.sent(21, R"({"id":"180001"})", 11, "dm_sent");
  write(m);
  CAF_CHECK_EQUAL(one("SELECT state, result->>'id', last_error FROM outbox WHERE id = 21"),
                  "sent|180001|NULL");
  CAF_CHECK_EQUAL(one("SELECT count FROM automation_daily WHERE metric = 'dm_sent'"), "1");
  // The same write again (its first commit's answer was lost): nothing changes.
  m.sent(21, R"({"id":"180002"})", 11, "dm_sent");
  write(m);
  CAF_CHECK_EQUAL(one("SELECT result->>'id' FROM outbox WHERE id = 21"), "180001");
  CAF_CHECK_EQUAL(one("SELECT count FROM automation_daily WHERE metric = 'dm_sent'"), "1");
}

CAF_TEST(a merged row that fails at the commit fails its own job only) {
  pool p({url, 1, 100});
  std::vector<std::promise<std::string>> outcome(3);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  p.submit(
      [&started, gate](pqxx::connection&) {
        started.set_value();
        gate.wait();
      },
      {});
  started.get_future().wait();  // the only worker waits: the three jobs share a transaction
  for (int i = 0; i < 3; ++i)
    p.submit_in_transaction(
        [&, i](shared_tx& tx) -> pool::after_commit {
          // The second job's contact is of an account that does not exist.
          tx.merged.contact(i == 1 ? "999" : "178", "90" + std::to_string(i), "", 0, {});
          tx.merged.count(11, "matched");
          return [&, i] { outcome[i].set_value("committed"); };
        },
        [&, i](const std::string& why) { outcome[i].set_value("failed: " + why); });
  release.set_value();
  CAF_CHECK_EQUAL(outcome[0].get_future().get(), "committed");
  auto second = outcome[1].get_future().get();
  CAF_CHECK(second.find("failed: ") == 0 && second.find("foreign key") != std::string::npos);
  CAF_CHECK_EQUAL(outcome[2].get_future().get(), "committed");
  CAF_CHECK_EQUAL(one("SELECT igsid FROM contacts ORDER BY igsid"), "900; 902");
  CAF_CHECK_EQUAL(one("SELECT count FROM automation_daily WHERE metric = 'matched'"), "2");
}

CAF_TEST_FIXTURE_SCOPE_END()
