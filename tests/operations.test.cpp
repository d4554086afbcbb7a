#define CAF_SUITE operations
#include <caf/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/crypto.hpp"
#include "http/test_client.hpp"
#include "tests/support/sim_harness.hpp"

using namespace komentra::testing;
using namespace std::chrono_literals;
namespace client = komentra::http::testing;
namespace fs = std::filesystem;

// A check that prints what went wrong when it fails.
#define CHECK_SAYING(cond, what)          \
  do {                                    \
    if (!(cond)) CAF_MESSAGE("" << what); \
    CAF_CHECK(cond);                      \
  } while (false)

namespace {

constexpr const char* admin_token = "adm1n-t0ken-f0r-tests-7c1e";
constexpr const char* verify_token = "verify-t0ken-f0r-tests-55aa";
constexpr const char* password = "correct horse battery";

std::string comment(const std::string& id, const std::string& text) {
  return R"({"media_id":"18000000000000001","user_id":"9000000000000001","id":")" + id +
         R"(","text":")" + text + "\"}";
}

std::string tool(const char* env_var, const char* fallback) {
  if (auto* p = std::getenv(env_var); p && *p) return p;
  return fallback;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

fs::path temp_dir(const std::string& name) {
  auto dir =
      fs::temp_directory_path() / ("komentra-" + name + "-" + std::to_string(::getpid()) + "-" +
                                   komentra::crypto::to_hex(komentra::crypto::random_bytes(4)));
  fs::create_directories(dir);
  return dir;
}

/// A server on loopback that answers every request with the same fixed bytes: here, a
/// tunnel's interstitial page (field case BR-06).
struct fixed_responder {
  int fd = -1;
  std::uint16_t port = 0;
  std::thread th;
  std::atomic<bool> stop{false};

  explicit fixed_responder(std::string answer) {
    fd = client::listen_loopback(port);
    th = std::thread([this, answer] {
      while (!stop) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          auto n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          req.append(buf, static_cast<std::size_t>(n));
        }
        (void)!::write(c, answer.data(), answer.size());
        ::close(c);
      }
    });
  }
  ~fixed_responder() {
    stop = true;
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    th.join();
  }
};

struct fixture {
  fs::path outbox = temp_dir("ops-mail");
  e2e_harness h{{{"KOMENTRA_ADMIN_TOKEN", admin_token},
                 {"KOMENTRA_META_VERIFY_TOKEN", verify_token},
                 {"KOMENTRA_LOG_FORMAT", "json"},
                 {"KOMENTRA_LOG_LEVEL", "debug"},
                 {"KOMENTRA_MAIL_OUTBOX_DIR", outbox.string()},
                 {"KOMENTRA_AUTH_ARGON2_MEMORY_KIB", "64"},
                 {"KOMENTRA_AUTH_ARGON2_ITERATIONS", "1"}}};

  fixture() { h.seed_account(); }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(outbox, ec);
  }

  client::reply get(const std::string& target, const std::string& token = admin_token) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return client::request(h.port(), "GET", target, "", headers);
  }

  client::reply admin_post(const std::string& target) {
    return client::request(h.port(), "POST", target, "",
                           {{"Authorization", std::string("Bearer ") + admin_token}});
  }

  client::reply api(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& cookie = "") {
    std::vector<std::pair<std::string, std::string>> hs{{"Content-Type", "application/json"},
                                                        {"X-Requested-With", "test"}};
    if (!cookie.empty()) hs.emplace_back("Cookie", "komentra_session=" + cookie);
    return client::request(h.port(), method, target, body, hs);
  }

  /// The newest email whose text contains `marker`, waiting up to 10 s.
  std::string mail(const std::string& marker) {
    for (int i = 0; i < 200; ++i) {
      std::error_code ec;
      for (auto& e : fs::directory_iterator(outbox, ec)) {
        std::ifstream in(e.path());
        std::string text((std::istreambuf_iterator<char>(in)), {});
        if (contains(text, marker)) return text;
      }
      std::this_thread::sleep_for(50ms);
    }
    return {};
  }

  void matched_comment() {
    h.add_automation(r1_columns());
    h.sim("POST", "/_sim/comments", comment("17900000000000001", "link"));
    CAF_REQUIRE(h.eventually([&] { return h.calls("POST", "/messages").size() == 1; }));
  }

  std::string hour_from_now(int hours) {
    return h.query("SELECT to_char((now() + interval '" + std::to_string(hours) +
                   " hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(operations_tests, fixture)

CAF_TEST(metrics count a matched comment and pass promtool check metrics) {
  matched_comment();
  std::string text;
  CAF_REQUIRE(h.eventually([&] {
    text = client::request(h.port(), "GET", "/metrics").body;
    return contains(text, "komentra_outbox_actions_total{state=\"sent\"} 2");
  }));
  auto r = client::request(h.port(), "GET", "/metrics");
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(contains(r.header("content-type"), "text/plain; version=0.0.4"));
  for (auto part :
       {"komentra_rule_matches_total 1", "komentra_webhook_deliveries_total{result=\"accepted\"}",
        "komentra_webhook_events_total{result=\"stored\"}", "komentra_journal_batch_events_count",
        "komentra_journal_commit_duration_seconds_bucket",
        "komentra_graph_api_request_duration_seconds_count{endpoint=\"public_reply\","
        "result=\"ok\"} 1",
        "komentra_http_request_duration_seconds_count{method=\"POST\",route=\"/"
        "webhooks/instagram\",status=\"200\"}",
        "komentra_account_actors 1", "komentra_account_mailbox_events ",
        "komentra_budget_wait_seconds_total", "komentra_token_refreshes_total",
        "komentra_db_pool_connections 4"})
    CHECK_SAYING(contains(text, part), "missing in /metrics: " << part);
  auto dir = temp_dir("promtool");
  auto file = dir / "metrics.txt";
  std::ofstream(file) << text;
  auto cmd = tool("KOMENTRA_PROMTOOL", "promtool") + " check metrics < " + file.string() + " 2>&1";
  auto* p = ::popen(cmd.c_str(), "r");
  CAF_REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  CHECK_SAYING(status == 0, "promtool check metrics: " << out);
  fs::remove_all(dir);
}

CAF_TEST(a prometheus server on loopback scrapes komentra) {
  auto dir = temp_dir("prometheus");
  auto port = client::free_port();
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         "scrape_configs:\n  - job_name: komentra\n    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << h.port() << "']\n";
  child_process prom(tool("KOMENTRA_PROMETHEUS", "prometheus"),
                     {"--config.file=" + (dir / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                     {});
  auto query = [&](const std::string& q) {
    return client::request(port, "GET", "/api/v1/query?query=" + q).body;
  };
  bool up = h.eventually(
      [&] { return contains(query("up%7Bjob%3D%22komentra%22%7D"), R"(,"1"]})"); }, 30s);
  CHECK_SAYING(up, "prometheus did not see komentra up: " << query("up") << "\n" << prom.output());
  std::string pool;
  CAF_CHECK(h.eventually(
      [&] {
        pool = query("komentra_db_pool_connections");
        return contains(pool, R"("__name__":"komentra_db_pool_connections")") &&
               contains(pool, R"(,"4"])");
      },
      15s));
  prom.terminate();
  prom.wait_exit();
  fs::remove_all(dir);
}

CAF_TEST(admin routes need the operator token and show the account actor with its budget) {
  matched_comment();
  CAF_CHECK_EQUAL(get("/admin/actors", "").status, 401);
  CAF_CHECK_EQUAL(get("/admin/actors", "not-the-token").status, 401);
  CAF_CHECK_EQUAL(get("/admin/actors/17841400000000001", "").status, 401);
  CAF_CHECK_EQUAL(
      client::request(h.port(), "POST", "/admin/accounts/17841400000000001/replay").status, 401);
  auto list = get("/admin/actors");
  CAF_CHECK_EQUAL(list.status, 200);
  CAF_CHECK(contains(list.body, R"({"actors":[{"account_id":"17841400000000001")"));
  auto one = get("/admin/actors/17841400000000001");
  CAF_CHECK_EQUAL(one.status, 200);
  for (auto part : {R"("status":"active")", R"("mailbox_depth":)", R"("budget_left":{)",
                    R"("private_replies":)", R"("compiled_rules":1)", R"("last_event_ms":)",
                    R"("queued_actions":0)"})
    CHECK_SAYING(contains(one.body, part), "missing " << part << " in " << one.body);
  CAF_CHECK(contains(get("/admin/actors/17841400000000099").body, R"("status":"passivated")"));
}

CAF_TEST(br06 the webhook self check tells a tunnel page from a working callback) {
  auto check = [&](const std::string& url) {
    return admin_post("/admin/webhook-check?url=" + url);
  };
  // Komentra's own endpoint answers the challenge.
  auto own = check("http://127.0.0.1:" + std::to_string(h.port()) + "/webhooks/instagram");
  CAF_CHECK_EQUAL(own.status, 200);
  CHECK_SAYING(contains(own.body, R"("ok":true)"), own.body);
  // A tunnel's interstitial: 200 with an HTML page instead of the challenge.
  std::string page =
      "<!DOCTYPE html><html><body>You are about to visit ... ngrok ... Visit "
      "Site</body></html>";
  fixed_responder tunnel("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                         std::to_string(page.size()) + "\r\nConnection: close\r\n\r\n" + page);
  auto html = check("http://127.0.0.1:" + std::to_string(tunnel.port) + "/webhooks/instagram");
  CAF_CHECK_EQUAL(html.status, 200);
  CAF_CHECK(contains(html.body, R"("ok":false)"));
  CHECK_SAYING(contains(html.body, "answered HTML, not the challenge"), html.body);
  CAF_CHECK(contains(html.body, "tunnel"));
  // A wrong path, and nothing listening.
  auto wrong = check("http://127.0.0.1:" + std::to_string(h.port()) + "/webhooks/nope");
  CHECK_SAYING(contains(wrong.body, "must end in /webhooks/instagram"), wrong.body);
  auto dead =
      check("http://127.0.0.1:" + std::to_string(client::free_port()) + "/webhooks/instagram");
  CHECK_SAYING(contains(dead.body, "cannot reach the callback URL"), dead.body);
  CAF_CHECK_EQUAL(check("ftp://example.com/").status, 400);
  CAF_CHECK_EQUAL(client::request(h.port(), "POST", "/admin/webhook-check").status, 401);
  // Our own handshake never answers HTML, whatever it is sent.
  auto bad =
      client::request(h.port(), "GET",
                      std::string("/webhooks/instagram?hub.mode=subscribe&hub.verify_token=") +
                          verify_token + "&hub.challenge=%3Cscript%3E");
  CAF_CHECK_EQUAL(bad.status, 400);
  CAF_CHECK(!contains(bad.header("content-type"), "html"));
}

CAF_TEST(a replay decides journal events again and sends nothing twice) {
  h.sim("POST", "/_sim/comments", comment("17900000000000001", "link"));
  CAF_REQUIRE(h.eventually([&] {
    return h.query("SELECT count(*) FROM decisions WHERE source_key = '17900000000000001'") == "1";
  }));
  CAF_CHECK(h.calls("POST", "/messages").empty());
  // The automation comes after the comment; a restart loads it.
  h.add_automation(r1_columns());
  h.restart_komentra({});
  auto range = "?from=" + hour_from_now(-1) + "&to=" + hour_from_now(1);
  auto target = std::string("/admin/accounts/17841400000000001/replay") + range;
  CAF_CHECK_EQUAL(admin_post("/admin/accounts/17841400000000001/replay?from=yesterday&to=x").status,
                  400);
  CAF_CHECK_EQUAL(admin_post("/admin/accounts/17841400000000099/replay" + range).status, 404);
  auto r = admin_post(target);
  CAF_REQUIRE_EQUAL(r.status, 202);
  CAF_CHECK(contains(r.body, R"("events":1)"));
  CAF_REQUIRE(h.eventually([&] { return h.calls("POST", "/messages").size() == 1; }));
  CAF_CHECK_EQUAL(h.calls("POST", "/17900000000000001/replies").size(), 1u);
  CAF_REQUIRE(h.eventually([&] {
    return h.query("SELECT count(*) FROM outbox WHERE state = 'sent'") == "2" &&
           h.query("SELECT count(*) FROM decisions WHERE outcome = 'skipped:own_comment'") == "1";
  }));
  auto decisions = h.query("SELECT count(*) FROM decisions");
  // Twice more, now with our own reply in the range too: nothing new is planned or sent.
  CAF_CHECK_EQUAL(admin_post(target).status, 202);
  CAF_CHECK_EQUAL(admin_post(target).status, 202);
  std::this_thread::sleep_for(1500ms);
  CAF_CHECK_EQUAL(h.calls("POST", "/messages").size(), 1u);
  CAF_CHECK_EQUAL(h.calls("POST", "/replies").size(), 1u);
  CAF_CHECK_EQUAL(h.query("SELECT count(*) FROM outbox"), "2");
  CAF_CHECK_EQUAL(h.query("SELECT count(*) FROM decisions"), decisions);
  CAF_CHECK(contains(client::request(h.port(), "GET", "/metrics").body,
                     "komentra_events_replayed_total "));
}

CAF_TEST(a full scenario at debug level logs json lines with correlation ids and no secret) {
  // The dashboard: sign-up, verification, login, password reset.
  auto r = api("POST", "/api/v1/auth/signup",
               R"({"email":"ops@example.com","password":")" + std::string(password) +
                   R"(","workspace_name":"Ops"})");
  CAF_REQUIRE_EQUAL(r.status, 202);
  auto verify = mail("verify-email?token=");
  std::smatch m;
  CAF_REQUIRE(std::regex_search(verify, m, std::regex("token=([A-Za-z0-9_-]{20,})")));
  auto verification_token = m[1].str();
  CAF_REQUIRE_EQUAL(api("GET", "/api/v1/auth/verify-email?token=" + verification_token).status,
                    200);
  r = api("POST", "/api/v1/auth/login",
          R"({"email":"ops@example.com","password":")" + std::string(password) + R"("})");
  CAF_REQUIRE_EQUAL(r.status, 200);
  auto set_cookie = r.header("set-cookie");
  CAF_REQUIRE(std::regex_search(set_cookie, m, std::regex("komentra_session=([A-Za-z0-9_-]{43})")));
  auto session = m[1].str();
  CAF_CHECK_EQUAL(api("GET", "/api/v1/me", "", session).status, 200);
  CAF_CHECK_EQUAL(api("POST", "/api/v1/auth/login",
                      R"({"email":"ops@example.com","password":"wrong password 123"})")
                      .status,
                  401);
  api("POST", "/api/v1/auth/request-password-reset", R"({"email":"ops@example.com"})");
  auto reset = mail("Reset token");
  CAF_REQUIRE(std::regex_search(reset, m, std::regex("\\n([A-Za-z0-9_-]{43})\\r?\\n")));
  auto reset_token = m[1].str();
  CAF_CHECK_EQUAL(api("POST", "/api/v1/auth/reset-password",
                      R"({"token":")" + reset_token + R"(","password":"a new long password"})")
                      .status,
                  200);
  // Meta: the handshake with the verify token, a forged delivery, then the engine.
  CAF_CHECK_EQUAL(client::request(h.port(), "GET",
                                  std::string("/webhooks/instagram?hub.mode=subscribe&hub."
                                              "verify_token=") +
                                      verify_token + "&hub.challenge=12345")
                      .status,
                  200);
  CAF_CHECK_EQUAL(client::request(h.port(), "POST", "/webhooks/instagram", R"({"entry":[]})",
                                  {{"X-Hub-Signature-256", "sha256=00"}})
                      .status,
                  401);
  matched_comment();
  // The operator, with the right and a wrong token.
  CAF_CHECK_EQUAL(get("/admin/actors").status, 200);
  CAF_CHECK_EQUAL(get("/admin/actors", "wr0ng-admin-t0ken-8d2f").status, 401);
  std::this_thread::sleep_for(1500ms);  // the async logger flushes every second

  auto log = h.komentra().output();
  std::istringstream lines(log);
  std::string line;
  std::size_t count = 0, correlated = 0;
  std::string delivery;
  for (auto secret :
       {std::string(e2e_harness::token), std::string("test_app_secret"), std::string(verify_token),
        std::string(admin_token), std::string("wr0ng-admin-t0ken-8d2f"), std::string(password),
        std::string("a new long password"), std::string("wrong password 123"), session,
        verification_token, reset_token, std::string(e2e_harness::token_key)})
    CHECK_SAYING(!contains(log, secret), "a secret is in the log: " << secret);
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++count;
    CHECK_SAYING(line.front() == '{' && line.back() == '}', "not a JSON line: " << line);
    // The account actor's line of the matched comment names its delivery. (The simulator's
    // copies of our own reply and DM come in later deliveries of their own.)
    if (std::regex_search(
            line, m,
            std::regex("delivery ([0-9a-f]{16}): event comment:17900000000000001: matched")))
      delivery = m[1].str();
  }
  CAF_CHECK_GREATER(count, 10u);
  // That delivery id is also on the journal's and the sender's lines.
  CAF_REQUIRE(!delivery.empty());
  lines = std::istringstream(log);
  bool journal_line = false, sender_line = false;
  while (std::getline(lines, line)) {
    if (!contains(line, "delivery " + delivery)) continue;
    ++correlated;
    journal_line |= contains(line, "delivery " + delivery + ": stored 1 new");
    sender_line |= contains(line, "private_reply") && contains(line, "-> ok");
  }
  CAF_CHECK(journal_line);
  CAF_CHECK(sender_line);
  CAF_CHECK_GREATER_OR_EQUAL(correlated, 3u);
}

CAF_TEST_FIXTURE_SCOPE_END()
