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
