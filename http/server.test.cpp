#define CAF_SUITE server
#include <caf/test/unit_test.hpp>

#include <vector>

#include <mutex>

#include <thread>

#include "http/server.hpp"
#include "http/test_client.hpp"

using namespace komentra::http;
namespace client = komentra::http::testing;

namespace {

struct fixture {
  server_options opts;
  std::unique_ptr<server> srv;

  fixture() {
    opts.port = 0;
    opts.body_limit_bytes = 1024;
    opts.header_limit_bytes = 2048;
    opts.header_timeout = std::chrono::milliseconds(300);
    opts.body_timeout = std::chrono::milliseconds(300);
    opts.idle_timeout = std::chrono::milliseconds(500);
    opts.max_connections = 4;
  }

  void start(handler h = echo) {
    srv = std::make_unique<server>(opts, std::move(h));
    auto err = srv->start();
    if (!err.empty()) CAF_FAIL(err);
  }

  static void echo(request&& req, responder respond) {
    respond(response::text(200, req.method + " " + req.path + " " + req.body));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(server_tests, fixture)

CAF_TEST(requests on one keep alive connection are answered in order) {
  start();
  client::connection c("127.0.0.1", srv->port());
  auto a = c.exchange("POST", "/a", "one");
  auto b = c.exchange("GET", "/b?x=1");
  CAF_CHECK_EQUAL(a.status, 200);
  CAF_CHECK_EQUAL(a.body, "POST /a one");
  CAF_CHECK_EQUAL(b.body, "GET /b ");
  CAF_CHECK_EQUAL(srv->stats().requests, 2u);
}

CAF_TEST(a body over the limit gets 413 and the connection closes) {
  start();
  client::connection c("127.0.0.1", srv->port());
  auto r = c.exchange("POST", "/big", std::string(2000, 'x'));
  CAF_CHECK_EQUAL(r.status, 413);
  CAF_CHECK(r.body.find("body_too_large") != std::string::npos);
  CAF_CHECK(r.body.find("limit of 1024 bytes") != std::string::npos);
  CAF_CHECK(c.closed_by_peer());
}

CAF_TEST(a body at the limit is accepted) {
  start();
  auto r = client::request(srv->port(), "POST", "/ok", std::string(1024, 'y'));
  CAF_CHECK_EQUAL(r.status, 200);
}

CAF_TEST(oversized headers get 431) {
  start();
  auto r = client::request(srv->port(), "GET", "/h", "", {{"X-Big", std::string(4000, 'h')}});
  CAF_CHECK_EQUAL(r.status, 431);
}

CAF_TEST(a client that never sends its headers is disconnected) {
  start();
  client::connection c("127.0.0.1", srv->port());
  c.send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n");
  CAF_CHECK(c.closed_by_peer(2000));
}

CAF_TEST(a client whose body stops arriving is disconnected) {
  start();
  client::connection c("127.0.0.1", srv->port());
  c.send_raw("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  CAF_CHECK(c.closed_by_peer(2000));
}

CAF_TEST(garbage instead of http gets 400) {
  start();
  client::connection c("127.0.0.1", srv->port());
  c.send_raw("\x01\x02 not http at all\r\n\r\n");
  auto r = c.read_reply(2000);
  CAF_CHECK_EQUAL(r.status, 400);
}

CAF_TEST(a handler exception becomes a 500 and the server keeps serving) {
  start([](request&& req, responder respond) {
    if (req.path == "/boom") throw std::runtime_error("boom");
    respond(response::text(200, "fine"));
  });
  CAF_CHECK_EQUAL(client::request(srv->port(), "GET", "/boom").status, 500);
  CAF_CHECK_EQUAL(client::request(srv->port(), "GET", "/x").status, 200);
}

CAF_TEST(connections past the limit are closed at once) {
  start();
  std::vector<std::unique_ptr<client::connection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<client::connection>("127.0.0.1", srv->port()));
    CAF_CHECK_EQUAL(held.back()->exchange("GET", "/keep").status, 200);
  }
  client::connection extra("127.0.0.1", srv->port());
  CAF_CHECK(extra.closed_by_peer(2000));
  CAF_CHECK_EQUAL(srv->stats().rejected_connections, 1u);
}

CAF_TEST(a deadline answers once whether the answer or the deadline comes first) {
  start();
  std::mutex m;
  std::vector<int> seen;
  auto record = [&](response res) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(res.status);
  };
  auto fast =
      with_deadline(*srv, std::chrono::milliseconds(50), record, response::text(503, "late"));
  fast(response::text(200, "ok"));
  auto slow =
      with_deadline(*srv, std::chrono::milliseconds(50), record, response::text(503, "late"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  slow(response::text(200, "too late"));
  std::lock_guard<std::mutex> lock(m);
  CAF_REQUIRE_EQUAL(seen.size(), 2u);
  CAF_CHECK_EQUAL(seen[0], 200);
  CAF_CHECK_EQUAL(seen[1], 503);
}

CAF_TEST(a port in use is reported with what to do) {
  start();
  server_options o = opts;
  o.port = srv->port();
  server second(o, echo);
  auto err = second.start();
  CAF_CHECK(err.find("cannot listen on 127.0.0.1:" + std::to_string(o.port)) != std::string::npos);
  CAF_CHECK(err.find("another program uses this port") != std::string::npos);
}

CAF_TEST(stop lets an in flight request finish) {
  std::atomic<bool> entered{false};
  responder pending;
  std::mutex m;
  start([&](request&&, responder respond) {
    std::lock_guard<std::mutex> lock(m);
    pending = respond;
    entered = true;
  });
  std::thread stopper;
  client::connection c("127.0.0.1", srv->port());
  c.send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stopper = std::thread([&] { srv->stop(std::chrono::milliseconds(3000)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> lock(m);
    pending(response::text(200, "finished"));
  }
  auto r = c.read_reply(2000);
  stopper.join();
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(r.body, "finished");
  CAF_CHECK_EQUAL(r.header("connection"), "close");
}

CAF_TEST_FIXTURE_SCOPE_END()
