#define CAF_SUITE event_json
#include <caf/test/unit_test.hpp>

#include <string>

#include "protocol/event_json.hpp"
#include "protocol/webhook_parser.hpp"

using namespace komentra::protocol;

namespace {

webhook_event full_event() {
  webhook_event ev;
  ev.kind = event_kind::message;
  ev.account_id = "17841400000000001";
  ev.dedupe_key = "message:m_1";
  ev.field = "message";
  ev.time_ms = 1796299200000;
  ev.sender_id = "9000000000000001";
  ev.sender_username = "user_a";
  ev.recipient_id = "17841400000000001";
  ev.from_self = true;
  ev.comment_id = "17900000000000001";
  ev.parent_id = "17900000000000000";
  ev.media_id = "18000000000000001";
  ev.media_product_type = "REELS";
  ev.ad_id = "120200000000000001";
  ev.mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjExMTE=";
  ev.text = "pre\xc3\xa7o \xf0\x9f\x94\xa5 \"quoted\" back\\slash\nnew line\ttab \x01 \x7f /";
  ev.is_echo = true;
  ev.is_self = true;
  ev.is_deleted = true;
  ev.quick_reply_payload = "AUTO_42:SEND_LINK";
  ev.reply_to_story_id = "18110000000000001";
  ev.reply_to_mid = "m_0";
  ev.attachments = {{"story_mention", "https://cdn.example/s1"}, {"image", ""}};
  ev.postback_title = "Open";
  ev.postback_payload = "R1_OPEN";
  ev.reaction_action = "react";
  ev.reaction = "love";
  ev.emoji = "\xe2\x9d\xa4\xef\xb8\x8f";
  ev.referral_ref = "spring_guide";
  ev.referral_source = "IGME";
  ev.app_id = "17841400000000003";
  return ev;
}

}  // namespace

CAF_TEST(an event with every member set round trips losslessly) {
  auto ev = full_event();
  auto back = event_from_json(to_json(ev));
  CAF_REQUIRE(back.has_value());
  CAF_CHECK(*back == ev);
  CAF_CHECK_EQUAL(to_json(*back), to_json(ev));
}

CAF_TEST(a default event round trips) {
  webhook_event ev;
  CAF_CHECK_EQUAL(to_json(ev), R"({"kind":"unknown","time_ms":0})");
  auto back = event_from_json(to_json(ev));
  CAF_REQUIRE(back.has_value());
  CAF_CHECK(*back == ev);
}

CAF_TEST(a comment is written as compact json with only the members it has) {
  webhook_event ev;
  ev.kind = event_kind::comment;
  ev.account_id = "17841400000000001";
  ev.dedupe_key = "comment:17900000000000001";
  ev.field = "comments";
  ev.time_ms = 1796299200000;
  ev.sender_id = "9000000000000001";
  ev.comment_id = "17900000000000001";
  ev.text = "pre\xc3\xa7o \xf0\x9f\x94\xa5";
  ev.from_self = true;
  CAF_CHECK_EQUAL(
      to_json(ev),
      "{\"kind\":\"comment\",\"time_ms\":1796299200000,\"account_id\":\"17841400000000001\","
      "\"dedupe_key\":\"comment:17900000000000001\",\"field\":\"comments\",\"sender_id\":"
      "\"9000000000000001\",\"comment_id\":\"17900000000000001\",\"text\":\"pre\xc3\xa7o "
      "\xf0\x9f\x94\xa5\",\"from_self\":true}");
}

CAF_TEST(every event parsed from a mixed delivery round trips) {
  auto outcome = parse_delivery(
      R"({"object":"instagram","entry":[{"id":"17841400000000001","time":1796299200,"changes":[)"
      R"({"field":"comments","value":{"from":{"id":"9000000000000001","username":"user_a","self_ig_scoped_id":"1"},"media":{"id":"18000000000000001","media_product_type":"AD","ad_id":"120200000000000001"},"id":"17900000000000001","parent_id":"17900000000000000","text":"pre\u00e7o \ud83d\udd25"}},)"
      R"({"field":"mentions","value":{"comment_id":"17900000000000009","media_id":"18000000000000010"}},)"
      R"({"field":"story_insights","value":{"reach":5}}]},)"
      R"({"id":"17841400000000001","time":1796299200123,"messaging":[)"
      R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_1","text":"link: https:\/\/shop.example\/a","quick_reply":{"payload":"P"},"attachments":[{"type":"story_mention","payload":{"url":"https://cdn.example/s1"}}],"reply_to":{"story":{"id":"18000000000000055"}}}},)"
      R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200001,"reaction":{"mid":"m_1","action":"react","reaction":"love","emoji":"\u2764\ufe0f"}},)"
      R"({"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200002,"postback":{"title":"Open","payload":"R1_OPEN"}}],)"
      R"("standby":[{"sender":{"id":"9000000000000001"},"recipient":{"id":"17841400000000001"},"timestamp":1796299200000,"message":{"mid":"m_SB1","text":"link"}}]}]})");
  CAF_REQUIRE_EQUAL(outcome.error, "");
  CAF_REQUIRE_EQUAL(outcome.events.size(), 7u);
  for (const auto& ev : outcome.events) {
    auto json = to_json(ev);
    auto back = event_from_json(json);
    CAF_REQUIRE(back.has_value());
    if (*back != ev) CAF_FAIL("lossy round trip: " << json);
  }
}

CAF_TEST(unknown keys are ignored and an unknown kind reads as unknown) {
  auto ev = event_from_json(
      R"({"kind":"story_insights","time_ms":5,"future":{"a":[1,2]},"text":"x","mid":"m"})");
  CAF_REQUIRE(ev.has_value());
  CAF_CHECK(ev->kind == event_kind::unknown);
  CAF_CHECK_EQUAL(ev->time_ms, 5);
  CAF_CHECK_EQUAL(ev->text, "x");
}

CAF_TEST(documents that are not an event are refused) {
  for (std::string_view json :
       {"", "[]", "5", R"({"kind":5})", R"({"time_ms":"5"})", R"({"time_ms":1.5})",
        R"({"text":null})", R"({"is_echo":"true"})", R"({"attachments":{}})",
        R"({"attachments":[{"type":1}]})", R"({"kind":"comment")", R"({"kind":"comment"} x)",
        "{\"text\":\"\xff\"}"}) {
    if (event_from_json(json)) CAF_FAIL("accepted: " << json);
  }
}
