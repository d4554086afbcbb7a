#define CAF_SUITE message
#include <caf/test/unit_test.hpp>

#include "http/message.hpp"

using namespace komentra::http;

CAF_TEST(query params are percent decoded) {
  request r;
  r.query = "hub.mode=subscribe&hub.challenge=11%2F58&x=a+b&empty=";
  CAF_CHECK_EQUAL(r.query_param("hub.mode").value_or("<none>"), "subscribe");
  CAF_CHECK_EQUAL(r.query_param("hub.challenge").value_or("<none>"), "11/58");
  CAF_CHECK_EQUAL(r.query_param("x").value_or("<none>"), "a b");
  CAF_CHECK_EQUAL(r.query_param("empty").value_or("<none>"), "");
  CAF_CHECK(!r.query_param("missing"));
}

CAF_TEST(malformed percent escapes are refused) {
  CAF_CHECK(!percent_decode("%"));
  CAF_CHECK(!percent_decode("%4"));
  CAF_CHECK(!percent_decode("%zz"));
  CAF_CHECK_EQUAL(percent_decode("%41%42").value_or("<none>"), "AB");
  CAF_CHECK_EQUAL(percent_decode("caf%C3%A9").value_or("<none>"), "caf\xC3\xA9");
  CAF_CHECK(!percent_decode("%FF%FE"));  // not UTF-8: a break test got a 500 from PostgreSQL
  CAF_CHECK(!percent_decode("%C0%80"));  // an overlong NUL
}

CAF_TEST(header lookup ignores case) {
  request r;
  r.headers = {{"x-hub-signature-256", "sha256=ab"}};
  CAF_CHECK_EQUAL(r.header("X-Hub-Signature-256"), "sha256=ab");
  CAF_CHECK_EQUAL(r.header_count("x-hub-signature"), 0u);
  r.headers.emplace_back("X-HUB-SIGNATURE-256", "sha256=cd");
  CAF_CHECK_EQUAL(r.header_count("X-Hub-Signature-256"), 2u);
}

CAF_TEST(error responses use the documented json shape) {
  auto res = response::error(404, "not_found", "no \"such\" thing");
  CAF_CHECK_EQUAL(res.status, 404);
  CAF_CHECK_EQUAL(res.body, R"({"error":{"code":"not_found","message":"no \"such\" thing"}})");
}

CAF_TEST(unavailable is a 503 error with retry after) {
  auto res = response::unavailable("the database queue is full", 30);
  CAF_CHECK_EQUAL(res.status, 503);
  CAF_CHECK_EQUAL(res.body,
                  R"({"error":{"code":"unavailable","message":"the database queue is full"}})");
  CAF_REQUIRE_EQUAL(res.headers.size(), 1u);
  CAF_CHECK_EQUAL(res.headers[0].first, "Retry-After");
  CAF_CHECK_EQUAL(res.headers[0].second, "30");
}
