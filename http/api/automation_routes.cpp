// Automations of an account: create, read, update, delete, pause, resume (validated per
// field; every write tells the engine to recompile the account's rules) and a dry run.
#include <chrono>
#include <random>

#include "common/json_writer.hpp"
#include "config/settings.hpp"
#include "http/api/support.hpp"
#include "http/link_routes.hpp"
#include "protocol/webhook_event.hpp"
#include "rules/automation_validation.hpp"
#include "rules/decide.hpp"

namespace komentra::http::api {

namespace {

const std::string columns =
    "id, account_id, name, trigger, media_scope, array_to_json(media_ids)::text, match_type, "
    "array_to_json(keywords)::text, array_to_json(exclude_keywords)::text, accent_insensitive, "
    "ignore_replies, priority, array_to_json(public_replies)::text, coalesce(dm_text, ''), "
    "dm_buttons::text, follow_gate, coalesce(follow_prompt_text, ''), "
    "coalesce(follow_button_title, ''), max_reprompts, status, coalesce(paused_reason, ''), " +
    at_utc("created_at") + ", " + at_utc("updated_at");

std::vector<std::string> string_array(std::string json) {
  std::string err;
  std::vector<std::string> out;
  if (auto v = parse_json(json, err))
    for (auto& item : v->items) out.push_back(item.text);
  return out;
}

struct stored {
  rules::automation a;
  std::string status, paused_reason, created_at, updated_at;
};

stored from_row(const pqxx::row& r) {
  stored s;
  auto& a = s.a;
  a.id = r[0].as<std::int64_t>();
  a.account_id = r[1].as<std::string>();
  a.name = r[2].as<std::string>();
  rules::parse(r[3].as<std::string>(), a.trigger);
  rules::parse(r[4].as<std::string>(), a.scope);
  a.media_ids = string_array(r[5].as<std::string>());
  rules::parse(r[6].as<std::string>(), a.match);
  a.keywords = string_array(r[7].as<std::string>());
  a.exclude_keywords = string_array(r[8].as<std::string>());
  a.accent_insensitive = r[9].as<bool>();
  a.ignore_replies = r[10].as<bool>();
  a.priority = r[11].as<int>();
  a.public_replies = string_array(r[12].as<std::string>());
  a.dm_text = r[13].as<std::string>();
  std::string buttons = r[14].as<std::string>(), err;
  if (auto v = parse_json(buttons, err))
    for (auto& b : v->items) {
      rules::link_button lb;
      if (auto t = b.get("title")) lb.title = t->text;
      if (auto u = b.get("url")) lb.url = u->text;
      a.dm_buttons.push_back(lb);
    }
  a.follow_gate = r[15].as<bool>();
  a.follow_prompt_text = r[16].as<std::string>();
  a.follow_button_title = r[17].as<std::string>();
  a.max_reprompts = r[18].as<int>();
  s.status = r[19].as<std::string>();
  a.active = s.status == "active";
  s.paused_reason = r[20].as<std::string>();
  s.created_at = r[21].as<std::string>();
  s.updated_at = r[22].as<std::string>();
  a.created_order = a.id;
  return s;
}

void write_strings(json::writer& w, std::string_view key, const std::vector<std::string>& xs) {
  w.key(key).begin_array();
  for (auto& x : xs) w.value(x);
  w.end_array();
}

void write_automation(json::writer& w, const stored& s) {
  auto& a = s.a;
  w.begin_object().field("id", a.id).field("account_id", a.account_id).field("name", a.name);
  w.field("trigger", rules::to_string(a.trigger)).field("media_scope", rules::to_string(a.scope));
  write_strings(w, "media_ids", a.media_ids);
  w.field("match_type", rules::to_string(a.match));
  write_strings(w, "keywords", a.keywords);
  write_strings(w, "exclude_keywords", a.exclude_keywords);
  w.field("accent_insensitive", a.accent_insensitive).field("ignore_replies", a.ignore_replies);
  w.field("priority", a.priority);
  write_strings(w, "public_replies", a.public_replies);
  w.field("dm_text", a.dm_text).key("dm_buttons").begin_array();
  for (auto& b : a.dm_buttons)
    w.begin_object().field("title", b.title).field("url", b.url).end_object();
  w.end_array();
  w.field("follow_gate", a.follow_gate).field("follow_prompt_text", a.follow_prompt_text);
  w.field("follow_button_title", a.follow_button_title).field("max_reprompts", a.max_reprompts);
  w.field("status", s.status).field("paused_reason", s.paused_reason);
  w.field("created_at", s.created_at).field("updated_at", s.updated_at).end_object();
}

std::string json_array(const std::vector<std::string>& xs) {
  json::writer w;
  w.begin_array();
  for (auto& x : xs) w.value(x);
  w.end_array();
  return w.take();
}

std::string buttons_json(const std::vector<rules::link_button>& bs) {
  json::writer w;
  w.begin_array();
  for (auto& b : bs) w.begin_object().field("title", b.title).field("url", b.url).end_object();
  w.end_array();
  return w.take();
}

const std::vector<std::string_view> automation_fields = {
    "name",           "trigger",     "media_scope",        "media_ids",
    "match_type",     "keywords",    "exclude_keywords",   "accent_insensitive",
    "ignore_replies", "priority",    "public_replies",     "dm_text",
    "dm_buttons",     "follow_gate", "follow_prompt_text", "follow_button_title",
    "max_reprompts"};

/// Reads an automation from a request body; a validation failure is the response.
std::variant<rules::automation, response> read_automation(std::string& body) {
  body_reader b(body, automation_fields);
  rules::automation a;
  // Sizes here only bound what is parsed; the limits people see come from validate().
  a.name = b.str("name", 4096, false).value_or("");
  if (auto t = b.str("trigger", 32, false); t && !rules::parse(*t, a.trigger))
    b.fail("trigger", "one of comment, dm, story_reply, story_mention, live_comment");
  if (auto t = b.str("media_scope", 32, false); t && !rules::parse(*t, a.scope))
    b.fail("media_scope", "one of any, selected, next");
  if (auto t = b.str("match_type", 32, false); t && !rules::parse(*t, a.match))
    b.fail("match_type", "one of contains, whole_word, exact, starts_with, any");
  a.media_ids = b.strings("media_ids", 1000, 64).value_or(std::vector<std::string>{});
  a.keywords = b.strings("keywords", 1000, 4096).value_or(std::vector<std::string>{});
  a.exclude_keywords =
      b.strings("exclude_keywords", 1000, 4096).value_or(std::vector<std::string>{});
  a.accent_insensitive = b.boolean("accent_insensitive").value_or(true);
  a.ignore_replies = b.boolean("ignore_replies").value_or(true);
  a.priority = static_cast<int>(b.integer("priority", -1000, 1000, false).value_or(0));
  a.public_replies = b.strings("public_replies", 100, 16384).value_or(std::vector<std::string>{});
  a.dm_text = b.str("dm_text", 16384, false).value_or("");
  if (auto raw = b.raw("dm_buttons"); raw && raw->k != jvalue::kind::null) {
    if (raw->k != jvalue::kind::array || raw->items.size() > 100) {
      b.fail("dm_buttons", "must be an array of {\"title\", \"url\"} objects");
    } else {
      for (std::size_t i = 0; i < raw->items.size(); ++i) {
        auto& item = raw->items[i];
        auto field = "dm_buttons[" + std::to_string(i) + "]";
        auto title = item.get("title");
        auto url = item.get("url");
        if (item.k != jvalue::kind::object || !title || !url || title->k != jvalue::kind::string ||
            url->k != jvalue::kind::string || item.members.size() != 2 ||
            title->text.size() > 4096 || url->text.size() > 8192) {
          b.fail(field, "must be an object with exactly the string fields title and url");
          break;
        }
        a.dm_buttons.push_back({title->text, url->text});
      }
    }
  }
  a.follow_gate = b.boolean("follow_gate").value_or(false);
  a.follow_prompt_text = b.str("follow_prompt_text", 16384, false).value_or("");
  a.follow_button_title = b.str("follow_button_title", 4096, false).value_or("");
  a.max_reprompts = static_cast<int>(b.integer("max_reprompts", 0, 5, false).value_or(2));
  if (!b.ok()) return b.error_response();
  auto problems = rules::validate(a);
  if (problems.empty()) return a;
  json::writer w;
  w.begin_object().key("error").begin_object().field("code", "invalid_automation");
  w.field("message", problems[0].field + " " + problems[0].message);
  w.field("field", problems[0].field).key("problems").begin_array();
  for (auto& p : problems)
    w.begin_object().field("field", p.field).field("message", p.message).end_object();
  w.end_array().end_object().end_object();
  return response::json(400, w.take());
}

std::int64_t path_id(const caller& c) {
  return std::stoll(c.params.at("automation_id"));
}

response one(pqxx::work& w, std::int64_t id, int status = 200) {
  auto row = w.exec_params1("SELECT " + columns + " FROM automations WHERE id = $1", id);
  json::writer out;
  write_automation(out, from_row(row));
  return json_ok(status, out.take());
}

std::optional<response> account_writable(pqxx::work& w, const caller& c) {
  auto st =
      w.exec_params1("SELECT status FROM ig_accounts WHERE id = $1", c.params.at("account_id"))[0]
          .as<std::string>();
  if (st == "disconnected")
    return response::error(409, "account_disconnected",
                           "this Instagram account is disconnected; connect it again first");
  return std::nullopt;
}

void save(pqxx::work& w, const rules::automation& a, const std::string& account_id,
          std::optional<std::int64_t> id, std::int64_t& out_id) {
  auto t = std::string(rules::to_string(a.trigger));
  auto scope = std::string(rules::to_string(a.scope));
  auto match = std::string(rules::to_string(a.match));
  std::optional<std::string> dm = a.dm_text.empty() ? std::nullopt : std::optional(a.dm_text);
  std::optional<std::string> prompt =
      a.follow_prompt_text.empty() ? std::nullopt : std::optional(a.follow_prompt_text);
  std::optional<std::string> fbt =
      a.follow_button_title.empty() ? std::nullopt : std::optional(a.follow_button_title);
  const char* arr = "ARRAY(SELECT jsonb_array_elements_text($%d::jsonb))";
  auto a_of = [&](int n) {
    char buf[80];
    std::snprintf(buf, sizeof buf, arr, n);
    return std::string(buf);
  };
  if (!id) {
    out_id = w.exec_params1(
                  "INSERT INTO automations (account_id, name, trigger, media_scope, media_ids, "
                  "match_type, keywords, exclude_keywords, accent_insensitive, ignore_replies, "
                  "priority, public_replies, dm_text, dm_buttons, follow_gate, "
                  "follow_prompt_text, follow_button_title, max_reprompts) VALUES ($1, $2, $3, "
                  "$4, " +
                      a_of(5) + ", $6, " + a_of(7) + ", " + a_of(8) + ", $9, $10, $11, " +
                      a_of(12) + ", $13, $14::jsonb, $15, $16, $17, $18) RETURNING id",
                  account_id, a.name, t, scope, json_array(a.media_ids), match,
                  json_array(a.keywords), json_array(a.exclude_keywords), a.accent_insensitive,
                  a.ignore_replies, a.priority, json_array(a.public_replies), dm,
                  buttons_json(a.dm_buttons), a.follow_gate, prompt, fbt, a.max_reprompts)[0]
                 .as<std::int64_t>();
    return;
  }
  out_id = *id;
  w.exec_params0(
      "UPDATE automations SET name = $2, trigger = $3, media_scope = $4, media_ids = " + a_of(5) +
          ", match_type = $6, keywords = " + a_of(7) + ", exclude_keywords = " + a_of(8) +
          ", accent_insensitive = $9, ignore_replies = $10, priority = $11, "
          "public_replies = " +
          a_of(12) +
          ", dm_text = $13, dm_buttons = $14::jsonb, follow_gate = $15, "
          "follow_prompt_text = $16, follow_button_title = $17, max_reprompts = $18, "
          "updated_at = now() WHERE id = $1",
      *id, a.name, t, scope, json_array(a.media_ids), match, json_array(a.keywords),
      json_array(a.exclude_keywords), a.accent_insensitive, a.ignore_replies, a.priority,
      json_array(a.public_replies), dm, buttons_json(a.dm_buttons), a.follow_gate, prompt, fbt,
      a.max_reprompts);
}

}  // namespace

void add_automation_routes(router& r, api_context& ctx) {
  const std::string base = "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations";

  add(r, ctx, "GET", base, access::member, [](request&, caller&) {
    return prepared(db_fn([](pqxx::work& w, caller& c) -> std::optional<response> {
      json::writer out;
      out.begin_object().key("automations").begin_array();
      for (auto row : w.exec_params(
               "SELECT " + columns + " FROM automations WHERE account_id = $1 ORDER BY id",
               c.params.at("account_id")))
        write_automation(out, from_row(row));
      out.end_array().end_object();
      return json_ok(200, out.take());
    }));
  });

  add(r, ctx, "POST", base, access::admin, [&ctx](request& req, caller&) {
    auto parsed = read_automation(req.body);
    if (auto* res = std::get_if<response>(&parsed)) return prepared(std::move(*res));
    return prepared(db_fn([&ctx, a = std::get<rules::automation>(parsed)](
                              pqxx::work& w, caller& c) -> std::optional<response> {
      if (auto busy = account_writable(w, c)) return busy;
      std::int64_t id = 0;
      auto account = c.params.at("account_id");
      save(w, a, account, std::nullopt, id);
      auto res = one(w, id, 201);
      c.after_commit->push_back([&ctx, account] { ctx.engine.automations_changed(account); });
      return res;
    }));
  });

  add(r, ctx, "GET", base + "/{automation_id}", access::member, [](request&, caller&) {
    return prepared(db_fn(
        [](pqxx::work& w, caller& c) -> std::optional<response> { return one(w, path_id(c)); }));
  });

  add(r, ctx, "PUT", base + "/{automation_id}", access::admin, [&ctx](request& req, caller&) {
    auto parsed = read_automation(req.body);
    if (auto* res = std::get_if<response>(&parsed)) return prepared(std::move(*res));
    return prepared(db_fn([&ctx, a = std::get<rules::automation>(parsed)](
                              pqxx::work& w, caller& c) -> std::optional<response> {
      if (auto busy = account_writable(w, c)) return busy;
      std::int64_t id = 0;
      auto account = c.params.at("account_id");
      save(w, a, account, path_id(c), id);
      auto res = one(w, id);
      c.after_commit->push_back([&ctx, account] { ctx.engine.automations_changed(account); });
      return res;
    }));
  });

  add(r, ctx, "DELETE", base + "/{automation_id}", access::admin, [&ctx](request&, caller&) {
    return prepared(db_fn([&ctx](pqxx::work& w, caller& c) -> std::optional<response> {
      w.exec_params0("DELETE FROM automations WHERE id = $1", path_id(c));
      c.after_commit->push_back(
          [&ctx, account = c.params.at("account_id")] { ctx.engine.automations_changed(account); });
      return response::json(204, "");
    }));
  });

  for (std::string action : {"pause", "resume"}) {
    add(r, ctx, "POST", base + "/{automation_id}/" + action, access::admin,
        [&ctx, action](request& req, caller&) {
          body_reader b(req.body, {});
          if (!b.ok()) return prepared(b.error_response());
          return prepared(db_fn([&ctx, action](pqxx::work& w,
                                               caller& c) -> std::optional<response> {
            if (action == "resume")
              if (auto busy = account_writable(w, c)) return busy;
            w.exec_params0(
                "UPDATE automations SET status = $2, paused_reason = $3, updated_at = now() "
                "WHERE id = $1",
                path_id(c), action == "pause" ? "paused" : "active",
                action == "pause" ? std::optional<std::string>("paused by a user") : std::nullopt);
            auto res = one(w, path_id(c));
            c.after_commit->push_back([&ctx, account = c.params.at("account_id")] {
              ctx.engine.automations_changed(account);
            });
            return res;
          }));
        });
  }

  add(r, ctx, "POST", "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/dry-run",
      access::member, [&ctx](request& req, caller&) {
        body_reader b(req.body, {"text", "trigger", "username", "media_id", "is_reply"});
        auto text = b.str("text", 8192, false);
        auto trig = b.str("trigger", 32, false).value_or("comment");
        auto username = b.str("username", 64, false).value_or("sample.user");
        auto media = b.str("media_id", 64, false).value_or("");
        auto is_reply = b.boolean("is_reply").value_or(false);
        if (b.ok() && !text) b.fail("text", "required");
        rules::trigger_kind t{};
        if (b.ok() && (!rules::parse(trig, t) || t == rules::trigger_kind::story_mention))
          b.fail("trigger", "one of comment, live_comment, dm, story_reply");
        if (!b.ok()) return prepared(b.error_response());
        return prepared(db_fn([&ctx, text = *text, t, username, media, is_reply](
                                  pqxx::work& w, caller& c) -> std::optional<response> {
          auto account = c.params.at("account_id");
          auto acc = w.exec_params1("SELECT username FROM ig_accounts WHERE id = $1", account);
          std::vector<rules::automation> list;
          for (auto row : w.exec_params("SELECT " + columns +
                                            " FROM automations WHERE account_id = $1 AND status = "
                                            "'active'",
                                        account))
            list.push_back(from_row(row).a);
          auto compiled = rules::compiled_rules::compile(list);
          rules::account_info info;
          info.id = account;
          info.username = acc[0].as<std::string>();
          info.graph_version = ctx.cfg.str("meta.graph_version");
          info.link_base_url = tracked_link_base(ctx.cfg.str("public_base_url"));
          protocol::webhook_event ev;
          ev.account_id = account;
          ev.text = text;
          ev.sender_id = "9000000000000000";
          ev.sender_username = username;
          auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
          ev.time_ms = now_ms;
          if (t == rules::trigger_kind::comment || t == rules::trigger_kind::live_comment) {
            ev.kind = t == rules::trigger_kind::comment ? protocol::event_kind::comment
                                                        : protocol::event_kind::live_comment;
            ev.field = t == rules::trigger_kind::comment ? "comments" : "live_comments";
            ev.comment_id = "17900000000000000";
            ev.dedupe_key = "comment:dry-run";
            ev.media_id = media.empty() ? "18000000000000000" : media;
            ev.media_product_type = "FEED";
            if (is_reply) ev.parent_id = "17900000000000001";
          } else {
            ev.kind = protocol::event_kind::message;
            ev.field = "message";
            ev.mid = "m_dry_run";
            ev.dedupe_key = "message:m_dry_run";
            ev.recipient_id = account;
            if (t == rules::trigger_kind::story_reply) ev.reply_to_story_id = "18000000000000000";
          }
          std::mt19937_64 rng(0);
          auto d = rules::decide(info, compiled, ev, now_ms, rng);
          json::writer out;
          out.begin_object().field("outcome", d.outcome);
          if (d.automation_id) {
            auto* a = compiled.find(d.automation_id);
            out.key("winner").begin_object().field("id", d.automation_id);
            out.field("name", a ? a->name : std::string()).end_object();
          } else {
            out.key("winner").null();
          }
          out.key("also_matched").begin_array();
          for (auto* a : compiled.matching(t, text))
            if (a->id != d.automation_id)
              out.begin_object().field("id", a->id).field("name", a->name).end_object();
          out.end_array().key("actions").begin_array();
          for (auto& act : d.actions) {
            out.begin_object().field("kind", rules::to_string(act.kind));
            out.field("method", act.method).field("path", act.path);
            out.key("body");
            if (act.body.empty())
              out.null();
            else
              out.raw(act.body);
            out.end_object();
          }
          out.end_array().key("notes").begin_array();
          for (auto& n : d.notes) out.value(n);
          out.end_array().end_object();
          return json_ok(200, out.take());
        }));
      });
}

}  // namespace komentra::http::api
