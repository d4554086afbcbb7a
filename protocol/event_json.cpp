#include "protocol/event_json.hpp"

#include <simdjson.h>

#include "common/json_writer.hpp"

namespace komentra::protocol {

namespace {

namespace od = simdjson::ondemand;

// Every string member with its JSON key, in the order they are written.
template <class Event, class F>
void for_each_string(Event& ev, F&& f) {
  f("account_id", ev.account_id);
  f("dedupe_key", ev.dedupe_key);
  f("field", ev.field);
  f("sender_id", ev.sender_id);
  f("sender_username", ev.sender_username);
  f("recipient_id", ev.recipient_id);
  f("comment_id", ev.comment_id);
  f("parent_id", ev.parent_id);
  f("media_id", ev.media_id);
  f("media_product_type", ev.media_product_type);
  f("ad_id", ev.ad_id);
  f("mid", ev.mid);
  f("text", ev.text);
  f("quick_reply_payload", ev.quick_reply_payload);
  f("reply_to_story_id", ev.reply_to_story_id);
  f("reply_to_mid", ev.reply_to_mid);
  f("postback_title", ev.postback_title);
  f("postback_payload", ev.postback_payload);
  f("reaction_action", ev.reaction_action);
  f("reaction", ev.reaction);
  f("emoji", ev.emoji);
  f("referral_ref", ev.referral_ref);
  f("referral_source", ev.referral_source);
  f("app_id", ev.app_id);
}

template <class Event, class F>
void for_each_flag(Event& ev, F&& f) {
  f("from_self", ev.from_self);
  f("is_echo", ev.is_echo);
  f("is_self", ev.is_self);
  f("is_deleted", ev.is_deleted);
}

bool read_string(od::value v, std::string& out) {
  std::string_view text;
  if (v.get_string().get(text)) return false;
  out.assign(text);
  return true;
}

bool read_attachments(od::value v, std::vector<attachment>& out) {
  od::array array;
  if (v.get_array().get(array)) return false;
  for (auto element : array) {
    od::object object;
    if (element.get_object().get(object)) return false;
    auto& att = out.emplace_back();
    for (auto field : object) {
      std::string_view key;
      od::value value;
      if (field.unescaped_key().get(key) || field.value().get(value)) return false;
      if (key == "type" && !read_string(value, att.type)) return false;
      if (key == "url" && !read_string(value, att.url)) return false;
    }
  }
  return true;
}

}  // namespace

std::string to_json(const webhook_event& ev) {
  json::writer w;
  w.begin_object();
  w.field("kind", to_string(ev.kind));
  w.field("time_ms", ev.time_ms);
  for_each_string(ev, [&](std::string_view key, const std::string& value) {
    if (!value.empty()) w.field(key, value);
  });
  for_each_flag(ev, [&](std::string_view key, bool value) {
    if (value) w.field(key, true);
  });
  if (!ev.attachments.empty()) {
    w.key("attachments").begin_array();
    for (const auto& att : ev.attachments)
      w.begin_object().field("type", att.type).field("url", att.url).end_object();
    w.end_array();
  }
  w.end_object();
  return w.take();
}

std::optional<webhook_event> event_from_json(std::string_view json) {
  // Journal replay is not the hot path: a padded copy keeps the API a plain string_view.
  thread_local od::parser parser;
  simdjson::padded_string padded(json);
  od::document doc;
  od::object root;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(root)) return std::nullopt;
  webhook_event ev;
  for (auto field : root) {
    std::string_view key;
    od::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return std::nullopt;
    bool known = false;
    bool ok = true;
    if (key == "kind") {
      std::string_view text;
      ok = !value.get_string().get(text);
      ev.kind = kind_from_string(text);
      known = true;
    } else if (key == "time_ms") {
      ok = !value.get_int64().get(ev.time_ms);
      known = true;
    } else if (key == "attachments") {
      ok = read_attachments(value, ev.attachments);
      known = true;
    }
    for_each_string(ev, [&](std::string_view name, std::string& member) {
      if (!known && key == name) {
        ok = read_string(value, member);
        known = true;
      }
    });
    for_each_flag(ev, [&](std::string_view name, bool& member) {
      if (!known && key == name) {
        ok = !value.get_bool().get(member);
        known = true;
      }
    });
    if (!ok) return std::nullopt;
  }
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) return std::nullopt;
  return ev;
}

}  // namespace komentra::protocol
