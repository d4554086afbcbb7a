#define CAF_SUITE simulator
#include <caf/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <simdjson.h>

#include "common/crypto.hpp"
#include "http/server.hpp"
#include "http/test_client.hpp"
#include "sim/load.hpp"
#include "sim/simulator.hpp"

using namespace komentra;
using namespace std::chrono_literals;
namespace tc = komentra::http::testing;

namespace {

/// A value at a JSON pointer ("/error/code") as text: strings unquoted, the rest minified;
/// "<missing>" when absent or unparsable.
std::string jget(const std::string& json, const std::string& pointer) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(json).get(doc)) return "<invalid json>";
  simdjson::dom::element v;
  if (doc.at_pointer(pointer).get(v)) return "<missing>";
  std::string_view s;
  if (!v.get_string().get(s)) return std::string(s);
  return simdjson::minify(v);
}

struct received {
  std::string body, signature, sha1, content_type;
};

/// The engine's stand-in: records webhook POSTs; answers with queued statuses, then 200.
struct receiver {
  std::mutex m;
  std::vector<received> got;
  std::vector<int> statuses;
  std::unique_ptr<http::server> srv;

  receiver() {
    http::server_options o;
    srv = std::make_unique<http::server>(o, [this](http::request&& req, http::responder r) {
      std::lock_guard<std::mutex> lock(m);
      got.push_back({req.body, std::string(req.header("x-hub-signature-256")),
                     std::string(req.header("x-hub-signature")),
                     std::string(req.header("content-type"))});
      int status = 200;
      if (!statuses.empty()) {
        status = statuses.front();
        statuses.erase(statuses.begin());
      }
      r(http::response::text(status, status == 200 ? "EVENT_RECEIVED" : "no"));
    });
    if (auto err = srv->start(); !err.empty()) CAF_FAIL(err);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(srv->port()) + "/webhooks/instagram";
  }
  /// Waits until at least n deliveries arrived.
  std::vector<received> wait_for(std::size_t n, std::chrono::milliseconds max = 3000ms) {
    auto until = std::chrono::steady_clock::now() + max;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(m);
        if (got.size() >= n || std::chrono::steady_clock::now() > until) return got;
      }
      std::this_thread::sleep_for(5ms);
    }
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(m);
    return got.size();
  }
};

struct fixture {
  receiver hook;
  std::unique_ptr<sim::simulator> s;
  std::string token, account = "17841400000000001", user = "1234567890123456",
                     media = "18030000000000002";

  fixture() {
    sim::sim_options o;
    o.webhook_url = hook.url();
    o.batch_window_ms = 5;
    o.retry_base_ms = 20;
    o.seed = 42;
    s = std::make_unique<sim::simulator>(o);
    if (auto err = s->start(); !err.empty()) CAF_FAIL(err);
    auto a = ctl("/_sim/accounts", R"({"id":"17841400000000001","username":"acme.shop"})");
    token = jget(a.body, "/access_token");
    ctl("/_sim/users",
        R"({"account_id":"17841400000000001","id":"1234567890123456","username":"jane.doe"})");
    ctl("/_sim/media",
        R"({"account_id":"17841400000000001","id":"18030000000000002","media_product_type":"REELS"})");
  }
  ~fixture() { s->stop(); }

  tc::reply call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& content_type = "application/json") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", content_type);
    return tc::request(s->port(), method, target, body, headers);
  }
  tc::reply ctl(const std::string& target, const std::string& body = "{}") {
    auto r = call("POST", target, body);
    if (r.status != 200)
      CAF_MESSAGE("control call " << target << " -> " << r.status << " " << r.body);
    return r;
  }
  tc::reply graph(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    auto sep = path.find('?') == std::string::npos ? "?" : "&";
    return call(method, "/v25.0" + path + sep + "access_token=" + token, body);
  }
  std::string comment(const std::string& text, const std::string& extra = "") {
    auto r = ctl("/_sim/comments", R"({"media_id":")" + media + R"(","user_id":")" + user +
                                       R"(","text":")" + text + "\"" + extra + "}");
    return jget(r.body, "/id");
  }
  tc::reply private_reply(const std::string& comment_id, const std::string& text = "Here you go") {
    return graph("POST", "/me/messages",
                 R"({"recipient":{"comment_id":")" + comment_id + R"("},"message":{"text":")" +
                     text + R"("}})");
  }
  tc::reply dm(const std::string& message_json, const std::string& extra = "") {
    return graph(
        "POST", "/" + account + "/messages",
        R"({"recipient":{"id":")" + user + R"("},"message":)" + message_json + extra + "}");
  }
  std::string deliveries() { return call("GET", "/_sim/deliveries").body; }
  void wait_idle() {
    for (int i = 0; i < 400; ++i) {
      if (jget(deliveries(), "/pending") == "0") return;
      std::this_thread::sleep_for(5ms);
    }
  }
};

bool signed_ok(const received& r) {
  return r.signature == "sha256=" + crypto::to_hex(crypto::hmac_sha256("test_app_secret", r.body));
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(simulator_tests, fixture)

// ---- webhooks ----------------------------------------------------------------------------------

CAF_TEST(a comment delivery matches the fact sheet test vector byte for byte) {
  ctl("/_sim/clock", R"({"set_epoch_seconds":1718000000})");
  comment("caf\xC3\xA9 LINK \xF0\x9F\x94\xA5", R"(,"id":"18020000000000001")");
  auto got = hook.wait_for(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  // entry.time is the send time; with the clock pinned it is 1718000000 (or the next second).
  auto body = got[0].body;
  auto expected =
      std::string(R"({"object":"instagram","entry":[{"id":"17841400000000001","time":)") +
      jget(body, "/entry/0/time") +
      R"(,"changes":[{"value":{"from":{"id":"1234567890123456","username":"jane.doe"},"media":{"id":"18030000000000002","media_product_type":"REELS"},"id":"18020000000000001","text":"caf\u00e9 LINK \ud83d\udd25"},"field":"comments"}]}]})";
  CAF_CHECK_EQUAL(body, expected);
  if (jget(body, "/entry/0/time") == "1718000000")
    CAF_CHECK_EQUAL(got[0].signature,
                    "sha256=eecbfb0e1202dee827617018952bfa595e2ac6cc5d2c05f1124605eef63ac50e");
  CAF_CHECK(signed_ok(got[0]));
  CAF_CHECK_EQUAL(got[0].content_type, "application/json");
  CAF_CHECK_EQUAL(got[0].sha1.substr(0, 5), "sha1=");
}

CAF_TEST(a dm delivery uses meta escaping and millisecond entry time) {
  ctl("/_sim/messages",
      R"({"user_id":"1234567890123456","text":"pre\u00e7o \ud83d\udd25 https://shop.example/a"})");
  auto got = hook.wait_for(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK(got[0].body.find(R"("text":"pre\u00e7o \ud83d\udd25 https:\/\/shop.example\/a")") !=
            std::string::npos);
  CAF_CHECK(signed_ok(got[0]));
  CAF_CHECK(std::stoll(jget(got[0].body, "/entry/0/time")) > 100000000000LL);
  CAF_CHECK_EQUAL(jget(got[0].body, "/entry/0/messaging/0/sender/id"), user);
  CAF_CHECK_EQUAL(jget(got[0].body, "/entry/0/messaging/0/recipient/id"), account);
  CAF_CHECK_EQUAL(jget(got[0].body, "/entry/0/messaging/0/message/mid").substr(0, 5), "aWdfZ");
}

CAF_TEST(postbacks story mentions story replies and reactions are delivered) {
  ctl("/_sim/postbacks",
      R"({"user_id":"1234567890123456","title":"Send","payload":"AUTO_42:GATE"})");
  ctl("/_sim/story_mentions", R"({"user_id":"1234567890123456"})");
  ctl("/_sim/story_replies",
      R"({"user_id":"1234567890123456","text":"LINK","story_id":"18110000000000001"})");
  ctl("/_sim/reactions", R"({"user_id":"1234567890123456","mid":"m1","reaction":"love"})");
  wait_idle();
  auto got = hook.wait_for(1);
  std::string all;
  for (auto& g : got) all += g.body;
  CAF_CHECK(all.find(R"("postback":{"mid":)") != std::string::npos);
  CAF_CHECK(all.find(R"("payload":"AUTO_42:GATE")") != std::string::npos);
  CAF_CHECK(all.find(R"("type":"story_mention","payload":{"url":"https:\/\/lookaside.fbsbx.com)") !=
            std::string::npos);
  CAF_CHECK(all.find(R"("reply_to":{"story":{"id":"18110000000000001")") != std::string::npos);
  CAF_CHECK(
      all.find(
          R"("reaction":{"mid":"m1","action":"react","reaction":"love","emoji":"\u2764\ufe0f"})") !=
      std::string::npos);
}

CAF_TEST(events within the batch window share one post with several entries) {
  ctl("/_sim/config", R"({"batch_window_ms":150})");
  comment("one");
  comment("two");
  ctl("/_sim/messages", R"({"user_id":"1234567890123456","text":"hi"})");
  auto got = hook.wait_for(1);
  wait_idle();
  got = hook.wait_for(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(jget(got[0].body, "/entry/0/changes/1/value/text"), "two");
  CAF_CHECK_EQUAL(jget(got[0].body, "/entry/1/messaging/0/message/text"), "hi");
}

CAF_TEST(failed deliveries are retried with backoff until acknowledged) {
  {
    std::lock_guard<std::mutex> lock(hook.m);
    hook.statuses = {500, 503};
  }
  comment("retry me");
  auto got = hook.wait_for(3);
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  CAF_CHECK_EQUAL(got[0].body, got[2].body);
  wait_idle();
  auto d = deliveries();
  CAF_CHECK_EQUAL(jget(d, "/deliveries/0/status"), "500");
  CAF_CHECK_EQUAL(jget(d, "/deliveries/1/attempt"), "2");
  CAF_CHECK_EQUAL(jget(d, "/deliveries/2/attempt"), "3");
  CAF_CHECK_EQUAL(jget(d, "/deliveries/2/status"), "200");
  CAF_CHECK(std::stoll(jget(d, "/deliveries/2/at_ms")) -
                std::stoll(jget(d, "/deliveries/0/at_ms")) >=
            60);
}

CAF_TEST(a timed out delivery is retried) {
  ctl("/_sim/config",
      R"({"webhook_url":"http://127.0.0.1:9/unreachable","delivery_timeout_ms":100,"max_attempts":2})");
  comment("nobody listens");
  wait_idle();
  auto d = deliveries();
  CAF_CHECK_EQUAL(jget(d, "/deliveries/1/attempt"), "2");
  CAF_CHECK(jget(d, "/deliveries/1/error") != "");
}

CAF_TEST(the duplicate rate sends a delivery twice) {
  ctl("/_sim/config", R"({"duplicate_rate":1.0})");
  comment("twice");
  auto got = hook.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0].body, got[1].body);
  wait_idle();
  CAF_CHECK_EQUAL(jget(deliveries(), "/deliveries/1/duplicate"), "true");
}

CAF_TEST(only subscribed fields are delivered when subscriptions are required) {
  ctl("/_sim/config", R"({"require_subscription":true})");
  comment("before subscribing");
  std::this_thread::sleep_for(50ms);
  CAF_CHECK_EQUAL(hook.count(), 0u);
  auto r = graph("POST", "/" + account + "/subscribed_apps?subscribed_fields=comments,messages");
  CAF_CHECK_EQUAL(r.body, R"({"success":true})");
  auto g = graph("GET", "/" + account + "/subscribed_apps");
  CAF_CHECK_EQUAL(jget(g.body, "/data/0/subscribed_fields"), R"(["comments","messages"])");
  comment("after subscribing");
  CAF_CHECK_EQUAL(hook.wait_for(1).size(), 1u);
  CAF_CHECK_EQUAL(jget(deliveries(), "/skipped/0"), "comments for 17841400000000001");
}

CAF_TEST(the get handshake is sent with the verify token) {
  http::server_options o;
  std::string seen;
  http::server verifier(o, [&](http::request&& req, http::responder r) {
    seen = req.query;
    r(http::response::text(200, req.query_param("hub.challenge").value_or("")));
  });
  verifier.start();
  auto res = ctl("/_sim/webhooks/verify",
                 R"({"url":"http://127.0.0.1:)" + std::to_string(verifier.port()) + R"(/wh"})");
  CAF_CHECK_EQUAL(jget(res.body, "/verified"), "true");
  CAF_CHECK(seen.find("hub.mode=subscribe") != std::string::npos);
  CAF_CHECK(seen.find("hub.verify_token=komentra-verify") != std::string::npos);
}

// ---- private replies and the Send API ----------------------------------------------------------

CAF_TEST(a second private reply to one comment gets the meta error) {
  auto id = comment("LINK");
  auto first = private_reply(id);
  CAF_CHECK_EQUAL(first.status, 200);
  CAF_CHECK_EQUAL(jget(first.body, "/recipient_id"), user);
  auto second = private_reply(id);
  CAF_CHECK_EQUAL(second.status, 400);
  CAF_CHECK_EQUAL(jget(second.body, "/error/code"), "10");
  CAF_CHECK_EQUAL(jget(second.body, "/error/error_subcode"), "2534025");
  CAF_CHECK_EQUAL(jget(second.body, "/error/type"), "OAuthException");
  CAF_CHECK(jget(second.body, "/error/fbtrace_id") != "<missing>");
}

CAF_TEST(the conversation lists the latest messages newest first with their sender) {
  auto id = comment("LINK");
  CAF_REQUIRE_EQUAL(private_reply(id, "First").status, 200);
  ctl("/_sim/messages",
      R"({"account_id":")" + account + R"(","user_id":")" + user + R"(","text":"thanks"})");
  CAF_REQUIRE_EQUAL(
      dm(R"({"attachment":{"type":"template","payload":{"template_type":"button","text":"Your link","buttons":[{"type":"web_url","url":"https://a.example/","title":"Open"}]}}})")
          .status,
      200);
  auto r = graph("GET", "/me/conversations?platform=instagram&user_id=" + user +
                            "&fields=messages%7Bmessage%2Cfrom%7D");
  CAF_REQUIRE_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(jget(r.body, "/data/0/messages/data/0/message"), "Your link");
  CAF_CHECK_EQUAL(jget(r.body, "/data/0/messages/data/0/from/id"), account);
  CAF_CHECK_EQUAL(jget(r.body, "/data/0/messages/data/1/message"), "thanks");
  CAF_CHECK_EQUAL(jget(r.body, "/data/0/messages/data/1/from/id"), user);
  CAF_CHECK_EQUAL(jget(r.body, "/data/0/messages/data/2/message"), "First");
  CAF_CHECK_EQUAL(jget(r.body, "/data/1"), "<missing>");
  // Without platform=instagram Meta refuses; over 2 calls/s per account it throttles.
  CAF_CHECK_EQUAL(jget(graph("GET", "/me/conversations").body, "/error/code"), "100");
  graph("GET", "/me/conversations?platform=instagram");
  CAF_CHECK_EQUAL(jget(graph("GET", "/me/conversations?platform=instagram").body, "/error/code"),
                  "613");
}

CAF_TEST(a private reply sends an echo with is_echo) {
  auto id = comment("LINK");
  hook.wait_for(1);
  private_reply(id, "Here is https://acme.example/guide");
  auto got = hook.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  auto& echo = got[1].body;
  CAF_CHECK_EQUAL(jget(echo, "/entry/0/messaging/0/message/is_echo"), "true");
  CAF_CHECK_EQUAL(jget(echo, "/entry/0/messaging/0/sender/id"), account);
  CAF_CHECK_EQUAL(jget(echo, "/entry/0/messaging/0/recipient/id"), user);
  CAF_CHECK(echo.find(R"(https:\/\/acme.example\/guide)") != std::string::npos);
  auto msgs = call("GET", "/_sim/messages").body;
  CAF_CHECK_EQUAL(jget(msgs, "/messages/0/kind"), "private_reply");
  CAF_CHECK_EQUAL(jget(msgs, "/messages/0/comment_id"), id);
}

CAF_TEST(an eight day old comment is refused and a two day old one accepted) {
  auto old_id = comment("LINK", R"(,"age_seconds":691200,"deliver":false)");
  auto r = private_reply(old_id);
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "10");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "2534022");
  auto recent = comment("LINK", R"(,"age_seconds":172800,"deliver":false)");
  CAF_CHECK_EQUAL(private_reply(recent).status, 200);
}

CAF_TEST(a private reply to an unknown comment is 100 33) {
  auto r = private_reply("17999999999999999");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "100");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "33");
}

CAF_TEST(a user who cannot receive messages gets 551) {
  ctl("/_sim/users/" + user, R"({"can_receive":false})");
  auto r = private_reply(comment("LINK"));
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "551");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "1545041");
}

CAF_TEST(a dm needs the 24 hour window opened by the user) {
  auto r = dm(R"({"text":"hello"})");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "10");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "2534022");
  ctl("/_sim/messages", R"({"user_id":"1234567890123456","text":"hi"})");
  CAF_CHECK_EQUAL(dm(R"({"text":"hello"})").status, 200);
  ctl("/_sim/clock", R"({"advance_seconds":90000})");
  CAF_CHECK_EQUAL(jget(dm(R"({"text":"late"})").body, "/error/error_subcode"), "2534022");
  auto agent =
      dm(R"({"text":"from a human"})", R"(,"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT")");
  CAF_CHECK_EQUAL(agent.status, 200);
  ctl("/_sim/clock", R"({"advance_seconds":604800})");
  CAF_CHECK_EQUAL(jget(dm(R"({"text":"x"})", R"(,"tag":"HUMAN_AGENT")").body, "/error/code"), "10");
}

CAF_TEST(a postback opens the window) {
  ctl("/_sim/postbacks", R"({"user_id":"1234567890123456","payload":"P"})");
  CAF_CHECK_EQUAL(dm(R"({"text":"thanks for tapping"})").status, 200);
}

CAF_TEST(messages over the size limits are refused with code 100) {
  ctl("/_sim/messages", R"({"user_id":"1234567890123456","text":"hi"})");
  CAF_CHECK_EQUAL(dm("{\"text\":\"" + std::string(1000, 'a') + "\"}").status, 200);
  auto over = dm("{\"text\":\"" + std::string(1001, 'a') + "\"}");
  CAF_CHECK_EQUAL(over.status, 400);
  CAF_CHECK_EQUAL(jget(over.body, "/error/code"), "100");
  std::string fire;
  for (int i = 0; i < 400; ++i) fire += "\xF0\x9F\x94\xA5";  // 400 chars, 1600 bytes
  CAF_CHECK_EQUAL(jget(dm("{\"text\":\"" + fire + "\"}").body, "/error/code"), "100");
  auto button = [](const std::string& text, const std::string& buttons) {
    return R"({"attachment":{"type":"template","payload":{"template_type":"button","text":")" +
           text + R"(","buttons":)" + buttons + "}}}";
  };
  std::string ok_button = R"({"type":"web_url","url":"https://shop.example/a","title":"Open"})";
  CAF_CHECK_EQUAL(dm(button("Here is your link", "[" + ok_button + "]")).status, 200);
  CAF_CHECK_EQUAL(jget(dm(button("x", "[" + ok_button + "," + ok_button + "," + ok_button + "," +
                                          ok_button + "]"))
                           .body,
                       "/error/code"),
                  "100");
  CAF_CHECK_EQUAL(
      jget(dm(button("x", R"([{"type":"web_url","url":"http://shop.example/a","title":"Open"}])"))
               .body,
           "/error/code"),
      "100");
  CAF_CHECK_EQUAL(
      jget(dm(button("x", R"x([{"type":"web_url","url":"javascript:alert(1)","title":"Open"}])x"))
               .body,
           "/error/code"),
      "100");
  std::string e640;
  for (int i = 0; i < 641; ++i) e640 += "\xC3\xA9";
  CAF_CHECK_EQUAL(jget(dm(button(e640, "[" + ok_button + "]")).body, "/error/code"), "100");
  auto both = dm(
      R"({"text":"x","attachment":{"type":"template","payload":{"template_type":"button","text":"y","buttons":[)" +
      ok_button + "]}}}");
  CAF_CHECK_EQUAL(jget(both.body, "/error/code"), "100");
  std::string qrs = "[";
  for (int i = 0; i < 14; ++i)
    qrs += std::string(i ? "," : "") + R"({"content_type":"text","title":"t","payload":"p"})";
  CAF_CHECK_EQUAL(jget(dm(R"({"text":"pick","quick_replies":)" + qrs + "]}").body, "/error/code"),
                  "100");
}

CAF_TEST(malformed send requests get meta errors not crashes) {
  CAF_CHECK_EQUAL(jget(graph("POST", "/me/messages", "{not json").body, "/error/code"), "100");
  CAF_CHECK_EQUAL(
      jget(graph("POST", "/me/messages", R"({"recipient":{},"message":{"text":"x"}})").body,
           "/error/code"),
      "100");
  CAF_CHECK_EQUAL(
      jget(graph("POST", "/me/messages", R"({"recipient":{"id":"1"},"message":"x"})").body,
           "/error/code"),
      "100");
  CAF_CHECK_EQUAL(
      jget(graph("POST", "/me/messages", R"({"recipient":{"id":"999"},"message":{"text":"x"}})")
               .body,
           "/error/error_subcode"),
      "2018001");
}

// ---- rate limits -------------------------------------------------------------------------------

CAF_TEST(going over the send rate yields 613 with the usage header near 100) {
  ctl("/_sim/config", R"({"send_per_second":3})");
  ctl("/_sim/messages", R"({"user_id":"1234567890123456","text":"hi"})");
  for (int i = 0; i < 3; ++i) CAF_CHECK_EQUAL(dm(R"({"text":"ok"})").status, 200);
  auto r = dm(R"({"text":"too many"})");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "613");
  auto usage = r.header("x-business-use-case-usage");
  CAF_MESSAGE("usage: " << usage);
  CAF_CHECK_EQUAL(jget(usage, "/17841400000000001/0/call_count"), "100");
  CAF_CHECK_EQUAL(jget(usage, "/17841400000000001/0/type"), "messenger");
}

CAF_TEST(going over 750 private replies an hour is refused) {
  ctl("/_sim/config", R"({"private_replies_per_hour":2})");
  CAF_CHECK_EQUAL(private_reply(comment("a", R"(,"deliver":false)")).status, 200);
  CAF_CHECK_EQUAL(private_reply(comment("b", R"(,"deliver":false)")).status, 200);
  auto r = private_reply(comment("c", R"(,"deliver":false)"));
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "613");
  CAF_CHECK(std::stoi(jget(r.header("x-business-use-case-usage"),
                           "/17841400000000001/0/estimated_time_to_regain_access")) > 0);
  ctl("/_sim/clock", R"({"advance_seconds":3601})");
  CAF_CHECK_EQUAL(private_reply(comment("d", R"(,"deliver":false)")).status, 200);
}

CAF_TEST(going over the buc limit yields 80002 and the app limit yields 4) {
  ctl("/_sim/config", R"({"buc_calls_per_hour":4})");
  for (int i = 0; i < 4; ++i) {
    auto ok = graph("GET", "/me?fields=user_id");
    CAF_CHECK_EQUAL(ok.status, 200);
    CAF_CHECK_EQUAL(jget(ok.header("x-business-use-case-usage"), "/17841400000000001/0/call_count"),
                    std::to_string((i + 1) * 25));
  }
  auto r = graph("GET", "/me?fields=user_id");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "80002");
  CAF_CHECK_EQUAL(jget(r.header("x-business-use-case-usage"), "/17841400000000001/0/call_count"),
                  "100");
  ctl("/_sim/config", R"({"app_calls_per_hour":4,"buc_calls_per_hour":1000})");
  auto app = graph("GET", "/me");
  CAF_CHECK_EQUAL(jget(app.body, "/error/code"), "4");
  CAF_CHECK_EQUAL(jget(app.body, "/error/is_transient"), "true");
  CAF_CHECK_EQUAL(jget(app.header("x-app-usage"), "/call_count"), "100");
}

// ---- tokens and OAuth --------------------------------------------------------------------------

CAF_TEST(an expired token yields 190 463 and an invalidated one 190 460) {
  ctl("/_sim/tokens/expire", R"({"token":")" + token + "\"}");
  auto r = graph("GET", "/me");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "190");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "463");
  CAF_CHECK(jget(r.body, "/error/message").find("Session has expired on") != std::string::npos);
  auto t2 =
      jget(ctl("/_sim/tokens", R"({"account_id":"17841400000000001"})").body, "/access_token");
  token = t2;
  CAF_CHECK_EQUAL(graph("GET", "/me").status, 200);
  ctl("/_sim/tokens/invalidate", R"({"token":")" + t2 + "\"}");
  r = graph("GET", "/me");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "190");
  CAF_CHECK_EQUAL(jget(r.body, "/error/error_subcode"), "460");
  token = "garbage";
  CAF_CHECK_EQUAL(jget(graph("GET", "/me").body, "/error/code"), "190");
  CAF_CHECK_EQUAL(jget(call("GET", "/v25.0/me").body, "/error/code"), "2500");
}

CAF_TEST(the bearer header works and any version prefix is accepted) {
  auto r = tc::request(s->port(), "GET", "/v19.0/me?fields=user_id,username", "",
                       {{"Authorization", "Bearer " + token}});
  CAF_CHECK_EQUAL(jget(r.body, "/user_id"), account);
  CAF_CHECK_EQUAL(jget(r.body, "/username"), "acme.shop");
  CAF_CHECK(jget(r.body, "/id") != account);  // /me's id is the app-scoped id
  CAF_CHECK_EQUAL(jget(graph("GET", "/me?fields=user_id").body, "/user_id"), account);
}

CAF_TEST(the oauth flow issues short then long lived tokens and refreshes) {
  auto auth = call(
      "GET",
      "/oauth/"
      "authorize?client_id=1000000000000001&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_"
      "type=code&scope=instagram_business_basic&state=xyz&account_id=17841400000000001");
  CAF_CHECK_EQUAL(auth.status, 302);
  auto loc = auth.header("location");
  CAF_MESSAGE("location: " << loc);
  CAF_REQUIRE(loc.rfind("https://app.example/cb?code=", 0) == 0);
  CAF_CHECK(loc.size() > 2 && loc.substr(loc.size() - 2) == "#_");
  CAF_CHECK(loc.find("&state=xyz") != std::string::npos);
  auto code = loc.substr(28, loc.find('&') - 28);
  auto form =
      "client_id=1000000000000001&client_secret=test_app_secret&grant_type=authorization_code&"
      "redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code=" +
      code;
  auto ex = call("POST", "/oauth/access_token", form, "application/x-www-form-urlencoded");
  CAF_CHECK_EQUAL(ex.status, 200);
  CAF_CHECK(ex.body.find(R"("user_id":17841400000000001,)") != std::string::npos);  // a number
  auto again = call("POST", "/oauth/access_token", form, "application/x-www-form-urlencoded");
  CAF_CHECK_EQUAL(again.status, 400);
  CAF_CHECK_EQUAL(jget(again.body, "/error_type"), "OAuthException");
  CAF_CHECK_EQUAL(jget(again.body, "/error_message"),
                  "Matching code was not found or was already used");
  auto short_token = jget(ex.body, "/access_token");
  auto ll = call(
      "GET",
      "/access_token?grant_type=ig_exchange_token&client_secret=test_app_secret&access_token=" +
          short_token);
  CAF_CHECK_EQUAL(jget(ll.body, "/token_type"), "bearer");
  CAF_CHECK_EQUAL(jget(ll.body, "/expires_in"), "5183944");
  auto long_token = jget(ll.body, "/access_token");
  auto early =
      call("GET", "/refresh_access_token?grant_type=ig_refresh_token&access_token=" + long_token);
  CAF_CHECK_EQUAL(early.status, 400);
  ctl("/_sim/clock", R"({"advance_seconds":90000})");
  auto refreshed =
      call("GET", "/refresh_access_token?grant_type=ig_refresh_token&access_token=" + long_token);
  CAF_CHECK_EQUAL(refreshed.status, 200);
  CAF_CHECK(jget(refreshed.body, "/access_token").rfind("IGAA", 0) == 0);
  // A short-lived token expires after an hour.
  CAF_CHECK_EQUAL(
      jget(call("GET", "/v25.0/me?access_token=" + short_token).body, "/error/error_subcode"),
      "463");
  auto denied = call("GET",
                     "/oauth/authorize?client_id=1000000000000001&redirect_uri=https://app.example/"
                     "cb&response_type=code&deny=1");
  CAF_CHECK(denied.header("location").find("error=access_denied") != std::string::npos);
  auto page = call("GET",
                   "/oauth/authorize?client_id=1000000000000001&redirect_uri=https://app.example/"
                   "cb&response_type=code");
  CAF_CHECK(page.body.find("acme.shop") != std::string::npos);
}

// ---- profile, comments, media ------------------------------------------------------------------

CAF_TEST(follow fields give 230 until the user has messaged) {
  ctl("/_sim/users/" + user, R"({"follows":true})");
  auto r = graph("GET", "/" + user + "?fields=is_user_follow_business,is_business_follow_user");
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "230");
  ctl("/_sim/messages", R"({"user_id":"1234567890123456","text":"hi"})");
  r = graph("GET", "/" + user + "?fields=is_user_follow_business,is_business_follow_user,username");
  CAF_CHECK_EQUAL(jget(r.body, "/is_user_follow_business"), "true");
  CAF_CHECK_EQUAL(jget(r.body, "/is_business_follow_user"), "false");
  CAF_CHECK_EQUAL(jget(r.body, "/username"), "jane.doe");
}

CAF_TEST(a public reply returns its id and comes back as a self comment event) {
  auto id = comment("LINK");
  hook.wait_for(1);
  auto r = graph("POST", "/" + id + "/replies", R"({"message":"Sent you a DM!"})");
  CAF_CHECK_EQUAL(r.status, 200);
  auto reply_id = jget(r.body, "/id");
  auto got = hook.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  auto& b = got[1].body;
  CAF_CHECK_EQUAL(jget(b, "/entry/0/changes/0/value/id"), reply_id);
  CAF_CHECK_EQUAL(jget(b, "/entry/0/changes/0/value/parent_id"), id);
  CAF_CHECK_EQUAL(jget(b, "/entry/0/changes/0/value/from/id"), account);
  CAF_CHECK(jget(b, "/entry/0/changes/0/value/from/self_ig_scoped_id") != "<missing>");
  auto replies = graph("GET", "/" + id + "/replies?fields=id,text,from");
  CAF_CHECK_EQUAL(jget(replies.body, "/data/0/text"), "Sent you a DM!");
}

CAF_TEST(hidden comments refuse replies and deleted ones do not exist) {
  auto id = comment("spam");
  CAF_CHECK_EQUAL(graph("POST", "/" + id + "?hide=true").body, R"({"success":true})");
  CAF_CHECK_EQUAL(jget(graph("GET", "/" + id + "?fields=hidden").body, "/hidden"), "true");
  CAF_CHECK_EQUAL(jget(graph("POST", "/" + id + "/replies?message=hi").body, "/error/code"), "100");
  CAF_CHECK_EQUAL(graph("DELETE", "/" + id).body, R"({"success":true})");
  auto gone = graph("GET", "/" + id);
  CAF_CHECK_EQUAL(jget(gone.body, "/error/code"), "100");
  CAF_CHECK_EQUAL(jget(gone.body, "/error/error_subcode"), "33");
}

CAF_TEST(media and comments are listed with paging cursors) {
  ctl("/_sim/media", R"({"account_id":"17841400000000001","caption":"two"})");
  ctl("/_sim/media", R"({"account_id":"17841400000000001","caption":"three"})");
  auto p1 = graph("GET", "/me/media?fields=id,caption&limit=2");
  CAF_CHECK_EQUAL(jget(p1.body, "/data/0/caption"), "three");
  auto after = jget(p1.body, "/paging/cursors/after");
  CAF_CHECK(jget(p1.body, "/paging/next") != "<missing>");
  auto p2 = graph("GET", "/me/media?fields=id,caption&limit=2&after=" + after);
  CAF_CHECK_EQUAL(jget(p2.body, "/data/0/id"), media);
  CAF_CHECK_EQUAL(jget(p2.body, "/paging/next"), "<missing>");
  comment("first");
  comment("second");
  auto cs = graph("GET", "/" + media + "/comments?fields=id,text,from,timestamp");
  CAF_CHECK_EQUAL(jget(cs.body, "/data/0/text"), "second");
  CAF_CHECK_EQUAL(jget(cs.body, "/data/1/from/username"), "jane.doe");
  CAF_CHECK(jget(cs.body, "/data/0/timestamp").find("+0000") != std::string::npos);
}

// ---- faults and logs ---------------------------------------------------------------------------

CAF_TEST(an injected error hits the next n calls only) {
  ctl("/_sim/faults", R"({"kind":"error","code":368,"count":2,"path_contains":"/messages"})");
  auto id = comment("LINK");
  CAF_CHECK_EQUAL(jget(private_reply(id).body, "/error/code"), "368");
  CAF_CHECK_EQUAL(jget(private_reply(id).body, "/error/code"), "368");
  CAF_CHECK_EQUAL(private_reply(id).status, 200);
  CAF_CHECK_EQUAL(graph("GET", "/me").status, 200);
}

CAF_TEST(an injected error with a share hits about that share of calls) {
  ctl("/_sim/faults", R"({"kind":"error","code":1,"share":0.5,"path_contains":"/me"})");
  int failed = 0;
  for (int i = 0; i < 60; ++i)
    if (graph("GET", "/me").status != 200) ++failed;
  CAF_MESSAGE("failed " << failed << " of 60");
  CAF_CHECK(failed > 10 && failed < 50);
}

CAF_TEST(injected latency delays the answer) {
  ctl("/_sim/faults", R"({"kind":"latency","latency_ms":300,"count":1})");
  auto t0 = std::chrono::steady_clock::now();
  auto r = graph("GET", "/me");
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
}

CAF_TEST(an injected 5xx and a dropped connection) {
  ctl("/_sim/faults", R"({"kind":"http_status","http_status":502,"count":1})");
  auto r = graph("GET", "/me");
  CAF_CHECK_EQUAL(r.status, 502);
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "2");
  ctl("/_sim/faults", R"({"kind":"drop","count":1})");
  auto d = graph("GET", "/me");
  CAF_CHECK_EQUAL(d.status, 0);
  CAF_CHECK_EQUAL(graph("GET", "/me").status, 200);
}

CAF_TEST(write succeeded but the answer is code 2) {
  ctl("/_sim/faults", R"({"kind":"write_then_error","code":2,"count":1})");
  auto id = comment("LINK");
  auto r = private_reply(id);
  CAF_CHECK_EQUAL(r.status, 500);
  CAF_CHECK_EQUAL(jget(r.body, "/error/code"), "2");
  CAF_CHECK_EQUAL(jget(r.body, "/error/is_transient"), "true");
  // The reply was in fact sent: a retry is refused as a second private reply.
  CAF_CHECK_EQUAL(jget(private_reply(id).body, "/error/error_subcode"), "2534025");
  auto msgs = call("GET", "/_sim/messages").body;
  CAF_CHECK_EQUAL(jget(msgs, "/messages/0/kind"), "private_reply");
}

CAF_TEST(faults can be listed and cleared) {
  ctl("/_sim/faults", R"({"kind":"error","code":4})");
  CAF_CHECK_EQUAL(jget(call("GET", "/_sim/faults").body, "/faults/0/code"), "4");
  CAF_CHECK_EQUAL(call("DELETE", "/_sim/faults").status, 200);
  CAF_CHECK_EQUAL(graph("GET", "/me").status, 200);
  CAF_CHECK_EQUAL(call("POST", "/_sim/faults", R"({"kind":"nonsense"})").status, 400);
}

CAF_TEST(a user with an id of any length gets a default username and a bad id is refused) {
  auto add_user = [&](const std::string& id_json) {
    return call("POST", "/_sim/users",
                R"({"account_id":"17841400000000001","id":)" + id_json + "}");
  };
  auto r = add_user(R"("7")");
  CAF_CHECK_EQUAL(r.status, 200);
  CAF_CHECK_EQUAL(jget(r.body, "/username"), "user7");
  CAF_CHECK_EQUAL(jget(add_user(R"("123")").body, "/username"), "user123");
  CAF_CHECK_EQUAL(jget(add_user(R"("4567")").body, "/username"), "user4567");
  CAF_CHECK_EQUAL(jget(add_user(R"("9000000000000001")").body, "/username"), "user0001");
  CAF_CHECK_EQUAL(jget(add_user("42").body, "/username"), "user42");  // digits, as every id here
  // The short-id user is a real one: it can comment.
  CAF_CHECK_EQUAL(call("POST", "/_sim/comments",
                       R"({"media_id":"18030000000000002","user_id":"7","text":"hi"})")
                      .status,
                  200);
  for (auto bad : {R"("")", "true", "null", "1.5", R"({"id":"7"})", R"(["7"])"}) {
    r = add_user(bad);
    CAF_CHECK_EQUAL(r.status, 400);
    CAF_CHECK_EQUAL(jget(r.body, "/error"), "id must be a non-empty string");
  }
  r = call("POST", "/_sim/accounts", R"({"id":""})");
  CAF_CHECK_EQUAL(r.status, 400);
  CAF_CHECK_EQUAL(jget(r.body, "/error"), "id must be a non-empty string");
}

CAF_TEST(the call log lists every call in order with timestamps) {
  graph("GET", "/me?fields=user_id");
  graph("POST", "/me/messages", "{bad");
  auto log = call("GET", "/_sim/calls").body;
  CAF_CHECK_EQUAL(jget(log, "/calls/0/method"), "GET");
  CAF_CHECK_EQUAL(jget(log, "/calls/0/path"), "/v25.0/me");
  CAF_CHECK_EQUAL(jget(log, "/calls/0/status"), "200");
  CAF_CHECK_EQUAL(jget(log, "/calls/1/body"), "{bad");
  CAF_CHECK_EQUAL(jget(log, "/calls/1/status"), "400");
  CAF_CHECK(std::stoll(jget(log, "/calls/1/at_ms")) >= std::stoll(jget(log, "/calls/0/at_ms")));
  auto since = call("GET", "/_sim/calls?since=1").body;
  CAF_CHECK_EQUAL(jget(since, "/calls/0/seq"), "2");
}

CAF_TEST(reset clears state and logs) {
  comment("x");
  hook.wait_for(1);
  CAF_CHECK_EQUAL(ctl("/_sim/reset").status, 200);
  CAF_CHECK_EQUAL(jget(graph("GET", "/me").body, "/error/code"), "190");
  CAF_CHECK_EQUAL(jget(call("GET", "/_sim/calls").body, "/calls/0/path"), "/v25.0/me");
  CAF_CHECK_EQUAL(jget(call("GET", "/_sim/state").body, "/accounts"), "[]");
  CAF_CHECK_EQUAL(call("GET", "/_sim/nope").status, 404);
}

// ---- load mode ---------------------------------------------------------------------------------

CAF_TEST(the load mode sends signed multilingual comments at the given rate) {
  sim::load_options lo;
  lo.rate = 200;
  lo.duration_s = 0.25;
  lo.accounts = 3;
  lo.target = hook.url();
  lo.match_share = 0.5;
  lo.keywords = {"link", "precio"};
  auto rep = sim::run_load(lo);
  CAF_CHECK_EQUAL(rep.sent, 50u);
  CAF_CHECK_EQUAL(rep.by_status[200], 50u);
  CAF_CHECK(rep.matching > 10 && rep.matching < 40);
  auto got = hook.wait_for(50);
  CAF_REQUIRE_EQUAL(got.size(), 50u);
  bool non_ascii = false;
  for (auto& g : got) {
    CAF_CHECK(signed_ok(g));
    if (g.body.find("\\u") != std::string::npos) non_ascii = true;
    for (unsigned char ch : g.body) CAF_CHECK(ch < 0x80);
  }
  CAF_CHECK(non_ascii);
  CAF_MESSAGE(sim::format_report(rep));
}

CAF_TEST_FIXTURE_SCOPE_END()
