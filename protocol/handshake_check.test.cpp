#define CAF_SUITE handshake_check
#include <caf/test/unit_test.hpp>

#include "protocol/handshake_check.hpp"

using komentra::protocol::handshake_problem;

namespace {

bool says(const std::string& problem, const std::string& part) {
  return problem.find(part) != std::string::npos;
}

}  // namespace

CAF_TEST(the challenge echoed byte for byte passes) {
  CAF_CHECK_EQUAL(handshake_problem(200, "text/plain", "123456", "123456"), "");
}

CAF_TEST(br06 a tunnel interstitial page is named as such) {
  // The field case: 200 with ngrok's HTML page instead of the challenge.
  auto p =
      handshake_problem(200, "text/html; charset=utf-8",
                        "<!DOCTYPE html><html><body>ngrok ... Visit Site</body></html>", "123456");
  CAF_CHECK(says(p, "answered HTML, not the challenge"));
  CAF_CHECK(says(p, "tunnel"));
  // Without a content type too.
  CAF_CHECK(says(handshake_problem(200, "", "\n <html>", "123456"), "HTML"));
}

CAF_TEST(other wrong answers say what to fix) {
  CAF_CHECK(says(handshake_problem(403, "text/plain", "forbidden\n", "1"), "verify token"));
  CAF_CHECK(says(handshake_problem(404, "application/json", "{}", "1"), "/webhooks/instagram"));
  CAF_CHECK(says(handshake_problem(502, "text/plain", "bad gateway", "1"), "HTTP 502"));
  auto p = handshake_problem(200, "text/plain", "1234567\x01", "123456");
  CAF_CHECK(says(p, "not the challenge"));
  CAF_CHECK(says(p, "1234567?"));
}
