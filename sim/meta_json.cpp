#include "sim/meta_json.hpp"

#include <simdjson.h>

namespace komentra::sim {

namespace {

void append_u(std::string& out, unsigned v) {
  static const char hex[] = "0123456789abcdef";
  out += "\\u";
  out += hex[(v >> 12) & 0xF];
  out += hex[(v >> 8) & 0xF];
  out += hex[(v >> 4) & 0xF];
  out += hex[v & 0xF];
}

/// Decodes one UTF-8 sequence at `i`; returns the code point (0xFFFD on invalid input)
/// and advances `i`.
unsigned decode(std::string_view s, std::size_t& i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned c = b(i);
  std::size_t len = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  unsigned cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static const unsigned min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  i += len;
  if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  return cp;
}

void write_element(meta_writer& w, simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object obj;
      if (e.get_object().get(obj)) return;
      w.begin_object();
      for (auto field : obj) {
        w.key(field.key);
        write_element(w, field.value);
      }
      w.end_object();
      break;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      if (e.get_array().get(arr)) return;
      w.begin_array();
      for (auto v : arr) write_element(w, v);
      w.end_array();
      break;
    }
    case element_type::STRING:
      w.string(e.get_string().value_unsafe());
      break;
    case element_type::INT64:
      w.number(e.get_int64().value_unsafe());
      break;
    case element_type::UINT64:
      w.number_u(e.get_uint64().value_unsafe());
      break;
    case element_type::DOUBLE:
      w.raw(simdjson::minify(e));
      break;
    case element_type::BOOL:
      w.boolean(e.get_bool().value_unsafe());
      break;
    case element_type::NULL_VALUE:
      w.null();
      break;
  }
}

}  // namespace

void append_meta_string(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '/':
          out += "\\/";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7F)
            append_u(out, c);
          else
            out += static_cast<char>(c);
      }
      continue;
    }
    unsigned cp = decode(text, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      append_u(out, 0xD800 + (cp >> 10));
      append_u(out, 0xDC00 + (cp & 0x3FF));
    } else {
      append_u(out, cp);
    }
  }
  out += '"';
}

std::string meta_quote(std::string_view text) {
  std::string out;
  append_meta_string(out, text);
  return out;
}

std::string to_meta_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size(), true).get(doc)) return {};
  meta_writer w;
  write_element(w, doc);
  return w.take();
}

void meta_writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.back()) out_ += ',';
  first_.back() = false;
}

meta_writer& meta_writer::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

meta_writer& meta_writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

meta_writer& meta_writer::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

meta_writer& meta_writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

meta_writer& meta_writer::key(std::string_view k) {
  separate();
  append_meta_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

meta_writer& meta_writer::string(std::string_view v) {
  separate();
  append_meta_string(out_, v);
  return *this;
}

meta_writer& meta_writer::number(std::int64_t v) {
  separate();
  out_ += std::to_string(v);
  return *this;
}

meta_writer& meta_writer::number_u(std::uint64_t v) {
  separate();
  out_ += std::to_string(v);
  return *this;
}

meta_writer& meta_writer::boolean(bool v) {
  separate();
  out_ += v ? "true" : "false";
  return *this;
}

meta_writer& meta_writer::null() {
  separate();
  out_ += "null";
  return *this;
}

meta_writer& meta_writer::raw(std::string_view json) {
  separate();
  out_ += json;
  return *this;
}

}  // namespace komentra::sim
