#define CAF_SUITE router
#include <caf/test/unit_test.hpp>

#include "http/router.hpp"

using namespace komentra::http;

namespace {

response dispatch(const router& r, const std::string& method, const std::string& path) {
  response out;
  request req;
  req.method = method;
  req.path = path;
  r(std::move(req), [&](response res) { out = std::move(res); });
  return out;
}

}  // namespace

CAF_TEST(patterns capture decoded placeholders) {
  path_params p;
  CAF_CHECK(match_path("/admin/actors/{id}", "/admin/actors/1784%31", p));
  CAF_CHECK_EQUAL(p["id"], "17841");
  CAF_CHECK(!match_path("/admin/actors/{id}", "/admin/actors/", p));
  CAF_CHECK(!match_path("/admin/actors/{id}", "/admin/actors/1/x", p));
  CAF_CHECK(!match_path("/a", "a", p));
}

CAF_TEST(router answers 404 for unknown paths and 405 for other methods) {
  router r;
  r.add("GET", "/healthz", [](request&&, const path_params&, responder respond) {
    respond(response::text(200, "ok"));
  });
  CAF_CHECK_EQUAL(dispatch(r, "GET", "/healthz").status, 200);
  CAF_CHECK_EQUAL(dispatch(r, "GET", "/nope").status, 404);
  auto res = dispatch(r, "POST", "/healthz");
  CAF_CHECK_EQUAL(res.status, 405);
  CAF_REQUIRE_EQUAL(res.headers.size(), 1u);
  CAF_CHECK_EQUAL(res.headers[0].second, "GET");
}

CAF_TEST(the observer sees the route pattern and status of every answer) {
  router r;
  r.add("GET", "/admin/actors/{account_id}", [](request&&, const path_params&, responder respond) {
    respond(response::text(200, "ok"));
  });
  std::vector<std::string> seen;
  r.observe([&](std::string_view pattern, std::string_view method, int status, auto) {
    seen.push_back(std::string(method) + " " + std::string(pattern) + " " + std::to_string(status));
  });
  dispatch(r, "GET", "/admin/actors/17841");
  dispatch(r, "GET", "/nope");
  dispatch(r, "POST", "/admin/actors/1");
  CAF_REQUIRE_EQUAL(seen.size(), 3u);
  CAF_CHECK_EQUAL(seen[0], "GET /admin/actors/{account_id} 200");
  CAF_CHECK_EQUAL(seen[1], "GET unmatched 404");
  CAF_CHECK_EQUAL(seen[2], "POST method_not_allowed 405");
}

CAF_TEST(the observer counts only the first answer of a request) {
  // A deadline that fires after the real answer answers again; the server drops that one.
  router r;
  r.add("GET", "/slow", [](request&&, const path_params&, responder respond) {
    respond(response::text(200, "ok"));
    respond(response::text(503, "deadline"));
  });
  std::vector<int> seen;
  r.observe([&](std::string_view, std::string_view, int status, auto) { seen.push_back(status); });
  dispatch(r, "GET", "/slow");
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0], 200);
}
