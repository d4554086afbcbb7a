#define CAF_SUITE token_refresh
#include <caf/test/unit_test.hpp>

#include "tests/support/sim_harness.hpp"

using namespace komentra::testing;

namespace {

std::string comment(const std::string& id, const std::string& text) {
  return R"({"media_id":"18000000000000001","user_id":"9000000000000001","id":")" + id +
         R"(","text":")" + text + "\"}";
}

// The refresher looks at start-up and then every 10 s; each test restarts komentra after
// setting the token's age, so the first look sees it.
struct fixture {
  e2e_harness h{{{"KOMENTRA_TOKENS_REFRESH_INTERVAL_S", "10"}}};

  fixture() {
    h.seed_account();
    h.add_automation(r1_columns());
  }

  void token_age(const std::string& refreshed_ago, const std::string& expires_in) {
    h.exec("UPDATE ig_accounts SET token_refreshed_at = now() - interval '" + refreshed_ago +
           "', token_expires_at = now() + interval '" + expires_in + "'");
  }

  std::string ciphertext() {
    return h.query("SELECT encode(token_ciphertext, 'hex') FROM ig_accounts");
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(token_refresh_tests, fixture)

CAF_TEST(a token older than seven days is renewed and the new one is used) {
  // Meta renews only tokens at least a day old: the simulator's token is two days old.
  h.sim("POST", "/_sim/clock", R"({"advance_seconds":172800})");
  token_age("8 days", "52 days");
  auto before = ciphertext();
  auto key_id = h.query("SELECT token_key_id FROM ig_accounts");
  h.restart_komentra({});
  CAF_REQUIRE(h.eventually([&] { return h.calls("GET", "/refresh_access_token").size() == 1; }));
  CAF_REQUIRE(h.eventually([&] {
    return h.query("SELECT token_refreshed_at > now() - interval '1 minute' FROM ig_accounts") ==
           "t";
  }));
  CAF_CHECK_NOT_EQUAL(ciphertext(), before);
  // Sealed again under the same key, so recorded under the same key id as the seeded token.
  CAF_CHECK_EQUAL(h.query("SELECT token_key_id FROM ig_accounts"), key_id);
  // The fact sheet's answer: expires_in 5183944 s, about 60 days.
  CAF_CHECK_EQUAL(h.query("SELECT token_expires_at > now() + interval '59 days' FROM ig_accounts"),
                  "t");
  CAF_CHECK_EQUAL(h.query("SELECT status FROM ig_accounts"), "active");
  // The old token stops working; the account actor already holds the new one.
  h.sim("POST", "/_sim/tokens/expire", std::string(R"({"token":")") + e2e_harness::token + "\"}");
  h.sim("POST", "/_sim/comments", comment("17900000000000001", "link"));
  CAF_REQUIRE(h.eventually([&] { return h.calls("POST", "/messages").size() == 1; }));
  CAF_CHECK_EQUAL(h.calls("POST", "/messages")[0].status, 200);
  CAF_CHECK_EQUAL(h.query("SELECT status FROM ig_accounts"), "active");
  // A fresh token is not renewed again at the next look.
  std::this_thread::sleep_for(std::chrono::seconds(11));
  CAF_CHECK_EQUAL(h.calls("GET", "/refresh_access_token").size(), 1u);
}

CAF_TEST(a young token is left alone) {
  h.sim("POST", "/_sim/clock", R"({"advance_seconds":172800})");
  token_age("2 days", "58 days");
  auto before = ciphertext();
  h.restart_komentra({});
  h.sim("POST", "/_sim/comments", comment("17900000000000001", "link"));
  CAF_REQUIRE(h.eventually([&] { return h.calls("POST", "/messages").size() == 1; }));
  CAF_CHECK(h.calls("GET", "/refresh_access_token").empty());
  CAF_CHECK_EQUAL(ciphertext(), before);
}

CAF_TEST(a token close to expiry is renewed whatever its age) {
  h.sim("POST", "/_sim/clock", R"({"advance_seconds":172800})");
  token_age("2 days", "5 days");
  h.restart_komentra({});
  CAF_CHECK(h.eventually([&] {
    return h.query("SELECT token_expires_at > now() + interval '59 days' FROM ig_accounts") == "t";
  }));
}

CAF_TEST(a renewal instagram refuses makes the account reauth required and notifies once) {
  h.sim("POST", "/_sim/clock", R"({"advance_seconds":172800})");
  token_age("8 days", "52 days");
  h.sim("POST", "/_sim/tokens/invalidate",
        std::string(R"({"token":")") + e2e_harness::token + "\"}");
  h.restart_komentra({});
  CAF_REQUIRE(
      h.eventually([&] { return h.query("SELECT status FROM ig_accounts") == "reauth_required"; }));
  CAF_CHECK_EQUAL(h.query("SELECT count(*) FROM automations WHERE status = 'active'"), "0");
  CAF_CHECK_EQUAL(h.query("SELECT count(*) FROM notifications"), "1");
  // Paused: a matching comment gets nothing, and no renewal is tried again.
  h.sim("POST", "/_sim/comments", comment("17900000000000001", "link"));
  CAF_REQUIRE(h.eventually([&] {
    return h.query("SELECT count(*) FROM decisions WHERE source_key = '17900000000000001'") == "1";
  }));
  std::this_thread::sleep_for(std::chrono::seconds(11));
  CAF_CHECK(h.calls("POST", "/messages").empty());
  CAF_CHECK_EQUAL(h.calls("GET", "/refresh_access_token").size(), 1u);
}

CAF_TEST(an expired token makes the account reauth required without a call) {
  h.exec("UPDATE ig_accounts SET token_expires_at = now() - interval '1 hour'");
  h.restart_komentra({});
  CAF_REQUIRE(
      h.eventually([&] { return h.query("SELECT status FROM ig_accounts") == "reauth_required"; }));
  CAF_CHECK(h.query("SELECT status_reason FROM ig_accounts").find("expired") != std::string::npos);
  CAF_CHECK(h.calls("GET", "/refresh_access_token").empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
