// Instagram connection: the OAuth flow (state bound to the session), token exchange and
// storage (AES-256-GCM), webhook subscription, the account list, disconnecting, the media
// of an account (cached) and the live state from the engine.
#include <memory>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_writer.hpp"
#include "common/url.hpp"
#include "config/settings.hpp"
#include "http/api/support.hpp"
#include "http/client.hpp"
#include "protocol/graph_api.hpp"
#include "storage/engine_store.hpp"

namespace komentra::http::api {

namespace {

constexpr const char* scopes =
    "instagram_business_basic,instagram_business_manage_messages,"
    "instagram_business_manage_comments";
constexpr const char* subscribe_fields = "comments,messages,messaging_postbacks";

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string redirect_uri(const api_context& ctx) {
  auto uri = ctx.cfg.str("oauth.redirect_uri");
  return uri.empty() ? public_url(ctx, "/api/v1/instagram/callback") : uri;
}

std::string graph_url(const api_context& ctx, const std::string& path) {
  return trim_slash(ctx.cfg.str("graph.base_url")) + "/" + ctx.cfg.str("meta.graph_version") + path;
}

response upstream_error(std::string_view step, const client_response& res) {
  std::string detail = res.ok() ? "HTTP " + std::to_string(res.status) : res.error;
  spdlog::warn("instagram: {} failed: {}", step, detail);
  return response::error(502, "instagram_error",
                         std::string(step) + " failed (" + detail + "); try connecting again");
}

/// A string member, or a number member as its exact digits (BR-23: ids above 2^53).
std::string text_of(const jvalue* v) {
  if (!v) return {};
  if (v->k == jvalue::kind::string || v->k == jvalue::kind::number) return v->text;
  return {};
}

struct connection_flow : std::enable_shared_from_this<connection_flow> {
  api_context& ctx;
  responder respond;
  std::int64_t workspace_id;
  std::string code;
  std::string short_token, long_token, account_id, username, account_type;
  std::int64_t expires_in = 0;
  bool subscribed = false;

  connection_flow(api_context& c, responder r, std::int64_t ws, std::string cd)
      : ctx(c), respond(std::move(r)), workspace_id(ws), code(std::move(cd)) {}

  std::optional<jvalue> parse(const client_response& res) {
    if (!res.ok() || res.status != 200) return std::nullopt;
    std::string body = res.body, err;
    auto v = parse_json(body, err);
    if (!v || v->k != jvalue::kind::object) return std::nullopt;
    return v;
  }

  void start() {
    client_request req;
    req.method = "POST";
    req.url = trim_slash(ctx.cfg.str("oauth.base_url")) + "/oauth/access_token";
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = "client_id=" + url::encode(ctx.cfg.str("oauth.app_id")) +
               "&client_secret=" + url::encode(ctx.cfg.str("oauth.app_secret")) +
               "&grant_type=authorization_code&redirect_uri=" + url::encode(redirect_uri(ctx)) +
               "&code=" + url::encode(code);
    ctx.graph.send(req, [self = shared_from_this()](client_response res) { self->exchanged(res); });
  }

  void exchanged(const client_response& res) {
    auto v = parse(res);
    if (!v) return respond(upstream_error("exchanging the authorization code", res));
    const jvalue* item = &*v;
    // The documented shape wraps the answer in data[]; the live one is flat.
    if (auto data = v->get("data"); data && data->k == jvalue::kind::array && !data->items.empty())
      item = &data->items[0];
    short_token = text_of(item->get("access_token"));
    account_id = text_of(item->get("user_id"));
    if (short_token.empty())
      return respond(upstream_error("exchanging the authorization code", res));
    client_request req;
    req.url = trim_slash(ctx.cfg.str("graph.base_url")) +
              "/access_token?grant_type=ig_exchange_token&client_secret=" +
              url::encode(ctx.cfg.str("oauth.app_secret")) +
              "&access_token=" + url::encode(short_token);
    ctx.graph.send(req, [self = shared_from_this()](client_response r) { self->long_lived(r); });
  }

  void long_lived(const client_response& res) {
    auto t = res.ok() && res.status == 200 ? protocol::parse_access_token(res.body) : std::nullopt;
    if (!t) return respond(upstream_error("getting a long-lived token", res));
    long_token = t->token;
    expires_in = t->expires_in_s;
    client_request req;
    req.url = graph_url(ctx, "/me?fields=user_id,username,account_type");
    req.headers.emplace_back("Authorization", "Bearer " + long_token);
    ctx.graph.send(req, [self = shared_from_this()](client_response r) { self->profile(r); });
  }

  void profile(const client_response& res) {
    auto v = parse(res);
    if (!v) return respond(upstream_error("reading the account profile", res));
    // user_id (the IG_ID webhooks use), never the app-scoped id of "id".
    auto id = text_of(v->get("user_id"));
    if (!id.empty()) account_id = id;
    username = text_of(v->get("username"));
    account_type = text_of(v->get("account_type"));
    if (account_id.empty() || account_id.size() > 32 ||
        account_id.find_first_not_of("0123456789") != std::string::npos)
      return respond(upstream_error("reading the account id", res));
    client_request req;
    req.method = "POST";
    req.url = graph_url(ctx, "/" + account_id + "/subscribed_apps?subscribed_fields=" +
                                 std::string(subscribe_fields));
    req.headers.emplace_back("Authorization", "Bearer " + long_token);
    ctx.graph.send(req,
                   [self = shared_from_this()](client_response r) { self->subscribed_post(r); });
  }

  void subscribed_post(const client_response& res) {
    if (!res.ok() || res.status != 200)
      spdlog::warn("instagram: subscribing account {} to webhooks failed: {}", account_id,
                   res.ok() ? std::to_string(res.status) : res.error);
    client_request req;
    req.url = graph_url(ctx, "/" + account_id + "/subscribed_apps");
    req.headers.emplace_back("Authorization", "Bearer " + long_token);
    ctx.graph.send(req, [self = shared_from_this()](client_response r) { self->confirmed(r); });
  }

  void confirmed(const client_response& res) {
    // BR-36: the GET must list comments and messages, or no event will ever arrive.
    if (auto v = parse(res))
      if (auto data = v->get("data"); data && data->k == jvalue::kind::array)
        for (auto& app : data->items)
          if (auto fields = app.get("subscribed_fields"); fields) {
            bool comments = false, messages = false;
            for (auto& f : fields->items) {
              comments = comments || f.text == "comments";
              messages = messages || f.text == "messages";
            }
            subscribed = subscribed || (comments && messages);
          }
    store();
  }

  void store() {
    auto self = shared_from_this();
    auto sealed = storage::seal_token(ctx.cfg.str("token_key"), long_token, account_id);
    auto on_commit = std::make_shared<bool>(false);
    run_db(
        ctx, respond,
        [self, sealed, on_commit](pqxx::work& w) -> std::optional<response> {
          auto other = w.exec_params("SELECT workspace_id, status FROM ig_accounts WHERE id = $1",
                                     self->account_id);
          if (!other.empty() && other[0][0].as<std::int64_t>() != self->workspace_id &&
              other[0][1].as<std::string>() != "disconnected")
            return response::error(409, "account_in_use",
                                   "this Instagram account is connected to another workspace");
          // Disconnected from another workspace: nothing of that workspace (automations,
          // decisions, audience, analytics, links) may carry over, so the account's old row
          // and everything hanging off it go before it is connected here.
          if (!other.empty() && other[0][0].as<std::int64_t>() != self->workspace_id)
            w.exec_params0("DELETE FROM ig_accounts WHERE id = $1", self->account_id);
          std::string status = self->subscribed ? "active" : "faulted";
          std::optional<std::string> reason =
              self->subscribed ? std::nullopt
                               : std::optional<std::string>(
                                     "Instagram did not confirm the webhook subscription "
                                     "(subscribed_apps): no comment would arrive; connect the "
                                     "account again");
          w.exec_params0(
              "INSERT INTO ig_accounts (id, workspace_id, username, account_type, "
              "token_ciphertext, token_key_id, token_expires_at, token_refreshed_at, status, "
              "status_reason) VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6, now() + "
              "make_interval(secs => $7), now(), $8, $9) ON CONFLICT (id) DO UPDATE SET "
              "workspace_id = $2, username = $3, account_type = $4, token_ciphertext = "
              "decode($5, 'hex'), token_key_id = $6, token_expires_at = now() + "
              "make_interval(secs => $7), token_refreshed_at = now(), status = $8, "
              "status_reason = $9, updated_at = now()",
              self->account_id, self->workspace_id, self->username,
              self->account_type.empty() ? std::nullopt : std::optional(self->account_type),
              sealed.ciphertext_hex, sealed.key_id, static_cast<double>(self->expires_in), status,
              reason);
          // A disconnected account starts afresh; any other one (reauth_required, faulted)
          // was waiting for this.
          if (status == "active" && !other.empty() &&
              other[0][1].as<std::string>() != "disconnected")
            storage::resume_after_reconnect(w, self->account_id);
          // As for a crash loop: what it would run pauses, the owners hear of it, and
          // connecting again with the subscription confirmed resumes it.
          if (status == "faulted")
            storage::pause_for_status(w, self->workspace_id, self->account_id, status, *reason);
          *on_commit = true;
          json::writer out;
          out.begin_object().key("account").begin_object();
          out.field("id", self->account_id).field("username", self->username);
          out.field("account_type", self->account_type).field("status", status);
          out.field("webhooks_subscribed", self->subscribed).end_object().end_object();
          return json_ok(201, out.take());
        },
        [self, on_commit] {
          if (*on_commit) self->ctx.engine.automations_changed(self->account_id);
        });
  }
};

}  // namespace

void add_instagram_routes(router& r, api_context& ctx) {
  add(r, ctx, "POST", "/api/v1/workspaces/{workspace_id}/instagram/connect", access::admin,
      [&ctx](request& req, caller&) {
        body_reader b(req.body, {});
        if (!b.ok()) return prepared(b.error_response());
        if (ctx.cfg.str("oauth.app_id").empty() || ctx.cfg.str("token_key").empty())
          return prepared(response::error(
              503, "not_configured",
              "connecting Instagram needs oauth.app_id, oauth.app_secret and token_key"));
        return prepared(db_fn([&ctx](pqxx::work& w, caller& c) -> std::optional<response> {
          auto state = new_token();
          w.exec_params0(
              "INSERT INTO oauth_states (state_hash, session_hash, workspace_id, expires_at) "
              "VALUES ($1, $2, $3, now() + interval '30 minutes')",
              token_hash(state), c.session_hash, c.workspace_id);
          auto url = ctx.cfg.str("oauth.authorize_url") +
                     "?client_id=" + url::encode(ctx.cfg.str("oauth.app_id")) +
                     "&redirect_uri=" + url::encode(redirect_uri(ctx)) +
                     "&response_type=code&scope=" + url::encode(scopes) + "&state=" + state;
          json::writer out;
          out.begin_object().field("authorize_url", url).end_object();
          return json_ok(200, out.take());
        }));
      });

  add(r, ctx, "GET", "/api/v1/instagram/callback", access::session, [&ctx](request& req, caller&) {
    auto state = req.query_param("state").value_or("");
    auto code = req.query_param("code").value_or("");
    if (auto err = req.query_param("error"))
      return prepared(response::error(400, "access_denied",
                                      "Instagram did not grant access: " +
                                          req.query_param("error_description").value_or(*err)));
    if (state.empty() || state.size() > 64) return prepared(field_error("state", "missing state"));
    // Step 2 of the fact sheet: strip the trailing "#_" some clients keep.
    if (code.size() >= 2 && code.compare(code.size() - 2, 2, "#_") == 0)
      code.resize(code.size() - 2);
    if (code.empty() || code.size() > 2048) return prepared(field_error("code", "missing code"));
    return prepared(db_fn([&ctx, state, code](pqxx::work& w, caller& c) -> std::optional<response> {
      auto row = w.exec_params(
          "UPDATE oauth_states SET used_at = now() WHERE state_hash = $1 AND session_hash = $2 "
          "AND used_at IS NULL AND expires_at > now() RETURNING workspace_id",
          token_hash(state), c.session_hash);
      if (row.empty())
        return response::error(400, "invalid_state",
                               "this connection attempt is unknown, expired, already used or "
                               "was started in another session",
                               "state");
      auto ws = row[0][0].as<std::int64_t>();
      auto role = w.exec_params(
          "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2", ws, c.user_id);
      if (role.empty() || role[0][0].as<std::string>() == "member")
        return forbidden("only owners and admins connect accounts");
      security_event(w, c.user_id, "instagram_connected", c, false);
      auto flow = std::make_shared<connection_flow>(ctx, c.respond, ws, code);
      c.after_commit->push_back([flow] { flow->start(); });
      return std::nullopt;
    }));
  });

  const std::string accounts = "/api/v1/workspaces/{workspace_id}/accounts";
  auto list = [](pqxx::work& w, std::int64_t ws, std::optional<std::string> one) {
    json::writer out;
    auto rows = w.exec_params(
        "SELECT a.id, a.username, coalesce(a.account_type, ''), a.status,"
        " coalesce(a.status_reason, ''), coalesce(" +
            at_utc("a.token_expires_at") + ", ''), " + at_utc("a.connected_at") + ", " +
            storage::budget_columns +
            ", a.private_replies_per_hour IS NOT NULL, a.sends_per_second IS NOT NULL"
            " FROM ig_accounts a JOIN workspaces w ON w.id = a.workspace_id"
            " WHERE a.workspace_id = $1 AND ($2::text IS NULL OR a.id = $2)"
            " ORDER BY a.connected_at, a.id",
        ws, one);
    auto write = [&](const pqxx::row& row) {
      out.begin_object().field("id", row[0].as<std::string>());
      out.field("username", row[1].as<std::string>())
          .field("account_type", row[2].as<std::string>());
      out.field("status", row[3].as<std::string>())
          .field("status_reason", row[4].as<std::string>());
      out.field("token_expires_at", row[5].as<std::string>());
      out.field("connected_at", row[6].as<std::string>());
      // The budgets in force, and whether they are the account's own or its workspace's.
      out.field("private_replies_per_hour", row[7].as<int>())
          .field("sends_per_second", row[8].as<int>());
      out.field("own_private_replies_per_hour", row[9].as<bool>())
          .field("own_sends_per_second", row[10].as<bool>())
          .end_object();
    };
    if (one) {
      write(rows[0]);
    } else {
      out.begin_object().key("accounts").begin_array();
      for (auto row : rows) write(row);
      out.end_array().end_object();
    }
    return json_ok(200, out.take());
  };

  add(r, ctx, "GET", accounts, access::member, [list](request&, caller&) {
    return prepared(db_fn([list](pqxx::work& w, caller& c) -> std::optional<response> {
      return list(w, c.workspace_id, std::nullopt);
    }));
  });
  add(r, ctx, "GET", accounts + "/{account_id}", access::member, [list](request&, caller&) {
    return prepared(db_fn([list](pqxx::work& w, caller& c) -> std::optional<response> {
      return list(w, c.workspace_id, c.params.at("account_id"));
    }));
  });

  // An account's own send budgets, lower than Meta's; null goes back to the workspace's
  // default. Its actor applies them at once.
  add(r, ctx, "PATCH", accounts + "/{account_id}", access::admin,
      [&ctx, list](request& req, caller&) {
        body_reader b(req.body, {"private_replies_per_hour", "sends_per_second"});
        auto prh = b.integer("private_replies_per_hour", 1, 750, false);
        auto sps = b.integer("sends_per_second", 1, 300, false);
        if (!b.ok()) return prepared(b.error_response());
        // Present (null included) changes the cap; absent leaves it.
        bool set_prh = b.raw("private_replies_per_hour") != nullptr,
             set_sps = b.raw("sends_per_second") != nullptr;
        return prepared(db_fn([=, &ctx](pqxx::work& w, caller& c) -> std::optional<response> {
          auto id = c.params.at("account_id");
          std::optional<int> p, s;
          if (prh) p = static_cast<int>(*prh);
          if (sps) s = static_cast<int>(*sps);
          w.exec_params0(
              "UPDATE ig_accounts SET"
              " private_replies_per_hour = CASE WHEN $2 THEN $3 ELSE private_replies_per_hour END,"
              " sends_per_second = CASE WHEN $4 THEN $5 ELSE sends_per_second END,"
              " updated_at = now() WHERE id = $1",
              id, set_prh, p, set_sps, s);
          c.after_commit->push_back([&ctx, id] { ctx.engine.automations_changed(id); });
          return list(w, c.workspace_id, id);
        }));
      });

  add(r, ctx, "DELETE", accounts + "/{account_id}", access::admin, [&ctx](request&, caller&) {
    return prepared(db_fn([&ctx](pqxx::work& w, caller& c) -> std::optional<response> {
      auto id = c.params.at("account_id");
      storage::disconnect_account(w, id, "disconnected by a user");
      security_event(w, c.user_id, "instagram_disconnected", c, false);
      c.after_commit->push_back([&ctx, id] { ctx.engine.account_removed(id); });
      return response::json(204, "");
    }));
  });

  add(r, ctx, "GET", accounts + "/{account_id}/media", access::member,
      [&ctx](request& req, caller&) {
        auto after = req.query_param("after").value_or("");
        if (after.size() > 512) return prepared(field_error("after", "cursor too long"));
        return prepared(db_fn([&ctx, after](pqxx::work& w, caller& c) -> std::optional<response> {
          auto id = c.params.at("account_id");
          auto cached = w.exec_params(
              "SELECT body FROM media_cache WHERE account_id = $1 AND cursor = $2 AND fetched_at > "
              "now() - make_interval(secs => $3)",
              id, after, static_cast<double>(ctx.cfg.integer("media.cache_ttl_seconds")));
          if (!cached.empty()) {
            auto res = json_ok(200, cached[0][0].as<std::string>());
            res.headers.emplace_back("X-Cache", "hit");
            return res;
          }
          auto acc = w.exec_params1(
              "SELECT encode(token_ciphertext, 'hex'), status FROM ig_accounts WHERE id = $1", id);
          if (acc[0].is_null())
            return response::error(409, "account_disconnected",
                                   "this account has no token; connect it again");
          auto key = storage::token_key(ctx.cfg.str("token_key")).value_or("");
          auto token = crypto::aes256gcm_open(key, *crypto::from_hex(acc[0].as<std::string>()), id);
          if (!token)
            return response::error(
                409, "token_unreadable",
                "the stored token cannot be decrypted with the configured token_key");
          client_request greq;
          greq.url = graph_url(ctx, "/" + id +
                                        "/media?fields=id,caption,media_type,media_product_type,"
                                        "permalink,timestamp,thumbnail_url&limit=25" +
                                        (after.empty() ? "" : "&after=" + url::encode(after)));
          greq.headers.emplace_back("Authorization", "Bearer " + *token);
          auto respond = c.respond;
          c.after_commit->push_back([&ctx, greq, respond, id, after] {
            ctx.graph.send(greq, [&ctx, respond, id, after](client_response res) {
              if (!res.ok() || res.status != 200)
                return respond(upstream_error("listing the account's media", res));
              std::string body = res.body, err;
              auto v = parse_json(body, err, 12);
              if (!v) return respond(upstream_error("reading the media list", res));
              json::writer out;
              out.begin_object().key("media").begin_array();
              if (auto data = v->get("data"); data && data->k == jvalue::kind::array)
                for (auto& m : data->items) {
                  out.begin_object();
                  for (auto k : {"id", "caption", "media_type", "media_product_type", "permalink",
                                 "timestamp", "thumbnail_url"})
                    out.field(k, text_of(m.get(k)));
                  out.end_object();
                }
              out.end_array().key("next_cursor");
              auto paging = v->get("paging");
              auto next = paging ? paging->get("next") : nullptr;
              auto cursors = paging ? paging->get("cursors") : nullptr;
              if (next && cursors && cursors->get("after"))
                out.value(text_of(cursors->get("after")));
              else
                out.null();
              out.end_object();
              auto text = out.take();
              run_db(ctx, respond, [id, after, text](pqxx::work& w) -> std::optional<response> {
                w.exec_params0(
                    "INSERT INTO media_cache (account_id, cursor, body) VALUES ($1, $2, $3) ON "
                    "CONFLICT (account_id, cursor) DO UPDATE SET body = $3, fetched_at = now()",
                    id, after, text);
                auto res = json_ok(200, text);
                res.headers.emplace_back("X-Cache", "miss");
                return res;
              });
            });
          });
          return std::nullopt;
        }));
      });

  add(r, ctx, "GET", accounts + "/{account_id}/live", access::member, [&ctx](request&, caller&) {
    return prepared(db_fn([&ctx](pqxx::work&, caller& c) -> std::optional<response> {
      auto id = c.params.at("account_id");
      auto respond = c.respond;
      c.after_commit->push_back([&ctx, id, respond] {
        ctx.engine.live_state(id, [id, respond](std::string state) {
          std::string err, copy = state;
          bool ok = !state.empty() && parse_json(copy, err);
          json::writer out;
          out.begin_object().field("account_id", id).key("state").raw(ok ? state : "{}");
          out.end_object();
          respond(json_ok(200, out.take()));
        });
      });
      return std::nullopt;
    }));
  });
}

}  // namespace komentra::http::api
