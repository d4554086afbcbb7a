// Users: sign-up, email verification, login and sessions, password reset, changes of
// email and password, security records.
#include <mutex>

#include "common/json_writer.hpp"
#include "config/settings.hpp"
#include "http/api/support.hpp"

namespace komentra::http::api {

namespace {

constexpr std::size_t email_max = 254;
constexpr std::size_t password_max = 256;

std::string cookie_header(const api_context& ctx, const std::string& value, std::int64_t max_age) {
  bool secure = ctx.cfg.str("public_base_url").rfind("https://", 0) == 0;
  return "komentra_session=" + value +
         "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age) +
         (secure ? "; Secure" : "");
}

/// A hash of the configured cost, verified when the email is unknown so that a login
/// takes as long whether or not the account exists.
const std::string& dummy_hash(const api_context& ctx) {
  static std::once_flag once;
  static std::string hash;
  std::call_once(once, [&] { hash = hash_password(ctx, "not a password of anyone"); });
  return hash;
}

std::string issue_token(pqxx::work& w, std::int64_t user_id, std::string_view purpose,
                        int valid_minutes, const std::optional<std::string>& new_email = {}) {
  auto token = new_token();
  w.exec_params0(
      "INSERT INTO user_tokens (token_hash, user_id, purpose, new_email, expires_at) "
      "VALUES ($1, $2, $3, $4, now() + make_interval(mins => $5))",
      token_hash(token), user_id, std::string(purpose), new_email, valid_minutes);
  return token;
}

void write_user(pqxx::work& w, json::writer& out, std::int64_t user_id) {
  auto u = w.exec_params1("SELECT id, email, coalesce(name, ''), email_verified_at IS NOT NULL, " +
                              at_utc("created_at") + " FROM users WHERE id = $1",
                          user_id);
  out.key("user").begin_object();
  out.field("id", u[0].as<std::int64_t>()).field("email", u[1].as<std::string>());
  out.field("name", u[2].as<std::string>()).field("email_verified", u[3].as<bool>());
  out.field("created_at", u[4].as<std::string>()).end_object();
  out.key("workspaces").begin_array();
  for (auto row :
       w.exec_params("SELECT w.id, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = "
                     "m.workspace_id WHERE m.user_id = $1 ORDER BY w.id",
                     user_id)) {
    out.begin_object().field("id", row[0].as<std::int64_t>());
    out.field("name", row[1].as<std::string>()).field("role", row[2].as<std::string>());
    out.end_object();
  }
  out.end_array();
}

response accepted(std::string_view message) {
  json::writer out;
  out.begin_object().field("status", "accepted").field("message", message).end_object();
  return json_ok(202, out.take());
}

db_fn verify_token_fn(api_context& ctx, std::string token) {
  return [&ctx, token](pqxx::work& w, caller& c) -> std::optional<response> {
    auto rows = w.exec_params(
        "UPDATE user_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND "
        "expires_at > now() AND purpose IN ('verify_email', 'change_email') "
        "RETURNING user_id, purpose, new_email",
        token_hash(token));
    if (rows.empty())
      return field_error("token", "this link is invalid, used or expired; ask for a new one");
    auto user_id = rows[0][0].as<std::int64_t>();
    std::string purpose = rows[0][1].as<std::string>();
    if (purpose == "change_email") {
      auto email = rows[0][2].as<std::string>();
      if (!w.exec_params("SELECT 1 FROM users WHERE email = $1 AND id <> $2", email, user_id)
               .empty())
        return response::error(409, "email_taken", "that email address is already in use", "token");
      auto old =
          w.exec_params1("SELECT email FROM users WHERE id = $1", user_id)[0].as<std::string>();
      w.exec_params0(
          "UPDATE users SET email = $2, email_verified_at = now(), updated_at = now() WHERE id "
          "= $1",
          user_id, email);
      security_event(w, user_id, "email_changed", c, true);
      send_mail(ctx, c, old, "Your Komentra email address was changed",
                "The email address of your Komentra account was changed to " + email +
                    ".\nIf you did not do this, reset your password and write to "
                    "admin@komentra.tech.");
    } else {
      w.exec_params0(
          "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
          user_id);
      security_event(w, user_id, "email_verified", c, false);
    }
    json::writer out;
    out.begin_object().field("status", "verified").end_object();
    return json_ok(200, out.take());
  };
}

}  // namespace

void add_auth_routes(router& r, api_context& ctx) {
  add(r, ctx, "POST", "/api/v1/auth/signup", access::open, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"email", "password", "name", "workspace_name"});
    auto email = b.str("email", email_max, true);
    auto password = b.str("password", password_max, true);
    auto name = b.str("name", 200, false);
    auto ws_name = b.str("workspace_name", 200, false);
    if (b.ok() && !valid_email(*email)) b.fail("email", "not a valid email address");
    if (b.ok())
      if (auto why = password_problem(*password, *email); !why.empty()) b.fail("password", why);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    auto addr = lower_ascii(*email);
    return std::variant<response, db_fn>(
        db_fn([&ctx, addr, password = *password, name, ws_name](
                  pqxx::work& w, caller& c) -> std::optional<response> {
          // Answered before anything is looked up: the reply and its timing are the same
          // whether or not the address is registered.
          c.respond(accepted("check your email for a verification link"));
          auto existing = w.exec_params("SELECT id FROM users WHERE email = $1", addr);
          if (!existing.empty()) {
            send_mail(ctx, c, addr, "Sign-up attempt on Komentra",
                      "Someone tried to sign up to Komentra with this address, which already "
                      "has an account.\nIf you forgot your password, reset it with:\n  POST " +
                          public_url(ctx, "/api/v1/auth/request-password-reset") +
                          "\nOtherwise you can ignore this email.");
            return std::nullopt;
          }
          auto hash = hash_password(ctx, password);
          auto user_id =
              w.exec_params1(
                   "INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3) RETURNING "
                   "id",
                   addr, hash, name)[0]
                  .as<std::int64_t>();
          auto ws = w.exec_params1("INSERT INTO workspaces (name) VALUES ($1) RETURNING id",
                                   ws_name.value_or("My workspace"))[0]
                        .as<std::int64_t>();
          w.exec_params0(
              "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'owner')", ws,
              user_id);
          auto token = issue_token(w, user_id, "verify_email", 48 * 60);
          security_event(w, user_id, "signed_up", c, false);
          send_mail(ctx, c, addr, "Verify your Komentra email address",
                    "Welcome to Komentra.\n\nOpen this link to verify your email address (valid "
                    "for 48 hours):\n" +
                        public_url(ctx, "/api/v1/auth/verify-email?token=" + token) + "\n");
          return std::nullopt;
        }));
  });

  add(r, ctx, "GET", "/api/v1/auth/verify-email", access::callback, [&ctx](request& req, caller&) {
    auto token = req.query_param("token");
    if (!token || token->size() != 43)
      return std::variant<response, db_fn>(field_error("token", "missing or malformed token"));
    return std::variant<response, db_fn>(verify_token_fn(ctx, *token));
  });
  add(r, ctx, "POST", "/api/v1/auth/verify-email", access::open, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"token"});
    auto token = b.str("token", 64, true);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    return std::variant<response, db_fn>(verify_token_fn(ctx, *token));
  });

  add(r, ctx, "POST", "/api/v1/auth/login", access::open, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"email", "password"});
    auto email = b.str("email", email_max, true);
    auto password = b.str("password", password_max, true);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    auto addr = lower_ascii(*email);
    return std::variant<response, db_fn>(db_fn(
        [&ctx, addr, password = *password](pqxx::work& w, caller& c) -> std::optional<response> {
          auto email_hash = token_hash(addr);
          int window = static_cast<int>(ctx.cfg.integer("auth.login_window_minutes"));
          auto failures =
              w.exec_params1(
                   "SELECT count(*) FROM login_attempts WHERE email_hash = $1 AND NOT succeeded "
                   "AND at > now() - make_interval(mins => $2)",
                   email_hash, window)[0]
                  .as<std::int64_t>();
          auto from_ip = w.exec_params1(
                              "SELECT count(*) FROM login_attempts WHERE ip = $1 AND at > now() - "
                              "make_interval(mins => $2)",
                              c.ip, window)[0]
                             .as<std::int64_t>();
          if (failures >= ctx.cfg.integer("auth.login_failures_per_account") ||
              from_ip >= ctx.cfg.integer("auth.login_attempts_per_ip")) {
            auto res = response::error(
                429, "too_many_attempts",
                "too many login attempts; try again in " + std::to_string(window) + " minutes");
            res.headers.emplace_back("Retry-After", std::to_string(window * 60));
            return res;
          }
          auto user = w.exec_params(
              "SELECT id, password_hash, email_verified_at IS NOT NULL FROM users WHERE email = "
              "$1",
              addr);
          bool ok = user.empty() ? (verify_password(dummy_hash(ctx), password), false)
                                 : verify_password(user[0][1].as<std::string>(), password);
          w.exec_params0(
              "INSERT INTO login_attempts (email_hash, ip, succeeded) VALUES ($1, $2, $3)",
              email_hash, c.ip, ok);
          if (!ok) {
            if (!user.empty())
              security_event(w, user[0][0].as<std::int64_t>(), "login_failed", c, false);
            return response::error(401, "invalid_credentials", "wrong email or password");
          }
          auto user_id = user[0][0].as<std::int64_t>();
          if (!user[0][2].as<bool>())
            return response::error(403, "email_not_verified",
                                   "verify your email address first (see the link we sent)");
          auto token = new_token();
          auto hours = ctx.cfg.integer("auth.session_absolute_hours");
          w.exec_params0(
              "INSERT INTO sessions (id_hash, user_id, expires_at, ip, user_agent) VALUES ($1, "
              "$2, now() + make_interval(hours => $3), $4, $5)",
              token_hash(token), user_id, static_cast<int>(hours), c.ip, c.user_agent);
          security_event(w, user_id, "login", c, false);
          json::writer out;
          out.begin_object();
          write_user(w, out, user_id);
          out.end_object();
          auto res = json_ok(200, out.take());
          res.headers.emplace_back("Set-Cookie", cookie_header(ctx, token, hours * 3600));
          return res;
        }));
  });

  add(r, ctx, "POST", "/api/v1/auth/logout", access::session, [&ctx](request&, caller&) {
    return std::variant<response, db_fn>(
        db_fn([&ctx](pqxx::work& w, caller& c) -> std::optional<response> {
          w.exec_params0("DELETE FROM sessions WHERE id_hash = $1", c.session_hash);
          auto res = response::json(204, "");
          res.headers.emplace_back("Set-Cookie", cookie_header(ctx, "", 0));
          return res;
        }));
  });

  add(r, ctx, "POST", "/api/v1/auth/logout-everywhere", access::session, [&ctx](request&, caller&) {
    return std::variant<response, db_fn>(
        db_fn([&ctx](pqxx::work& w, caller& c) -> std::optional<response> {
          w.exec_params0("DELETE FROM sessions WHERE user_id = $1", c.user_id);
          security_event(w, c.user_id, "logout_everywhere", c, false);
          auto res = response::json(204, "");
          res.headers.emplace_back("Set-Cookie", cookie_header(ctx, "", 0));
          return res;
        }));
  });

  add(r, ctx, "POST", "/api/v1/auth/request-password-reset", access::open,
      [&ctx](request& req, caller&) {
        body_reader b(req.body, {"email"});
        auto email = b.str("email", email_max, true);
        if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
        auto addr = lower_ascii(*email);
        return std::variant<response, db_fn>(
            db_fn([&ctx, addr](pqxx::work& w, caller& c) -> std::optional<response> {
              // Answered first: same reply, same timing, registered or not.
              c.respond(accepted("if an account uses this address, a reset link is on its way"));
              auto user = w.exec_params("SELECT id FROM users WHERE email = $1", addr);
              if (user.empty()) return std::nullopt;
              auto user_id = user[0][0].as<std::int64_t>();
              w.exec_params0(
                  "UPDATE user_tokens SET used_at = now() WHERE user_id = $1 AND purpose = "
                  "'reset_password' AND used_at IS NULL",
                  user_id);
              auto token = issue_token(w, user_id, "reset_password", 60);
              security_event(w, user_id, "password_reset_requested", c, false);
              send_mail(ctx, c, addr, "Reset your Komentra password",
                        "Someone (hopefully you) asked to reset your Komentra password.\n\nReset "
                        "token (valid for one hour, single use):\n" +
                            token + "\n\nSet a new password with:\n  curl -X POST " +
                            public_url(ctx, "/api/v1/auth/reset-password") +
                            " -H 'X-Requested-With: curl' -H 'Content-Type: application/json' "
                            "-d '{\"token\":\"" +
                            token +
                            "\",\"password\":\"...\"}'\n\nIf you did not ask for this, ignore "
                            "this email.");
              return std::nullopt;
            }));
      });

  add(r, ctx, "POST", "/api/v1/auth/reset-password", access::open, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"token", "password"});
    auto token = b.str("token", 64, true);
    auto password = b.str("password", password_max, true);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    return std::variant<response, db_fn>(
        db_fn([&ctx, token = *token, password = *password](pqxx::work& w,
                                                           caller& c) -> std::optional<response> {
          auto row = w.exec_params(
              "SELECT t.user_id, u.email FROM user_tokens t JOIN users u ON u.id = t.user_id "
              "WHERE t.token_hash = $1 AND t.purpose = 'reset_password' AND t.used_at IS NULL "
              "AND t.expires_at > now()",
              token_hash(token));
          if (row.empty())
            return field_error("token", "this reset token is invalid, used or expired");
          auto user_id = row[0][0].as<std::int64_t>();
          if (auto why = password_problem(password, row[0][1].as<std::string>()); !why.empty())
            return field_error("password", why);
          w.exec_params0("UPDATE user_tokens SET used_at = now() WHERE token_hash = $1",
                         token_hash(token));
          w.exec_params0(
              "UPDATE users SET password_hash = $2, email_verified_at = coalesce("
              "email_verified_at, now()), updated_at = now() WHERE id = $1",
              user_id, hash_password(ctx, password));
          w.exec_params0("DELETE FROM sessions WHERE user_id = $1", user_id);
          security_event(w, user_id, "password_reset", c, true);
          json::writer out;
          out.begin_object().field("status", "password_changed").end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "GET", "/api/v1/me", access::session, [](request&, caller&) {
    return std::variant<response, db_fn>(
        db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          json::writer out;
          out.begin_object();
          write_user(w, out, c.user_id);
          out.end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "PATCH", "/api/v1/me", access::session, [](request& req, caller&) {
    body_reader b(req.body, {"name"});
    auto name = b.str("name", 200, true);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    return std::variant<response, db_fn>(
        db_fn([name = *name](pqxx::work& w, caller& c) -> std::optional<response> {
          w.exec_params0("UPDATE users SET name = $2, updated_at = now() WHERE id = $1", c.user_id,
                         name);
          json::writer out;
          out.begin_object();
          write_user(w, out, c.user_id);
          out.end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "POST", "/api/v1/me/password", access::session, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"current_password", "new_password"});
    auto current = b.str("current_password", password_max, true);
    auto next = b.str("new_password", password_max, true);
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    return std::variant<response, db_fn>(
        db_fn([&ctx, current = *current, next = *next](pqxx::work& w,
                                                       caller& c) -> std::optional<response> {
          auto hash = w.exec_params1("SELECT password_hash FROM users WHERE id = $1", c.user_id)[0]
                          .as<std::string>();
          if (!verify_password(hash, current))
            return response::error(403, "wrong_password", "the current password is wrong",
                                   "current_password");
          if (auto why = password_problem(next, c.email); !why.empty())
            return field_error("new_password", why);
          w.exec_params0("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                         c.user_id, hash_password(ctx, next));
          w.exec_params0("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2", c.user_id,
                         c.session_hash);
          security_event(w, c.user_id, "password_changed", c, true);
          send_mail(ctx, c, c.email, "Your Komentra password was changed",
                    "The password of your Komentra account was changed and your other sessions "
                    "were signed out.\nIf you did not do this, reset your password at once.");
          return response::json(204, "");
        }));
  });

  add(r, ctx, "POST", "/api/v1/me/email", access::session, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"password", "new_email"});
    auto password = b.str("password", password_max, true);
    auto email = b.str("new_email", email_max, true);
    if (b.ok() && !valid_email(*email)) b.fail("new_email", "not a valid email address");
    if (!b.ok()) return std::variant<response, db_fn>(b.error_response());
    return std::variant<response, db_fn>(
        db_fn([&ctx, password = *password, addr = lower_ascii(*email)](
                  pqxx::work& w, caller& c) -> std::optional<response> {
          auto hash = w.exec_params1("SELECT password_hash FROM users WHERE id = $1", c.user_id)[0]
                          .as<std::string>();
          if (!verify_password(hash, password))
            return response::error(403, "wrong_password", "the password is wrong", "password");
          security_event(w, c.user_id, "email_change_requested", c, false);
          if (w.exec_params("SELECT 1 FROM users WHERE email = $1", addr).empty()) {
            auto token = issue_token(w, c.user_id, "change_email", 24 * 60, addr);
            send_mail(ctx, c, addr, "Confirm your new Komentra email address",
                      "Open this link to make this the email address of your Komentra account "
                      "(valid for 24 hours):\n" +
                          public_url(ctx, "/api/v1/auth/verify-email?token=" + token) + "\n");
          }
          return accepted("open the link sent to the new address to confirm the change");
        }));
  });

  add(r, ctx, "GET", "/api/v1/me/security-events", access::session, [](request&, caller&) {
    return std::variant<response, db_fn>(db_fn([](pqxx::work& w,
                                                  caller& c) -> std::optional<response> {
      json::writer out;
      out.begin_object().key("events").begin_array();
      for (auto row : w.exec_params(
               "SELECT kind, coalesce(ip, ''), coalesce(user_agent, ''), " + at_utc("created_at") +
                   " FROM security_events WHERE user_id = $1 ORDER BY id DESC LIMIT 100",
               c.user_id)) {
        out.begin_object().field("kind", row[0].as<std::string>());
        out.field("ip", row[1].as<std::string>()).field("user_agent", row[2].as<std::string>());
        out.field("at", row[3].as<std::string>()).end_object();
      }
      out.end_array().end_object();
      return json_ok(200, out.take());
    }));
  });
}

}  // namespace komentra::http::api
