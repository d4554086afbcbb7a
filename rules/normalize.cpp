#include "rules/normalize.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
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

// The second code point of a canonical composition (◌́ in é, ゙ in が): the one before it matters.
bool composes_with_previous(const utf8proc_property_t* p) {
  return p->comb_index != UINT16_MAX && p->comb_index >= 0x8000;
}

bool is_copyable(std::int32_t cp, const utf8proc_property_t* p) {
  return is_stable(cp, p) && !is_space_or_control(cp, p->category);
}

// ASCII is folded here rather than by utf8proc: upper case to lower case, white space and
// control characters to ' ', which the emitter collapses. The only hand-written table.
constexpr std::array<char, 128> ascii_fold = [] {
  std::array<char, 128> t{};
  for (int c = 0; c < 128; ++c)
    t[c] = static_cast<char>(c <= 0x20 || c == 0x7F ? ' ' : c >= 'A' && c <= 'Z' ? c + 32 : c);
  return t;
}();

// Which code points below `limit` (the Basic Multilingual Plane and the emoji plane) are
// copied as they are, computed once from utf8proc: a bit test instead of utf8proc's property
// lookup and the checks of is_stable for every letter of a comment.
class copyable_set {
 public:
  static constexpr std::int32_t limit = 0x20000;

  copyable_set() {
    for (std::int32_t cp = 0; cp < limit; ++cp)
      if (is_copyable(cp, utf8proc_get_property(cp))) bits_[cp / 64] |= std::uint64_t{1} << cp % 64;
  }

  bool contains(std::int32_t cp) const {
    if (cp < limit) return bits_[cp / 64] >> cp % 64 & 1;
    return is_copyable(cp, utf8proc_get_property(cp));
  }

 private:
  std::array<std::uint64_t, limit / 64> bits_{};
};

bool is_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Decodes the UTF-8 sequence at `s` (n > 0 bytes left, s[0] >= 0x80): its length, or 0 where
// utf8proc_iterate fails too (a stray or missing continuation byte, an overlong form, a
// surrogate, past U+10FFFF), which leaves the bytes to the utf8proc path.
inline std::size_t decode(const unsigned char* s, std::size_t n, std::int32_t& cp) {
  if (s[0] < 0xC2) return 0;
  if (s[0] < 0xE0) {
    if (n < 2 || !is_continuation(s[1])) return 0;
    cp = (s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    return 2;
  }
  if (s[0] < 0xF0) {
    if (n < 3 || !is_continuation(s[1]) || !is_continuation(s[2])) return 0;
    cp = (s[0] & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    return cp >= 0x800 && !in(cp, 0xD800, 0xDFFF) ? 3 : 0;
  }
  if (n < 4 || !is_continuation(s[1]) || !is_continuation(s[2]) || !is_continuation(s[3])) return 0;
  cp = (s[0] & 0x07) << 18 | (s[1] & 0x3F) << 12 | (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
  return in(cp, 0x10000, 0x10FFFF) ? 4 : 0;
}

// What one code point normalizes to, when that is the same beside any stable neighbours.
struct code_point_form {
  std::int32_t key = -1;  // code point * 2 + accents mode; -1: nothing cached yet
  bool alone = false;     // else its neighbours matter: normalize it with them
  bool space = false;     // it normalizes to white space
  std::uint8_t size = 0;  // bytes in `utf8`
  char utf8[9];
};

struct scratch {
  std::vector<utf8proc_int32_t> cps = std::vector<utf8proc_int32_t>(256);
  std::string sanitized;
  // Direct-mapped by code point: a comment's accented and upper-case letters are few and
  // repeat, and computing a form costs as much as normalizing a segment.
  std::array<code_point_form, 512> forms;
};

scratch& local_scratch() {
  thread_local scratch s;
  return s;
}

// Grows `out` to at least `size` bytes, doubling; returns where its bytes now are.
char* grow(std::string& out, std::size_t size) {
  out.resize(std::max(size, 2 * out.size()));
  return out.data();
}

// Writes normalized UTF-8 into `out`, sized ahead so that a write only compares sizes, and
// collapses white space into one ' ' written before the next non-space (so none is left at
// either end). It is never handed to a function that is not inlined, so that the compiler
// keeps its fields in registers on the per-byte path.
class emitter {
 public:
  struct position {
    std::size_t size;
    bool pending_space;
  };

  emitter(std::string& out, std::size_t input_size) : out_(out) {
    out_.resize(input_size + 8);  // normalized text is rarely longer than its input
    data_ = out_.data();
    room_ = out_.size();
  }

  /// Cuts `out` to what was written.
  void finish() { out_.resize(size_); }

  position tell() const { return {size_, pending_space_}; }

  void rewind(position p) {
    size_ = p.size;
    pending_space_ = p.pending_space;
  }

  void space() { pending_space_ = size_ > 0; }

  void ascii(unsigned char c) {
    char folded = ascii_fold[c];
    if (folded == ' ') return space();
    write(&folded, 1);
  }

  void utf8(const char* s, std::size_t len) { write(s, len); }

  void code_points(const utf8proc_int32_t* cps, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (is_space_or_control(cps[i], utf8proc_category(cps[i]))) {
        space();
        continue;
      }
      char buf[4];
      write(buf, static_cast<std::size_t>(
                     utf8proc_encode_char(cps[i], reinterpret_cast<utf8proc_uint8_t*>(buf))));
    }
  }

 private:
  void write(const char* s, std::size_t len) {
    if (size_ + len + 1 > room_) {
      data_ = grow(out_, size_ + len + 1);
      room_ = out_.size();
    }
    data_[size_] = ' ';
    size_ += pending_space_;
    pending_space_ = false;
    for (std::size_t k = 0; k < len; ++k) data_[size_ + k] = s[k];
    size_ += len;
  }

  std::string& out_;
  char* data_ = nullptr;
  std::size_t room_ = 0;
  std::size_t size_ = 0;
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

constexpr auto decompose_options = static_cast<utf8proc_option_t>(
    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STABLE);

// NFKD + case fold into `cps`; returns the number of code points or a negative utf8proc error.
utf8proc_ssize_t decompose(std::string_view text, std::vector<utf8proc_int32_t>& cps) {
  for (;;) {
    auto n = utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                static_cast<utf8proc_ssize_t>(text.size()), cps.data(),
                                static_cast<utf8proc_ssize_t>(cps.size()), decompose_options);
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

std::size_t compose(utf8proc_int32_t* cps, std::size_t n) {
  auto composed =
      utf8proc_normalize_utf32(cps, static_cast<utf8proc_ssize_t>(n),
                               static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
  return composed < 0 ? 0 : static_cast<std::size_t>(composed);
}

// Normalizes a segment through utf8proc's decompose/filter/recompose round trip into
// `tmp.cps`; returns the number of code points.
std::size_t normalize_segment(std::string_view text, accents mode, scratch& tmp) {
  auto n = decompose(text, tmp.cps);
  if (n == UTF8PROC_ERROR_INVALIDUTF8) {
    sanitize(text, tmp.sanitized);
    n = decompose(tmp.sanitized, tmp.cps);
  }
  if (n < 0) return 0;  // only UTF8PROC_ERROR_OVERFLOW is left: text beyond SSIZE_MAX/4
  return compose(tmp.cps.data(), filter(tmp.cps.data(), static_cast<std::size_t>(n), mode));
}

// The form of `cp` by itself, and whether it is the same between any two stable code points:
// it is when nothing before it can compose with it or decide whether it is dropped, i.e. what
// is left of its decomposition is nothing or starts with a letter-like starter; a ZWJ is kept
// only after a non-word character. Nothing after it matters: the next code point is stable.
code_point_form form_alone(std::string_view utf8, std::int32_t cp, accents mode, scratch& tmp) {
  code_point_form form;
  form.key = cp * 2 + static_cast<int>(mode);
  if (cp == zwj) return form;
  auto n = decompose(utf8, tmp.cps);
  if (n <= 0) return form;
  auto* cps = tmp.cps.data();
  auto kept = filter(cps, static_cast<std::size_t>(n), mode);
  if (kept > 0) {
    auto* first = utf8proc_get_property(cps[0]);
    if (first->combining_class != 0 || is_mark(first->category) || composes_with_previous(first) ||
        is_conjoining_jamo(cps[0]))
      return form;
  }
  auto composed = compose(cps, kept);
  for (std::size_t i = 0; i < composed; ++i) {
    if (!is_space_or_control(cps[i], utf8proc_category(cps[i]))) {
      if (form.size + 4u > sizeof form.utf8) return form;
      form.size += static_cast<std::uint8_t>(
          utf8proc_encode_char(cps[i], reinterpret_cast<utf8proc_uint8_t*>(form.utf8 + form.size)));
    } else if (composed == 1) {
      form.space = true;
    } else {
      return form;  // white space among other code points: the emitter collapses it
    }
  }
  form.alone = true;
  return form;
}

const code_point_form& cached_form_alone(std::string_view utf8, std::int32_t cp, accents mode,
                                         scratch& tmp) {
  auto key = cp * 2 + static_cast<int>(mode);
  auto& slot = tmp.forms[static_cast<std::size_t>(key) % tmp.forms.size()];
  if (slot.key != key) slot = form_alone(utf8, cp, mode, tmp);
  return slot;
}

}  // namespace

void normalize_into(std::string_view text, accents mode, std::string& out) {
  // Most code points (ASCII, CJK, lowercase letters, emoji without variation selectors) are
  // stable: normalization leaves them alone, and they do not interact with their neighbours,
  // so they are copied (ASCII folded by table). A single other code point between stable
  // ones usually normalizes the same in any such place (é, Ж, ß, a variation selector); its
  // form is cached. Any other run goes through utf8proc together with the code point before
  // it, which it may compose with (c + ◌̧ = ç); the stable code point after the run can
  // interact with neither side.
  static const copyable_set copyable;
  auto is_stable_at = [&](const unsigned char* s, std::size_t left, std::size_t& len) {
    std::int32_t cp;
    len = s[0] < 0x80 ? 1 : decode(s, left, cp);
    if (len == 0) {
      len = 1;  // an invalid byte: utf8proc's path replaces it
      return false;
    }
    return len == 1 || copyable.contains(cp) || is_stable(cp, utf8proc_get_property(cp));
  };
  auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  emitter emit{out, n};
  scratch* tmp = nullptr;
  std::size_t i = 0;
  std::size_t prev_begin = 0;
  auto prev_out = emit.tell();
  while (i < n) {
    if (s[i] < 0x80) {
      prev_begin = i;
      prev_out = emit.tell();
      emit.ascii(s[i++]);
      continue;
    }
    std::int32_t cp;
    auto len = decode(s + i, n - i, cp);
    if (len > 0 && copyable.contains(cp)) {
      prev_begin = i;
      prev_out = emit.tell();
      emit.utf8(text.data() + i, len);
      i += len;
      continue;
    }
    std::size_t next_len;
    if (len > 0) {
      if (is_stable(cp, utf8proc_get_property(cp))) {  // white space or a control character
        prev_begin = i;
        prev_out = emit.tell();
        emit.space();
        i += len;
        continue;
      }
      if (i + len == n || is_stable_at(s + i + len, n - i - len, next_len)) {
        if (!tmp) tmp = &local_scratch();
        auto& form = cached_form_alone(text.substr(i, len), cp, mode, *tmp);
        if (form.alone) {
          if (form.space)
            emit.space();
          else if (form.size > 0)  // an empty write would still write a pending space
            emit.utf8(form.utf8, form.size);
          i += len;
          continue;
        }
      }
    }
    auto begin = i;
    if (i > 0) {
      begin = prev_begin;
      emit.rewind(prev_out);
    }
    auto end = i;
    while (end < n && !is_stable_at(s + end, n - end, next_len)) end += next_len;
    if (!tmp) tmp = &local_scratch();
    emit.code_points(tmp->cps.data(),
                     normalize_segment(text.substr(begin, end - begin), mode, *tmp));
    i = end;
  }
  emit.finish();
}

std::string normalize(std::string_view text, accents mode) {
  std::string out;
  normalize_into(text, mode, out);
  return out;
}

std::string normalize_unoptimized(std::string_view text, accents mode) {
  std::string out;
  emitter emit{out, text.size()};
  auto& tmp = local_scratch();
  emit.code_points(tmp.cps.data(), normalize_segment(text, mode, tmp));
  emit.finish();
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
