#include "rules/automation.hpp"

namespace komentra::rules {

namespace {

template <class E, std::size_t N>
bool parse_from(std::string_view text, E& out, const std::pair<E, const char*> (&table)[N]) {
  for (auto& [value, name] : table)
    if (text == name) {
      out = value;
      return true;
    }
  return false;
}

template <class E, std::size_t N>
const char* name_of(E value, const std::pair<E, const char*> (&table)[N]) {
  for (auto& [v, name] : table)
    if (v == value) return name;
  return "";
}

const std::pair<trigger_kind, const char*> triggers[] = {
    {trigger_kind::comment, "comment"},           {trigger_kind::dm, "dm"},
    {trigger_kind::story_reply, "story_reply"},   {trigger_kind::story_mention, "story_mention"},
    {trigger_kind::live_comment, "live_comment"},
};
const std::pair<media_scope, const char*> scopes[] = {
    {media_scope::any, "any"}, {media_scope::selected, "selected"}, {media_scope::next, "next"}};
const std::pair<match_type, const char*> matches[] = {
    {match_type::contains, "contains"}, {match_type::whole_word, "whole_word"},
    {match_type::exact, "exact"},       {match_type::starts_with, "starts_with"},
    {match_type::any, "any"},
};

}  // namespace

const char* to_string(trigger_kind t) {
  return name_of(t, triggers);
}
const char* to_string(media_scope s) {
  return name_of(s, scopes);
}
const char* to_string(match_type m) {
  return name_of(m, matches);
}
bool parse(std::string_view text, trigger_kind& out) {
  return parse_from(text, out, triggers);
}
bool parse(std::string_view text, media_scope& out) {
  return parse_from(text, out, scopes);
}
bool parse(std::string_view text, match_type& out) {
  return parse_from(text, out, matches);
}

}  // namespace komentra::rules
