// Workspaces: rename and settings, members and their roles, invitations by email.
#include "common/json_writer.hpp"
#include "http/api/support.hpp"

namespace komentra::http::api {

namespace {

response workspace_json(pqxx::work& w, std::int64_t id, const std::string& role) {
  auto row = w.exec_params1("SELECT id, name, time_zone, settings::text, " + at_utc("created_at") +
                                " FROM workspaces WHERE id = $1",
                            id);
  json::writer out;
  out.begin_object().field("id", row[0].as<std::int64_t>()).field("name", row[1].as<std::string>());
  out.field("time_zone", row[2].as<std::string>()).key("settings").raw(row[3].as<std::string>());
  out.field("created_at", row[4].as<std::string>()).field("role", role).end_object();
  return json_ok(200, out.take());
}

std::int64_t owners(pqxx::work& w, std::int64_t workspace_id) {
  return w
      .exec_params1("SELECT count(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
                    workspace_id)[0]
      .as<std::int64_t>();
}

}  // namespace

void add_workspace_routes(router& r, api_context& ctx) {
  add(r, ctx, "GET", "/api/v1/workspaces", access::session, [](request&, caller&) {
    return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
      json::writer out;
      out.begin_object().key("workspaces").begin_array();
      for (auto row : w.exec_params(
               "SELECT w.id, w.name, w.time_zone, m.role FROM memberships m JOIN workspaces w ON "
               "w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.id",
               c.user_id)) {
        out.begin_object().field("id", row[0].as<std::int64_t>());
        out.field("name", row[1].as<std::string>()).field("time_zone", row[2].as<std::string>());
        out.field("role", row[3].as<std::string>()).end_object();
      }
      out.end_array().end_object();
      return json_ok(200, out.take());
    }));
  });

  add(r, ctx, "GET", "/api/v1/workspaces/{workspace_id}", access::member, [](request&, caller&) {
    return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
      return workspace_json(w, c.workspace_id, c.role);
    }));
  });

  add(r, ctx, "PATCH", "/api/v1/workspaces/{workspace_id}", access::admin,
      [&ctx](request& req, caller&) {
        body_reader b(req.body, {"name", "time_zone", "default_private_replies_per_hour",
                                 "default_sends_per_second"});
        auto name = b.str("name", 200, b.has("name"));
        auto tz = b.str("time_zone", 64, b.has("time_zone"));
        // Send caps for the workspace's accounts without their own; present with null, a cap
        // goes back to Meta's limit.
        std::vector<std::pair<std::string, std::optional<int>>> caps;
        for (auto [key, most] :
             {std::pair<const char*, int>{"default_private_replies_per_hour", 750},
              {"default_sends_per_second", 300}}) {
          auto v = b.integer(key, 1, most, false);
          if (b.raw(key)) caps.emplace_back(key, v ? std::optional<int>(*v) : std::nullopt);
        }
        if (!b.ok()) return prepared(b.error_response());
        return prepared(db_fn([=, &ctx](pqxx::work& w, caller& c) -> std::optional<response> {
          if (tz && w.exec_params("SELECT 1 FROM pg_timezone_names WHERE name = $1", *tz).empty())
            return field_error("time_zone", "not an IANA time zone name (e.g. Europe/Berlin)");
          if (name)
            w.exec_params0("UPDATE workspaces SET name = $2 WHERE id = $1", c.workspace_id, *name);
          if (tz)
            w.exec_params0("UPDATE workspaces SET time_zone = $2 WHERE id = $1", c.workspace_id,
                           *tz);
          for (auto& [key, value] : caps)
            w.exec_params0(
                "UPDATE workspaces SET settings = CASE WHEN $3::int IS NULL THEN settings - "
                "$2::text"
                " ELSE settings || jsonb_build_object($2::text, $3::int) END WHERE id = $1",
                c.workspace_id, key, value);
          if (!caps.empty()) {
            // The workspace's accounts apply their new budgets at once.
            for (auto row : w.exec_params("SELECT id FROM ig_accounts WHERE workspace_id = $1",
                                          c.workspace_id))
              c.after_commit->push_back(
                  [&ctx, id = row[0].as<std::string>()] { ctx.engine.automations_changed(id); });
          }
          return workspace_json(w, c.workspace_id, c.role);
        }));
      });

  add(r, ctx, "GET", "/api/v1/workspaces/{workspace_id}/members", access::member,
      [](request&, caller&) {
        return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object().key("members").begin_array();
          for (auto row : w.exec_params(
                   "SELECT u.id, u.email, coalesce(u.name, ''), m.role FROM memberships m JOIN "
                   "users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.id",
                   c.workspace_id)) {
            out.begin_object().field("user_id", row[0].as<std::int64_t>());
            out.field("email", row[1].as<std::string>()).field("name", row[2].as<std::string>());
            out.field("role", row[3].as<std::string>()).end_object();
          }
          out.end_array().end_object();
          return json_ok(200, out.take());
        }));
      });

  add(r, ctx, "PATCH", "/api/v1/workspaces/{workspace_id}/members/{user_id}", access::owner,
      [](request& req, caller&) {
        body_reader b(req.body, {"role"});
        auto role = b.str("role", 10, true);
        if (b.ok() && *role != "owner" && *role != "admin" && *role != "member")
          b.fail("role", "one of owner, admin, member");
        if (!b.ok()) return prepared(b.error_response());
        return prepared(db_fn([role = *role](pqxx::work& w, caller& c) -> std::optional<response> {
          std::int64_t user_id = 0;
          if (!path_id(c, "user_id", user_id)) return not_found("member");
          auto cur =
              w.exec_params("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                            c.workspace_id, user_id);
          if (cur.empty()) return not_found("member");
          if (cur[0][0].as<std::string>() == "owner" && role != "owner" &&
              owners(w, c.workspace_id) <= 1)
            return response::error(409, "last_owner", "a workspace needs at least one owner",
                                   "role");
          w.exec_params0(
              "UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2",
              c.workspace_id, user_id, role);
          security_event(w, c.user_id, "member_role_changed", c, false);
          return response::json(204, "");
        }));
      });

  add(r, ctx, "DELETE", "/api/v1/workspaces/{workspace_id}/members/{user_id}", access::member,
      [](request&, caller&) {
        return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          std::int64_t user_id = 0;
          if (!path_id(c, "user_id", user_id)) return not_found("member");
          if (user_id != c.user_id && c.role != "owner")
            return forbidden("only an owner removes other members");
          auto cur =
              w.exec_params("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                            c.workspace_id, user_id);
          if (cur.empty()) return not_found("member");
          if (cur[0][0].as<std::string>() == "owner" && owners(w, c.workspace_id) <= 1)
            return response::error(409, "last_owner", "a workspace needs at least one owner");
          w.exec_params0("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                         c.workspace_id, user_id);
          return response::json(204, "");
        }));
      });

  add(r, ctx, "GET", "/api/v1/workspaces/{workspace_id}/invitations", access::admin,
      [](request&, caller&) {
        return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object().key("invitations").begin_array();
          for (auto row : w.exec_params(
                   "SELECT id, email, role, " + at_utc("expires_at") +
                       " FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND "
                       "expires_at > now() ORDER BY id",
                   c.workspace_id)) {
            out.begin_object().field("id", row[0].as<std::int64_t>());
            out.field("email", row[1].as<std::string>()).field("role", row[2].as<std::string>());
            out.field("expires_at", row[3].as<std::string>()).end_object();
          }
          out.end_array().end_object();
          return json_ok(200, out.take());
        }));
      });

  add(r, ctx, "POST", "/api/v1/workspaces/{workspace_id}/invitations", access::admin,
      [&ctx](request& req, caller&) {
        body_reader b(req.body, {"email", "role"});
        auto email = b.str("email", 254, true);
        auto role = b.str("role", 10, false);
        if (b.ok() && !valid_email(*email)) b.fail("email", "not a valid email address");
        if (b.ok() && role && *role != "admin" && *role != "member")
          b.fail("role", "one of admin, member");
        if (!b.ok()) return prepared(b.error_response());
        return prepared(db_fn([&ctx, addr = lower_ascii(*email), role = role.value_or("member")](
                                  pqxx::work& w, caller& c) -> std::optional<response> {
          if (!w.exec_params("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE "
                             "m.workspace_id = $1 AND u.email = $2",
                             c.workspace_id, addr)
                   .empty())
            return response::error(409, "already_member", "that person is already a member",
                                   "email");
          auto token = new_token();
          auto id = w.exec_params1(
                         "INSERT INTO invitations (workspace_id, email, role, token_hash, "
                         "invited_by, expires_at) VALUES ($1, $2, $3, $4, $5, now() + interval '7 "
                         "days') RETURNING id",
                         c.workspace_id, addr, role, token_hash(token), c.user_id)[0]
                        .as<std::int64_t>();
          auto ws_name =
              w.exec_params1("SELECT name FROM workspaces WHERE id = $1", c.workspace_id)[0]
                  .as<std::string>();
          send_mail(ctx, c, addr, "You are invited to a Komentra workspace",
                    c.email + " invited you to the Komentra workspace \"" + ws_name + "\" as " +
                        role +
                        ".\n\nSign up or log in with this address, then accept with:\n  "
                        "POST " +
                        public_url(ctx, "/api/v1/invitations/accept") + " {\"token\":\"" + token +
                        "\"}\n\nThe invitation is valid for 7 days.");
          json::writer out;
          out.begin_object().field("id", id).field("email", addr).field("role", role).end_object();
          return json_ok(201, out.take());
        }));
      });

  add(r, ctx, "DELETE", "/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
      access::admin, [](request&, caller&) {
        return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          std::int64_t id = 0;
          if (!path_id(c, "invitation_id", id)) return not_found("invitation");
          auto n = w.exec_params("DELETE FROM invitations WHERE id = $1 AND workspace_id = $2", id,
                                 c.workspace_id)
                       .affected_rows();
          if (n == 0) return not_found("invitation");
          return response::json(204, "");
        }));
      });

  add(r, ctx, "POST", "/api/v1/invitations/accept", access::session, [](request& req, caller&) {
    body_reader b(req.body, {"token"});
    auto token = b.str("token", 64, true);
    if (!b.ok()) return prepared(b.error_response());
    return prepared(db_fn([token = *token](pqxx::work& w, caller& c) -> std::optional<response> {
      auto inv = w.exec_params(
          "SELECT id, workspace_id, role, email FROM invitations WHERE token_hash = $1 AND "
          "accepted_at IS NULL AND expires_at > now()",
          token_hash(token));
      if (inv.empty()) return field_error("token", "this invitation is invalid, used or expired");
      if (inv[0][3].as<std::string>() != c.email)
        return forbidden("this invitation was sent to another email address");
      auto ws = inv[0][1].as<std::int64_t>();
      w.exec_params0("UPDATE invitations SET accepted_at = now() WHERE id = $1",
                     inv[0][0].as<std::int64_t>());
      w.exec_params0(
          "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT "
          "DO NOTHING",
          ws, c.user_id, inv[0][2].as<std::string>());
      json::writer out;
      out.begin_object().field("workspace_id", ws).field("role", inv[0][2].as<std::string>());
      out.end_object();
      return json_ok(200, out.take());
    }));
  });
}

}  // namespace komentra::http::api
