#include "storage/sql_array.hpp"

namespace komentra::storage {

void sql_array::separate() {
  if (count_++ > 0) text_ += ',';
}

sql_array& sql_array::add(std::string_view text) {
  separate();
  text_.reserve(text_.size() + text.size() + 2);
  text_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
  return *this;
}

sql_array& sql_array::add(std::int64_t number) {
  separate();
  text_ += std::to_string(number);
  return *this;
}

sql_array& sql_array::add_null() {
  separate();
  text_ += "NULL";
  return *this;
}

sql_array& sql_array::add_or_null(std::string_view text) {
  return text.empty() ? add_null() : add(text);
}

sql_array& sql_array::add_or_null(std::optional<std::int64_t> number) {
  return number ? add(*number) : add_null();
}

}  // namespace komentra::storage
