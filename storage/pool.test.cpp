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
