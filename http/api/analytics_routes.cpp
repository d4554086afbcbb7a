// Analytics from what the engine records: counts per automation and day, the funnels,
// recent decisions, the audience (search, paging, CSV export). The tracked-link redirect
// /l/{token} belongs to the engine (http/link_routes.cpp).
#include "common/json_writer.hpp"
#include "http/api/support.hpp"

namespace komentra::http::api {

namespace {

std::optional<int> days_param(const request& req) {
  auto d = req.query_param("days").value_or("30");
  if (d.empty() || d.size() > 3 || d.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int n = std::stoi(d);
  if (n < 1 || n > 366) return std::nullopt;
  return n;
}

std::optional<int> limit_param(const request& req, int def) {
  auto d = req.query_param("limit").value_or(std::to_string(def));
  if (d.empty() || d.size() > 3 || d.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int n = std::stoi(d);
  if (n < 1 || n > 200) return std::nullopt;
  return n;
}

std::string csv_cell(std::string s) {
  // A leading = + - @ makes spreadsheets evaluate the cell.
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

const std::string audience_query =
    "SELECT igsid, coalesce(username, ''), " + at_utc("first_seen") + ", " + at_utc("last_seen") +
    ", automations_triggered, coalesce(is_following::text, '') "
    "FROM contacts WHERE account_id = $1 AND ($2 = '' OR username ILIKE '%' || $2 || '%' OR igsid "
    "= $2) AND igsid > $3 ORDER BY igsid LIMIT $4";

std::string like_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

void add_analytics_routes(router& r, api_context& ctx) {
  const std::string account = "/api/v1/workspaces/{workspace_id}/accounts/{account_id}";

  add(r, ctx, "GET", account + "/automations/{automation_id}/stats", access::member,
      [](request& req, caller&) {
        auto days = days_param(req);
        if (!days) return prepared(field_error("days", "a whole number from 1 to 366"));
        return prepared(db_fn([days = *days](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object().field(
              "automation_id", static_cast<std::int64_t>(std::stoll(c.params.at("automation_id"))));
          out.key("days").begin_array();
          std::string current;
          for (auto row : w.exec_params(
                   "SELECT to_char(day, 'YYYY-MM-DD'), metric, count FROM automation_daily WHERE "
                   "automation_id = $1 AND day > current_date - $2::int ORDER BY day, metric",
                   std::stoll(c.params.at("automation_id")), days)) {
            auto day = row[0].as<std::string>();
            if (day != current) {
              if (!current.empty()) out.end_object().end_object();
              current = day;
              out.begin_object().field("day", day).key("metrics").begin_object();
            }
            out.field(row[1].as<std::string>(), row[2].as<std::int64_t>());
          }
          if (!current.empty()) out.end_object().end_object();
          out.end_array().end_object();
          return json_ok(200, out.take());
        }));
      });

  add(r, ctx, "GET", account + "/funnel", access::member, [](request& req, caller&) {
    auto days = days_param(req);
    if (!days) return prepared(field_error("days", "a whole number from 1 to 366"));
    return prepared(db_fn([days = *days](pqxx::work& w, caller& c) -> std::optional<response> {
      json::writer out;
      out.begin_object().field("days", days).key("automations").begin_array();
      for (auto a :
           w.exec_params("SELECT id, name, follow_gate FROM automations WHERE account_id = "
                         "$1 ORDER BY id",
                         c.params.at("account_id"))) {
        auto id = a[0].as<std::int64_t>();
        std::map<std::string, std::int64_t> m;
        for (auto row : w.exec_params(
                 "SELECT metric, sum(count)::bigint FROM automation_daily WHERE automation_id = $1 "
                 "AND day > current_date - $2::int GROUP BY metric",
                 id, days))
          m[row[0].as<std::string>()] = row[1].as<std::int64_t>();
        out.begin_object().field("automation_id", id).field("name", a[1].as<std::string>());
        out.key("funnel").begin_object();
        const char* steps[] = {"matched", "public_reply", "dm_sent", "link_click"};
        const char* gate[] = {"prompted", "tapped", "following", "link_sent"};
        for (auto s : steps) out.field(s, m[s]);
        out.end_object();
        if (a[2].as<bool>()) {
          out.key("follow_gate").begin_object();
          for (auto s : gate) out.field(s, m[s]);
          out.end_object();
        }
        out.key("metrics").begin_object();
        for (auto& [k, v] : m) out.field(k, v);
        out.end_object().end_object();
      }
      out.end_array().end_object();
      return json_ok(200, out.take());
    }));
  });

  add(r, ctx, "GET", account + "/decisions", access::member, [](request& req, caller&) {
    auto limit = limit_param(req, 50);
    auto before = req.query_param("before").value_or("");
    if (!limit) return prepared(field_error("limit", "a whole number from 1 to 200"));
    if (!before.empty() &&
        (before.size() > 18 || before.find_first_not_of("0123456789") != std::string::npos))
      return prepared(field_error("before", "a decision id"));
    return prepared(
        db_fn([limit = *limit, before](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object().key("decisions").begin_array();
          std::int64_t last = 0;
          for (auto row : w.exec_params(
                   "SELECT id, coalesce(automation_id, 0), source_key, coalesce(sender_id, ''), "
                   "coalesce(username, ''), coalesce(text, ''), outcome, " +
                       at_utc("created_at") +
                       " FROM decisions WHERE account_id = $1 "
                       "AND ($2 = '' OR id < $2::bigint) ORDER BY id DESC LIMIT $3",
                   c.params.at("account_id"), before, limit)) {
            last = row[0].as<std::int64_t>();
            out.begin_object().field("id", last);
            auto aid = row[1].as<std::int64_t>();
            out.key("automation_id");
            if (aid)
              out.value(aid);
            else
              out.null();
            out.field("source_key", row[2].as<std::string>())
                .field("sender_id", row[3].as<std::string>());
            out.field("username", row[4].as<std::string>()).field("text", row[5].as<std::string>());
            out.field("outcome", row[6].as<std::string>()).field("at", row[7].as<std::string>());
            out.end_object();
          }
          out.end_array().key("next_before");
          if (last)
            out.value(std::to_string(last));
          else
            out.null();
          out.end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "GET", account + "/audience", access::member, [](request& req, caller&) {
    auto limit = limit_param(req, 50);
    auto q = req.query_param("q").value_or("");
    auto after = req.query_param("after").value_or("");
    if (!limit) return prepared(field_error("limit", "a whole number from 1 to 200"));
    if (q.size() > 100) return prepared(field_error("q", "at most 100 bytes"));
    if (after.size() > 64) return prepared(field_error("after", "at most 64 bytes"));
    return prepared(db_fn([limit = *limit, q = like_escape(q), after](
                              pqxx::work& w, caller& c) -> std::optional<response> {
      json::writer out;
      out.begin_object().key("contacts").begin_array();
      std::string last;
      int n = 0;
      for (auto row : w.exec_params(audience_query, c.params.at("account_id"), q, after, limit)) {
        ++n;
        last = row[0].as<std::string>();
        out.begin_object().field("igsid", last).field("username", row[1].as<std::string>());
        out.field("first_seen", row[2].as<std::string>())
            .field("last_seen", row[3].as<std::string>());
        out.field("automations_triggered", row[4].as<std::int64_t>());
        auto f = row[5].as<std::string>();
        out.key("is_following");
        if (f.empty())
          out.null();
        else
          out.value(f == "true");
        out.end_object();
      }
      out.end_array().key("next_after");
      if (n == limit)
        out.value(last);
      else
        out.null();
      out.end_object();
      return json_ok(200, out.take());
    }));
  });

  add(r, ctx, "GET", account + "/audience.csv", access::member, [](request& req, caller&) {
    auto q = req.query_param("q").value_or("");
    if (q.size() > 100) return prepared(field_error("q", "at most 100 bytes"));
    return prepared(
        db_fn([q = like_escape(q)](pqxx::work& w, caller& c) -> std::optional<response> {
          std::string csv =
              "igsid,username,first_seen,last_seen,automations_triggered,is_following\r\n";
          for (auto row : w.exec_params(audience_query, c.params.at("account_id"), q, "", 100000))
            csv += csv_cell(row[0].as<std::string>()) + "," + csv_cell(row[1].as<std::string>()) +
                   "," + row[2].as<std::string>() + "," + row[3].as<std::string>() + "," +
                   row[4].as<std::string>() + "," + row[5].as<std::string>() + "\r\n";
          response res;
          res.status = 200;
          res.content_type = "text/csv; charset=utf-8";
          res.body = std::move(csv);
          res.headers.emplace_back("Content-Disposition", "attachment; filename=\"audience-" +
                                                              c.params.at("account_id") + ".csv\"");
          res.headers.emplace_back("Cache-Control", "no-store");
          return res;
        }));
  });
}

}  // namespace komentra::http::api
