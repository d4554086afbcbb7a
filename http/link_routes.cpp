#include "http/link_routes.hpp"

#include <pqxx/pqxx>

#include "http/health_routes.hpp"
#include "http/server.hpp"
#include "storage/engine_store.hpp"
#include "storage/pool.hpp"

namespace komentra::http {

void add_link_routes(router& r, server& srv, storage::pool& db) {
  r.add("GET", "/l/{token}", [&srv, &db](request&&, const path_params& p, responder respond) {
    auto token = p.at("token");
    if (token.size() > 64) return respond(response::error(404, "not_found", "unknown link"));
    respond = with_deadline(srv, std::chrono::seconds(3), respond,
                            response::error(503, "unavailable", "try again"));
    bool queued = db.submit(
        [token, respond](pqxx::connection& c) {
          auto url = storage::record_click(c, token);
          if (!url) return respond(response::error(404, "not_found", "unknown link"));
          response res{302, "text/plain", "", {{"Location", *url}, {"Cache-Control", "no-store"}}};
          respond(std::move(res));
        },
        [respond](const std::string&) {
          respond(response::error(503, "unavailable", "the database is unavailable; try again"));
        });
    if (!queued) respond(response::error(503, "unavailable", "busy; try again"));
  });
}

std::string tracked_link_base(std::string public_base_url) {
  while (!public_base_url.empty() && public_base_url.back() == '/') public_base_url.pop_back();
  if (public_base_url.rfind("https://", 0) != 0) return {};
  return public_base_url + "/l/";
}

}  // namespace komentra::http
