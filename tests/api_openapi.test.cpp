#define CAF_SUITE api_openapi
#include <caf/test/unit_test.hpp>

#include <regex>
#include <set>

#include "config/settings.hpp"
#include "http/api/support.hpp"
#include "http/api_routes.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "storage/pool.hpp"

using namespace komentra;

namespace {

/// "GET /api/v1/..." for every operation of the OpenAPI document.
std::set<std::string> documented() {
  std::set<std::string> out;
  const auto& doc = http::api::openapi_document();
  // paths are the keys directly under "paths"; operations the method keys below them.
  auto paths = doc.find("\"paths\":{");
  std::regex path_re("\"(/api/v1/[^\"]*)\":\\{");
  std::regex op_re("\"(get|post|put|patch|delete)\":\\{\"summary\"");
  std::string rest = doc.substr(paths);
  std::vector<std::pair<std::size_t, std::string>> starts;
  for (auto it = std::sregex_iterator(rest.begin(), rest.end(), path_re);
       it != std::sregex_iterator(); ++it)
    starts.emplace_back(it->position(), (*it)[1].str());
  for (std::size_t i = 0; i < starts.size(); ++i) {
    auto end = i + 1 < starts.size() ? starts[i + 1].first : rest.size();
    auto body = rest.substr(starts[i].first, end - starts[i].first);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), op_re);
         it != std::sregex_iterator(); ++it) {
      std::string m = (*it)[1].str();
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      out.insert(m + " " + starts[i].second);
    }
  }
  return out;
}

}  // namespace

CAF_TEST(every api route is documented and every documented operation is routed) {
  auto loaded = config::load(std::nullopt, {});
  auto& cfg = std::get<config::settings>(loaded);
  storage::pool db({"host=/nonexistent", 1, 10});
  http::server srv(http::server_options{}, [](http::request&&, http::responder) {});
  http::client graph;
  http::api_context ctx{cfg, db, srv, graph, {}};
  http::router r;
  http::add_api_routes(r, ctx);
  std::set<std::string> routed;
  for (auto& route : r.routes())
    if (route.pattern.rfind("/api/v1/", 0) == 0) routed.insert(route.method + " " + route.pattern);
  auto docs = documented();
  CAF_CHECK_GREATER(routed.size(), 40u);
  for (auto& x : routed) {
    if (!docs.count(x)) CAF_MESSAGE("not documented: " << x);
    CAF_CHECK(docs.count(x) == 1);
  }
  for (auto& x : docs) {
    if (!routed.count(x)) CAF_MESSAGE("documented but not routed: " << x);
    CAF_CHECK(routed.count(x) == 1);
  }
  graph.stop();
}
