// A workspace's notifications: what the engine tells its owners (an account whose token
// Meta refused, an account faulted by a crash loop), newest first, and marking them read.
// Reconnecting the account marks its reauth and fault notices read by itself.
#include "common/json_writer.hpp"
#include "http/api/support.hpp"

namespace komentra::http::api {

void add_notification_routes(router& r, api_context& ctx) {
  const std::string base = "/api/v1/workspaces/{workspace_id}/notifications";

  add(r, ctx, "GET", base, access::member, [](request& req, caller&) {
    auto unread = req.query_param("unread").value_or("false");
    if (unread != "true" && unread != "false")
      return prepared(field_error("unread", "true or false"));
    return prepared(db_fn(
        [only_unread = unread == "true"](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object().key("notifications").begin_array();
          // The newest 100: notices are one per account and kind until read, so few.
          for (auto row :
               w.exec_params("SELECT id, coalesce(account_id, ''), kind, message, " +
                                 at_utc("created_at") + ", coalesce(" + at_utc("read_at") +
                                 ", '') FROM notifications WHERE workspace_id = $1"
                                 " AND (NOT $2 OR read_at IS NULL) ORDER BY id DESC LIMIT 100",
                             c.workspace_id, only_unread)) {
            out.begin_object().field("id", row[0].as<std::int64_t>());
            out.field("account_id", row[1].as<std::string>());
            out.field("kind", row[2].as<std::string>()).field("message", row[3].as<std::string>());
            out.field("created_at", row[4].as<std::string>());
            if (auto read_at = row[5].as<std::string>(); read_at.empty())
              out.key("read_at").null();
            else
              out.field("read_at", read_at);
            out.end_object();
          }
          out.end_array();
          out.field("unread", w.exec_params1("SELECT count(*) FROM notifications WHERE"
                                             " workspace_id = $1 AND read_at IS NULL",
                                             c.workspace_id)[0]
                                  .as<std::int64_t>());
          out.end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "POST", base + "/{notification_id}/read", access::member, [](request&, caller&) {
    return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
      std::int64_t id = 0;
      if (!path_id(c, "notification_id", id)) return not_found("notification");
      // Read already: the same answer (marking read twice is not an error).
      if (w.exec_params("UPDATE notifications SET read_at = coalesce(read_at, now())"
                        " WHERE id = $1 AND workspace_id = $2 RETURNING id",
                        id, c.workspace_id)
              .empty())
        return not_found("notification");
      return response::json(204, "");
    }));
  });
}

}  // namespace komentra::http::api
