#define CAF_SUITE pool
#include <caf/test/unit_test.hpp>

#include <future>

#include <pqxx/pqxx>

#include "storage/pool.hpp"
#include "storage/test_database.hpp"

using namespace komentra::storage;

namespace {

// Runs one query through the pool and waits for its outcome (tests only).
std::string query_one(pool& p, const std::string& sql) {
  std::promise<std::string> done;
  auto fut = done.get_future();
  bool queued = p.submit(
      [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        done.set_value("ok:" + tx.exec1(sql)[0].as<std::string>());
      },
      [&](const std::string& reason) { done.set_value("error:" + reason); });
  if (!queued) return "refused";
  return fut.get();
}

// A fresh database with `setup` run in it; returns its URL.
std::string database_with(const std::string& setup) {
  auto url = testing::fresh_database();
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec0(setup);
  tx.commit();
  return url;
}

}  // namespace

CAF_TEST(pool runs jobs on its connections) {
  pool p({testing::fresh_database(), 2, 10});
  CAF_CHECK_EQUAL(query_one(p, "SELECT 41 + 1"), "ok:42");
  CAF_CHECK_EQUAL(p.snapshot().connected, 1u);
}

CAF_TEST(a failing query reports its error and the pool keeps working) {
  pool p({testing::fresh_database(), 1, 10});
  auto res = query_one(p, "SELECT * FROM no_such_table");
  CAF_CHECK(res.find("error:") == 0);
  CAF_CHECK(res.find("no_such_table") != std::string::npos);
  CAF_CHECK_EQUAL(query_one(p, "SELECT 'still here'"), "ok:still here");
}

CAF_TEST(an unreachable database fails jobs fast with a reason) {
  pool p({"host=/nonexistent-socket-dir dbname=x connect_timeout=1", 1, 10});
  auto res = query_one(p, "SELECT 1");
  CAF_CHECK(res.find("error:database unreachable") == 0);
}

CAF_TEST(the pool reconnects after the server restarts) {
  pool p({testing::fresh_database(), 1, 10});
  CAF_REQUIRE_EQUAL(query_one(p, "SELECT 1"), "ok:1");
  testing::cluster().stop();
  CAF_CHECK(query_one(p, "SELECT 1").find("error:") == 0);
  CAF_REQUIRE_EQUAL(testing::cluster().start(), "");
  // The broken connection was dropped; the next job opens a new one.
  CAF_CHECK_EQUAL(query_one(p, "SELECT 1"), "ok:1");
}

CAF_TEST(a full queue refuses new jobs instead of growing) {
  pool p({testing::fresh_database(), 1, 1});
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  CAF_REQUIRE(p.submit(
      [&](pqxx::connection&) {
        started.set_value();
        gate.wait();
      },
      {}));
  started.get_future().wait();
  CAF_CHECK(p.submit([](pqxx::connection&) {}, {}));   // fills the queue of one
  CAF_CHECK(!p.submit([](pqxx::connection&) {}, {}));  // refused
  release.set_value();
}

namespace {

// Holds the pool's only worker until released, so that jobs queue up behind it.
struct held_worker {
  std::promise<void> release;
  explicit held_worker(pool& p) {
    std::promise<void> started;
    auto gate = release.get_future().share();
    p.submit(
        [&started, gate](pqxx::connection&) {
          started.set_value();
          gate.wait();
        },
        {});
    started.get_future().wait();
  }
};

}  // namespace

CAF_TEST(transaction jobs waiting together share one commit) {
  auto url = database_with("CREATE TABLE t (n int PRIMARY KEY)");
  pool p({url, 1, 100});
  std::vector<std::string> txids(10);
  std::vector<std::promise<void>> committed(10);
  {
    held_worker hold(p);
    for (int i = 0; i < 10; ++i)
      CAF_REQUIRE(p.submit_in_transaction(
          [&, i](shared_tx& shared) -> pool::after_commit {
            auto& tx = shared.work;
            tx.exec0("INSERT INTO t VALUES (" + std::to_string(i) + ")");
            txids[i] = tx.exec1("SELECT txid_current()")[0].as<std::string>();
            return [&, i] { committed[i].set_value(); };
          },
          {}));
    hold.release.set_value();
  }
  for (auto& c : committed) c.get_future().wait();
  for (auto& id : txids) CAF_CHECK_EQUAL(id, txids[0]);
  CAF_CHECK_EQUAL(query_one(p, "SELECT count(*) FROM t"), "ok:10");
}

CAF_TEST(a failing job in a shared transaction fails alone and the others commit) {
  auto url = database_with("CREATE TABLE t (n int PRIMARY KEY); INSERT INTO t VALUES (2)");
  pool p({url, 1, 100});
  std::vector<std::promise<std::string>> outcome(3);
  {
    held_worker hold(p);
    for (int i = 1; i <= 3; ++i)
      p.submit_in_transaction(
          [&, i](shared_tx& shared) -> pool::after_commit {
            auto& tx = shared.work;
            tx.exec0("INSERT INTO t VALUES (" + std::to_string(i) + ")");
            return [&, i] { outcome[i - 1].set_value("committed"); };
          },
          [&, i](const std::string& why) { outcome[i - 1].set_value("failed: " + why); });
    hold.release.set_value();
  }
  CAF_CHECK_EQUAL(outcome[0].get_future().get(), "committed");
  auto second = outcome[1].get_future().get();
  CAF_CHECK(second.find("failed: ") == 0 && second.find("duplicate key") != std::string::npos);
  CAF_CHECK_EQUAL(outcome[2].get_future().get(), "committed");
  CAF_CHECK_EQUAL(query_one(p, "SELECT string_agg(n::text, ',' ORDER BY n) FROM t"), "ok:1,2,3");
}

CAF_TEST(a violated constraint is reported as permanent and a lost server is not ) {
  auto url = database_with(
      "CREATE TABLE parent (id int PRIMARY KEY);"
      " CREATE TABLE child (parent int REFERENCES parent (id))");
  pool p({url, 1, 10});
  std::promise<std::string> outcome;
  p.submit_in_transaction(
      [](shared_tx& tx) -> pool::after_commit {
        tx.work.exec0("INSERT INTO child VALUES (7)");
        return {};
      },
      [&](const std::string& why) { outcome.set_value(why); });
  auto why = outcome.get_future().get();
  CAF_CHECK(why.find("foreign key") != std::string::npos);
  CAF_CHECK(why.find("[SQLSTATE 23503]") != std::string::npos);
  CAF_CHECK(is_permanent(why));
  pool gone({"host=/nonexistent-socket-dir dbname=x connect_timeout=1", 1, 10});
  auto lost = query_one(gone, "SELECT 1");
  CAF_CHECK(lost.find("error:database unreachable") == 0);
  CAF_CHECK(!is_permanent(lost));
}
