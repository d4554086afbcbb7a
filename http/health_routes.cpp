#include "http/health_routes.hpp"

#include <pqxx/pqxx>

#include "common/json_writer.hpp"
#include "http/server.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"

namespace komentra::http {

namespace {

response not_ready(std::string_view reason) {
  json::writer w;
  w.begin_object().field("status", "unavailable").field("reason", reason).end_object();
  auto res = response::json(503, w.take());
  res.headers.emplace_back("Retry-After", "5");
  return res;
}

}  // namespace

void add_health_routes(router& r, server& srv, storage::pool& db,
                       std::chrono::milliseconds deadline) {
  r.add("GET", "/healthz", [](request&&, const path_params&, responder respond) {
    respond(response::json(200, R"({"status":"ok"})"));
  });
  r.add("GET", "/readyz", [&srv, &db, deadline](request&&, const path_params&, responder respond) {
    respond = with_deadline(srv, deadline, respond,
                            not_ready("the database did not answer within " +
                                      std::to_string(deadline.count()) + " ms"));
    bool queued = db.submit(
        [respond](pqxx::connection& c) {
          int current = storage::current_schema_version(c);
          int missing = storage::missing_migrations(c);
          if (missing > 0 || current > storage::latest_schema_version())
            return respond(not_ready("database schema is at version " + std::to_string(current) +
                                     " with " + std::to_string(missing) +
                                     " migration(s) of this build missing (run komentra migrate)"));
          json::writer w;
          w.begin_object().field("status", "ready").field("schema_version", current).end_object();
          respond(response::json(200, w.take()));
        },
        [respond](const std::string& reason) { respond(not_ready(reason)); });
    if (!queued) respond(not_ready("the database queue is full"));
  });
}

}  // namespace komentra::http
