#include "protocol/webhook_parser.hpp"

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>

#include "common/crypto.hpp"

namespace komentra::protocol {

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(delivery_padding_bytes >= simdjson::SIMDJSON_PADDING);

// Marks an event whose time is the entry's, filled in once the entry's "time" is known
// (key order inside an entry is not fixed).
constexpr std::int64_t entry_time = std::numeric_limits<std::int64_t>::min();
// Above this, an entry "time" is already in milliseconds (fact sheet §1.5).
constexpr std::int64_t ms_threshold = 100'000'000'000;

od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string sha256_hex(std::string_view data) {
  return crypto::to_hex(crypto::sha256(data));
}

// Percent-encodes ':' and '%' so that a part can never contain the separator.
void append_part(std::string& key, std::string_view part) {
  key.push_back(':');
  for (char c : part) {
    if (c == '%')
      key += "%25";
    else if (c == ':')
      key += "%3A";
    else
      key.push_back(c);
  }
}

std::string make_key(std::string_view prefix, std::initializer_list<std::string_view> parts) {
  std::string key(prefix);
  for (auto part : parts) append_part(key, part);
  return key;
}

// The hashed text of a change: its field name (length-prefixed) and the raw value, so that
// the changes[] shape and the entry-level field/value shape give the same key.
std::string change_material(std::string_view field, std::string_view raw_value) {
  std::string material = std::to_string(field.size());
  material.push_back(':');
  material.append(field);
  material.append(raw_value);
  return material;
}

std::string hashed_key(std::string_view prefix, std::string_view material) {
  std::string key(prefix);
  key += ":sha256:";
  key += sha256_hex(material);
  return key;
}

std::string unknown_key(std::string_view material) {
  return "unknown:" + sha256_hex(material);
}

bool is_null(od::value& v) {
  od::json_type type;
  return !v.type().get(type) && type == od::json_type::null;
}

// Every text taken from a body goes through this: "\u0000" decodes to a NUL byte, which
// PostgreSQL text cannot hold (and the journal's json cannot give back through ->>); storing
// it would fail the delivery on every retry. U+FFFD keeps the text's shape without it.
void assign_without_nul(std::string& out, std::string_view text) {
  out.clear();
  for (std::size_t nul; (nul = text.find('\0')) != std::string_view::npos;) {
    out.append(text.substr(0, nul)).append("\xEF\xBF\xBD");
    text.remove_prefix(nul + 1);
  }
  out.append(text);
}

// First pass: visits every value so that the whole body is checked (On-Demand alone checks
// only what is read) and nesting is bounded; simdjson's own max_depth is enforced only in
// its development-checks builds.
error_code validate_value(od::value value, int depth);

// A member's key without the unescaping copy when it has no escapes (all of Meta's keys).
// Only for validated documents: the key is known to end with a quote.
error_code key_of(od::field& field, std::string_view& key) {
  const char* begin = field.key().raw();
  const char* end = begin;
  while (*end != '"' && *end != '\\') ++end;
  if (*end == '"') {
    key = std::string_view(begin, static_cast<std::size_t>(end - begin));
    return simdjson::SUCCESS;
  }
  return field.unescaped_key().get(key);
}

error_code validate_object(od::object& object, int depth) {
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return e;
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (auto e = validate_value(field.value(), depth)) return e;
  }
  return simdjson::SUCCESS;
}

error_code validate_value(od::value value, int depth) {
  od::json_type type;
  if (auto e = value.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      if (depth + 1 > max_delivery_nesting) return simdjson::DEPTH_ERROR;
      od::object object;
      if (auto e = value.get_object().get(object)) return e;
      return validate_object(object, depth + 1);
    }
    case od::json_type::array: {
      if (depth + 1 > max_delivery_nesting) return simdjson::DEPTH_ERROR;
      od::array array;
      if (auto e = value.get_array().get(array)) return e;
      for (auto element : array) {
        od::value item;
        if (auto e = std::move(element).get(item)) return e;
        if (auto e = validate_value(item, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view text;
      return value.get_string().get(text);
    }
    case od::json_type::number: {
      double number;
      return value.get_double().get(number);
    }
    case od::json_type::boolean: {
      bool flag;
      return value.get_bool().get(flag);
    }
    case od::json_type::null: {
      bool null = false;
      if (auto e = value.is_null().get(null)) return e;
      return null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

std::string validate_document(od::document& doc) {
  od::object root;
  auto e = doc.get_object().get(root);
  if (e == simdjson::INCORRECT_TYPE) return "body is not a JSON object";
  if (!e) e = validate_object(root, 1);
  if (e == simdjson::DEPTH_ERROR)
    return "JSON nests deeper than " + std::to_string(max_delivery_nesting) + " levels";
  if (e) return std::string("invalid JSON: ") + simdjson::error_message(e);
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) return "invalid JSON: content after the top object";
  return {};
}

// Second pass over a validated document: reads the envelope and the items into events.
// Every helper returns false after recording the first error.
class reader {
 public:
  explicit reader(std::vector<webhook_event>& out) : out_(out) {}

  bool read(od::document& doc);
  std::string error;

 private:
  bool fail(std::string_view what, std::string_view problem) {
    error.assign(what);
    error.push_back(' ');
    error.append(problem);
    return false;
  }
  bool fail_json(error_code e) {
    error = std::string("invalid JSON: ") + simdjson::error_message(e);
    return false;
  }

  template <class F>
  bool for_members(od::object& object, F&& on_member);
  template <class F>
  bool members(od::value& v, std::string_view what, F&& on_member);
  template <class F>
  bool elements(od::value& v, std::string_view what, F&& on_element);
  template <class F>
  bool object_elements(od::value& v, std::string_view what, F&& on_object);

  bool string(od::value& v, std::string& out, std::string_view what);
  bool id(od::value& v, std::string& out, std::string_view what);
  bool integer(od::value& v, std::optional<std::int64_t>& out, std::string_view what);
  bool boolean(od::value& v, bool& out, std::string_view what);
  bool raw_text(od::value& v, std::string_view& out);
  bool raw_text(od::object& object, std::string_view& out);

  bool read_entry(od::object& entry);
  bool read_change(od::object& item);
  bool read_comment(od::object& value, webhook_event& ev);
  bool read_mention(od::object& value, webhook_event& ev);
  bool read_messaging(od::object& item, bool standby);
  bool read_message(od::value& v, webhook_event& ev);
  bool read_edit(od::value& v, webhook_event& ev);
  bool read_postback(od::value& v, webhook_event& ev);
  bool read_reaction(od::value& v, webhook_event& ev);
  bool read_read(od::value& v, webhook_event& ev);
  bool read_referral(od::value& v, webhook_event& ev);

  webhook_event& add(event_kind kind, std::string_view field) {
    auto& ev = out_.emplace_back();
    ev.kind = kind;
    assign_without_nul(ev.field, field);  // a field or member name from the body
    ev.time_ms = entry_time;
    return ev;
  }

  std::vector<webhook_event>& out_;
  bool known_object_ = true;
};

template <class F>
bool reader::for_members(od::object& object, F&& on_member) {
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return fail_json(e);
    std::string_view key;
    if (auto e = key_of(field, key)) return fail_json(e);
    if (!on_member(key, field.value())) return false;
  }
  return true;
}

template <class F>
bool reader::members(od::value& v, std::string_view what, F&& on_member) {
  if (is_null(v)) return true;
  od::object object;
  if (v.get_object().get(object)) return fail(what, "is not an object");
  return for_members(object, std::forward<F>(on_member));
}

template <class F>
bool reader::elements(od::value& v, std::string_view what, F&& on_element) {
  if (is_null(v)) return true;
  od::array array;
  if (v.get_array().get(array)) return fail(what, "is not an array");
  for (auto element : array) {
    od::value item;
    if (auto e = std::move(element).get(item)) return fail_json(e);
    if (!on_element(item)) return false;
  }
  return true;
}

template <class F>
bool reader::object_elements(od::value& v, std::string_view what, F&& on_object) {
  return elements(v, what, [&](od::value& item) {
    od::object object;
    if (item.get_object().get(object)) return fail(what, "holds an item that is not an object");
    return on_object(object);
  });
}

bool reader::string(od::value& v, std::string& out, std::string_view what) {
  if (is_null(v)) return true;
  std::string_view text;
  if (v.get_string().get(text)) return fail(what, "is not a string");
  assign_without_nul(out, text);
  return true;
}

// Ids arrive as strings, or as numbers above 2^53 (BR-23): the number's own digits are kept,
// never a double.
bool reader::id(od::value& v, std::string& out, std::string_view what) {
  od::json_type type;
  if (auto e = v.type().get(type)) return fail_json(e);
  switch (type) {
    case od::json_type::null:
      return true;
    case od::json_type::string:
      return string(v, out, what);
    case od::json_type::number: {
      std::string_view token = trim_right(v.raw_json_token());
      if (token.empty() || token.find_first_not_of("0123456789") != std::string_view::npos)
        return fail(what, "is a number that is not an integer id");
      out.assign(token);
      return true;
    }
    default:
      return fail(what, "is not an id (string or integer)");
  }
}

bool reader::integer(od::value& v, std::optional<std::int64_t>& out, std::string_view what) {
  if (is_null(v)) return true;
  std::int64_t number;
  if (v.get_int64().get(number)) return fail(what, "is not a 64-bit integer");
  out = number;
  return true;
}

bool reader::boolean(od::value& v, bool& out, std::string_view what) {
  if (is_null(v)) return true;
  if (v.get_bool().get(out)) return fail(what, "is not a boolean");
  return true;
}

bool reader::raw_text(od::object& object, std::string_view& out) {
  if (auto e = object.raw_json().get(out)) return fail_json(e);
  out = trim_right(out);
  return true;
}

bool reader::raw_text(od::value& v, std::string_view& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return fail_json(e);
  error_code e = simdjson::SUCCESS;
  if (type == od::json_type::object) {
    od::object object;
    if (!(e = v.get_object().get(object))) return raw_text(object, out);
  } else if (type == od::json_type::array) {
    od::array array;
    if (!(e = v.get_array().get(array))) e = array.raw_json().get(out);
  } else {
    out = v.raw_json_token();
  }
  if (e) return fail_json(e);
  out = trim_right(out);
  return true;
}

bool reader::read(od::document& doc) {
  od::object root;
  if (auto e = doc.get_object().get(root)) return fail_json(e);
  od::value v;
  auto e = root.find_field_unordered("object").get(v);
  if (e == simdjson::NO_SUCH_FIELD) return fail("\"object\"", "is missing");
  if (e) return fail_json(e);
  std::string_view object_name;
  if (v.get_string().get(object_name)) return fail("\"object\"", "is not a string");
  known_object_ = object_name == "instagram";

  e = root.find_field_unordered("entry").get(v);
  if (e == simdjson::NO_SUCH_FIELD) return fail("\"entry\"", "is missing");
  if (e) return fail_json(e);
  if (is_null(v)) return fail("\"entry\"", "is not an array");
  return object_elements(v, "entry", [&](od::object& entry) { return read_entry(entry); });
}

bool reader::read_entry(od::object& entry) {
  const std::size_t first = out_.size();
  std::string account_id;
  std::optional<std::int64_t> time;
  bool has_items = false;
  bool field_in_entry = false;
  bool ok = for_members(entry, [&](std::string_view key, od::value& v) {
    if (key == "id") return id(v, account_id, "entry.id");
    if (key == "time") return integer(v, time, "entry.time");
    if (key == "changes") {
      has_items = true;
      return object_elements(v, "entry.changes",
                             [&](od::object& item) { return read_change(item); });
    }
    if (key == "messaging" || key == "standby") {
      has_items = true;
      bool standby = key == "standby";
      return object_elements(v, standby ? "entry.standby" : "entry.messaging",
                             [&](od::object& item) { return read_messaging(item, standby); });
    }
    if (key == "field") has_items = field_in_entry = true;
    return true;
  });
  if (!ok) return false;
  if (account_id.empty()) return fail("entry.id", "is missing");
  if (!time) return fail("entry.time", "is missing");
  if (*time < 0) return fail("entry.time", "is negative");
  // The shape of the Instagram-Login docs example: field/value directly in the entry (BR-14b).
  if (field_in_entry && !read_change(entry)) return false;
  if (!has_items) {
    if (auto e = entry.reset().error()) return fail_json(e);
    std::string_view raw;
    if (!raw_text(entry, raw)) return false;
    add(event_kind::unknown, "").dedupe_key = unknown_key(raw);
  }
  const std::int64_t time_ms = *time > ms_threshold ? *time : *time * 1000;
  for (auto i = first; i < out_.size(); ++i) {
    out_[i].account_id = account_id;
    if (out_[i].time_ms == entry_time) out_[i].time_ms = time_ms;
  }
  return true;
}

bool reader::read_change(od::object& item) {
  od::value v;
  auto e = item.find_field_unordered("field").get(v);
  if (e == simdjson::NO_SUCH_FIELD) return fail("changes[].field", "is missing");
  if (e) return fail_json(e);
  std::string_view field;
  if (v.get_string().get(field)) return fail("changes[].field", "is not a string");

  od::value value;
  e = item.find_field_unordered("value").get(value);
  const bool has_value = !e;
  if (e && e != simdjson::NO_SUCH_FIELD) return fail_json(e);

  auto kind = event_kind::unknown;
  if (field == "comments")
    kind = event_kind::comment;
  else if (field == "live_comments")
    kind = event_kind::live_comment;
  else if (field == "mentions")
    kind = event_kind::mention;

  auto& ev = add(known_object_ ? kind : event_kind::unknown, field);
  if (ev.kind == event_kind::unknown) {
    std::string_view raw;
    if (has_value && !raw_text(value, raw)) return false;
    ev.dedupe_key = unknown_key(change_material(field, raw));
    return true;
  }
  if (!has_value) return fail("changes[].value", "is missing");
  od::object object;
  if (value.get_object().get(object)) return fail("changes[].value", "is not an object");
  if (!(kind == event_kind::mention ? read_mention(object, ev) : read_comment(object, ev)))
    return false;
  if (ev.dedupe_key.empty()) {
    if (auto reset = object.reset().error()) return fail_json(reset);
    std::string_view raw;
    if (!raw_text(object, raw)) return false;
    ev.dedupe_key = hashed_key(kind == event_kind::comment        ? "comment"
                               : kind == event_kind::live_comment ? "live_comment"
                                                                  : "mention",
                               change_material(field, raw));
  }
  return true;
}

bool reader::read_comment(od::object& value, webhook_event& ev) {
  std::string comment_id;
  bool ok = for_members(value, [&](std::string_view key, od::value& v) {
    if (key == "id") return id(v, ev.comment_id, "value.id");
    if (key == "comment_id") return id(v, comment_id, "value.comment_id");
    if (key == "text") return string(v, ev.text, "value.text");
    if (key == "parent_id") return id(v, ev.parent_id, "value.parent_id");
    if (key == "from")
      return members(v, "value.from", [&](std::string_view k, od::value& x) {
        if (k == "id") return id(x, ev.sender_id, "value.from.id");
        if (k == "username") return string(x, ev.sender_username, "value.from.username");
        if (k == "self_ig_scoped_id" && !is_null(x)) {
          ev.from_self = true;
          std::string self_id;
          return id(x, self_id, "value.from.self_ig_scoped_id");
        }
        return true;
      });
    if (key == "media")
      return members(v, "value.media", [&](std::string_view k, od::value& x) {
        if (k == "id") return id(x, ev.media_id, "value.media.id");
        if (k == "media_product_type")
          return string(x, ev.media_product_type, "value.media.media_product_type");
        if (k == "ad_id") return id(x, ev.ad_id, "value.media.ad_id");
        return true;
      });
    return true;
  });
  if (!ok) return false;
  if (ev.comment_id.empty()) ev.comment_id = std::move(comment_id);
  if (!ev.comment_id.empty())
    ev.dedupe_key =
        make_key(ev.kind == event_kind::comment ? "comment" : "live_comment", {ev.comment_id});
  return true;
}

bool reader::read_mention(od::object& value, webhook_event& ev) {
  bool ok = for_members(value, [&](std::string_view key, od::value& v) {
    if (key == "comment_id") return id(v, ev.comment_id, "value.comment_id");
    if (key == "media_id") return id(v, ev.media_id, "value.media_id");
    return true;
  });
  if (!ok) return false;
  if (!ev.comment_id.empty())
    ev.dedupe_key = make_key("mention", {ev.comment_id});
  else if (!ev.media_id.empty())
    ev.dedupe_key = make_key("mention", {"media", ev.media_id});
  return true;
}

bool reader::read_messaging(od::object& item, bool standby) {
  const std::size_t first = out_.size();
  std::string_view raw;
  if (!known_object_) {
    if (!raw_text(item, raw)) return false;
    add(event_kind::unknown, standby ? "standby" : "messaging").dedupe_key = unknown_key(raw);
    return true;
  }
  std::string sender;
  std::string recipient;
  std::optional<std::int64_t> timestamp;
  std::string_view unknown_member;
  bool ok = for_members(item, [&](std::string_view key, od::value& v) {
    if (key == "sender")
      return members(v, "messaging[].sender", [&](std::string_view k, od::value& x) {
        return k != "id" || id(x, sender, "messaging[].sender.id");
      });
    if (key == "recipient")
      return members(v, "messaging[].recipient", [&](std::string_view k, od::value& x) {
        return k != "id" || id(x, recipient, "messaging[].recipient.id");
      });
    if (key == "timestamp") return integer(v, timestamp, "messaging[].timestamp");
    if (key == "message") return read_message(v, add(event_kind::message, key));
    if (key == "message_edit") return read_edit(v, add(event_kind::message_edit, key));
    if (key == "postback") return read_postback(v, add(event_kind::postback, key));
    if (key == "reaction") return read_reaction(v, add(event_kind::reaction, key));
    if (key == "read") return read_read(v, add(event_kind::read, key));
    if (key == "referral") return read_referral(v, add(event_kind::referral, key));
    if (unknown_member.empty()) unknown_member = key;
    return true;
  });
  if (!ok) return false;

  auto item_raw = [&]() -> std::optional<std::string_view> {
    if (raw.empty()) {
      if (auto e = item.reset().error()) {
        fail_json(e);
        return std::nullopt;
      }
      if (!raw_text(item, raw)) return std::nullopt;
    }
    return raw;
  };
  if (first == out_.size()) {
    auto text = item_raw();
    if (!text) return false;
    add(event_kind::unknown, unknown_member).dedupe_key = unknown_key(*text);
  }
  const std::string ts = timestamp ? std::to_string(*timestamp) : std::string();
  for (auto i = first; i < out_.size(); ++i) {
    auto& ev = out_[i];
    ev.sender_id = sender;
    ev.recipient_id = recipient;
    if (timestamp) ev.time_ms = *timestamp;
    const bool has_ts = timestamp.has_value();
    switch (ev.kind) {
      case event_kind::message:
        if (!ev.mid.empty())
          ev.dedupe_key = make_key(ev.is_deleted ? "deleted" : "message", {ev.mid});
        break;
      case event_kind::postback:
        if (!ev.mid.empty())
          ev.dedupe_key = make_key("postback", {ev.mid});
        else if (!sender.empty() && has_ts)
          ev.dedupe_key = make_key("postback", {sender, ts, ev.postback_payload});
        break;
      case event_kind::reaction:
        if (!ev.mid.empty() && !ev.reaction_action.empty() && !sender.empty() && has_ts)
          ev.dedupe_key = make_key("reaction", {ev.mid, ev.reaction_action, sender, ts});
        break;
      case event_kind::read:
        if (!ev.mid.empty() && !sender.empty()) ev.dedupe_key = make_key("read", {ev.mid, sender});
        break;
      case event_kind::referral:
        if (!sender.empty() && has_ts)
          ev.dedupe_key = make_key("referral", {sender, ts, ev.referral_ref});
        break;
      default:
        break;
    }
    if (ev.dedupe_key.empty()) {
      auto text = item_raw();
      if (!text) return false;
      const char* prefix = ev.kind == event_kind::message_edit               ? "edit"
                           : ev.kind == event_kind::message && ev.is_deleted ? "deleted"
                                                                             : to_string(ev.kind);
      ev.dedupe_key = hashed_key(prefix, *text);
    }
    if (standby) {
      ev.kind = event_kind::standby;
      ev.dedupe_key.insert(0, "standby:");
    }
  }
  return true;
}

bool reader::read_message(od::value& v, webhook_event& ev) {
  return members(v, "message", [&](std::string_view key, od::value& x) {
    if (key == "mid") return string(x, ev.mid, "message.mid");
    if (key == "text") return string(x, ev.text, "message.text");
    if (key == "is_echo") return boolean(x, ev.is_echo, "message.is_echo");
    if (key == "is_self") return boolean(x, ev.is_self, "message.is_self");
    if (key == "is_deleted") return boolean(x, ev.is_deleted, "message.is_deleted");
    if (key == "app_id") return id(x, ev.app_id, "message.app_id");
    if (key == "quick_reply")
      return members(x, "message.quick_reply", [&](std::string_view k, od::value& y) {
        return k != "payload" || string(y, ev.quick_reply_payload, "message.quick_reply.payload");
      });
    if (key == "reply_to")
      return members(x, "message.reply_to", [&](std::string_view k, od::value& y) {
        if (k == "mid") return string(y, ev.reply_to_mid, "message.reply_to.mid");
        if (k == "story")
          return members(y, "message.reply_to.story", [&](std::string_view s, od::value& z) {
            return s != "id" || id(z, ev.reply_to_story_id, "message.reply_to.story.id");
          });
        return true;
      });
    if (key == "attachments")
      return object_elements(x, "message.attachments", [&](od::object& object) {
        auto& att = ev.attachments.emplace_back();
        return for_members(object, [&](std::string_view k, od::value& y) {
          if (k == "type") return string(y, att.type, "message.attachments[].type");
          if (k == "payload")
            return members(
                y, "message.attachments[].payload", [&](std::string_view p, od::value& z) {
                  return p != "url" || string(z, att.url, "message.attachments[].payload.url");
                });
          return true;
        });
      });
    if (key == "referral")
      return members(x, "message.referral", [&](std::string_view k, od::value& y) {
        if (k == "ref") return string(y, ev.referral_ref, "message.referral.ref");
        if (k == "source") return string(y, ev.referral_source, "message.referral.source");
        return true;
      });
    return true;
  });
}

bool reader::read_edit(od::value& v, webhook_event& ev) {
  std::optional<std::int64_t> num_edit;
  bool ok = members(v, "message_edit", [&](std::string_view key, od::value& x) {
    if (key == "mid") return string(x, ev.mid, "message_edit.mid");
    if (key == "text") return string(x, ev.text, "message_edit.text");
    if (key == "num_edit") return integer(x, num_edit, "message_edit.num_edit");
    return true;
  });
  if (ok && !ev.mid.empty() && num_edit)
    ev.dedupe_key = make_key("edit", {ev.mid, std::to_string(*num_edit)});
  return ok;
}

bool reader::read_postback(od::value& v, webhook_event& ev) {
  return members(v, "postback", [&](std::string_view key, od::value& x) {
    if (key == "mid") return string(x, ev.mid, "postback.mid");
    if (key == "title") return string(x, ev.postback_title, "postback.title");
    if (key == "payload") return string(x, ev.postback_payload, "postback.payload");
    return true;
  });
}

bool reader::read_reaction(od::value& v, webhook_event& ev) {
  return members(v, "reaction", [&](std::string_view key, od::value& x) {
    if (key == "mid") return string(x, ev.mid, "reaction.mid");
    if (key == "action") return string(x, ev.reaction_action, "reaction.action");
    if (key == "reaction") return string(x, ev.reaction, "reaction.reaction");
    if (key == "emoji") return string(x, ev.emoji, "reaction.emoji");
    return true;
  });
}

bool reader::read_read(od::value& v, webhook_event& ev) {
  return members(v, "read", [&](std::string_view key, od::value& x) {
    return key != "mid" || string(x, ev.mid, "read.mid");
  });
}

bool reader::read_referral(od::value& v, webhook_event& ev) {
  return members(v, "referral", [&](std::string_view key, od::value& x) {
    if (key == "ref") return string(x, ev.referral_ref, "referral.ref");
    if (key == "source") return string(x, ev.referral_source, "referral.source");
    return true;
  });
}

// The code unit of the \uXXXX escape at `at`, or -1 when there is none there.
long escaped_unit(std::string_view body, std::size_t at) {
  if (body.size() < 6 || at > body.size() - 6 || body[at] != '\\' || body[at + 1] != 'u') return -1;
  long unit = 0;
  for (char c : body.substr(at + 2, 4)) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

// Where \u escapes of unpaired UTF-16 surrogates start. Meta cuts long texts by UTF-16 code
// units, so a string can end in half an emoji ("\ud83d"); simdjson refuses such a string,
// which would refuse the whole delivery and lose every other event in it. Every backslash of
// valid JSON starts an escape inside a string, so no quote tracking is needed (invalid JSON
// is refused by the parser anyway).
std::vector<std::size_t> lone_surrogates(std::string_view body) {
  std::vector<std::size_t> found;
  for (auto at = body.find('\\'); at != std::string_view::npos;) {
    auto unit = escaped_unit(body, at);
    std::size_t next = at + (unit < 0 ? 2 : 6);
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      auto low = escaped_unit(body, at + 6);
      if (low >= 0xDC00 && low <= 0xDFFF)
        next = at + 12;
      else
        found.push_back(at);
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      found.push_back(at);
    }
    at = body.find('\\', next);
  }
  return found;
}

parse_outcome parse_in_place(const char* data, std::size_t size, std::size_t capacity) {
  parse_outcome outcome;
  od::document doc;
  if (auto e = thread_parser().iterate(data, size, capacity).get(doc)) {
    outcome.error = std::string("invalid JSON: ") + simdjson::error_message(e);
    return outcome;
  }
  outcome.error = validate_document(doc);
  if (!outcome.error.empty()) return outcome;
  doc.rewind();
  reader r(outcome.events);
  if (!r.read(doc)) {
    outcome.events.clear();
    outcome.error = std::move(r.error);
  }
  return outcome;
}

// Parses a copy of `body` in which each escape at `lone` (an unpaired surrogate) reads
// \ufffd, U+FFFD: an escape of the same length, so nothing else moves.
parse_outcome parse_copy(std::string_view body, const std::vector<std::size_t>& lone) {
  // Reused per thread: a copy into it costs a memcpy, a fresh padded_string also a malloc.
  // It keeps the capacity of the largest body seen, which the HTTP body limit bounds.
  thread_local std::string buffer;
  const std::size_t needed = body.size() + delivery_padding_bytes;
  if (buffer.capacity() < needed) buffer.reserve(needed);
  buffer.assign(body.data(), body.size());
  for (auto at : lone) buffer.replace(at + 2, 4, "fffd");
  return parse_in_place(buffer.data(), buffer.size(), buffer.capacity());
}

}  // namespace

parse_outcome parse_delivery(std::string_view body) {
  return parse_copy(body, lone_surrogates(body));
}

parse_outcome parse_delivery(const char* data, std::size_t size, std::size_t capacity) {
  std::string_view body(data, size);
  auto lone = lone_surrogates(body);
  if (!lone.empty() || capacity < size || capacity - size < delivery_padding_bytes)
    return parse_copy(body, lone);
  return parse_in_place(data, size, capacity);
}

}  // namespace komentra::protocol
