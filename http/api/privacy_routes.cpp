// The privacy policy's promises: delete my account, Meta's deauthorize and data-deletion
// callbacks (signed_request, confirmation code, status page), and the contact form.
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "config/settings.hpp"
#include "http/api/support.hpp"
#include "storage/engine_store.hpp"

namespace komentra::http::api {

namespace {

/// The Instagram user id of a valid signed_request (fact sheet §6.3), or nullopt.
std::optional<std::string> verify_signed_request(const api_context& ctx, const request& req) {
  std::optional<std::string> field;
  std::string_view body = req.body;
  while (!body.empty()) {
    auto amp = body.find('&');
    auto pair = body.substr(0, amp);
    if (pair.substr(0, 15) == "signed_request=") field = percent_decode(pair.substr(15));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  if (!field) return std::nullopt;
  auto dot = field->find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string sig_part = field->substr(0, dot), payload_part = field->substr(dot + 1);
  while (!sig_part.empty() && sig_part.back() == '=') sig_part.pop_back();
  auto sig = crypto::base64url_decode(sig_part);
  std::string trimmed = payload_part;
  while (!trimmed.empty() && trimmed.back() == '=') trimmed.pop_back();
  auto payload = crypto::base64url_decode(trimmed);
  if (!sig || !payload) return std::nullopt;
  std::vector<std::string> secrets = ctx.cfg.list("meta.app_secrets");
  secrets.insert(secrets.begin(), ctx.cfg.str("oauth.app_secret"));
  bool valid = false;
  for (auto& s : secrets)
    if (!s.empty() && crypto::constant_time_equal(crypto::hmac_sha256(s, payload_part), *sig))
      valid = true;
  if (!valid) return std::nullopt;
  std::string err;
  auto v = parse_json(*payload, err);
  if (!v) return std::nullopt;
  auto alg = v->get("algorithm");
  auto user = v->get("user_id");
  if (!alg || alg->text != "HMAC-SHA256" || !user || user->text.empty()) return std::nullopt;
  return user->text;
}

response bad_signature() {
  return response::error(400, "invalid_signed_request",
                         "signed_request is missing or its signature does not verify");
}

std::string confirmation_code() {
  static const char* alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  auto bytes = crypto::random_bytes(16);
  std::string out;
  for (unsigned char b : bytes) out.push_back(alphabet[b % 32]);
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '<')
      out += "&lt;";
    else if (ch == '>')
      out += "&gt;";
    else if (ch == '&')
      out += "&amp;";
    else if (ch == '"')
      out += "&quot;";
    else
      out.push_back(ch);
  }
  return out;
}

}  // namespace

bool purge_account(pqxx::work& w, const std::string& account_id) {
  w.exec_params0(
      "DELETE FROM webhook_deliveries WHERE id IN (SELECT delivery_id FROM journal_events WHERE "
      "account_id = $1 AND delivery_id IS NOT NULL)",
      account_id);
  // Account ids are digits, so they are no LIKE pattern characters.
  if (!account_id.empty() && account_id.find_first_not_of("0123456789") == std::string::npos)
    w.exec_params0("DELETE FROM webhook_deliveries WHERE body LIKE '%' || $1 || '%'", account_id);
  w.exec_params0("DELETE FROM journal_events WHERE account_id = $1", account_id);
  w.exec_params0("DELETE FROM journal_pending WHERE account_id = $1", account_id);
  w.exec_params0("DELETE FROM notifications WHERE account_id = $1", account_id);
  return w.exec_params("DELETE FROM ig_accounts WHERE id = $1", account_id).affected_rows() > 0;
}

void add_privacy_routes(router& r, api_context& ctx) {
  add(r, ctx, "DELETE", "/api/v1/me", access::session, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"password"});
    auto password = b.str("password", 256, true);
    if (!b.ok()) return prepared(b.error_response());
    return prepared(db_fn([&ctx, password = *password](pqxx::work& w,
                                                       caller& c) -> std::optional<response> {
      auto hash = w.exec_params1("SELECT password_hash FROM users WHERE id = $1", c.user_id)[0]
                      .as<std::string>();
      if (!verify_password(hash, password))
        return response::error(403, "wrong_password", "the password is wrong", "password");
      std::vector<std::string> removed;
      // Workspaces this user alone owns go with them; shared ones only lose the membership.
      for (auto ws : w.exec_params(
               "SELECT m.workspace_id FROM memberships m WHERE m.user_id = $1 AND m.role = "
               "'owner' AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = "
               "m.workspace_id AND o.role = 'owner' AND o.user_id <> $1)",
               c.user_id)) {
        auto id = ws[0].as<std::int64_t>();
        for (auto acc : w.exec_params("SELECT id FROM ig_accounts WHERE workspace_id = $1", id)) {
          auto account = acc[0].as<std::string>();
          purge_account(w, account);
          removed.push_back(account);
        }
        w.exec_params0("DELETE FROM workspaces WHERE id = $1", id);
      }
      w.exec_params0("DELETE FROM invitations WHERE email = $1", c.email);
      w.exec_params0("DELETE FROM contact_messages WHERE user_id = $1 OR email = $2", c.user_id,
                     c.email);
      w.exec_params0("DELETE FROM login_attempts WHERE email_hash = $1", token_hash(c.email));
      w.exec_params0("DELETE FROM security_events WHERE user_id = $1 AND NOT retain", c.user_id);
      w.exec_params0("DELETE FROM users WHERE id = $1", c.user_id);
      security_event(w, c.user_id, "account_deleted", c, true);
      for (auto& id : removed)
        c.after_commit->push_back([&ctx, id] { ctx.engine.account_removed(id); });
      spdlog::info("api: user {} deleted their account ({} Instagram account(s) removed)",
                   c.user_id, removed.size());
      auto res = response::json(204, "");
      res.headers.emplace_back("Set-Cookie",
                               "komentra_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
      return res;
    }));
  });

  add(r, ctx, "POST", "/api/v1/meta/deauthorize", access::callback, [&ctx](request& req, caller&) {
    auto user = verify_signed_request(ctx, req);
    if (!user) return prepared(bad_signature());
    return prepared(
        db_fn([&ctx, user = *user](pqxx::work& w, caller& c) -> std::optional<response> {
          if (storage::disconnect_account(w, user, "deauthorized on Instagram"))
            c.after_commit->push_back([&ctx, user] { ctx.engine.account_removed(user); });
          json::writer out;
          out.begin_object().field("status", "ok").end_object();
          return json_ok(200, out.take());
        }));
  });

  add(r, ctx, "POST", "/api/v1/meta/data-deletion", access::callback,
      [&ctx](request& req, caller&) {
        auto user = verify_signed_request(ctx, req);
        if (!user) return prepared(bad_signature());
        return prepared(db_fn([&ctx, user = *user](pqxx::work& w,
                                                   caller& c) -> std::optional<response> {
          auto code = confirmation_code();
          w.exec_params0(
              "INSERT INTO deletion_requests (confirmation_code, ig_user_id, status) VALUES ($1, "
              "$2, "
              "'in_progress')",
              code, user);
          int n = 0;
          if (purge_account(w, user)) {
            ++n;
            c.after_commit->push_back([&ctx, user] { ctx.engine.account_removed(user); });
          }
          w.exec_params0(
              "UPDATE deletion_requests SET status = 'completed', completed_at = now(), "
              "accounts_deleted = $2, ig_user_id = NULL WHERE confirmation_code = $1",
              code, n);
          json::writer out;
          out.begin_object().field("url", public_url(ctx, "/api/v1/meta/data-deletion/" + code));
          out.field("confirmation_code", code).end_object();
          return json_ok(200, out.take());
        }));
      });

  add(r, ctx, "GET", "/api/v1/meta/data-deletion/{confirmation_code}", access::callback,
      [](request&, caller&) {
        return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
          auto code = c.params.at("confirmation_code");
          auto row = w.exec_params(
              "SELECT status, accounts_deleted, to_char(created_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD HH24:MI UTC'), coalesce(to_char(completed_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD HH24:MI UTC'), '') FROM deletion_requests WHERE confirmation_code = $1",
              code);
          std::string text;
          int status = 200;
          if (row.empty()) {
            status = 404;
            text = "<p>No deletion request has the confirmation code " + html_escape(code) +
                   ". Check the code, or write to admin@komentra.tech.</p>";
          } else {
            auto st = row[0][0].as<std::string>();
            text = "<p>Confirmation code: <b>" + html_escape(code) +
                   "</b></p><p>Received: " + row[0][2].as<std::string>() + "</p><p>Status: <b>" +
                   (st == "completed"     ? std::string("completed")
                    : st == "in_progress" ? "in progress"
                                          : "received") +
                   "</b></p>";
            if (st == "completed")
              text += "<p>Completed " + row[0][3].as<std::string>() +
                      ". The Instagram data Komentra held for this account (" +
                      std::to_string(row[0][1].as<int>()) +
                      " connected account(s): token, automations, analytics, audience and "
                      "webhook events) has been deleted.</p>";
            else
              text += "<p>Your data is being deleted; this page updates when it is done.</p>";
          }
          response res;
          res.status = status;
          res.content_type = "text/html; charset=utf-8";
          res.body =
              "<!doctype html><html><head><title>Komentra data deletion</title></head><body>"
              "<h1>Data deletion request</h1>" +
              text + "<p>Questions: admin@komentra.tech</p></body></html>";
          return res;
        }));
      });

  add(r, ctx, "POST", "/api/v1/contact", access::open, [&ctx](request& req, caller&) {
    body_reader b(req.body, {"email", "name", "message"});
    auto email = b.str("email", 254, true);
    auto name = b.str("name", 200, false);
    auto message = b.str("message", 5000, true);
    if (b.ok() && !valid_email(*email)) b.fail("email", "not a valid email address");
    if (!b.ok()) return prepared(b.error_response());
    return prepared(db_fn([&ctx, email = lower_ascii(*email), name, message = *message](
                              pqxx::work& w, caller& c) -> std::optional<response> {
      auto recent = w.exec_params1(
                         "SELECT count(*) FROM contact_messages WHERE ip = $1 AND created_at > "
                         "now() - interval '1 hour'",
                         c.ip)[0]
                        .as<std::int64_t>();
      if (recent >= ctx.cfg.integer("contact.messages_per_hour")) {
        auto res = response::error(429, "too_many_messages",
                                   "too many messages from this address; try again later");
        res.headers.emplace_back("Retry-After", "3600");
        return res;
      }
      w.exec_params0(
          "INSERT INTO contact_messages (email, name, message, ip) VALUES ($1, $2, $3, $4)", email,
          name, message, c.ip);
      json::writer out;
      out.begin_object().field("status", "received").end_object();
      return json_ok(202, out.take());
    }));
  });
}

}  // namespace komentra::http::api
