#define CAF_SUITE automation_validation
#include <caf/test/unit_test.hpp>

#include "rules/automation_validation.hpp"

using namespace komentra::rules;

namespace {

automation valid() {
  automation a;
  a.name = "Link";
  a.keywords = {"link"};
  a.public_replies = {"Sent you a DM!"};
  a.dm_text = "Here is your link";
  a.dm_buttons = {{"Open", "https://shop.example/a"}};
  return a;
}

std::string problem_of(const automation& a, const std::string& field) {
  for (auto& p : validate(a))
    if (p.field == field) return p.message;
  return {};
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

CAF_TEST(a complete automation has no problems) {
  CAF_CHECK(validate(valid()).empty());
}

CAF_TEST(dm text of exactly 1000 bytes is accepted) {
  auto a = valid();
  a.dm_buttons.clear();
  a.dm_text = std::string(1000, 'a');
  CAF_CHECK(validate(a).empty());
}

CAF_TEST(dm texts over 1000 utf8 bytes are rejected with the limit and the measured size) {
  auto a = valid();
  a.dm_buttons.clear();
  a.dm_text = std::string(1001, 'a');
  CAF_CHECK_EQUAL(problem_of(a, "dm_text"), "is 1001 bytes of UTF-8; the limit is 1000 bytes");
  a.dm_text = repeat("\xF0\x9F\x94\xA5", 400);
  CAF_CHECK_EQUAL(problem_of(a, "dm_text"), "is 1600 bytes of UTF-8; the limit is 1000 bytes");
  a.dm_text = repeat("\xC3\xA9", 600);
  CAF_CHECK_EQUAL(problem_of(a, "dm_text"), "is 1200 bytes of UTF-8; the limit is 1000 bytes");
}

CAF_TEST(button urls must be https) {
  for (auto url : {"shop.example/a", "http://shop.example/a", "javascript:alert(1)", "https://",
                   "https:// spaced.example"}) {
    auto a = valid();
    a.dm_buttons[0].url = url;
    CAF_CHECK(!problem_of(a, "dm_buttons[0].url").empty());
  }
  auto a = valid();
  a.dm_buttons[0].url = "HTTPS://shop.example/a?x=1";
  CAF_CHECK(validate(a).empty());
}

CAF_TEST(at most three buttons with short titles) {
  auto a = valid();
  a.dm_buttons = {{"A", "https://a.example"},
                  {"B", "https://b.example"},
                  {"C", "https://c.example"},
                  {"D", "https://d.example"}};
  CAF_CHECK_EQUAL(problem_of(a, "dm_buttons"), "has 4 buttons; at most 3");
  a.dm_buttons = {{std::string(21, 'x'), "https://a.example"}};
  CAF_CHECK(!problem_of(a, "dm_buttons[0].title").empty());
  a.dm_buttons = {{"", "https://a.example"}};
  CAF_CHECK(!problem_of(a, "dm_buttons[0].title").empty());
}

CAF_TEST(keywords are required unless match type any) {
  auto a = valid();
  a.keywords.clear();
  CAF_CHECK(!problem_of(a, "keywords").empty());
  a.match = match_type::any;
  a.public_replies.clear();
  CAF_CHECK(validate(a).empty());
}

CAF_TEST(keywords must be valid utf8 and normalize to something) {
  auto a = valid();
  a.keywords = {"ok", "\xFF\xFE", " \xE2\x80\x8B "};
  CAF_CHECK_EQUAL(problem_of(a, "keywords[1]"), "is not valid UTF-8");
  CAF_CHECK(!problem_of(a, "keywords[2]").empty());
}

CAF_TEST(a public reply that would trigger the same automation is rejected) {
  auto a = valid();
  a.public_replies = {"Check your DMs", "Sent the LINK!"};
  CAF_CHECK(problem_of(a, "public_replies[0]").empty());
  CAF_CHECK(!problem_of(a, "public_replies[1]").empty());
}

CAF_TEST(selected media scope needs media ids) {
  auto a = valid();
  a.scope = media_scope::selected;
  CAF_CHECK(!problem_of(a, "media_ids").empty());
  a.media_ids = {"18000000000000001"};
  CAF_CHECK(validate(a).empty());
}

CAF_TEST(follow gating needs the link button and a prompt) {
  auto a = valid();
  a.follow_gate = true;
  a.dm_buttons.clear();
  CAF_CHECK(!problem_of(a, "dm_buttons").empty());
  CAF_CHECK(!problem_of(a, "follow_prompt_text").empty());
  a = valid();
  a.follow_gate = true;
  a.follow_prompt_text = "Follow us first, then tap below";
  CAF_CHECK(validate(a).empty());
}

CAF_TEST(an automation that sends nothing is rejected) {
  auto a = valid();
  a.public_replies.clear();
  a.dm_text.clear();
  a.dm_buttons.clear();
  CAF_CHECK(!problem_of(a, "dm_text").empty());
}
