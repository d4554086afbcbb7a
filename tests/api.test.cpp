#define CAF_SUITE api
#include <caf/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "http/test_client.hpp"
#include "storage/engine_store.hpp"
#include "storage/test_database.hpp"
#include "tests/support/komentra_process.hpp"

using namespace komentra;
namespace client = komentra::http::testing;
namespace fs = std::filesystem;

namespace {

constexpr const char* app_secret = "test_app_secret";
constexpr const char* password = "correct horse battery";
// Fact sheet §6.3: signed with test_app_secret, user_id 1234567890.
constexpr const char* signed_request =
    "OjV3fsh7rcJHi9BWatLqyKhVFssqhWkTuzG9wJA4THg."
    "eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImlzc3VlZF9hdCI6MTcxODAwMDAwMCwidXNlcl9pZCI6IjEyMzQ1Njc4OT"
    "AifQ";

/// The value of the first "key": in a JSON text (string without quotes, or a scalar).
std::string field(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":(\"((?:[^\"\\\\]|\\\\.)*)\"|[-0-9.a-z]+)");
  if (!std::regex_search(json, m, re)) return {};
  return m[2].matched ? m[2].str() : m[1].str();
}

std::string query_of(const std::string& url, const std::string& key) {
  std::smatch m;
  std::regex re("[?&]" + key + "=([^&#]*)");
  return std::regex_search(url, m, re) ? m[1].str() : std::string();
}

const std::string link_automation =
    R"({"name":"Link","keywords":["link"],"public_replies":["Check your DMs"],"dm_text":"Here is your link","dm_buttons":[{"title":"Open","url":"https://shop.example/a"}]})";

struct fixture {
  std::string url = storage::testing::fresh_database();
  fs::path outbox = fs::temp_directory_path() / ("komentra-api-" + std::to_string(::getpid()) +
                                                 "-" + std::to_string(std::rand()));
  std::unique_ptr<komentra::testing::child_process> sim, proc;
  std::uint16_t sim_port = 0, port = 0;

  fixture() {
    sim = std::make_unique<komentra::testing::child_process>(
        komentra::testing::binary_path("KOMENTRA_SIM_BINARY"),
        std::vector<std::string>{"serve", "--listen", "127.0.0.1:0", "--log-level", "info"},
        std::map<std::string, std::string>{});
    sim_port = sim->wait_for_port();
    CAF_REQUIRE(sim_port != 0);
    auto sim_url = "http://127.0.0.1:" + std::to_string(sim_port);
    std::map<std::string, std::string> env{
        {"KOMENTRA_DATABASE_URL", url},
        {"KOMENTRA_LISTEN", "127.0.0.1:0"},
        {"KOMENTRA_META_APP_SECRETS", app_secret},
        {"KOMENTRA_OAUTH_APP_ID", "1000000000000001"},
        {"KOMENTRA_OAUTH_APP_SECRET", app_secret},
        {"KOMENTRA_OAUTH_AUTHORIZE_URL", sim_url + "/oauth/authorize"},
        {"KOMENTRA_OAUTH_BASE_URL", sim_url},
        {"KOMENTRA_GRAPH_BASE_URL", sim_url},
        {"KOMENTRA_TOKEN_KEY", std::string(64, 'a')},
        {"KOMENTRA_AUTH_ARGON2_MEMORY_KIB", "64"},
        {"KOMENTRA_AUTH_ARGON2_ITERATIONS", "1"},
        {"KOMENTRA_MAIL_OUTBOX_DIR", outbox.string()},
        {"KOMENTRA_PUBLIC_BASE_URL", "https://app.komentra.test"}};
    proc = std::make_unique<komentra::testing::child_process>(
        komentra::testing::binary_path("KOMENTRA_BINARY"), std::vector<std::string>{"serve"}, env);
    port = proc->wait_for_port();
    CAF_REQUIRE(port != 0);
  }

  ~fixture() {
    proc->terminate();
    proc->wait_exit();
    sim->terminate();
    sim->wait_exit();
    std::error_code ec;
    fs::remove_all(outbox, ec);
  }

  client::reply call(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& cookie = "",
                     bool csrf_header = true) {
    std::vector<std::pair<std::string, std::string>> h{{"Content-Type", "application/json"}};
    if (csrf_header) h.emplace_back("X-Requested-With", "test");
    if (!cookie.empty()) h.emplace_back("Cookie", "komentra_session=" + cookie);
    return client::request(port, method, target, body, h);
  }

  client::reply sim_call(const std::string& method, const std::string& target,
                         const std::string& body = "") {
    return client::request(sim_port, method, target, body, {{"Content-Type", "application/json"}});
  }

  /// The newest email to `to` whose text contains `marker`, waiting up to 10 s.
  std::string mail_to(const std::string& to, const std::string& marker) {
    for (int i = 0; i < 200; ++i) {
      std::error_code ec;
      std::vector<fs::path> files;
      for (auto& e : fs::directory_iterator(outbox, ec))
        if (e.path().extension() == ".eml") files.push_back(e.path());
      std::sort(files.rbegin(), files.rend());
      for (auto& f : files) {
        std::ifstream in(f);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        if (text.find("To: " + to + "\r\n") != std::string::npos &&
            text.find(marker) != std::string::npos)
          return text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {};
  }

  std::string cookie_of(const client::reply& r) {
    auto h = r.header("set-cookie");
    std::smatch m;
    std::regex re("komentra_session=([A-Za-z0-9_-]{43})");
    return std::regex_search(h, m, re) ? m[1].str() : std::string();
  }

  /// Signs up, verifies through the emailed link and logs in; returns the session cookie.
  std::string user(const std::string& email) {
    auto r = call("POST", "/api/v1/auth/signup",
                  R"({"email":")" + email + R"(","password":")" + password +
                      R"(","workspace_name":"WS of )" + email + R"("})");
    CAF_REQUIRE_EQUAL(r.status, 202);
    auto mail = mail_to(email, "verify-email?token=");
    CAF_REQUIRE(!mail.empty());
    auto token = query_of(mail.substr(mail.find("https://")), "token");
    token = token.substr(0, token.find_first_of("\r\n"));
    r = call("GET", "/api/v1/auth/verify-email?token=" + token, "", "", false);
    CAF_REQUIRE_EQUAL(r.status, 200);
    r = call("POST", "/api/v1/auth/login",
             R"({"email":")" + email + R"(","password":")" + password + R"("})");
    CAF_REQUIRE_EQUAL(r.status, 200);
    return cookie_of(r);
  }

  std::string workspace_of(const std::string& cookie) {
    return field(call("GET", "/api/v1/workspaces", "", cookie).body, "id");
  }

  /// Connects a new simulated account through the OAuth flow; returns its id.
  std::string connect(const std::string& cookie, const std::string& ws,
                      const std::string& id = "17841400000000001") {
    auto acc = sim_call("POST", "/_sim/accounts",
                        R"({"id":")" + id + R"(","username":"shop.)" + id.substr(12) + R"("})");
    CAF_REQUIRE(acc.status == 200 || acc.status == 201);
    return authorize(cookie, ws, id);
  }

  /// The OAuth flow for an account the simulator has (connecting it again, say).
  std::string authorize(const std::string& cookie, const std::string& ws, const std::string& id) {
    auto start = call("POST", "/api/v1/workspaces/" + ws + "/instagram/connect", "", cookie);
    CAF_REQUIRE_EQUAL(start.status, 200);
    auto authorize = field(start.body, "authorize_url");
    auto target = authorize.substr(authorize.find("/oauth/"));
    auto consent = sim_call("GET", target + "&account_id=" + id);
    CAF_REQUIRE_EQUAL(consent.status, 302);
    auto location = consent.header("location");
    auto code = query_of(location, "code");
    auto state = query_of(location, "state");
    auto cb =
        call("GET", "/api/v1/instagram/callback?code=" + code + "&state=" + state, "", cookie);
    if (cb.status != 201)
      CAF_MESSAGE("callback: " << cb.status << " " << cb.body << "\n" << proc->output());
    CAF_REQUIRE_EQUAL(cb.status, 201);
    return field(cb.body, "id");
  }

  std::string automations(const std::string& ws, const std::string& acc) {
    return "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/automations";
  }

  /// A new user's connected account with two automations: `mine`, for the engine to pause,
  /// and `by_hand`, which the user paused.
  struct paused_setup {
    std::string cookie, ws, acc, base, mine, by_hand;
  };
  paused_setup account_with_one_paused_by_hand(const std::string& email) {
    paused_setup p;
    p.cookie = user(email);
    p.ws = workspace_of(p.cookie);
    p.acc = connect(p.cookie, p.ws);
    p.base = automations(p.ws, p.acc);
    p.mine = field(call("POST", p.base, link_automation, p.cookie).body, "id");
    p.by_hand = field(
        call("POST", p.base, R"({"name":"Price","keywords":["price"],"dm_text":"10"})", p.cookie)
            .body,
        "id");
    CAF_REQUIRE_EQUAL(call("POST", p.base + "/" + p.by_hand + "/pause", "", p.cookie).status, 200);
    return p;
  }
  /// The simulator sends its webhooks to Komentra, and the account has a fan
  /// (9000000000000001) and a post (18000000000000001) to comment on.
  void deliver_to_komentra_with_fan_and_post(const std::string& acc) {
    sim_call(
        "POST", "/_sim/config",
        R"({"webhook_url":"http://127.0.0.1:)" + std::to_string(port) + R"(/webhooks/instagram"})");
    sim_call("POST", "/_sim/users",
             R"({"account_id":")" + acc + R"(","id":"9000000000000001","username":"fan"})");
    sim_call("POST", "/_sim/media", R"({"account_id":")" + acc + R"(","id":"18000000000000001"})");
  }
  /// "status paused_reason" of one of its automations.
  std::string state_of(const paused_setup& p, const std::string& id) {
    auto r = call("GET", p.base + "/" + id, "", p.cookie);
    return field(r.body, "status") + " " + field(r.body, "paused_reason");
  }

  pqxx::result sql(const std::string& q) {
    pqxx::connection c{url};
    pqxx::work w{c};
    auto r = w.exec(q);
    w.commit();
    return r;
  }

  /// Polls a one-value query until it gives `expected` (at most 15 s).
  bool sql_eventually(const std::string& q, const std::string& expected) {
    for (int i = 0; i < 300; ++i) {
      if (sql(q)[0][0].as<std::string>("") == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(api_tests, fixture)

CAF_TEST(sign up verify log in and log out with a hardened session cookie) {
  auto r = call("POST", "/api/v1/auth/signup",
                R"({"email":"Ann@Example.com","password":"correct horse battery"})");
  CAF_CHECK_EQUAL(r.status, 202);
  // Sign-up answers before the account is written (the same answer and timing for a known
  // address), so the user exists once the verification email is out.
  auto mail = mail_to("ann@example.com", "verify-email?token=");
  CAF_REQUIRE(!mail.empty());
  r = call("POST", "/api/v1/auth/login",
           R"({"email":"ann@example.com","password":"correct horse battery"})");
  CAF_CHECK_EQUAL(r.status, 403);
  CAF_CHECK_EQUAL(field(r.body, "code"), "email_not_verified");
  auto token = query_of(mail, "token");
  token = token.substr(0, token.find_first_of("\r\n"));
  CAF_CHECK_EQUAL(call("GET", "/api/v1/auth/verify-email?token=" + token).status, 200);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/auth/verify-email?token=" + token).status, 400);
  // Tokens are stored hashed only.
  CAF_CHECK_EQUAL(
      sql("SELECT count(*) FROM user_tokens WHERE token_hash = '" + token + "'")[0][0].as<int>(),
      0);
  r = call("POST", "/api/v1/auth/login",
           R"({"email":"ann@example.com","password":"correct horse battery"})");
  CAF_REQUIRE_EQUAL(r.status, 200);
  auto set_cookie = r.header("set-cookie");
  CAF_CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CAF_CHECK(set_cookie.find("SameSite=Lax") != std::string::npos);
  CAF_CHECK(set_cookie.find("Secure") != std::string::npos);  // public_base_url is https
  auto cookie = cookie_of(r);
  CAF_REQUIRE_EQUAL(cookie.size(), 43u);
  CAF_CHECK_EQUAL(
      sql("SELECT count(*) FROM sessions WHERE id_hash = '" + cookie + "'")[0][0].as<int>(), 0);
  auto hash = sql("SELECT password_hash FROM users")[0][0].as<std::string>();
  CAF_CHECK(hash.rfind("$argon2id$v=19$m=64,t=1,p=1$", 0) == 0);
  r = call("GET", "/api/v1/me", "", cookie);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(field(r.body, "email"), "ann@example.com");
  CAF_CHECK_EQUAL(field(r.body, "role"), "owner");
  auto events = call("GET", "/api/v1/me/security-events", "", cookie).body;
  CAF_CHECK(events.find("\"login\"") != std::string::npos);
  CAF_CHECK(events.find("\"ip\":\"127.0.0.1\"") != std::string::npos);
  CAF_CHECK_EQUAL(call("POST", "/api/v1/auth/logout", "", cookie).status, 204);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/me", "", cookie).status, 401);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/me").status, 401);
}

CAF_TEST(requests are validated and cookie writes need the csrf header) {
  auto cookie = user("val@example.com");
  auto r = call("PATCH", "/api/v1/me", R"({"name":"x","admin":true})", cookie);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(field(r.body, "field"), "admin");
  r = call("PATCH", "/api/v1/me", R"({"name":"x"})", cookie, false);
  CAF_CHECK_EQUAL(r.status, 403);
  r = call("PATCH", "/api/v1/me", R"({"name":)", cookie);
  CAF_CHECK_EQUAL(r.status, 400);
  r = call("PATCH", "/api/v1/me", R"({"name":")" + std::string(300, 'n') + "\"}", cookie);
  CAF_CHECK_EQUAL(field(r.body, "field"), "name");
  r = call("PATCH", "/api/v1/me", R"({"name":7})", cookie);
  CAF_CHECK_EQUAL(field(r.body, "message"), "must be a string");
  r = call("POST", "/api/v1/auth/signup",
           R"({"email":"not-an-email","password":"correct horse battery"})");
  CAF_CHECK_EQUAL(field(r.body, "field"), "email");
  r = call("POST", "/api/v1/auth/signup", R"({"email":"a@b.example","password":"1234567890"})");
  CAF_CHECK_EQUAL(field(r.body, "field"), "password");
  // A NUL cannot be stored: refused, not cut short or a 500.
  r = call("PATCH", "/api/v1/me", R"({"name":"Va\u0000l"})", cookie);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK(r.body.find("U+0000") != std::string::npos);
  CAF_CHECK_EQUAL(call("PATCH", "/api/v1/me", R"({"name":"Val"})", cookie).status, 200);
}

CAF_TEST(a body over the limit gets 413 naming the limit on every route family) {
  auto cookie = user("big@example.com");
  // A JSON object of exactly `size` bytes.
  auto body_of = [](std::size_t size) {
    return R"({"name":")" + std::string(size - 11, 'n') + "\"}";
  };
  auto check_413 = [&](const client::reply& r, const std::string& limit) {
    CAF_CHECK_EQUAL(r.status, 413);
    CAF_CHECK_EQUAL(field(r.body, "code"), "body_too_large");
    CAF_CHECK(field(r.body, "message").find("limit of " + limit + " bytes") != std::string::npos);
  };
  // The dashboard API (64 KiB), before the session, CSRF and body checks.
  check_413(call("PATCH", "/api/v1/me", body_of(65537), cookie), "65536");
  check_413(call("PATCH", "/api/v1/me", body_of(65537)), "65536");
  check_413(call("POST", "/api/v1/auth/login", body_of(100000), "", false), "65536");
  check_413(call("GET", "/api/v1/openapi.json", body_of(65537)), "65536");
  auto at_limit = call("PATCH", "/api/v1/me", body_of(65536), cookie);
  CAF_CHECK_EQUAL(at_limit.status, 400);
  CAF_CHECK_EQUAL(field(at_limit.body, "field"), "name");
  // The OAuth callback and Meta's callbacks are API routes too.
  check_413(call("GET", "/api/v1/instagram/callback?code=c&state=s", body_of(65537), cookie),
            "65536");
  check_413(client::request(port, "POST", "/api/v1/meta/deauthorize",
                            "signed_request=" + std::string(65537, 'x'),
                            {{"Content-Type", "application/x-www-form-urlencoded"}}),
            "65536");
  // Webhooks, admin and links take up to http.body_limit_bytes (4 MiB by default).
  auto huge = body_of(4 * 1024 * 1024 + 1);
  check_413(client::request(port, "POST", "/webhooks/instagram", huge,
                            {{"X-Hub-Signature-256", "sha256=00"}}),
            "4194304");
  check_413(
      client::request(port, "POST", "/admin/webhook-check", huge, {{"Authorization", "Bearer x"}}),
      "4194304");
  check_413(client::request(port, "GET", "/l/abcdef", huge), "4194304");
}

CAF_TEST(password reset answers alike for unknown emails and is single use) {
  auto cookie = user("reset@example.com");
  auto a = call("POST", "/api/v1/auth/request-password-reset", R"({"email":"reset@example.com"})");
  auto b = call("POST", "/api/v1/auth/request-password-reset", R"({"email":"nobody@example.com"})");
  CAF_CHECK_EQUAL(a.status, 202);
  CAF_CHECK_EQUAL(a.status, b.status);
  CAF_CHECK_EQUAL(a.body, b.body);
  auto mail = mail_to("reset@example.com", "Reset token");
  CAF_REQUIRE(!mail.empty());
  std::smatch m;
  CAF_REQUIRE(std::regex_search(mail, m, std::regex("\\n([A-Za-z0-9_-]{43})\\r?\\n")));
  auto token = m[1].str();
  auto r = call("POST", "/api/v1/auth/reset-password",
                R"({"token":")" + token + R"(","password":"a new long password"})");
  CAF_CHECK_EQUAL(r.status, 200);
  r = call("POST", "/api/v1/auth/reset-password",
           R"({"token":")" + token + R"(","password":"another long password"})");
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/me", "", cookie).status, 401);  // sessions ended
  r = call("POST", "/api/v1/auth/login",
           R"({"email":"reset@example.com","password":"a new long password"})");
  CAF_CHECK_EQUAL(r.status, 200);
  auto fresh = cookie_of(r);
  r = call("POST", "/api/v1/me/password",
           R"({"current_password":"wrong wrong wrong","new_password":"third long password"})",
           fresh);
  CAF_CHECK_EQUAL(r.status, 403);
  r = call("POST", "/api/v1/me/password",
           R"({"current_password":"a new long password","new_password":"third long password"})",
           fresh);
  CAF_CHECK_EQUAL(r.status, 204);
  CAF_CHECK_EQUAL(
      sql("SELECT count(*) FROM security_events WHERE kind = 'password_changed' AND retain")[0][0]
          .as<int>(),
      1);
}

CAF_TEST(logins are throttled per account) {
  user("throttle@example.com");
  for (int i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(call("POST", "/api/v1/auth/login",
                         R"({"email":"throttle@example.com","password":"wrong password!"})")
                        .status,
                    401);
  auto r = call("POST", "/api/v1/auth/login",
                R"({"email":"throttle@example.com","password":"correct horse battery"})");
  CAF_CHECK_EQUAL(r.status, 429);
  CAF_CHECK(!r.header("retry-after").empty());
}

CAF_TEST(a user of one workspace can reach no route of another) {
  auto a = user("a@example.com");
  auto b = user("b@example.com");
  auto ws = workspace_of(a);
  auto acc = connect(a, ws);
  auto created = call("POST", automations(ws, acc), link_automation, a);
  CAF_REQUIRE_EQUAL(created.status, 201);
  auto automation = field(created.body, "id");
  auto doc = call("GET", "/api/v1/openapi.json").body;
  std::set<std::string> seen;
  int routes = 0;
  std::regex path_re("\"(/api/v1/workspaces/\\{workspace_id\\}[^\"]*)\":\\{");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), path_re);
       it != std::sregex_iterator(); ++it) {
    auto path = (*it)[1].str();
    if (!seen.insert(path).second) continue;
    auto target = std::regex_replace(path, std::regex("\\{workspace_id\\}"), ws);
    target = std::regex_replace(target, std::regex("\\{account_id\\}"), acc);
    target = std::regex_replace(target, std::regex("\\{automation_id\\}"), automation);
    target = std::regex_replace(target, std::regex("\\{[a-z_]+\\}"), "1");
    for (auto method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
      auto r = call(method, target, "{}", b);
      if (r.status == 405) continue;
      ++routes;
      CAF_CHECK_EQUAL(r.status, 404);
      if (r.status != 404) CAF_MESSAGE(method << " " << target << " answered " << r.status);
    }
  }
  CAF_CHECK_GREATER(routes, 25);
  // Nothing of A's changed.
  CAF_CHECK_EQUAL(call("GET", automations(ws, acc) + "/" + automation, "", a).status, 200);
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM ig_accounts WHERE status = 'active'")[0][0].as<int>(),
                  1);
}

CAF_TEST(invited members read but only admins write) {
  auto owner = user("owner@example.com");
  auto ws = workspace_of(owner);
  auto acc = connect(owner, ws);
  auto r = call("POST", "/api/v1/workspaces/" + ws + "/invitations",
                R"({"email":"mem@example.com","role":"member"})", owner);
  CAF_REQUIRE_EQUAL(r.status, 201);
  auto mail = mail_to("mem@example.com", "invited you");
  std::smatch m;
  CAF_REQUIRE(std::regex_search(mail, m, std::regex("\"token\":\"([A-Za-z0-9_-]{43})\"")));
  auto member = user("mem@example.com");
  CAF_CHECK_EQUAL(call("GET", "/api/v1/workspaces/" + ws, "", member).status, 404);
  r = call("POST", "/api/v1/invitations/accept", R"({"token":")" + m[1].str() + "\"}", member);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/workspaces/" + ws, "", member).status, 200);
  CAF_CHECK_EQUAL(call("GET", automations(ws, acc), "", member).status, 200);
  CAF_CHECK_EQUAL(call("POST", automations(ws, acc), link_automation, member).status, 403);
  CAF_CHECK_EQUAL(call("PATCH", "/api/v1/workspaces/" + ws, R"({"name":"Mine"})", member).status,
                  403);
  CAF_CHECK_EQUAL(
      call("DELETE", "/api/v1/workspaces/" + ws + "/accounts/" + acc, "", member).status, 403);
  r = call("PATCH", "/api/v1/workspaces/" + ws,
           R"({"name":"Shop","time_zone":"Europe/Berlin","default_sends_per_second":50})", owner);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(field(r.body, "time_zone"), "Europe/Berlin");
  r = call("PATCH", "/api/v1/workspaces/" + ws, R"({"time_zone":"Mars/Olympus"})", owner);
  CAF_CHECK_EQUAL(field(r.body, "field"), "time_zone");
  auto members = call("GET", "/api/v1/workspaces/" + ws + "/members", "", member).body;
  CAF_CHECK(members.find("mem@example.com") != std::string::npos);
}

CAF_TEST(send caps of a workspace and of an account apply to the running engine at once) {
  auto owner = user("caps@example.com");
  auto ws = workspace_of(owner);
  auto acc = connect(owner, ws);
  CAF_REQUIRE_EQUAL(call("POST", automations(ws, acc), link_automation, owner).status, 201);
  deliver_to_komentra_with_fan_and_post(acc);
  auto path = "/api/v1/workspaces/" + ws + "/accounts/" + acc;
  auto cap = [&] { return field(call("GET", path, "", owner).body, "private_replies_per_hour"); };
  CAF_CHECK_EQUAL(cap(), "750");  // Meta's limit
  auto comment = [&](const std::string& id) {
    sim_call("POST", "/_sim/comments",
             R"({"media_id":"18000000000000001","user_id":"9000000000000001","id":")" + id +
                 R"(","text":"link please"})");
  };
  auto sent = [&] {
    return sql("SELECT count(*) FROM outbox WHERE kind = 'private_reply' AND state = 'sent'")[0][0]
        .as<std::string>();
  };
  comment("17900000000000001");  // the account's actor runs
  // Up to 45 s: on a loaded machine the simulator's first delivery may fail and be retried
  // after its backoff, as Meta's is.
  bool answered = false;
  for (int i = 0; i < 3 && !answered; ++i)
    answered = sql_eventually(
        "SELECT count(*) FROM outbox WHERE kind = 'private_reply' AND state = 'sent'", "1");
  if (!answered) CAF_FAIL("not answered: " << proc->output() << "\nsim: " << sim->output());
  // The workspace's default: 2 private replies an hour, for its accounts without their own.
  auto r =
      call("PATCH", "/api/v1/workspaces/" + ws, R"({"default_private_replies_per_hour":2})", owner);
  CAF_REQUIRE_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(cap(), "2");
  CAF_CHECK_EQUAL(field(call("GET", path, "", owner).body, "own_private_replies_per_hour"),
                  "false");
  comment("17900000000000002");
  comment("17900000000000003");
  CAF_REQUIRE(sql_eventually(
      "SELECT (SELECT state || ' ' || (not_before > now() + interval '50 minutes') FROM outbox"
      " WHERE kind = 'private_reply' AND source_key = '17900000000000003')",
      "pending true"));
  CAF_CHECK_EQUAL(sent(), "2");
  // The account's own cap: the waiting reply goes at once, without a restart.
  r = call("PATCH", path, R"({"private_replies_per_hour":3})", owner);
  CAF_REQUIRE_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(field(r.body, "private_replies_per_hour"), "3");
  CAF_CHECK_EQUAL(field(r.body, "own_private_replies_per_hour"), "true");
  CAF_CHECK(sql_eventually(
      "SELECT count(*) FROM outbox WHERE kind = 'private_reply' AND state = 'sent'", "3"));
  // Validated per field; null goes back to the workspace's default.
  r = call("PATCH", path, R"({"private_replies_per_hour":751})", owner);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(field(r.body, "field"), "private_replies_per_hour");
  r = call("PATCH", path, R"({"sends_per_second":"fast"})", owner);
  CAF_CHECK_EQUAL(field(r.body, "field"), "sends_per_second");
  CAF_CHECK_EQUAL(call("PATCH", path, R"({"budget":1})", owner).status, 400);
  // An id that is not UTF-8 names no account (a break test got a 500 from PostgreSQL).
  CAF_CHECK_EQUAL(
      call("PATCH", "/api/v1/workspaces/" + ws + "/accounts/%FF%FE", "{}", owner).status, 404);
  r = call("PATCH", path, R"({"private_replies_per_hour":007})", owner);  // not JSON
  CAF_CHECK_EQUAL(r.status, 400);
  r = call("PATCH", path, R"({"private_replies_per_hour":null,"sends_per_second":10})", owner);
  CAF_CHECK_EQUAL(field(r.body, "private_replies_per_hour"), "2");
  CAF_CHECK_EQUAL(field(r.body, "sends_per_second"), "10");
  CAF_CHECK_EQUAL(field(r.body, "own_sends_per_second"), "true");
  // The workspace's default goes with null: Meta's limit applies again.
  r = call("PATCH", "/api/v1/workspaces/" + ws, R"({"default_private_replies_per_hour":null})",
           owner);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(cap(), "750");
}

CAF_TEST(the oauth flow stores the exact user id an encrypted token and subscribes the account) {
  auto cookie = user("oauth@example.com");
  auto ws = workspace_of(cookie);
  // BR-23: an id above 2^53 keeps its digits.
  auto acc = connect(cookie, ws, "17841400000000001");
  CAF_CHECK_EQUAL(acc, "17841400000000001");
  auto row =
      sql("SELECT id, username, status, token_key_id, encode(token_ciphertext, 'hex'), "
          "token_expires_at > now() + interval '59 days' FROM ig_accounts")[0];
  CAF_CHECK_EQUAL(row[0].as<std::string>(), "17841400000000001");
  CAF_CHECK_EQUAL(row[2].as<std::string>(), "active");
  CAF_CHECK(!row[3].is_null());
  CAF_CHECK_GREATER(row[4].as<std::string>().size(), 60u);
  CAF_CHECK(row[5].as<bool>());
  auto calls = sim_call("GET", "/_sim/calls").body;
  CAF_CHECK(calls.find(R"("method":"POST","path":"\/v25.0\/17841400000000001\/subscribed_apps")") !=
            std::string::npos);
  CAF_CHECK(calls.find(R"("method":"GET","path":"\/v25.0\/17841400000000001\/subscribed_apps")") !=
            std::string::npos);
  CAF_CHECK(calls.find("messaging_postbacks") != std::string::npos);
  // A state started in another session is refused, and a used one cannot be replayed.
  auto other = user("other@example.com");
  auto start = call("POST", "/api/v1/workspaces/" + ws + "/instagram/connect", "", cookie);
  auto state = query_of(field(start.body, "authorize_url"), "state");
  auto r = call("GET", "/api/v1/instagram/callback?code=AQBx&state=" + state, "", other);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(field(r.body, "code"), "invalid_state");
  r = call("GET", "/api/v1/instagram/callback?error=access_denied&error_description=denied", "",
           cookie);
  CAF_CHECK_EQUAL(r.status, 400);
  auto list = call("GET", "/api/v1/workspaces/" + ws + "/accounts", "", cookie).body;
  CAF_CHECK(list.find("\"status\":\"active\"") != std::string::npos);
  CAF_CHECK(list.find("token") == std::string::npos ||
            list.find("token_ciphertext") == std::string::npos);
}

CAF_TEST(reconnecting an account after reauth resumes what the reauth paused and no more) {
  auto p = account_with_one_paused_by_hand("reauth@example.com");
  auto &cookie = p.cookie, &ws = p.ws, &acc = p.acc, &by_reauth = p.mine, &by_hand = p.by_hand;
  // Instagram rejects the token (code 190) when a matched comment is answered.
  deliver_to_komentra_with_fan_and_post(acc);
  sim_call(
      "POST", "/_sim/faults",
      R"({"kind":"error","code":190,"subcode":460,"http_status":400,"message":"Error validating access token"})");
  auto comment = [&](const std::string& id) {
    sim_call("POST", "/_sim/comments",
             R"({"media_id":"18000000000000001","user_id":"9000000000000001","id":")" + id +
                 R"(","text":"link please"})");
  };
  comment("17900000000000001");
  CAF_REQUIRE(sql_eventually("SELECT status FROM ig_accounts", "reauth_required"));
  auto state = [&](const std::string& id) { return state_of(p, id); };
  CAF_CHECK_EQUAL(state(by_reauth), "paused reauth_required");
  CAF_CHECK_EQUAL(state(by_hand), "paused paused by a user");
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM notifications WHERE read_at IS NULL")[0][0].as<int>(),
                  1);
  // The owner reconnects: the account is active again and only the reauth's pause is undone.
  sim_call("DELETE", "/_sim/faults");
  CAF_REQUIRE_EQUAL(authorize(cookie, ws, acc), acc);
  auto account = call("GET", "/api/v1/workspaces/" + ws + "/accounts/" + acc, "", cookie);
  CAF_CHECK_EQUAL(field(account.body, "status"), "active");
  CAF_CHECK_EQUAL(state(by_reauth), "active ");
  CAF_CHECK_EQUAL(state(by_hand), "paused paused by a user");
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM notifications WHERE read_at IS NULL")[0][0].as<int>(),
                  0);
  // The engine answers the next matching comment with the new token.
  comment("17900000000000002");
  CAF_CHECK(
      sql_eventually("SELECT count(*) FROM outbox WHERE source_key = '17900000000000002' "
                     "AND kind = 'private_reply' AND state = 'sent'",
                     "1"));
}

CAF_TEST(the owner reads the notification of a refused token and marks it read) {
  auto p = account_with_one_paused_by_hand("notified@example.com");
  auto &cookie = p.cookie, &ws = p.ws, &acc = p.acc;
  auto notifications = "/api/v1/workspaces/" + ws + "/notifications";
  auto none = call("GET", notifications, "", cookie);
  CAF_CHECK_EQUAL(none.status, 200);
  CAF_CHECK_EQUAL(field(none.body, "unread"), "0");
  deliver_to_komentra_with_fan_and_post(acc);
  sim_call(
      "POST", "/_sim/faults",
      R"({"kind":"error","code":190,"subcode":460,"http_status":400,"message":"Error validating access token"})");
  sim_call(
      "POST", "/_sim/comments",
      R"({"media_id":"18000000000000001","user_id":"9000000000000001","id":"17900000000000001","text":"link please"})");
  CAF_REQUIRE(sql_eventually("SELECT status FROM ig_accounts", "reauth_required"));
  auto listed = call("GET", notifications + "?unread=true", "", cookie);
  CAF_REQUIRE_EQUAL(listed.status, 200);
  CAF_CHECK_EQUAL(field(listed.body, "unread"), "1");
  CAF_CHECK_EQUAL(field(listed.body, "kind"), "reauth_required");
  CAF_CHECK_EQUAL(field(listed.body, "account_id"), acc);
  CAF_CHECK_EQUAL(field(listed.body, "read_at"), "null");
  CAF_CHECK(listed.body.find("reconnect the account") != std::string::npos);
  auto id = field(listed.body, "id");
  CAF_CHECK_EQUAL(call("POST", notifications + "/" + id + "/read", "", cookie).status, 204);
  CAF_CHECK_EQUAL(call("POST", notifications + "/" + id + "/read", "", cookie).status, 204);
  CAF_CHECK_EQUAL(call("POST", notifications + "/999999/read", "", cookie).status, 404);
  CAF_CHECK_EQUAL(call("GET", notifications + "?unread=maybe", "", cookie).status, 400);
  auto unread = call("GET", notifications + "?unread=true", "", cookie);
  CAF_CHECK_EQUAL(field(unread.body, "unread"), "0");
  CAF_CHECK_EQUAL(field(unread.body, "id"), "");
  auto all = call("GET", notifications, "", cookie);
  CAF_CHECK_EQUAL(field(all.body, "id"), id);
  CAF_CHECK_NOT_EQUAL(field(all.body, "read_at"), "null");
  sim_call("DELETE", "/_sim/faults");
}

// BR-36's other half: an account whose webhook subscription Instagram does not confirm gets
// no events; connecting it says so, pauses what it would run and notifies, and connecting it
// again once the subscription works resumes that.
CAF_TEST(a connection without a confirmed webhook subscription pauses and notifies) {
  auto p = account_with_one_paused_by_hand("unsubscribed@example.com");
  auto &cookie = p.cookie, &ws = p.ws, &acc = p.acc;
  sim_call("POST", "/_sim/faults",
           R"({"kind":"error","code":2,"http_status":500,"path_contains":"/subscribed_apps"})");
  auto start = call("POST", "/api/v1/workspaces/" + ws + "/instagram/connect", "", cookie);
  auto authorize_url = field(start.body, "authorize_url");
  auto consent =
      sim_call("GET", authorize_url.substr(authorize_url.find("/oauth/")) + "&account_id=" + acc);
  auto location = consent.header("location");
  auto cb = call("GET",
                 "/api/v1/instagram/callback?code=" + query_of(location, "code") +
                     "&state=" + query_of(location, "state"),
                 "", cookie);
  CAF_REQUIRE_EQUAL(cb.status, 201);
  CAF_CHECK_EQUAL(field(cb.body, "status"), "faulted");
  CAF_CHECK_EQUAL(field(cb.body, "webhooks_subscribed"), "false");
  CAF_CHECK_EQUAL(state_of(p, p.mine), "paused faulted");
  CAF_CHECK_EQUAL(state_of(p, p.by_hand), "paused paused by a user");
  auto listed = call("GET", "/api/v1/workspaces/" + ws + "/notifications?unread=true", "", cookie);
  CAF_CHECK_EQUAL(field(listed.body, "unread"), "1");
  CAF_CHECK_EQUAL(field(listed.body, "kind"), "faulted");
  CAF_CHECK(listed.body.find("webhook subscription") != std::string::npos);
  sim_call("DELETE", "/_sim/faults");
  CAF_REQUIRE_EQUAL(authorize(cookie, ws, acc), acc);
  CAF_CHECK_EQUAL(state_of(p, p.mine), "active ");
  CAF_CHECK_EQUAL(state_of(p, p.by_hand), "paused paused by a user");
  auto after = call("GET", "/api/v1/workspaces/" + ws + "/notifications?unread=true", "", cookie);
  CAF_CHECK_EQUAL(field(after.body, "unread"), "0");
}

CAF_TEST(reconnecting a faulted account resumes what the crash loop paused and no more) {
  auto p = account_with_one_paused_by_hand("faulted@example.com");
  auto &cookie = p.cookie, &ws = p.ws, &acc = p.acc, &by_fault = p.mine, &by_hand = p.by_hand;
  // What the supervisor does once the account's actor crashed more than engine.crash_limit
  // times (nothing outside the engine can make it crash).
  {
    pqxx::connection c{url};
    storage::set_account_status(c, acc, "faulted", "crashed repeatedly (in a test)");
  }
  auto account = [&] {
    return field(call("GET", "/api/v1/workspaces/" + ws + "/accounts/" + acc, "", cookie).body,
                 "status");
  };
  auto state = [&](const std::string& id) { return state_of(p, id); };
  CAF_REQUIRE_EQUAL(account(), "faulted");
  CAF_CHECK_EQUAL(state(by_fault), "paused faulted");
  CAF_CHECK_EQUAL(state(by_hand), "paused paused by a user");
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM notifications WHERE kind = 'faulted'"
                      " AND read_at IS NULL")[0][0]
                      .as<int>(),
                  1);
  // The owner reconnects: the account is active again and only the fault's pause is undone.
  CAF_REQUIRE_EQUAL(authorize(cookie, ws, acc), acc);
  CAF_CHECK_EQUAL(account(), "active");
  CAF_CHECK_EQUAL(state(by_fault), "active ");
  CAF_CHECK_EQUAL(state(by_hand), "paused paused by a user");
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM notifications WHERE read_at IS NULL")[0][0].as<int>(),
                  0);
  // The engine answers the next matching comment.
  deliver_to_komentra_with_fan_and_post(acc);
  sim_call("POST", "/_sim/comments",
           R"({"media_id":"18000000000000001","user_id":"9000000000000001",)"
           R"("id":"17900000000000001","text":"link please"})");
  CAF_CHECK(
      sql_eventually("SELECT count(*) FROM outbox WHERE source_key = '17900000000000001' "
                     "AND kind = 'private_reply' AND state = 'sent'",
                     "1"));
}

CAF_TEST(automations are validated per field and a dry run shows exactly what is sent) {
  auto cookie = user("auto@example.com");
  auto ws = workspace_of(cookie);
  auto acc = connect(cookie, ws);
  auto base = automations(ws, acc);
  auto r = call("POST", base,
                R"({"name":"Long","keywords":["x"],"dm_text":")" + std::string(1001, 'a') + "\"}",
                cookie);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(field(r.body, "field"), "dm_text");
  CAF_CHECK(r.body.find("1001 bytes") != std::string::npos);
  std::string fire;
  for (int i = 0; i < 400; ++i) fire += "\xF0\x9F\x94\xA5";
  r = call("POST", base, R"({"name":"Fire","keywords":["x"],"dm_text":")" + fire + "\"}", cookie);
  CAF_CHECK(r.body.find("1600 bytes") != std::string::npos);
  r = call(
      "POST", base,
      R"J({"name":"Js","keywords":["x"],"dm_text":"t","dm_buttons":[{"title":"Open","url":"javascript:alert(1)"}]})J",
      cookie);
  CAF_CHECK_EQUAL(field(r.body, "field"), "dm_buttons[0].url");
  r = call("POST", base, R"({"name":"Bad","keywords":["x"],"dm_text":"t","trigger":"tweet"})",
           cookie);
  CAF_CHECK_EQUAL(field(r.body, "field"), "trigger");
  r = call("POST", base, link_automation, cookie);
  CAF_REQUIRE_EQUAL(r.status, 201);
  auto id = field(r.body, "id");
  r = call("POST", "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/dry-run",
           R"({"text":"LINK please"})", cookie);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(field(r.body, "outcome"), "matched");
  CAF_CHECK(
      r.body.find(
          R"({"template_type":"button","text":"Here is your link","buttons":[{"type":"web_url")") !=
      std::string::npos);
  CAF_CHECK(r.body.find("Check your DMs") != std::string::npos);
  r = call("POST", "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/dry-run",
           R"({"text":"hello"})", cookie);
  CAF_CHECK(field(r.body, "outcome").rfind("skipped:", 0) == 0);
  r = call("POST", base + "/" + id + "/pause", "", cookie);
  CAF_CHECK_EQUAL(field(r.body, "status"), "paused");
  r = call("POST", base + "/" + id + "/resume", "", cookie);
  CAF_CHECK_EQUAL(field(r.body, "status"), "active");
  r = call("PUT", base + "/" + id, R"({"name":"Price","keywords":["price"],"dm_text":"10 EUR"})",
           cookie);
  CAF_CHECK_EQUAL(field(r.body, "name"), "Price");
  CAF_CHECK(call("GET", base, "", cookie).body.find("\"price\"") != std::string::npos);
  CAF_CHECK_EQUAL(call("GET", base + "/" + id + "/stats", "", cookie).status, 200);
  CAF_CHECK_EQUAL(
      call("GET", "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/funnel", "", cookie).status,
      200);
  CAF_CHECK_EQUAL(call("DELETE", base + "/" + id, "", cookie).status, 204);
  CAF_CHECK_EQUAL(call("GET", base + "/" + id, "", cookie).status, 404);
}

CAF_TEST(media come from the graph api cached and paged and disconnecting removes the token) {
  auto cookie = user("media@example.com");
  auto ws = workspace_of(cookie);
  auto acc = connect(cookie, ws);
  for (int i = 0; i < 30; ++i)
    sim_call("POST", "/_sim/media",
             R"({"account_id":")" + acc + R"(","caption":"post )" + std::to_string(i) + "\"}");
  auto media = "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/media";
  auto r = call("GET", media, "", cookie);
  CAF_REQUIRE_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(r.header("x-cache"), "miss");
  auto next = field(r.body, "next_cursor");
  CAF_CHECK(!next.empty() && next != "null");
  CAF_CHECK_EQUAL(call("GET", media, "", cookie).header("x-cache"), "hit");
  r = call("GET", media + "?after=" + next, "", cookie);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(r.body.find("post 4") != std::string::npos);
  CAF_CHECK_EQUAL(call("POST", automations(ws, acc), link_automation, cookie).status, 201);
  // One paused by Komentra for a reauth (it would run again): removed as well; one paused
  // by hand stays, paused.
  CAF_CHECK_EQUAL(call("POST", automations(ws, acc), link_automation, cookie).status, 201);
  CAF_CHECK_EQUAL(call("POST", automations(ws, acc), link_automation, cookie).status, 201);
  sql("UPDATE automations SET status = 'paused', paused_reason = 'reauth_required' WHERE id ="
      " (SELECT min(id) + 1 FROM automations)");
  sql("UPDATE automations SET status = 'paused', paused_reason = 'paused by a user' WHERE id ="
      " (SELECT max(id) FROM automations)");
  CAF_CHECK_EQUAL(
      call("GET", "/api/v1/workspaces/" + ws + "/accounts/" + acc + "/live", "", cookie).status,
      200);
  CAF_CHECK_EQUAL(
      call("DELETE", "/api/v1/workspaces/" + ws + "/accounts/" + acc, "", cookie).status, 204);
  auto row =
      sql("SELECT status, token_ciphertext IS NULL, (SELECT count(*) FROM automations) FROM "
          "ig_accounts")[0];
  CAF_CHECK_EQUAL(row[0].as<std::string>(), "disconnected");
  CAF_CHECK(row[1].as<bool>());
  CAF_CHECK_EQUAL(row[2].as<int>(), 1);
  CAF_CHECK_EQUAL(sql("SELECT paused_reason FROM automations")[0][0].as<std::string>(),
                  "paused by a user");
  // Another workspace connecting the disconnected account sees nothing of the first one.
  sql("INSERT INTO decisions (account_id, source_key, text, outcome) VALUES ('" + acc +
      "', '179', 'a comment of the first workspace', 'matched')");
  auto other = user("other@example.com");
  auto other_ws = workspace_of(other);
  CAF_REQUIRE_EQUAL(authorize(other, other_ws, acc), acc);
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM automations")[0][0].as<int>(), 0);
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM decisions")[0][0].as<int>(), 0);
  auto listed = call("GET", automations(other_ws, acc), "", other);
  CAF_CHECK_EQUAL(listed.status, 200);
  CAF_CHECK(listed.body.find("Link") == std::string::npos);
  // Asking an actor's live state from a database thread once made SIGTERM hang forever.
  proc->terminate();
  CAF_CHECK_EQUAL(proc->wait_exit(std::chrono::seconds(10)), 0);
}

CAF_TEST(audience search paging and csv export) {
  auto cookie = user("aud@example.com");
  auto ws = workspace_of(cookie);
  auto acc = connect(cookie, ws);
  sql("INSERT INTO contacts (account_id, igsid, username) VALUES ('" + acc +
      "', '901', 'jane.doe'), ('" + acc + "', '902', '=cmd'), ('" + acc + "', '903', 'john')");
  auto base = "/api/v1/workspaces/" + ws + "/accounts/" + acc;
  auto r = call("GET", base + "/audience?q=jane", "", cookie);
  CAF_CHECK(r.body.find("jane.doe") != std::string::npos);
  CAF_CHECK(r.body.find("john") == std::string::npos);
  r = call("GET", base + "/audience?limit=2", "", cookie);
  CAF_CHECK_EQUAL(field(r.body, "next_after"), "902");
  r = call("GET", base + "/audience?limit=2&after=902", "", cookie);
  CAF_CHECK(r.body.find("john") != std::string::npos);
  r = call("GET", base + "/audience.csv", "", cookie);
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(r.header("content-type").rfind("text/csv", 0) == 0);
  CAF_CHECK(r.body.find("902,'=cmd,") != std::string::npos);
  CAF_CHECK_EQUAL(call("GET", base + "/decisions", "", cookie).status, 200);
}

CAF_TEST(deleting my account leaves nothing that refers to me but retained security records) {
  auto cookie = user("gone@example.com");
  auto ws = workspace_of(cookie);
  auto acc = connect(cookie, ws, "17841400000000077");
  call("PATCH", "/api/v1/workspaces/" + ws, R"({"name":"Gone Shop"})", cookie);
  auto created = call("POST", automations(ws, acc), link_automation, cookie);
  auto automation = field(created.body, "id");
  sql("INSERT INTO contacts (account_id, igsid, username) VALUES ('" + acc +
      "', '9000000000000077', 'fan.of.gone')");
  sql("INSERT INTO decisions (account_id, automation_id, source_key, username, text, outcome) "
      "VALUES ('" +
      acc + "', " + automation + ", 'c1', 'fan.of.gone', 'link', 'matched')");
  sql("INSERT INTO journal_events (account_id, dedupe_key, kind, event) VALUES ('" + acc +
      "', 'comment:1', 'comment', '{}')");
  call("POST", "/api/v1/contact", R"({"email":"gone@example.com","message":"hello"})");
  auto user_id = sql("SELECT id FROM users")[0][0].as<std::string>();
  CAF_CHECK_EQUAL(call("DELETE", "/api/v1/me", R"({"password":"wrong password!!"})", cookie).status,
                  403);
  CAF_REQUIRE_EQUAL(
      call("DELETE", "/api/v1/me", R"({"password":"correct horse battery"})", cookie).status, 204);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/me", "", cookie).status, 401);
  std::vector<std::string> needles = {"gone@example.com", acc, "shop.00077", "Gone Shop",
                                      "fan.of.gone"};
  auto tables =
      sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND "
          "table_type = 'BASE TABLE'");
  for (auto t : tables) {
    auto name = t[0].as<std::string>();
    for (auto& needle : needles) {
      auto n = sql("SELECT count(*) FROM \"" + name + "\" x WHERE x::text ILIKE '%" + needle +
                   "%'")[0][0]
                   .as<int>();
      if (n != 0) CAF_MESSAGE(name << " still holds " << needle);
      CAF_CHECK_EQUAL(n, 0);
    }
    auto has_user_id = sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                           "'public' AND table_name = '" +
                           name + "' AND column_name = 'user_id'")[0][0]
                           .as<int>();
    if (has_user_id && name != "security_events") {
      auto n =
          sql("SELECT count(*) FROM \"" + name + "\" WHERE user_id::text = '" + user_id + "'")[0][0]
              .as<int>();
      CAF_CHECK_EQUAL(n, 0);
    }
  }
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM security_events WHERE user_id = " + user_id +
                      " AND NOT retain")[0][0]
                      .as<int>(),
                  0);
  CAF_CHECK_GREATER(
      sql("SELECT count(*) FROM security_events WHERE user_id = " + user_id + " AND retain")[0][0]
          .as<int>(),
      0);
}

CAF_TEST(meta callbacks verify the signed request and report deletion progress) {
  sql("INSERT INTO workspaces (id, name) VALUES (500, 'meta')");
  sql("INSERT INTO ig_accounts (id, workspace_id, username, token_ciphertext) VALUES "
      "('1234567890', 500, 'meta.user', '\\x00')");
  auto form = [&](const std::string& path, const std::string& body) {
    return client::request(port, "POST", path, body,
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  CAF_CHECK_EQUAL(
      form("/api/v1/meta/deauthorize", "signed_request=" + std::string(signed_request) + "x")
          .status,
      400);
  CAF_CHECK_EQUAL(
      form("/api/v1/meta/deauthorize", "signed_request=" + std::string(signed_request)).status,
      200);
  CAF_CHECK_EQUAL(sql("SELECT status FROM ig_accounts")[0][0].as<std::string>(), "disconnected");
  auto r = form("/api/v1/meta/data-deletion", "signed_request=" + std::string(signed_request));
  CAF_CHECK_EQUAL(r.status, 200);
  auto code = field(r.body, "confirmation_code");
  CAF_CHECK(std::regex_match(code, std::regex("[A-Z0-9]{16}")));
  CAF_CHECK_EQUAL(field(r.body, "url"),
                  "https://app.komentra.test/api/v1/meta/data-deletion/" + code);
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM ig_accounts")[0][0].as<int>(), 0);
  auto page = call("GET", "/api/v1/meta/data-deletion/" + code);
  CAF_CHECK_EQUAL(page.status, 200);
  CAF_CHECK(page.body.find("completed") != std::string::npos);
  CAF_CHECK_EQUAL(call("GET", "/api/v1/meta/data-deletion/NOPE").status, 404);
  // Meta may resend: the second request is answered the same way.
  CAF_CHECK_EQUAL(
      form("/api/v1/meta/data-deletion", "signed_request=" + std::string(signed_request)).status,
      200);
}

CAF_TEST(the contact form stores messages and limits them per ip) {
  for (int i = 0; i < 5; ++i)
    CAF_CHECK_EQUAL(
        call("POST", "/api/v1/contact", R"({"email":"visitor@example.com","message":"hi"})").status,
        202);
  CAF_CHECK_EQUAL(
      call("POST", "/api/v1/contact", R"({"email":"visitor@example.com","message":"hi"})").status,
      429);
  CAF_CHECK_EQUAL(call("POST", "/api/v1/contact", R"({"email":"visitor@example.com"})").status,
                  400);
  CAF_CHECK_EQUAL(sql("SELECT count(*) FROM contact_messages")[0][0].as<int>(), 5);
}

CAF_TEST_FIXTURE_SCOPE_END()
