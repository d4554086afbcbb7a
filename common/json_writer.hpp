#pragma once
/// A minimal streaming JSON writer for responses, logs and stored documents.
/// Strings are emitted as UTF-8 with only the escapes RFC 8259 requires (plus
/// control characters); invalid UTF-8 bytes are replaced by U+FFFD so the output is
/// always valid JSON. Not thread-safe; one writer per document.

#include <cstdint>
#include <string>
#include <string_view>

namespace komentra::json {

/// Appends `text` to `out` as a quoted JSON string.
void append_quoted(std::string& out, std::string_view text);

/// `text` as a quoted JSON string.
std::string quote(std::string_view text);

class writer {
 public:
  writer& begin_object();
  writer& end_object();
  writer& begin_array();
  writer& end_array();
  /// Writes a key inside an object; the next call writes its value.
  writer& key(std::string_view k);
  writer& value(std::string_view v);
  writer& value(const char* v) { return value(std::string_view{v}); }
  writer& value(const std::string& v) { return value(std::string_view{v}); }
  writer& value(std::int64_t v);
  writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  writer& value(std::uint64_t v);
  writer& value(double v);
  writer& value(bool v);
  writer& null();
  /// Inserts already-serialised JSON as a value.
  writer& raw(std::string_view json_text);

  template <class T>
  writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace komentra::json
