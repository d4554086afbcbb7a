#include "protocol/graph_api.hpp"

#include <simdjson.h>

#include <algorithm>

#include "common/json_writer.hpp"
#include "common/url.hpp"

namespace komentra::protocol {

namespace od = simdjson::ondemand;

namespace {

bool parse_doc(std::string_view body, simdjson::padded_string& buf, od::parser& parser,
               od::document& doc) {
  buf = simdjson::padded_string(body);
  return !parser.iterate(buf).get(doc);
}

std::int64_t int_field(od::object& obj, std::string_view key) {
  std::int64_t v = 0;
  if (obj.find_field_unordered(key).get_int64().get(v)) return 0;
  return v;
}

std::string string_field(od::object& obj, std::string_view key) {
  std::string_view v;
  if (obj.find_field_unordered(key).get_string().get(v)) return {};
  return std::string(v);
}

}  // namespace

std::string text_or_buttons_message(std::string_view text, const std::vector<button>& buttons) {
  json::writer w;
  w.begin_object();
  if (buttons.empty()) {
    w.field("text", text);
  } else {
    w.key("attachment").begin_object().field("type", "template").key("payload").begin_object();
    w.field("template_type", "button").field("text", text).key("buttons").begin_array();
    for (auto& b : buttons)
      w.begin_object()
          .field("type", "web_url")
          .field("url", b.url)
          .field("title", b.title)
          .end_object();
    w.end_array().end_object().end_object();
  }
  w.end_object();
  return w.take();
}

std::string postback_prompt_message(std::string_view text, std::string_view button_title,
                                    std::string_view payload) {
  json::writer w;
  w.begin_object().key("attachment").begin_object().field("type", "template");
  w.key("payload").begin_object().field("template_type", "button").field("text", text);
  w.key("buttons").begin_array().begin_object().field("type", "postback");
  w.field("title", button_title).field("payload", payload).end_object().end_array();
  w.end_object().end_object().end_object();
  return w.take();
}

std::string private_reply_body(std::string_view comment_id, std::string_view message_json) {
  json::writer w;
  w.begin_object().key("recipient").begin_object().field("comment_id", comment_id).end_object();
  w.key("message").raw(message_json).end_object();
  return w.take();
}

std::string direct_message_body(std::string_view igsid, std::string_view message_json) {
  json::writer w;
  w.begin_object().key("recipient").begin_object().field("id", igsid).end_object();
  w.key("message").raw(message_json).end_object();
  return w.take();
}

std::string public_reply_body(std::string_view text) {
  json::writer w;
  w.begin_object().field("message", text).end_object();
  return w.take();
}

bool is_graph_id(std::string_view id) {
  return !id.empty() && id.size() <= 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::string> messages_path(login_type login, std::string_view version,
                                         std::string_view ig_id, std::string_view page_id,
                                         std::string& error) {
  if (login == login_type::facebook) {
    if (!is_graph_id(page_id)) {
      error = page_id.empty() ? "page_id missing" : "page_id is not a Graph id";
      return std::nullopt;
    }
    return "/" + std::string(version) + "/" + std::string(page_id) + "/messages";
  }
  if (!is_graph_id(ig_id)) {
    error = ig_id.empty() ? "account id missing" : "account id is not a Graph id";
    return std::nullopt;
  }
  return "/" + std::string(version) + "/" + std::string(ig_id) + "/messages";
}

std::string replies_path(std::string_view version, std::string_view comment_id) {
  return "/" + std::string(version) + "/" + std::string(comment_id) + "/replies";
}

std::string follow_check_path(std::string_view version, std::string_view igsid) {
  return "/" + std::string(version) + "/" + std::string(igsid) +
         "?fields=is_user_follow_business,username";
}

std::optional<graph_error> parse_graph_error(std::string_view body) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  if (!parse_doc(body, buf, parser, doc)) return std::nullopt;
  od::object root, err;
  if (doc.get_object().get(root) || root.find_field_unordered("error").get_object().get(err))
    return std::nullopt;
  graph_error e;
  e.code = static_cast<int>(int_field(err, "code"));
  e.subcode = static_cast<int>(int_field(err, "error_subcode"));
  e.type = string_field(err, "type");
  e.message = string_field(err, "message");
  e.fbtrace_id = string_field(err, "fbtrace_id");
  bool transient = false;
  if (!err.find_field_unordered("is_transient").get_bool().get(transient))
    e.is_transient = transient;
  return e;
}

const char* to_string(outcome o) {
  switch (o) {
    case outcome::ok:
      return "ok";
    case outcome::transient:
      return "transient";
    case outcome::throttled:
      return "throttled";
    case outcome::spam_blocked:
      return "spam_blocked";
    case outcome::token_invalid:
      return "token_invalid";
    case outcome::window_closed:
      return "window_closed";
    case outcome::already_replied:
      return "already_replied";
    case outcome::user_unavailable:
      return "user_unavailable";
    case outcome::no_consent:
      return "no_consent";
    case outcome::not_found:
      return "not_found";
    case outcome::permanent:
      return "permanent";
  }
  return "permanent";
}

outcome classify(int http_status, const std::optional<graph_error>& error) {
  if (!error) {
    if (http_status >= 200 && http_status < 300) return outcome::ok;
    if (http_status == 429) return outcome::throttled;
    if (http_status >= 500 || http_status == 0) return outcome::transient;
    return outcome::permanent;
  }
  int c = error->code, s = error->subcode;
  if (c == 190 || c == 102) return outcome::token_invalid;
  if ((c == 4 && s == 2207051) || c == 368) return outcome::spam_blocked;
  if (c == 4 || c == 17 || c == 32 || c == 613 || (c >= 80000 && c <= 80006))
    return outcome::throttled;
  if (c == 1 || c == 2 || c == 1200) return outcome::transient;
  if (c == 10 && (s == 2534022 || s == 2018278)) return outcome::window_closed;
  if (c == 10 && s == 2534025) return outcome::already_replied;
  if (c == 551 || (c == 100 && s == 2018001)) return outcome::user_unavailable;
  if (c == 230) return outcome::no_consent;
  if (c == 100 && s == 33) return outcome::not_found;
  if (error->is_transient) return outcome::transient;
  return outcome::permanent;
}

bool outcome_may_have_happened(int http_status, const std::optional<graph_error>& error) {
  if (error) return error->code == 2 || error->code == 1 || error->is_transient;
  return http_status == 0 || http_status >= 500;
}

usage parse_usage(std::string_view app_usage, std::string_view business_usage) {
  usage u;
  auto take = [&](od::object& obj) {
    for (auto key : {"call_count", "total_cputime", "total_time"})
      u.max_percent = std::max(u.max_percent, static_cast<int>(int_field(obj, key)));
    u.regain_minutes = std::max(
        u.regain_minutes, static_cast<int>(int_field(obj, "estimated_time_to_regain_access")));
  };
  if (!app_usage.empty()) {
    simdjson::padded_string buf;
    od::parser parser;
    od::document doc;
    od::object obj;
    if (parse_doc(app_usage, buf, parser, doc) && !doc.get_object().get(obj)) take(obj);
  }
  if (!business_usage.empty()) {
    simdjson::padded_string buf;
    od::parser parser;
    od::document doc;
    od::object root;
    if (parse_doc(business_usage, buf, parser, doc) && !doc.get_object().get(root)) {
      for (auto field : root) {
        od::array arr;
        if (field.value().get_array().get(arr)) continue;
        for (auto item : arr) {
          od::object obj;
          if (!item.get_object().get(obj)) take(obj);
        }
      }
    }
  }
  return u;
}

std::string result_id(std::string_view body) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  od::object root;
  if (!parse_doc(body, buf, parser, doc) || doc.get_object().get(root)) return {};
  auto mid = string_field(root, "message_id");
  return mid.empty() ? string_field(root, "id") : mid;
}

namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The text a write carries: a public reply's "message"; a DM's message.text, or the text
// of its button template.
std::string written_text(std::string_view request_body) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  od::object root, message, payload;
  if (!parse_doc(request_body, buf, parser, doc) || doc.get_object().get(root)) return {};
  auto field = root.find_field_unordered("message");
  std::string_view text;
  if (!field.get_string().get(text)) return std::string(text);
  if (field.get_object().get(message)) return {};
  if (!message.find_field_unordered("text").get_string().get(text)) return std::string(text);
  if (message.find_field_unordered("attachment")
          .find_field_unordered("payload")
          .get_object()
          .get(payload))
    return {};
  return string_field(payload, "text");
}

// The string at body.outer.inner; empty when absent or not a string.
std::string nested_string(std::string_view body, std::string_view outer, std::string_view inner) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  std::string_view value;
  if (!parse_doc(body, buf, parser, doc) ||
      doc.find_field_unordered(outer).find_field_unordered(inner).get_string().get(value))
    return {};
  return std::string(value);
}

// {"data":[{"text":...},...]}: the comment's replies.
bool replies_hold(od::array data, const std::string& wanted) {
  for (auto item : data) {
    od::object reply;
    if (item.get_object().get(reply)) continue;
    if (string_field(reply, "text") == wanted) return true;
  }
  return false;
}

// {"data":[{"id":...,"messages":{"data":[{"message":...,"from":{"id":...}},...]}}]}
bool conversations_hold(od::array data, const std::string& wanted, std::string_view recipient) {
  for (auto conversation : data) {
    od::array messages;
    if (conversation.find_field_unordered("messages")
            .find_field_unordered("data")
            .get_array()
            .get(messages))
      continue;
    for (auto item : messages) {
      od::object message;
      if (item.get_object().get(message)) continue;
      if (string_field(message, "message") != wanted) continue;
      std::string_view from;
      if (message.find_field_unordered("from").find_field_unordered("id").get_string().get(from) ||
          from != recipient)
        return true;
    }
  }
  return false;
}

}  // namespace

std::optional<write_check> check_for_write(std::string_view path, std::string_view body,
                                           std::string_view recipient_igsid) {
  using m = write_check::method;
  if (ends_with(path, "/replies"))
    return write_check{m::read_replies, std::string(path) + "?fields=id,text,from&limit=100"};
  if (!ends_with(path, "/messages")) return std::nullopt;
  // recipient.comment_id: a private reply.
  if (!nested_string(body, "recipient", "comment_id").empty())
    return write_check{m::send_again, {}};
  if (recipient_igsid.empty()) return std::nullopt;
  return write_check{m::read_conversation, std::string(path.substr(0, path.size() - 9)) +
                                               "/conversations?platform=instagram&user_id=" +
                                               url::encode(recipient_igsid) +
                                               "&fields=messages%7Bmessage%2Cfrom%7D"};
}

std::string next_page_path(std::string_view listing) {
  auto next = nested_string(listing, "paging", "next");
  auto scheme = next.find("://");
  if (scheme == std::string::npos) return {};
  auto path = next.find('/', scheme + 3);
  return path == std::string::npos ? std::string() : next.substr(path);
}

bool check_finds(const write_check& check, std::string_view listing, std::string_view request_body,
                 std::string_view recipient_igsid) {
  auto wanted = written_text(request_body);
  if (wanted.empty()) return false;
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  od::object root;
  od::array data;
  if (!parse_doc(listing, buf, parser, doc) || doc.get_object().get(root) ||
      root.find_field_unordered("data").get_array().get(data))
    return false;
  return check.how == write_check::method::read_replies
             ? replies_hold(data, wanted)
             : conversations_hold(data, wanted, recipient_igsid);
}

std::optional<bool> parse_follows(std::string_view body) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  od::object root;
  if (!parse_doc(body, buf, parser, doc) || doc.get_object().get(root)) return std::nullopt;
  bool v = false;
  if (root.find_field_unordered("is_user_follow_business").get_bool().get(v)) return std::nullopt;
  return v;
}

std::string describe(const graph_error& e) {
  return "code " + std::to_string(e.code) +
         (e.subcode ? "/" + std::to_string(e.subcode) : std::string()) + ": " + e.message;
}

std::optional<access_token> parse_access_token(std::string_view body) {
  simdjson::padded_string buf;
  od::parser parser;
  od::document doc;
  od::object root;
  if (!parse_doc(body, buf, parser, doc) || doc.get_object().get(root)) return std::nullopt;
  access_token out;
  std::string_view token;
  if (root.find_field_unordered("access_token").get_string().get(token) || token.empty())
    return std::nullopt;
  out.token = std::string(token);
  // expires_in is a number in Meta's answers; a missing or odd one leaves 0.
  std::int64_t expires = 0;
  if (!root.find_field_unordered("expires_in").get_int64().get(expires) && expires > 0)
    out.expires_in_s = expires;
  return out;
}

std::string refresh_token_target(std::string_view token) {
  return "/refresh_access_token?grant_type=ig_refresh_token&access_token=" + url::encode(token);
}

}  // namespace komentra::protocol
