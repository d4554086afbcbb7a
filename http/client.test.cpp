#define CAF_SUITE client
#include <caf/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "common/process.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "http/test_client.hpp"

using namespace komentra::http;
using namespace std::chrono_literals;

namespace {

struct fixture {
  server_options opts;
  std::unique_ptr<server> srv;
  std::atomic<int> hits{0};

  fixture() { opts.port = 0; }

  void start(handler h) {
    srv = std::make_unique<server>(opts, std::move(h));
    auto err = srv->start();
    if (!err.empty()) CAF_FAIL(err);
  }

  void start_echo() {
    start([this](request&& req, responder respond) {
      ++hits;
      auto res = response::text(200, req.method + " " + req.target + " " + req.body);
      res.headers.emplace_back("X-Seen-Host", std::string(req.header("host")));
      res.headers.emplace_back("X-Seen-Type", std::string(req.header("content-type")));
      respond(std::move(res));
    });
  }

  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(srv->port()) + target;
  }
};

/// A listener that accepts, reads one request and closes without answering.
struct dropping_listener {
  int fd = -1;
  std::uint16_t port = 0;
  std::atomic<int> accepted{0};
  std::thread th;

  dropping_listener() {
    fd = testing::listen_loopback(port);
    th = std::thread([this] {
      for (;;) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        ++accepted;
        char buf[4096];
        ::recv(c, buf, sizeof buf, 0);
        ::close(c);
      }
    });
  }
  ~dropping_listener() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    th.join();
  }
};

client_request get(std::string url) {
  client_request r;
  r.url = std::move(url);
  return r;
}

}  // namespace

CAF_TEST(urls are split into scheme host port and target) {
  auto a = parse_url("https://graph.instagram.com/v25.0/me?fields=user_id");
  CAF_REQUIRE(a.has_value());
  CAF_CHECK(a->tls);
  CAF_CHECK_EQUAL(a->host, "graph.instagram.com");
  CAF_CHECK_EQUAL(a->port, 443);
  CAF_CHECK_EQUAL(a->target, "/v25.0/me?fields=user_id");
  auto b = parse_url("http://127.0.0.1:8081");
  CAF_REQUIRE(b.has_value());
  CAF_CHECK(!b->tls);
  CAF_CHECK_EQUAL(b->port, 8081);
  CAF_CHECK_EQUAL(b->target, "/");
  auto c = parse_url("http://[::1]:9000/x?y#frag");
  CAF_REQUIRE(c.has_value());
  CAF_CHECK_EQUAL(c->host, "::1");
  CAF_CHECK_EQUAL(c->target, "/x?y");
  CAF_CHECK(!parse_url("ftp://x/"));
  CAF_CHECK(!parse_url("http://"));
  CAF_CHECK(!parse_url("http://host:99999/"));
  CAF_CHECK(!parse_url("http://user@host/"));
  CAF_CHECK(!parse_url("graph.instagram.com/v25.0"));
}

CAF_TEST_FIXTURE_SCOPE(client_tests, fixture)

CAF_TEST(a post gets status headers and body back) {
  start_echo();
  client cl;
  client_request r;
  r.method = "POST";
  r.url = url("/v25.0/me/messages?access_token=t");
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"a":1})";
  auto res = cl.send_and_wait(r);
  CAF_CHECK(res.ok());
  CAF_CHECK_EQUAL(res.status, 200);
  CAF_CHECK_EQUAL(res.body, R"(POST /v25.0/me/messages?access_token=t {"a":1})");
  CAF_CHECK_EQUAL(res.header("x-seen-type"), "application/json");
  CAF_CHECK_EQUAL(res.header("X-Seen-Host"), "127.0.0.1:" + std::to_string(srv->port()));
  CAF_CHECK(res.request_sent);
}

CAF_TEST(an error status is a normal response not a transport error) {
  start([](request&&, responder respond) {
    respond(response::json(400, R"({"error":{"code":10}})"));
  });
  client cl;
  auto res = cl.send_and_wait(get(url("/x")));
  CAF_CHECK(res.ok());
  CAF_CHECK_EQUAL(res.status, 400);
  CAF_CHECK_EQUAL(res.body, R"({"error":{"code":10}})");
}

CAF_TEST(sequential requests reuse one kept alive connection) {
  start_echo();
  client cl;
  for (int i = 0; i < 5; ++i) CAF_CHECK_EQUAL(cl.send_and_wait(get(url("/a"))).status, 200);
  CAF_CHECK_EQUAL(cl.stats().connections_opened, 1u);
  CAF_CHECK_EQUAL(cl.stats().connections_reused, 4u);
  CAF_CHECK_EQUAL(srv->stats().requests, 5u);
}

CAF_TEST(concurrent requests all complete) {
  start_echo();
  client cl;
  constexpr int n = 40;
  std::atomic<int> ok{0}, done{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i)
    cl.send(get(url("/c/" + std::to_string(i))), [&, i](client_response res) {
      if (res.status == 200 && res.body == "GET /c/" + std::to_string(i) + " ") ++ok;
      if (++done == n) all.set_value();
    });
  CAF_REQUIRE(all.get_future().wait_for(10s) == std::future_status::ready);
  CAF_CHECK_EQUAL(ok.load(), n);
  CAF_CHECK(cl.stats().connections_opened <= static_cast<std::uint64_t>(n));
}

CAF_TEST(a slow server gets a timeout error within the deadline) {
  start([this](request&&, responder respond) {
    srv->schedule(1500ms, [respond] { respond(response::text(200, "late")); });
  });
  client cl;
  auto r = get(url("/slow"));
  r.timeout = 200ms;
  auto t0 = std::chrono::steady_clock::now();
  auto res = cl.send_and_wait(r);
  auto took = std::chrono::steady_clock::now() - t0;
  CAF_CHECK(!res.ok());
  CAF_CHECK(res.timed_out);
  CAF_CHECK_EQUAL(res.status, 0);
  CAF_CHECK(res.error.find("timeout") != std::string::npos);
  CAF_CHECK(took < 1000ms);
  CAF_CHECK(res.request_sent);
}

CAF_TEST(a refused connection is an error value) {
  client cl;
  auto res =
      cl.send_and_wait(get("http://127.0.0.1:" + std::to_string(testing::free_port()) + "/"));
  CAF_CHECK(!res.ok());
  CAF_CHECK(!res.timed_out);
  CAF_CHECK(!res.request_sent);
  CAF_MESSAGE("error: " << res.error);
  CAF_CHECK(res.error.find("connect") != std::string::npos);
}

CAF_TEST(an invalid url is an error value) {
  client cl;
  auto res = cl.send_and_wait(get("not a url"));
  CAF_CHECK(!res.ok());
  CAF_CHECK(res.error.find("invalid URL") != std::string::npos);
}

CAF_TEST(an oversized answer is refused) {
  start([](request&&, responder respond) { respond(response::text(200, std::string(5000, 'x'))); });
  client_options o;
  o.body_limit_bytes = 1000;
  client cl(o);
  auto res = cl.send_and_wait(get(url("/big")));
  CAF_CHECK(!res.ok());
  CAF_MESSAGE("oversized: " << res.status << " " << res.body.size() << " " << res.error);
  CAF_CHECK(res.error.find("exceeds 1000") != std::string::npos);
}

CAF_TEST(a connection the server closed while idle is replaced transparently) {
  opts.idle_timeout = 100ms;
  start_echo();
  client cl;
  CAF_CHECK_EQUAL(cl.send_and_wait(get(url("/1"))).status, 200);
  std::this_thread::sleep_for(300ms);
  client_request post;
  post.method = "POST";
  post.url = url("/2");
  post.body = "x";
  auto res = cl.send_and_wait(post);
  CAF_CHECK_EQUAL(res.status, 200);
  CAF_CHECK_EQUAL(hits.load(), 2);
  CAF_CHECK_EQUAL(cl.stats().connections_opened, 2u);
}

CAF_TEST(a post dropped without an answer is reported and never resent) {
  dropping_listener l;
  client cl;
  client_request post;
  post.method = "POST";
  post.url = "http://127.0.0.1:" + std::to_string(l.port) + "/v25.0/me/messages";
  post.body = R"({"recipient":{"comment_id":"1"}})";
  auto res = cl.send_and_wait(post);
  CAF_CHECK(!res.ok());
  CAF_CHECK(res.request_sent);
  CAF_CHECK(res.error.find("read") != std::string::npos);
  std::this_thread::sleep_for(100ms);
  CAF_CHECK_EQUAL(l.accepted.load(), 1);
}

CAF_TEST(stopping the client completes pending requests with an error) {
  std::mutex m;
  std::vector<responder> held;  // never answered, but the connection stays open
  start([&](request&&, responder r) {
    std::lock_guard<std::mutex> lock(m);
    held.push_back(std::move(r));
  });
  auto cl = std::make_unique<client>();
  std::promise<client_response> p;
  auto r = get(url("/hang"));
  r.timeout = 30s;
  cl->send(r, [&](client_response res) { p.set_value(std::move(res)); });
  std::this_thread::sleep_for(100ms);
  cl->stop();
  auto f = p.get_future();
  CAF_REQUIRE(f.wait_for(2s) == std::future_status::ready);
  auto res = f.get();
  CAF_CHECK_EQUAL(res.error, "client stopped");
  CAF_CHECK_EQUAL(cl->send_and_wait(get(url("/after"))).error, "client stopped");
  srv->stop(0ms);
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// `openssl s_server -www` with a fresh self-signed certificate for DNS:localhost.
struct tls_server {
  std::string dir;
  std::uint16_t port = 0;
  pid_t pid = -1;

  tls_server() {
    char tmpl[] = "/tmp/komentra-client-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto gen = komentra::process::run(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "1", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"});
    if (gen.exit_code != 0) CAF_FAIL("openssl req failed: " << gen.output);
    port = testing::free_port();
    pid = ::fork();
    if (pid == 0) {
      auto p = std::to_string(port);
      auto cert = dir + "/cert.pem", key = dir + "/key.pem";
      ::freopen("/dev/null", "w", stdout);
      ::freopen("/dev/null", "w", stderr);
      ::execlp("openssl", "openssl", "s_server", "-accept", p.c_str(), "-cert", cert.c_str(),
               "-key", key.c_str(), "-www", "-quiet", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {  // wait until it listens
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (ok) return;
      std::this_thread::sleep_for(30ms);
    }
    CAF_FAIL("openssl s_server did not start");
  }
  ~tls_server() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    komentra::process::run({"rm", "-rf", dir});
  }
  std::string cert() const { return dir + "/cert.pem"; }
};

}  // namespace

CAF_TEST(https is verified against trusted certificates with host name checks) {
  tls_server tls;
  client_options trusting;
  trusting.extra_ca_file = tls.cert();
  {
    client cl(trusting);
    auto res = cl.send_and_wait(get("https://localhost:" + std::to_string(tls.port) + "/"));
    CAF_CHECK(res.ok());
    CAF_CHECK_EQUAL(res.status, 200);
    CAF_MESSAGE("trusted: " << res.status << " " << res.error);
  }
  {
    client cl(trusting);  // trusted certificate, but it is not for 127.0.0.1
    auto res = cl.send_and_wait(get("https://127.0.0.1:" + std::to_string(tls.port) + "/"));
    CAF_CHECK(!res.ok());
    CAF_MESSAGE("wrong host: " << res.error);
    CAF_CHECK(res.error.find("handshake") != std::string::npos);
  }
  {
    client cl;  // system store only: the self-signed certificate is not trusted
    auto res = cl.send_and_wait(get("https://localhost:" + std::to_string(tls.port) + "/"));
    CAF_CHECK(!res.ok());
    CAF_MESSAGE("untrusted: " << res.error);
    CAF_CHECK(res.error.find("certificate verify failed") != std::string::npos);
  }
}
