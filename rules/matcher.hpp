#pragma once
/// Keyword matching for one account's automations of one trigger source: the rules compile
/// into a single Aho-Corasick automaton over normalized UTF-8 (see normalize.hpp), a comment is
/// normalized once and scanned once, and each keyword hit is checked against its rule's match
/// type. A compiled matcher is immutable and cheap to copy (shared state), so the owner swaps
/// in a new one when an automation changes and any thread may call `winner` concurrently.
/// Nothing here allocates on the hot path once thread_local scratch has grown; only `compile`
/// throws: std::bad_alloc, or std::length_error past 2^31 automaton cells (about 10^7 keyword
/// bytes; the per-account keyword limit belongs in config).
///
/// Semantics, after normalization of keyword and text alike:
/// - contains: the keyword occurs anywhere.
/// - whole_word: the keyword occurs with a word boundary on both sides (is_word_boundary):
///   `#link` and `link!!!` match `link`, `unlinked`, `linkkk` and `ценами` (for `цена`) do not;
///   in scripts written without spaces (CJK, Thai, Hangul) it is a substring match.
///   Arabic clitics are not split off: `سعر` does not match `السعر` (use contains or add the
///   form as a keyword).
/// - starts_with: the text begins with the keyword (a plain prefix).
/// - exact: the whole trimmed, whitespace-collapsed text equals the keyword.
/// - any: every text matches, the empty one included.
/// - A hit inside an @-token never counts unless the keyword itself contains `@`: an @mention
///   (`@friend_1`) or an address (`me@link.example`), i.e. the `@`, the word characters, `.`,
///   `-` and `+` glued to its left and the word characters, `.` and `-` to its right.
/// - A hit never splits a ZWJ emoji sequence (🔥 does not match ❤️‍🔥); symbols and emoji
/// are
///   not word characters, so an emoji keyword matches `🔥🔥` and `I want 🔥️` in every
///   mode.
/// - exclude_keywords use whole_word semantics (with the two rules above); a rule matches only
///   if one of its keywords hits and none of its exclude keywords does. They also apply to
///   `any` rules.
/// - Keywords that normalize to the empty string are dropped; a non-`any` rule without a
///   usable keyword never matches.
/// - Winner: highest `priority`, then smallest `created_order`, then smallest automation_id.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace komentra::rules {

enum class match_type : std::uint8_t { contains, whole_word, exact, starts_with, any };

struct keyword_rule {
  std::int64_t automation_id = 0;
  int priority = 0;
  std::int64_t created_order = 0;
  match_type type = match_type::whole_word;
  std::vector<std::string> keywords;
  std::vector<std::string> exclude_keywords;
  /// Folds Latin, Greek and Arabic diacritics on both sides (`preço` == `preco`).
  bool accent_insensitive = true;
};

class matcher {
 public:
  /// A matcher without rules: nothing matches.
  matcher();

  static matcher compile(std::vector<keyword_rule> rules);

  /// The automation that wins `text`, if any matches.
  std::optional<std::int64_t> winner(std::string_view text) const;

  /// Every matching automation, winner first (for tests and the dry-run endpoint).
  std::vector<std::int64_t> matches(std::string_view text) const;

  std::size_t rule_count() const;
  /// Distinct normalized keywords (include and exclude) across all rules.
  std::size_t keyword_count() const;
  /// Automaton states, a proxy for the matcher's memory: states × byte classes × 2 bytes (4 past
  /// 2^16 cells).
  std::size_t state_count() const;

 private:
  struct impl;
  explicit matcher(std::shared_ptr<const impl> state);
  std::shared_ptr<const impl> impl_;
};

}  // namespace komentra::rules
