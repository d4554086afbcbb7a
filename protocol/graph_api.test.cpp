#define CAF_SUITE graph_api
#include <caf/test/unit_test.hpp>

#include "protocol/graph_api.hpp"

using namespace komentra::protocol;

CAF_TEST(br32 a dm with a link button is a button template without top level text) {
  auto msg = text_or_buttons_message("Here is your link", {{"Open", "https://shop.example/a"}});
  CAF_CHECK_EQUAL(
      msg,
      R"({"attachment":{"type":"template","payload":{"template_type":"button","text":"Here is your link","buttons":[{"type":"web_url","url":"https://shop.example/a","title":"Open"}]}}})");
}

CAF_TEST(a dm without buttons is plain text) {
  CAF_CHECK_EQUAL(text_or_buttons_message("hi \"you\"", {}), R"({"text":"hi \"you\""})");
}

CAF_TEST(br25 a private reply is addressed by comment id) {
  CAF_CHECK_EQUAL(private_reply_body("17900000000000001", R"({"text":"x"})"),
                  R"({"recipient":{"comment_id":"17900000000000001"},"message":{"text":"x"}})");
  CAF_CHECK_EQUAL(direct_message_body("9000000000000001", R"({"text":"x"})"),
                  R"({"recipient":{"id":"9000000000000001"},"message":{"text":"x"}})");
  CAF_CHECK_EQUAL(public_reply_body("Sent you a DM!"), R"({"message":"Sent you a DM!"})");
}

CAF_TEST(the follow prompt carries a postback button) {
  CAF_CHECK_EQUAL(
      postback_prompt_message("Follow us first", "I'm following", "FG:1:2"),
      R"({"attachment":{"type":"template","payload":{"template_type":"button","text":"Follow us first","buttons":[{"type":"postback","title":"I'm following","payload":"FG:1:2"}]}}})");
}

CAF_TEST(br26 the messages node follows the login type and never builds undefined) {
  std::string err;
  CAF_CHECK(!messages_path(login_type::facebook, "v25.0", "17841400000000001", "", err));
  CAF_CHECK_EQUAL(err, "page_id missing");
  CAF_CHECK(!messages_path(login_type::facebook, "v25.0", "17841400000000001", "undefined", err));
  CAF_CHECK_EQUAL(
      messages_path(login_type::facebook, "v25.0", "17841400000000001", "100000000000001", err)
          .value_or("-"),
      "/v25.0/100000000000001/messages");
  CAF_CHECK_EQUAL(
      messages_path(login_type::instagram, "v25.0", "17841400000000001", "", err).value_or("-"),
      "/v25.0/17841400000000001/messages");
  CAF_CHECK(!messages_path(login_type::instagram, "v25.0", "null", "", err));
}

CAF_TEST(errors of the fact sheet table are classified on code and subcode) {
  auto cls = [](int status, const char* body) { return classify(status, parse_graph_error(body)); };
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"message":"(#551) stub","type":"OAuthException","code":551,"error_subcode":1545041}})")),
      "user_unavailable");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"code":190,"error_subcode":463,"type":"OAuthException","message":"Error validating access token: Session has expired on Tuesday, 01-Dec-26 06:00:00 PST."}})")),
      "token_invalid");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"code":190,"error_subcode":460,"type":"OAuthException","message":"x"}})")),
      "token_invalid");
  CAF_CHECK_EQUAL(
      to_string(cls(400, R"({"error":{"code":4,"message":"Application request limit reached"}})")),
      "throttled");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"code":613,"message":"Calls to this api have exceeded the rate limit"}})")),
      "throttled");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400, R"({"error":{"code":4,"error_subcode":2207051,"message":"Action is blocked"}})")),
      "spam_blocked");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2534022}})")),
      "window_closed");
  CAF_CHECK_EQUAL(
      to_string(cls(
          500,
          R"({"error":{"code":2,"is_transient":true,"message":"Service temporarily unavailable"}})")),
      "transient");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"code":230,"message":"User consent is required to access user profile"}})")),
      "no_consent");
  CAF_CHECK_EQUAL(
      to_string(
          cls(400,
              R"({"error":{"code":100,"error_subcode":33,"message":"Unsupported post request"}})")),
      "not_found");
  CAF_CHECK_EQUAL(
      to_string(cls(
          400,
          R"({"error":{"code":3,"message":"(#3) Application does not have the capability to make this API call."}})")),
      "permanent");
  CAF_CHECK_EQUAL(to_string(cls(200, R"({"recipient_id":"1","message_id":"m"})")), "ok");
  CAF_CHECK_EQUAL(to_string(cls(502, "<html>bad gateway</html>")), "transient");
  CAF_CHECK_EQUAL(to_string(cls(429, "")), "throttled");
}

CAF_TEST(code 2 and timeouts may have happened and other errors not ) {
  CAF_CHECK(
      outcome_may_have_happened(500, parse_graph_error(R"({"error":{"code":2,"message":"x"}})")));
  CAF_CHECK(outcome_may_have_happened(0, std::nullopt));
  CAF_CHECK(!outcome_may_have_happened(
      400, parse_graph_error(R"({"error":{"code":551,"message":"x"}})")));
}

CAF_TEST(usage headers give the highest percentage and the regain time) {
  auto u = parse_usage(R"({"call_count":100,"total_cputime":10,"total_time":12})", "");
  CAF_CHECK_EQUAL(u.max_percent, 100);
  u = parse_usage(
      "",
      R"({"17841400000000001": [{"type": "instagram", "call_count": 72, "total_cputime": 10, "total_time": 15, "estimated_time_to_regain_access": 7}]})");
  CAF_CHECK_EQUAL(u.max_percent, 72);
  CAF_CHECK_EQUAL(u.regain_minutes, 7);
  u = parse_usage("not json", "{");
  CAF_CHECK_EQUAL(u.max_percent, 0);
}

CAF_TEST(result ids come from message id or id) {
  CAF_CHECK_EQUAL(result_id(R"({"recipient_id":"9000000000000001","message_id":"m_OK"})"), "m_OK");
  CAF_CHECK_EQUAL(result_id(R"({"id":"18020000000000099"})"), "18020000000000099");
  CAF_CHECK_EQUAL(result_id("oops"), "");
  CAF_CHECK_EQUAL(parse_follows(R"({"is_user_follow_business":true,"id":"1"})").value_or(false),
                  true);
  CAF_CHECK(!parse_follows(R"({"id":"1"})"));
}

CAF_TEST(a public reply is checked in the comment replies by its decoded text) {
  auto check = check_for_write("/v25.0/17900000000000001/replies", R"({"message":"preço / ok"})",
                               "9000000000000001");
  CAF_REQUIRE(check.has_value());
  CAF_CHECK_EQUAL(check->path, "/v25.0/17900000000000001/replies?fields=id,text,from&limit=100");
  // Replies past the first page are looked for on the next ones.
  CAF_CHECK_EQUAL(
      next_page_path(
          R"({"data":[],"paging":{"cursors":{"after":"QVFI"},"next":"https:\/\/graph.instagram.com\/v25.0\/179\/replies?limit=100&after=QVFI"}})"),
      "/v25.0/179/replies?limit=100&after=QVFI");
  CAF_CHECK_EQUAL(next_page_path(R"({"data":[],"paging":{"cursors":{"after":"QVFI"}}})"), "");
  CAF_CHECK(check_finds(*check, R"({"data":[{"id":"1","text":"pre\u00e7o \/ ok"}]})",
                        R"({"message":"preço / ok"})", "9000000000000001"));
  CAF_CHECK(!check_finds(*check, R"({"data":[{"id":"1","text":"other"}]})", R"({"message":"mine"})",
                         "9000000000000001"));
  CAF_CHECK(!check_finds(*check, "garbage", R"({"message":"mine"})", "9000000000000001"));
}

CAF_TEST(a dm is checked in the conversation with its recipient) {
  auto check = check_for_write("/v25.0/17841400000000001/messages",
                               R"({"recipient":{"id":"9000000000000001"},"message":{"text":"x"}})",
                               "9000000000000001");
  CAF_REQUIRE(check.has_value());
  CAF_CHECK_EQUAL(check->path,
                  "/v25.0/17841400000000001/conversations?platform=instagram"
                  "&user_id=9000000000000001&fields=messages%7Bmessage%2Cfrom%7D");
  // Newest first, as the Conversations API lists them; the user's own words do not count.
  auto listing = R"({"data":[{"id":"aWdfZAG1","messages":{"data":[
      {"id":"m3","message":"LINK","from":{"id":"9000000000000001","username":"user_a"}},
      {"id":"m2","message":"Here is the link \ud83d\udc47","from":{"id":"17841400000000001"}}]}}]})";
  // A text DM and a button template are found by their text.
  CAF_CHECK(check_finds(
      *check, listing,
      R"({"recipient":{"id":"9000000000000001"},"message":{"text":"Here is the link 👇"}})",
      "9000000000000001"));
  CAF_CHECK(check_finds(
      *check, listing,
      R"({"recipient":{"id":"9000000000000001"},"message":{"attachment":{"type":"template","payload":{"template_type":"button","text":"Here is the link 👇","buttons":[]}}}})",
      "9000000000000001"));
  CAF_CHECK(!check_finds(*check, listing,
                         R"({"recipient":{"id":"9000000000000001"},"message":{"text":"LINK"}})",
                         "9000000000000001"));
  CAF_CHECK(!check_finds(*check, R"({"data":[]})",
                         R"({"recipient":{"id":"9000000000000001"},"message":{"text":"x"}})",
                         "9000000000000001"));
  CAF_CHECK(!check_for_write("/v25.0/17841400000000001/messages",
                             R"({"recipient":{"id":""},"message":{"text":"x"}})", ""));
  CAF_CHECK(!check_for_write("/v25.0/9000000000000001?fields=is_user_follow_business", "", "9"));
}

CAF_TEST(a private reply is checked by sending it again) {
  // Meta refuses a second private reply to one comment, so the send is its own check.
  auto check = check_for_write(
      "/v25.0/17841400000000001/messages",
      R"({"recipient":{"comment_id":"17900000000000001"},"message":{"text":"Here you go"}})",
      "9000000000000001");
  CAF_REQUIRE(check.has_value());
  CAF_CHECK(check->how == write_check::method::send_again);
  CAF_CHECK(check->path.empty());
}

CAF_TEST(a long lived token answer gives the token and its lifetime) {
  // The fact sheet's answer of GET /access_token and GET /refresh_access_token.
  auto t = parse_access_token(
      R"({"access_token":"IGAAnew-token_1","token_type":"bearer","expires_in":5183944})");
  CAF_REQUIRE(t.has_value());
  CAF_CHECK_EQUAL(t->token, "IGAAnew-token_1");
  CAF_CHECK_EQUAL(t->expires_in_s, 5183944);
  auto no_expiry = parse_access_token(R"({"access_token":"IGAAx"})");
  CAF_REQUIRE(no_expiry.has_value());
  CAF_CHECK_EQUAL(no_expiry->expires_in_s, 0);
  CAF_CHECK(!parse_access_token(R"({"error":{"code":190}})"));
  CAF_CHECK(!parse_access_token(R"({"access_token":""})"));
  CAF_CHECK(!parse_access_token("not json"));
}

CAF_TEST(a refresh target carries the grant type and the escaped token) {
  CAF_CHECK_EQUAL(
      refresh_token_target("IGAA+a/b=="),
      "/refresh_access_token?grant_type=ig_refresh_token&access_token=IGAA%2Ba%2Fb%3D%3D");
}

CAF_TEST(an error is described with its code subcode and message) {
  graph_error e;
  e.code = 190;
  e.subcode = 463;
  e.message = "Error validating access token: Session has expired";
  CAF_CHECK_EQUAL(describe(e), "code 190/463: Error validating access token: Session has expired");
  e.subcode = 0;
  CAF_CHECK_EQUAL(describe(e), "code 190: Error validating access token: Session has expired");
}
