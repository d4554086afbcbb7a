#define CAF_SUITE journal
#include <caf/test/unit_test.hpp>

#include <future>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/journal.hpp"
#include "actors/router.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"
#include "storage/test_database.hpp"

using namespace komentra;
using namespace komentra::actors;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    komentra::actors::add_message_types(*this);
    set("scheduler.max-threads", std::size_t{2});
  }
};

protocol::webhook_event comment(const std::string& id) {
  protocol::webhook_event e;
  e.kind = protocol::event_kind::comment;
  e.account_id = "17841400000000001";
  e.dedupe_key = "comment:" + id;
  e.comment_id = id;
  e.text = "link";
  return e;
}

struct fixture {
  std::string url = storage::testing::fresh_database();
  test_config cfg;
  caf::actor_system sys{cfg};
  router_actor router = spawn_router(sys);
  journal_handle journal;

  fixture() {
    auto conn = storage::connect(url);
    if (auto res = storage::migrate(*conn); !res.error.empty()) CAF_FAIL(res.error);
    journal_options opts;
    opts.database_url = url;
    journal = spawn_journal(sys, opts, router, 1000);
  }

  ~fixture() {
    journal.stop();
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  }

  // The raw body is the delivery id unless given: distinct deliveries spread over writers.
  std::future<journal_outcome> submit(const std::string& delivery_id,
                                      std::vector<protocol::webhook_event> events,
                                      const std::string& body = "") {
    auto promise = std::make_shared<std::promise<journal_outcome>>();
    auto fut = promise->get_future();
    journal_request r;
    r.delivery = {delivery_id, body.empty() ? delivery_id : body, std::move(events)};
    r.done = [promise](journal_outcome out) { promise->set_value(std::move(out)); };
    if (!journal.submit(std::move(r))) CAF_FAIL("journal refused the request");
    return fut;
  }

  router_stats stats() {
    caf::scoped_actor self{sys};
    router_stats out;
    self->request(router, std::chrono::seconds(5), stats_atom::value)
        .receive([&](router_stats& s) { out = s; },
                 [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
    return out;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(journal_tests, fixture)

CAF_TEST(a stored delivery is confirmed and its events reach the router) {
  auto out = submit("d1", {comment("17900000000000011"), comment("17900000000000012")}).get();
  CAF_CHECK(out.stored);
  CAF_CHECK_EQUAL(out.new_events, 2u);
  CAF_CHECK_EQUAL(out.duplicates, 0u);
  auto s = stats();
  CAF_CHECK_EQUAL(s.events, 2u);
  CAF_CHECK_EQUAL(s.events_per_account["17841400000000001"], 2u);
}

// Routed again while undecided: the first answer may have been lost with its routing (a
// commit whose connection broke), and deciding an event twice decides it once.
CAF_TEST(a repeated delivery is confirmed again and routed again only while undecided) {
  CAF_CHECK(submit("d1", {comment("17900000000000001")}).get().stored);
  auto again = submit("d2", {comment("17900000000000001")}).get();
  CAF_CHECK(again.stored);
  CAF_CHECK_EQUAL(again.new_events, 0u);
  CAF_CHECK_EQUAL(again.duplicates, 1u);
  CAF_CHECK_EQUAL(stats().events, 2u);
  {
    auto conn = storage::connect(url);
    pqxx::work tx(*conn);
    tx.exec0("DELETE FROM journal_pending");  // what its decision does
    tx.commit();
  }
  auto decided = submit("d3", {comment("17900000000000001")}).get();
  CAF_CHECK(decided.stored);
  CAF_CHECK_EQUAL(decided.duplicates, 1u);
  CAF_CHECK_EQUAL(stats().events, 2u);
}

CAF_TEST(concurrent deliveries share commits) {
  std::vector<std::future<journal_outcome>> futs;
  for (int i = 0; i < 200; ++i)
    futs.push_back(
        submit("d" + std::to_string(i), {comment(std::to_string(17900000000000100 + i))}));
  for (auto& f : futs) CAF_CHECK(f.get().stored);
  CAF_CHECK_EQUAL(journal.counters().deliveries.load(), 200u);
  CAF_CHECK_LESS(journal.counters().commits.load(), 200u);
  CAF_CHECK_EQUAL(stats().events, 200u);
}

CAF_TEST(a stopped database fails deliveries and a restarted one stores them) {
  CAF_REQUIRE(submit("d0", {comment("17900000000000001")}).get().stored);
  storage::testing::cluster().stop();
  auto down = submit("d1", {comment("17900000000000002")}).get();
  CAF_CHECK(!down.stored);
  CAF_CHECK(down.error.find("database unreachable") != std::string::npos);
  CAF_REQUIRE_EQUAL(storage::testing::cluster().start(), "");
  auto up = submit("d2", {comment("17900000000000002")}).get();
  CAF_CHECK(up.stored);
  CAF_CHECK_EQUAL(up.new_events, 1u);
  auto conn = storage::connect(url);
  pqxx::read_transaction tx(*conn);
  CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM journal_events")[0].as<int>(), 2);
}

CAF_TEST(a delivery that cannot be stored does not fail its batch neighbours) {
  // A NUL character cannot be stored in a PostgreSQL text column.
  auto bad = comment("17900000000000009");
  bad.dedupe_key = std::string("comment:\0bad", 12);
  std::vector<std::future<journal_outcome>> futs;
  futs.push_back(submit("ok1", {comment("17900000000000001")}));
  futs.push_back(submit("bad", {bad}));
  futs.push_back(submit("ok2", {comment("17900000000000002")}));
  auto ok1 = futs[0].get(), b = futs[1].get(), ok2 = futs[2].get();
  CAF_CHECK(ok1.stored);
  CAF_CHECK(!b.stored);
  CAF_CHECK(ok2.stored);
  CAF_CHECK_EQUAL(stats().events, 2u);
}

CAF_TEST(overlapping deliveries on several writers store each event once) {
  // Meta's retries can carry the same events in other batches, in any order: each key is
  // in four deliveries, two of them with the pair reversed, sent all at once.
  std::vector<std::pair<std::string, std::vector<protocol::webhook_event>>> deliveries;
  for (int i = 0; i < 100; ++i) {
    auto a = comment(std::to_string(17900000000001000 + i));
    auto b = comment(std::to_string(17900000000001000 + (i + 1) % 100));
    deliveries.push_back({"f" + std::to_string(i), {a, b}});
    deliveries.push_back({"r" + std::to_string(i), {b, a}});
  }
  std::vector<std::size_t> todo(deliveries.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  // What is not stored (a deadlock between writers, say) is answered so and sent again,
  // as Meta does after a 503.
  for (int round = 0; round < 10 && !todo.empty(); ++round) {
    std::vector<std::future<journal_outcome>> futs;
    for (auto i : todo) futs.push_back(submit(deliveries[i].first, deliveries[i].second));
    std::vector<std::size_t> again;
    for (std::size_t k = 0; k < futs.size(); ++k) {
      auto out = futs[k].get();
      if (!out.stored) {
        CAF_CHECK(!out.error.empty());
        again.push_back(todo[k]);
      }
    }
    todo = std::move(again);
  }
  CAF_CHECK(todo.empty());
  CAF_CHECK_EQUAL(journal.counters().events_stored.load(), 100u);
  // Each is routed when stored, and again when a concurrent copy finds it undecided.
  CAF_CHECK_GREATER_OR_EQUAL(stats().events, 100u);
  auto conn = storage::connect(url);
  pqxx::read_transaction tx(*conn);
  CAF_CHECK_EQUAL(tx.exec1("SELECT count(DISTINCT dedupe_key) FROM journal_events")[0].as<int>(),
                  100);
  CAF_CHECK_EQUAL(tx.exec1("SELECT count(*) FROM journal_events")[0].as<int>(), 100);
}

CAF_TEST_FIXTURE_SCOPE_END()
