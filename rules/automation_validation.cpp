#include "rules/automation_validation.hpp"

#include "rules/normalize.hpp"

namespace komentra::rules {

namespace {

std::string n(std::size_t v) {
  return std::to_string(v);
}

std::string indexed(std::string_view field, std::size_t i) {
  return std::string(field) + "[" + n(i) + "]";
}

}  // namespace

std::size_t utf8_length(std::string_view text) {
  std::size_t count = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++count;
  return count;
}

bool valid_https_url(std::string_view url) {
  constexpr std::string_view scheme = "https://";
  if (url.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7F) return false;
  auto rest = url.substr(scheme.size());
  auto host = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
  if (host.empty() || host.front() == '.' || host.front() == ':') return false;
  return true;
}

std::vector<field_problem> validate(const automation& a, const validation_limits& l) {
  std::vector<field_problem> out;
  auto add = [&](std::string field, std::string message) {
    out.push_back({std::move(field), std::move(message)});
  };
  auto text_field = [&](const std::string& field, const std::string& value, std::size_t max_bytes) {
    if (!valid_utf8(value)) return add(field, "is not valid UTF-8"), false;
    if (value.size() > max_bytes)
      return add(field, "is " + n(value.size()) + " bytes of UTF-8; the limit is " + n(max_bytes) +
                            " bytes"),
             false;
    return true;
  };

  if (a.name.empty())
    add("name", "is required");
  else
    text_field("name", a.name, l.name_max_bytes);

  auto check_keywords = [&](const char* field, const std::vector<std::string>& words) {
    if (words.size() > l.keywords_max)
      return add(field, "has " + n(words.size()) + " keywords; at most " + n(l.keywords_max));
    for (std::size_t i = 0; i < words.size(); ++i) {
      auto f = indexed(field, i);
      if (!text_field(f, words[i], l.keyword_max_bytes)) continue;
      if (normalize(words[i], a.accent_insensitive ? accents::fold : accents::keep).empty())
        add(f, "is empty after normalization (only spaces, marks or invisible characters)");
    }
  };
  if (a.match != match_type::any && a.keywords.empty())
    add("keywords", "at least one keyword is required unless match_type is any");
  check_keywords("keywords", a.keywords);
  check_keywords("exclude_keywords", a.exclude_keywords);

  if (a.scope == media_scope::selected && a.media_ids.empty())
    add("media_ids", "choose at least one post when media_scope is selected");
  if (a.media_ids.size() > l.media_ids_max)
    add("media_ids", "at most " + n(l.media_ids_max) + " posts");
  for (std::size_t i = 0; i < a.media_ids.size(); ++i) {
    auto& id = a.media_ids[i];
    if (id.empty() || id.size() > 40 || id.find_first_not_of("0123456789_") != std::string::npos)
      add(indexed("media_ids", i), "is not an Instagram media id (digits)");
  }
  if (a.scope != media_scope::any && a.trigger != trigger_kind::comment &&
      a.trigger != trigger_kind::live_comment)
    add("media_scope", "only comment triggers can be limited to posts");

  if (a.public_replies.size() > l.public_replies_max)
    add("public_replies", "at most " + n(l.public_replies_max) + " variants");
  if (!a.public_replies.empty() && a.trigger != trigger_kind::comment &&
      a.trigger != trigger_kind::live_comment)
    add("public_replies", "public replies exist only for comment triggers");
  std::vector<keyword_rule> self;
  if (!a.keywords.empty() || a.match == match_type::any)
    self.push_back(
        {1, a.priority, 0, a.match, a.keywords, a.exclude_keywords, a.accent_insensitive});
  auto m = matcher::compile(self);
  for (std::size_t i = 0; i < a.public_replies.size(); ++i) {
    auto f = indexed("public_replies", i);
    auto& v = a.public_replies[i];
    if (!valid_utf8(v)) {
      add(f, "is not valid UTF-8");
      continue;
    }
    if (v.empty()) {
      add(f, "must not be empty");
      continue;
    }
    if (utf8_length(v) > l.public_reply_max_chars) {
      add(f,
          "is " + n(utf8_length(v)) + " characters; the limit is " + n(l.public_reply_max_chars));
      continue;
    }
    if (a.match == match_type::any && !a.ignore_replies)
      add(f,
          "with match_type any and ignore_replies off, every reply would trigger this automation "
          "again");
    else if (a.match != match_type::any && m.winner(v))
      add(f, "contains one of this automation's keywords, so the reply would trigger it again");
  }

  if (!a.dm_text.empty() && text_field("dm_text", a.dm_text, l.dm_text_max_bytes) &&
      !a.dm_buttons.empty() && utf8_length(a.dm_text) > l.template_text_max_chars)
    add("dm_text", "is " + n(utf8_length(a.dm_text)) + " characters; with buttons the limit is " +
                       n(l.template_text_max_chars) + " characters");
  if (a.dm_buttons.size() > l.buttons_max)
    add("dm_buttons", "has " + n(a.dm_buttons.size()) + " buttons; at most " + n(l.buttons_max));
  if (!a.dm_buttons.empty() && a.dm_text.empty())
    add("dm_text", "buttons need a DM text to go with them");
  for (std::size_t i = 0; i < a.dm_buttons.size() && i < 10; ++i) {
    auto f = indexed("dm_buttons", i);
    auto& b = a.dm_buttons[i];
    if (!valid_utf8(b.title) || b.title.empty() || utf8_length(b.title) > l.button_title_max_chars)
      add(f + ".title", "must be 1 to " + n(l.button_title_max_chars) + " characters");
    if (b.url.size() > l.url_max_bytes)
      add(f + ".url", "at most " + n(l.url_max_bytes) + " bytes");
    else if (!valid_https_url(b.url))
      add(f + ".url",
          "must be an https:// URL (http, javascript: and URLs without a scheme are refused)");
  }

  if (a.follow_gate) {
    if (a.dm_buttons.empty())
      add("dm_buttons",
          "follow-gating sends the link as a DM button once the user follows: add one");
    if (a.follow_prompt_text.empty())
      add("follow_prompt_text", "is required with follow_gate");
    else
      text_field("follow_prompt_text", a.follow_prompt_text, l.follow_text_max_bytes);
    if (!a.follow_button_title.empty() &&
        (!valid_utf8(a.follow_button_title) ||
         utf8_length(a.follow_button_title) > l.button_title_max_chars))
      add("follow_button_title", "must be at most " + n(l.button_title_max_chars) + " characters");
    if (a.trigger != trigger_kind::comment && a.trigger != trigger_kind::live_comment &&
        a.trigger != trigger_kind::dm)
      add("follow_gate", "follow-gating needs a comment or DM trigger");
  }
  if (a.max_reprompts < 0 || a.max_reprompts > 5) add("max_reprompts", "must be from 0 to 5");
  if (a.public_replies.empty() && a.dm_text.empty() && !a.follow_gate)
    add("dm_text", "the automation sends nothing: add a DM text or a public reply");
  if (a.trigger != trigger_kind::comment && a.trigger != trigger_kind::live_comment &&
      !a.public_replies.empty() && a.dm_text.empty())
    add("dm_text", "is required for this trigger");
  return out;
}

}  // namespace komentra::rules
