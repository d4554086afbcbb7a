#pragma once
/// PostgreSQL array literals ('{"a","b"}') for passing many rows to one statement as
/// parameters ($1::text[] with unnest): one statement for a whole batch instead of one per
/// row, without a staging table. libpqxx 6.4 can parse arrays but not write them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace komentra::storage {

/// Builds the literal element by element; `add` quotes, so any text (quotes, backslashes,
/// commas, braces, "NULL") arrives as itself.
class sql_array {
 public:
  sql_array& add(std::string_view text);
  sql_array& add(std::int64_t number);
  sql_array& add_null();
  /// NULL for empty text, or for no number (columns where "none" is stored as NULL).
  sql_array& add_or_null(std::string_view text);
  sql_array& add_or_null(std::optional<std::int64_t> number);
  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  /// The literal, e.g. {"a",NULL,"b\"c"}.
  std::string str() const { return text_ + '}'; }

 private:
  void separate();
  std::string text_ = "{";
  std::size_t count_ = 0;
};

}  // namespace komentra::storage
