#define CAF_SUITE decide
#include <caf/test/unit_test.hpp>

#include "protocol/webhook_parser.hpp"
#include "rules/decide.hpp"

using namespace komentra;
using namespace komentra::rules;

namespace {

constexpr std::int64_t t0_ms = 1796299200000;  // 2026-12-03T12:00:00Z

// R1 of the field cases.
automation r1() {
  automation a;
  a.id = 1;
  a.account_id = "17841400000000001";
  a.trigger = trigger_kind::comment;
  a.scope = media_scope::selected;
  a.media_ids = {"18000000000000001"};
  a.keywords = {"link"};
  a.match = match_type::whole_word;
  a.public_replies = {"Sent you a DM!"};
  a.dm_text = "Here is your link";
  a.dm_buttons = {{"Open", "https://shop.example/a"}};
  a.created_order = 1;
  return a;
}

account_info account() {
  account_info acc;
  acc.id = "17841400000000001";
  acc.username = "our_brand";
  return acc;
}

protocol::webhook_event only_event(const std::string& body) {
  auto out = protocol::parse_delivery(body);
  if (!out.ok()) CAF_FAIL("fixture does not parse: " << out.error);
  if (out.events.size() != 1) CAF_FAIL("fixture has " << out.events.size() << " events");
  return out.events.front();
}

std::string comment_webhook(const std::string& value, std::int64_t time = 1796299200) {
  return R"({"object":"instagram","entry":[{"id":"17841400000000001","time":)" +
         std::to_string(time) + R"(,"changes":[{"field":"comments","value":)" + value + "}]}]}";
}

std::string messaging_webhook(const std::string& item) {
  return R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200123,"messaging":[)" +
         item + "]}]}";
}

const std::string base_value =
    R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001","media_product_type":"FEED"},"id":"17900000000000001","text":"LINK"})";

struct fixture {
  std::mt19937_64 rng{42};
  decision run(std::vector<automation> as, const std::string& body, std::int64_t now = t0_ms,
               account_info acc = account()) {
    return decide(acc, compiled_rules::compile(std::move(as)), only_event(body), now, rng);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(decide_tests, fixture)

CAF_TEST(a matching comment plans one public reply and one private reply) {
  auto d = run({r1()}, comment_webhook(base_value));
  CAF_CHECK_EQUAL(d.outcome, "matched");
  CAF_CHECK_EQUAL(d.automation_id, 1);
  CAF_REQUIRE_EQUAL(d.actions.size(), 2u);
  CAF_CHECK_EQUAL(d.actions[0].path, "/v25.0/17900000000000001/replies");
  CAF_CHECK_EQUAL(d.actions[0].body, R"({"message":"Sent you a DM!"})");
  CAF_CHECK_EQUAL(d.actions[1].path, "/v25.0/17841400000000001/messages");
  CAF_CHECK_EQUAL(
      d.actions[1].body,
      R"({"recipient":{"comment_id":"17900000000000001"},"message":{"attachment":{"type":"template","payload":{"template_type":"button","text":"Here is your link","buttons":[{"type":"web_url","url":"https://shop.example/a","title":"Open"}]}}}})");
}

CAF_TEST(br12 our own comment by id or by username alone is ignored) {
  auto a = r1();
  a.public_replies = {"Thanks! Your LINK is in your DMs"};
  auto by_id = run(
      {a},
      comment_webhook(
          R"({"from":{"id":"17841400000000001","username":"our_brand"},"media":{"id":"18000000000000001"},"parent_id":"17900000000000001","id":"17900000000000002","text":"Thanks! Your LINK is in your DMs"})"));
  CAF_CHECK_EQUAL(by_id.outcome, "skipped:own_comment");
  CAF_CHECK(by_id.actions.empty());
  auto by_name = run(
      {a},
      comment_webhook(
          R"({"from":{"username":"Our_Brand"},"media":{"id":"18000000000000001"},"parent_id":"17900000000000001","id":"17900000000000002","text":"Thanks! Your LINK is in your DMs"})"));
  CAF_CHECK_EQUAL(by_name.outcome, "skipped:own_comment");
  auto self_scoped = run(
      {a},
      comment_webhook(
          R"({"from":{"id":"17841400000000001","username":"acme","self_ig_scoped_id":"9876543210987654"},"media":{"id":"18000000000000001"},"id":"17900000000000003","text":"link"})"));
  CAF_CHECK_EQUAL(self_scoped.outcome, "skipped:own_comment");
}

CAF_TEST(br11 an echo of our dm is never answered) {
  automation dm;
  dm.id = 2;
  dm.trigger = trigger_kind::dm;
  dm.keywords = {"link"};
  dm.dm_text = "Here is your link https://shop.example/a";
  auto d = run(
      {dm},
      messaging_webhook(
          R"({"sender":{"id":"17841400000000001"},"recipient":{"id":"9000000000000001"},"timestamp":1796299200000,"message":{"mid":"m_ECHO1","is_echo":true,"text":"Here is your link https://shop.example/a"}})"));
  CAF_CHECK_EQUAL(d.outcome, "skipped:echo");
  CAF_CHECK(d.actions.empty());
}

CAF_TEST(br11 br12 our own comments and echoes are told from the event alone) {
  // By id or self_ig_scoped_id: the router can record these without the account's rules.
  auto own = decide_own(only_event(comment_webhook(
      R"({"from":{"id":"17841400000000001","username":"our_brand"},"media":{"id":"18000000000000001"},"id":"17900000000000002","text":"Thanks! Your LINK is in your DMs"})")));
  CAF_REQUIRE(own.has_value());
  CAF_CHECK_EQUAL(own->outcome, "skipped:own_comment");
  auto scoped = decide_own(only_event(comment_webhook(
      R"({"from":{"id":"9000000000000009","username":"acme","self_ig_scoped_id":"9876543210987654"},"media":{"id":"18000000000000001"},"id":"17900000000000003","text":"link"})")));
  CAF_REQUIRE(scoped.has_value());
  CAF_CHECK_EQUAL(scoped->outcome, "skipped:own_comment");
  auto echo = decide_own(only_event(messaging_webhook(
      R"({"sender":{"id":"17841400000000001"},"recipient":{"id":"9000000000000001"},"timestamp":1796299200000,"message":{"mid":"m_ECHO1","is_echo":true,"text":"Here is your link"}})")));
  CAF_REQUIRE(echo.has_value());
  CAF_CHECK_EQUAL(echo->outcome, "skipped:echo");
  // A user's comment and DM, our username alone (only the actor knows it) and a postback are
  // the account's to decide.
  CAF_CHECK(!decide_own(only_event(comment_webhook(base_value))).has_value());
  CAF_CHECK(
      !decide_own(
           only_event(comment_webhook(
               R"({"from":{"username":"Our_Brand"},"media":{"id":"18000000000000001"},"id":"17900000000000004","text":"link"})")))
           .has_value());
  CAF_CHECK(
      !decide_own(
           only_event(messaging_webhook(
               R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_USER1","text":"link"}})")))
           .has_value());
  CAF_CHECK(
      !decide_own(
           only_event(messaging_webhook(
               R"({"sender":{"id":"17841400000000001"},"recipient":{"id":"9000000000000001"},"timestamp":1796299200000,"postback":{"mid":"m_PB1","title":"I'm following","payload":"KOMENTRA_FG:1:17900000000000001"}})")))
           .has_value());
}

CAF_TEST(br16 replies to replies follow ignore replies) {
  auto top = run({r1()}, comment_webhook(base_value));
  CAF_CHECK_EQUAL(top.outcome, "matched");
  std::string reply =
      R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001"},"parent_id":"17900000000000001","id":"17900000000000005","text":"link"})";
  CAF_CHECK_EQUAL(run({r1()}, comment_webhook(reply)).outcome, "skipped:reply_ignored");
  std::string parent_is_media =
      R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001"},"parent_id":"18000000000000001","id":"17900000000000006","text":"link"})";
  CAF_CHECK_EQUAL(run({r1()}, comment_webhook(parent_is_media)).outcome, "matched");
  auto a = r1();
  a.ignore_replies = false;
  auto d = run({a}, comment_webhook(reply));
  CAF_REQUIRE_EQUAL(d.actions.size(), 2u);
  CAF_CHECK_EQUAL(d.actions[0].path, "/v25.0/17900000000000001/replies");  // under the top-level
  CAF_CHECK(d.actions[1].body.find(R"("comment_id":"17900000000000005")") != std::string::npos);
}

CAF_TEST(br25 an eight day old comment gets no private reply but its public reply) {
  auto fresh = run({r1()}, comment_webhook(base_value, 1796126400));  // 2 days old
  CAF_REQUIRE_EQUAL(fresh.actions.size(), 2u);
  CAF_CHECK(fresh.actions[1].body.find(R"("recipient":{"comment_id":"17900000000000001"})") !=
            std::string::npos);
  auto old = run({r1()}, comment_webhook(base_value, 1795608000));  // 8 days old
  CAF_CHECK_EQUAL(old.outcome, "matched");
  CAF_REQUIRE_EQUAL(old.actions.size(), 1u);
  CAF_CHECK(old.actions[0].kind == action_kind::public_reply);
  CAF_REQUIRE_EQUAL(old.notes.size(), 1u);
  CAF_CHECK_EQUAL(old.notes[0], "skipped:private_reply_window_expired");
}

CAF_TEST(br26 the messages node follows the login type) {
  auto fb_without_page = account();
  fb_without_page.login = protocol::login_type::facebook;
  auto a = run({r1()}, comment_webhook(base_value), t0_ms, fb_without_page);
  CAF_CHECK_EQUAL(a.outcome, "failed:config_page_id_missing");
  CAF_CHECK(a.actions.empty());
  auto fb = fb_without_page;
  fb.page_id = "100000000000001";
  auto b = run({r1()}, comment_webhook(base_value), t0_ms, fb);
  CAF_REQUIRE_EQUAL(b.actions.size(), 2u);
  CAF_CHECK_EQUAL(b.actions[1].path, "/v25.0/100000000000001/messages");
  auto c = run({r1()}, comment_webhook(base_value));
  CAF_CHECK_EQUAL(c.actions[1].path, "/v25.0/17841400000000001/messages");
  for (auto* d : {&b, &c})
    for (auto& act : d->actions) {
      CAF_CHECK(act.path.find("undefined") == std::string::npos);
      CAF_CHECK(act.path.find("null") == std::string::npos);
    }
}

CAF_TEST(br32 a postback from our own account is ignored) {
  auto a = r1();
  a.follow_gate = true;
  auto d = run(
      {a},
      messaging_webhook(
          R"({"sender":{"id":"17841400000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"postback":{"title":"Open","payload":"R1_OPEN"}})"));
  CAF_CHECK_EQUAL(d.outcome, "skipped:own_postback");
}

CAF_TEST(br35 a story reply fires the story rule and not the comment rule) {
  automation story;
  story.id = 7;
  story.trigger = trigger_kind::story_reply;
  story.keywords = {"link"};
  story.dm_text = "Story link";
  auto d = run(
      {r1(), story},
      messaging_webhook(
          R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_SR1","text":"LINK","reply_to":{"story":{"id":"18000000000000055","url":"https://cdn.example/s2"}}}})"));
  CAF_CHECK_EQUAL(d.automation_id, 7);
  CAF_CHECK(d.inbound_message);
  CAF_REQUIRE_EQUAL(d.actions.size(), 1u);
  CAF_CHECK_EQUAL(d.actions[0].body,
                  R"({"recipient":{"id":"9000000000000001"},"message":{"text":"Story link"}})");
}

CAF_TEST(br35 a story mention without text opens the window without error) {
  auto d = run(
      {r1()},
      messaging_webhook(
          R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_SM1","attachments":[{"type":"story_mention","payload":{"url":"https://cdn.example/s1"}}]}})"));
  CAF_CHECK_EQUAL(d.outcome, "skipped:no_match");
  CAF_CHECK(d.inbound_message);
  automation mention;
  mention.id = 9;
  mention.trigger = trigger_kind::story_mention;
  mention.match = match_type::any;
  mention.dm_text = "Thanks for the mention!";
  auto m = run(
      {mention},
      messaging_webhook(
          R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_SM1","attachments":[{"type":"story_mention","payload":{"url":"https://cdn.example/s1"}}]}})"));
  CAF_CHECK_EQUAL(m.automation_id, 9);
}

CAF_TEST(br14 standby messages are recorded and not answered) {
  std::string body =
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"standby":[{"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_SB1","text":"link"}}]}]})";
  CAF_CHECK_EQUAL(run({r1()}, body).outcome, "skipped:standby");
}

CAF_TEST(comments on other posts do not match a selected post rule) {
  std::string other =
      R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000002"},"id":"17900000000000009","text":"link"})";
  CAF_CHECK_EQUAL(run({r1()}, comment_webhook(other)).outcome, "skipped:no_match");
}

CAF_TEST(an event with an id far longer than instagram ids is skipped) {
  std::string long_id(300, '7');
  std::string comment =
      R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001"},"id":")" +
      long_id + R"(","text":"link"})";
  auto d = run({r1()}, comment_webhook(comment));
  CAF_CHECK_EQUAL(d.outcome, "skipped:invalid_id");
  CAF_CHECK(d.actions.empty());
  std::string sender =
      R"({"from":{"id":")" + long_id +
      R"(","username":"user_a"},"media":{"id":"18000000000000001"},"id":"17900000000000001","text":"link"})";
  CAF_CHECK_EQUAL(run({r1()}, comment_webhook(sender)).outcome, "skipped:invalid_id");
  // 256 bytes still are an id (message ids run to about 150 characters).
  std::string longest =
      R"({"from":{"id":"9000000000000001","username":"user_a"},"media":{"id":"18000000000000001"},"id":")" +
      std::string(256, '7') + R"(","text":"link"})";
  CAF_CHECK_EQUAL(run({r1()}, comment_webhook(longest)).outcome, "matched");
}

CAF_TEST(live comments get a private reply and no public reply) {
  std::string body =
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[{"field":"live_comments","value":)" +
      base_value + "}]}]}";
  auto a = r1();
  a.trigger = trigger_kind::live_comment;
  auto d = run({a}, body);
  CAF_REQUIRE_EQUAL(d.actions.size(), 1u);
  CAF_CHECK(d.actions[0].kind == action_kind::private_reply);
}

CAF_TEST(priority then age picks the winner) {
  auto low = r1();
  auto high = r1();
  high.id = 2;
  high.priority = 5;
  high.created_order = 2;
  high.public_replies = {"high"};
  CAF_CHECK_EQUAL(run({low, high}, comment_webhook(base_value)).automation_id, 2);
  high.priority = 0;
  CAF_CHECK_EQUAL(run({low, high}, comment_webhook(base_value)).automation_id, 1);
}

CAF_TEST(follow gating prompts first then checks on the tap) {
  auto a = r1();
  a.follow_gate = true;
  auto d = run({a}, comment_webhook(base_value));
  CAF_REQUIRE_EQUAL(d.actions.size(), 2u);
  CAF_CHECK(d.actions[1].body.find(R"("payload":"KOMENTRA_FG:1:17900000000000001")") !=
            std::string::npos);
  CAF_CHECK(d.actions[1].body.find("web_url") == std::string::npos);  // no link before the check
  auto tap = run(
      {a},
      messaging_webhook(
          R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299300000,"postback":{"mid":"m_PB1","title":"I'm following","payload":"KOMENTRA_FG:1:17900000000000001"}})"));
  CAF_CHECK_EQUAL(tap.outcome, "follow_tapped");
  CAF_REQUIRE_EQUAL(tap.actions.size(), 1u);
  CAF_CHECK_EQUAL(tap.actions[0].method, "GET");
  CAF_CHECK_EQUAL(tap.actions[0].path,
                  "/v25.0/9000000000000001?fields=is_user_follow_business,username");
  auto acc = account();
  auto link = after_follow_check(acc, a, "9000000000000001", "17900000000000001", true, 1, rng);
  CAF_REQUIRE_EQUAL(link.size(), 1u);
  CAF_CHECK(link[0].kind == action_kind::link_dm);
  CAF_CHECK(link[0].body.find("https://shop.example/a") != std::string::npos);
  auto again = after_follow_check(acc, a, "9000000000000001", "17900000000000001", false, 1, rng);
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK(again[0].kind == action_kind::follow_prompt);
  CAF_CHECK(
      after_follow_check(acc, a, "9000000000000001", "17900000000000001", false, 3, rng).empty());
  auto no_consent =
      after_follow_check(acc, a, "9000000000000001", "17900000000000001", std::nullopt, 1, rng);
  CAF_REQUIRE_EQUAL(no_consent.size(), 1u);
  CAF_CHECK(no_consent[0].kind == action_kind::link_dm);
}

CAF_TEST(tracked links replace button urls when a link base is configured) {
  auto acc = account();
  acc.link_base_url = "https://app.example/l/";
  auto d = run({r1()}, comment_webhook(base_value), t0_ms, acc);
  CAF_REQUIRE_EQUAL(d.actions.size(), 2u);
  CAF_REQUIRE_EQUAL(d.actions[1].links.size(), 1u);
  CAF_CHECK_EQUAL(d.actions[1].links[0].url, "https://shop.example/a");
  CAF_CHECK(d.actions[1].body.find("https://app.example/l/" + d.actions[1].links[0].token) !=
            std::string::npos);
  CAF_CHECK(d.actions[1].body.find("shop.example") == std::string::npos);
}

CAF_TEST(username is substituted into replies) {
  auto a = r1();
  a.public_replies = {"Hi @{username}, check your DMs"};
  auto d = run({a}, comment_webhook(base_value));
  CAF_CHECK_EQUAL(d.actions[0].body, R"({"message":"Hi @user_a, check your DMs"})");
}

CAF_TEST_FIXTURE_SCOPE_END()
