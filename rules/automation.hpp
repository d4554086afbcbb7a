#pragma once
/// An automation as the engine and the dashboard API see it (one row of the automations
/// table): what triggers it, how keywords match, and what it sends. Plain data; the
/// validation of a saved automation lives in rules/automation_validation.hpp.

#include <cstdint>
#include <string>
#include <vector>

#include "rules/matcher.hpp"

namespace komentra::rules {

enum class trigger_kind { comment, dm, story_reply, story_mention, live_comment };
enum class media_scope { any, selected, next };

struct link_button {
  std::string title;
  std::string url;  ///< https only
};

struct automation {
  std::int64_t id = 0;
  std::string account_id;
  std::string name;
  trigger_kind trigger = trigger_kind::comment;
  media_scope scope = media_scope::any;
  std::vector<std::string> media_ids;  ///< for scope selected (and next, once resolved)
  match_type match = match_type::whole_word;
  std::vector<std::string> keywords;
  std::vector<std::string> exclude_keywords;
  bool accent_insensitive = true;
  bool ignore_replies = true;
  int priority = 0;
  std::vector<std::string> public_replies;  ///< variants; empty = no public reply
  std::string dm_text;                      ///< empty = no DM; {username} is substituted
  std::vector<link_button> dm_buttons;      ///< at most 3
  bool follow_gate = false;
  std::string follow_prompt_text;
  std::string follow_button_title;
  int max_reprompts = 2;
  bool active = true;
  std::int64_t created_order = 0;  ///< smaller = older (ties on priority go to the oldest)
};

const char* to_string(trigger_kind t);
const char* to_string(media_scope s);
const char* to_string(match_type m);
/// Parse the stored text forms; false when the text is not one of them.
bool parse(std::string_view text, trigger_kind& out);
bool parse(std::string_view text, media_scope& out);
bool parse(std::string_view text, match_type& out);

}  // namespace komentra::rules
