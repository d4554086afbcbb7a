#include "rules/normalize.hpp"

#include <utf8proc.h>

#include <cstdint>
#include <vector>

namespace komentra::rules {

namespace {

constexpr std::int32_t zwj = 0x200D;
constexpr std::int32_t tatweel = 0x0640;
constexpr std::int32_t replacement = 0xFFFD;

bool in(std::int32_t cp, std::int32_t lo, std::int32_t hi) {
  return cp >= lo && cp <= hi;
}

bool is_letter(utf8proc_propval_t cat) {
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

bool is_mark(utf8proc_propval_t cat) {
  return cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
}

bool is_space_or_control(std::int32_t cp, utf8proc_propval_t cat) {
  if (cp < 0x80) return cp <= 0x20 || cp == 0x7F;
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
         cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_CC;
}

// utf8proc has no script property; these are the Unicode blocks of the scripts whose
// diacritics are optional in everyday writing (BR-18), so folding them is what users expect.
bool has_optional_diacritics(std::int32_t cp) {
  return cp < 0x0250                // Basic Latin .. Latin Extended-B
         || in(cp, 0x1D00, 0x1DBF)  // phonetic extensions
         || in(cp, 0x1E00, 0x1EFF)  // Latin Extended Additional (Vietnamese)
         || in(cp, 0x2C60, 0x2C7F)  // Latin Extended-C
         || in(cp, 0xA720, 0xA7FF)  // Latin Extended-D
         || in(cp, 0xAB30, 0xAB6F)  // Latin Extended-E
         || in(cp, 0x0370, 0x03FF)  // Greek (tonos is dropped in capitals anyway)
         || in(cp, 0x1F00, 0x1FFF)  // Greek Extended
         || in(cp, 0x0600, 0x06FF)  // Arabic (harakat are usually not written)
         || in(cp, 0x0750, 0x077F) || in(cp, 0x08A0, 0x08FF);
}

bool is_conjoining_jamo(std::int32_t cp) {
  return in(cp, 0x1100, 0x11FF) || in(cp, 0xA960, 0xA97F) || in(cp, 0xD7B0, 0xD7FF);
}

// A code point that NFKC + case folding leaves alone, that does not combine with its
// neighbours and that accent folding does not touch: it can be copied as it is.
bool is_stable(std::int32_t cp, const utf8proc_property_t* p) {
  return p->decomp_seqindex == UINT16_MAX && p->casefold_seqindex == UINT16_MAX &&
         p->combining_class == 0 && !p->ignorable &&
         (p->comb_index == UINT16_MAX || p->comb_index < 0x8000) && !is_mark(p->category) &&
         !is_conjoining_jamo(cp) && cp != tatweel;
}

struct scratch {
  std::vector<utf8proc_int32_t> cps = std::vector<utf8proc_int32_t>(256);
  std::string sanitized;
};

scratch& local_scratch() {
  thread_local scratch s;
  return s;
}

class emitter {
 public:
  struct position {
    std::size_t size;
    bool pending_space;
  };

  explicit emitter(std::string& out) : out_(out) { out_.clear(); }

  position tell() const { return {out_.size(), pending_space_}; }

  void rewind(position p) {
    out_.resize(p.size);
    pending_space_ = p.pending_space;
  }

  void ascii(unsigned char c) {
    if (c <= 0x20 || c == 0x7F) {
      pending_space_ = true;
      return;
    }
    flush_space();
    out_.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
  }

  void code_point(std::int32_t cp, utf8proc_propval_t cat) {
    if (is_space_or_control(cp, cat)) {
      pending_space_ = true;
      return;
    }
    flush_space();
    utf8proc_uint8_t buf[4];
    auto n = utf8proc_encode_char(cp, buf);
    out_.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
  }

 private:
  void flush_space() {
    if (pending_space_ && !out_.empty()) out_.push_back(' ');
    pending_space_ = false;
  }

  std::string& out_;
  bool pending_space_ = false;
};

// Copies `text` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
void sanitize(std::string_view text, std::string& out) {
  out.clear();
  auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto n = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    auto len = utf8proc_iterate(s + i, n - i, &cp);
    if (len <= 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(text.substr(static_cast<std::size_t>(i), static_cast<std::size_t>(len)));
      i += len;
    }
  }
}

// NFKD + case fold into `cps`; returns the number of code points or a negative utf8proc error.
utf8proc_ssize_t decompose(std::string_view text, std::vector<utf8proc_int32_t>& cps) {
  constexpr auto options = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
                                                          UTF8PROC_CASEFOLD | UTF8PROC_STABLE);
  for (;;) {
    auto n = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                static_cast<utf8proc_ssize_t>(text.size()), cps.data(),
                                static_cast<utf8proc_ssize_t>(cps.size()), options);
    if (n < 0 || static_cast<std::size_t>(n) <= cps.size()) return n;
    cps.resize(static_cast<std::size_t>(n));
  }
}

// Removes ignorables and (when folding) optional diacritics from decomposed text, in place.
std::size_t filter(utf8proc_int32_t* cps, std::size_t n, accents mode) {
  std::size_t kept = 0;
  bool base_has_optional_marks = false;
  for (std::size_t i = 0; i < n; ++i) {
    auto cp = cps[i];
    auto* prop = utf8proc_get_property(cp);
    if (prop->ignorable) {
      // A ZWJ glues emoji into one picture (❤️‍🔥); inside words of other scripts it only
      // shapes the rendering and would otherwise split the word.
      if (cp == zwj && kept > 0 && !is_word_char(cps[kept - 1])) cps[kept++] = cp;
      continue;
    }
    if (mode == accents::fold) {
      if (prop->category == UTF8PROC_CATEGORY_MN) {
        if (base_has_optional_marks) continue;
      } else if (cp == tatweel) {
        continue;
      } else if (!is_mark(prop->category)) {
        base_has_optional_marks = is_letter(prop->category) && has_optional_diacritics(cp);
      }
    }
    cps[kept++] = cp;
  }
  return kept;
}

// Normalizes a segment that needs utf8proc's decompose/filter/recompose round trip.
void normalize_segment(std::string_view text, accents mode, emitter& emit) {
  auto& tmp = local_scratch();
  auto n = decompose(text, tmp.cps);
  if (n == UTF8PROC_ERROR_INVALIDUTF8) {
    sanitize(text, tmp.sanitized);
    n = decompose(tmp.sanitized, tmp.cps);
  }
  if (n < 0) return;  // only UTF8PROC_ERROR_OVERFLOW is left: text beyond SSIZE_MAX/4
  auto kept = filter(tmp.cps.data(), static_cast<std::size_t>(n), mode);
  auto composed =
      utf8proc_normalize_utf32(tmp.cps.data(), static_cast<utf8proc_ssize_t>(kept),
                               static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
  for (utf8proc_ssize_t i = 0; i < composed; ++i) {
    auto cp = tmp.cps[static_cast<std::size_t>(i)];
    emit.code_point(cp, utf8proc_category(cp));
  }
}

}  // namespace

void normalize_into(std::string_view text, accents mode, std::string& out) {
  // Most code points (ASCII, CJK, lowercase letters, emoji without variation selectors) are
  // left alone by normalization and copied directly. A run of the others goes through
  // utf8proc together with the code point before it, which it may compose with (c + ◌̧ = ç);
  // the stable code point after the run can interact with neither side.
  emitter emit{out};
  auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto n = static_cast<utf8proc_ssize_t>(text.size());
  utf8proc_ssize_t i = 0;
  utf8proc_ssize_t prev_begin = 0;
  auto prev_out = emit.tell();
  while (i < n) {
    if (s[i] < 0x80) {
      prev_begin = i;
      prev_out = emit.tell();
      emit.ascii(s[i++]);
      continue;
    }
    utf8proc_int32_t cp;
    auto len = utf8proc_iterate(s + i, n - i, &cp);
    if (len > 0) {
      auto* prop = utf8proc_get_property(cp);
      if (is_stable(cp, prop)) {
        prev_begin = i;
        prev_out = emit.tell();
        emit.code_point(cp, prop->category);
        i += len;
        continue;
      }
    }
    auto begin = i;
    if (i > 0) {
      begin = prev_begin;
      emit.rewind(prev_out);
    }
    auto end = i;
    while (end < n && s[end] >= 0x80) {
      len = utf8proc_iterate(s + end, n - end, &cp);
      if (len <= 0) {
        ++end;
        continue;
      }
      if (is_stable(cp, utf8proc_get_property(cp))) break;
      end += len;
    }
    normalize_segment(
        text.substr(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)), mode,
        emit);
    i = end;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
}

std::string normalize(std::string_view text, accents mode) {
  std::string out;
  normalize_into(text, mode, out);
  return out;
}

bool is_word_char(std::int32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_';
  }
  auto cat = utf8proc_category(cp);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO) ||
         cat == UTF8PROC_CATEGORY_PC;
}

bool is_no_space_script(std::int32_t cp) {
  if (cp < 0x0E00) return false;
  return in(cp, 0x0E00, 0x0EFF)        // Thai, Lao
         || in(cp, 0x0F00, 0x0FFF)     // Tibetan
         || in(cp, 0x1000, 0x109F)     // Myanmar
         || in(cp, 0x1100, 0x11FF)     // Hangul Jamo
         || in(cp, 0x1780, 0x17FF)     // Khmer
         || in(cp, 0x19E0, 0x19FF)     // Khmer symbols
         || in(cp, 0x2E80, 0x2FDF)     // CJK radicals, Kangxi
         || in(cp, 0x3040, 0x31FF)     // Hiragana, Katakana, Bopomofo, Hangul compatibility
         || in(cp, 0x3400, 0x4DBF)     // CJK Extension A
         || in(cp, 0x4E00, 0x9FFF)     // CJK Unified Ideographs
         || in(cp, 0xA960, 0xA97F)     // Hangul Jamo Extended-A
         || in(cp, 0xAC00, 0xD7FF)     // Hangul syllables, Jamo Extended-B
         || in(cp, 0xF900, 0xFAFF)     // CJK compatibility ideographs
         || in(cp, 0x20000, 0x3FFFF);  // CJK Extensions B..H
}

bool is_word_boundary(std::int32_t before, std::int32_t after) {
  if (before == zwj || after == zwj) return false;
  if (before < 0 || after < 0) return true;
  if (after >= 0x80 && is_mark(utf8proc_category(after))) return false;
  return !is_word_char(before) || !is_word_char(after) || is_no_space_script(before) ||
         is_no_space_script(after);
}

}  // namespace komentra::rules
