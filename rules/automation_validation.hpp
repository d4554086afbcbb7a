#pragma once
/// Validation of an automation before it is saved: the engine's and Meta's limits checked
/// field by field, so the dashboard can point at what to fix and nothing that Meta would
/// refuse is ever planned. Pure functions; errors are values (one per offending field, in
/// field order), never exceptions.
///
/// Checked: name; keywords (required unless match type `any`, valid UTF-8, each one must
/// normalize to something, bounded count and size); exclude keywords; media ids (required
/// for scope `selected`); public reply variants (bounded, and none may itself trigger this
/// automation, which would answer its own replies); DM text (at most 1000 UTF-8 bytes, at
/// most 640 characters with buttons, the button template's limit); at most 3 buttons with
/// a title of 1-20 characters and an https URL; follow-gating (needs a DM button with the
/// link and a prompt text); something to send at all.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.hpp"
#include "rules/automation.hpp"

namespace komentra::rules {

struct validation_limits {
  std::size_t name_max_bytes = 200;
  std::size_t keywords_max = 50;
  std::size_t keyword_max_bytes = 100;
  std::size_t media_ids_max = 100;
  std::size_t public_replies_max = 10;
  std::size_t public_reply_max_chars = 2200;
  std::size_t dm_text_max_bytes = 1000;
  std::size_t template_text_max_chars = 640;
  std::size_t buttons_max = 3;
  std::size_t button_title_max_chars = 20;
  std::size_t url_max_bytes = 2000;
  std::size_t follow_text_max_bytes = 1000;
};

struct field_problem {
  std::string field;    ///< e.g. "dm_text", "dm_buttons[1].url", "keywords[0]"
  std::string message;  ///< for people: what is wrong and what the limit is
};

/// Every problem of `a`; empty when it may be saved.
std::vector<field_problem> validate(const automation& a, const validation_limits& limits = {});

/// Code points in well-formed UTF-8 `text`.
std::size_t utf8_length(std::string_view text);
/// Whether `url` is an absolute https URL with a host and no whitespace or control bytes.
bool valid_https_url(std::string_view url);

}  // namespace komentra::rules
