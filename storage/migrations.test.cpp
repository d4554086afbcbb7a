#define CAF_SUITE migrations
#include <caf/test/unit_test.hpp>

#include <pqxx/pqxx>

#include "storage/migrations.hpp"
#include "storage/test_database.hpp"

using namespace komentra::storage;

CAF_TEST(migrate applies every migration once and records it) {
  pqxx::connection c(testing::fresh_database());
  CAF_CHECK_EQUAL(current_schema_version(c), 0);
  auto first = migrate(c);
  CAF_CHECK_EQUAL(first.error, "");
  CAF_CHECK_EQUAL(first.from_version, 0);
  CAF_CHECK_EQUAL(first.to_version, latest_schema_version());
  auto again = migrate(c);
  CAF_CHECK_EQUAL(again.error, "");
  CAF_CHECK_EQUAL(again.from_version, latest_schema_version());
  pqxx::read_transaction tx(c);
  CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<std::size_t>(),
                  migrations().size());
}

CAF_TEST(migration versions are strictly increasing) {
  int last = 0;
  for (auto& m : migrations()) {
    CAF_CHECK_GREATER(m.version, last);
    last = m.version;
  }
}

CAF_TEST(a database newer than this build is refused and left unchanged) {
  pqxx::connection c(testing::fresh_database());
  CAF_REQUIRE_EQUAL(migrate(c).error, "");
  {
    pqxx::work tx(c);
    tx.exec_params0("INSERT INTO schema_migrations(version, name) VALUES ($1, 'future')",
                    latest_schema_version() + 1);
    tx.commit();
  }
  auto res = migrate(c);
  CAF_CHECK(res.error.find("newer than this komentra knows") != std::string::npos);
  CAF_CHECK_EQUAL(current_schema_version(c), latest_schema_version() + 1);
}

// An upgrade keeps every event that was waiting for its decision: before version 30 they
// were journal rows with processed_at NULL; from 30 on each has a journal_pending row.
CAF_TEST(the journal_pending migration keeps the undecided events of an older database) {
  pqxx::connection c(testing::fresh_database());
  {
    pqxx::work tx(c);
    tx.exec0(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    for (auto& m : migrations()) {
      if (m.version >= 30) break;
      tx.exec0(m.sql);
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                      m.name);
    }
    tx.exec0(
        "INSERT INTO journal_events (account_id, dedupe_key, kind, event, processed_at) VALUES"
        " ('17841400000000001', 'comment:1', 'comment', '{}', now()),"
        " ('17841400000000001', 'comment:2', 'comment', '{}', NULL),"
        " ('17841400000000002', 'comment:3', 'comment', '{}', NULL)");
    tx.commit();
  }
  CAF_REQUIRE_EQUAL(migrate(c).error, "");
  pqxx::read_transaction tx(c);
  CAF_CHECK_EQUAL(tx.exec1("SELECT string_agg(p.account_id || '/' || e.dedupe_key, ',' ORDER BY"
                           " e.dedupe_key) FROM journal_pending p JOIN journal_events e"
                           " ON e.id = p.id AND e.account_id = p.account_id")[0]
                      .as<std::string>(""),
                  "17841400000000001/comment:2,17841400000000002/comment:3");
}
