#pragma once
/// JSON output as Meta writes it: compact, non-ASCII as lowercase \uXXXX escapes (astral
/// characters as UTF-16 surrogate pairs), '/' as \/. Used for every body the simulator
/// produces (webhooks and Graph API answers), so signatures are computed over exactly the
/// bytes Meta would send. Invalid UTF-8 is written as \ufffd. Not thread-safe; one writer
/// per document. Deliberately independent of protocol/ (the engine's side).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace komentra::sim {

/// Appends `text` (UTF-8) to `out` as a quoted, Meta-escaped JSON string.
void append_meta_string(std::string& out, std::string_view text);

/// `text` as a quoted, Meta-escaped JSON string.
std::string meta_quote(std::string_view text);

/// Re-writes a JSON document (any valid JSON text) in Meta's escaping; empty string when
/// `json` does not parse.
std::string to_meta_json(std::string_view json);

class meta_writer {
 public:
  meta_writer& begin_object();
  meta_writer& end_object();
  meta_writer& begin_array();
  meta_writer& end_array();
  meta_writer& key(std::string_view k);
  meta_writer& string(std::string_view v);
  meta_writer& number(std::int64_t v);
  meta_writer& number_u(std::uint64_t v);
  meta_writer& boolean(bool v);
  meta_writer& null();
  /// Inserts already-serialised JSON as a value.
  meta_writer& raw(std::string_view json);

  meta_writer& field(std::string_view k, std::string_view v) { return key(k).string(v); }
  meta_writer& field(std::string_view k, const char* v) { return key(k).string(v); }
  meta_writer& field(std::string_view k, const std::string& v) { return key(k).string(v); }
  meta_writer& field(std::string_view k, std::int64_t v) { return key(k).number(v); }
  meta_writer& field(std::string_view k, int v) { return key(k).number(v); }
  meta_writer& field(std::string_view k, bool v) { return key(k).boolean(v); }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_{true};
  bool after_key_ = false;
};

}  // namespace komentra::sim
