#pragma once
/// Text normalization and word-boundary rules for keyword matching, over utf8proc.
/// Keywords and comments go through the same `normalize_into`, so matching is a byte
/// comparison of normalized UTF-8. The form is NFKC + Unicode case folding, default-ignorable
/// code points removed (variation selectors, bidi marks, soft hyphen, ZWNJ; a ZWJ is kept only
/// inside emoji sequences), whitespace and control characters collapsed to one ASCII space and
/// trimmed. With `accents::fold`, nonspacing marks (Mn) on Latin, Greek and Arabic letters are
/// removed (and the Arabic tatweel); marks of other scripts (Devanagari vowel signs, Cyrillic
/// й/ё, Hebrew, Thai) are letters of the word and stay.
/// Pure functions, thread-safe; scratch buffers (and a cache of the forms of single code
/// points, 8 KB) are thread_local, so the hot path does not allocate once they have grown. The
/// first call computes which code points can be copied as they are (16 KB, about a
/// millisecond). Invalid UTF-8 never fails: each bad byte becomes U+FFFD.

#include <cstdint>
#include <string>
#include <string_view>

namespace komentra::rules {

enum class accents : bool { keep, fold };

/// Replaces `out` with the normalized form of `text`.
void normalize_into(std::string_view text, accents mode, std::string& out);

/// The normalized form of `text`.
std::string normalize(std::string_view text, accents mode = accents::fold);

/// The same form, with the whole text through utf8proc's decompose, filter and compose round
/// trip: what `normalize_into` gives without its fast paths (ASCII folded by table, stable
/// code points copied), slower. Tests compare the two.
std::string normalize_unoptimized(std::string_view text, accents mode = accents::fold);

/// Letters (L*), marks (M*), numbers (N*) and connector punctuation (`_`) form words;
/// everything else (spaces, punctuation, symbols, emoji) separates them.
bool is_word_char(std::int32_t cp);

/// Han, Hiragana, Katakana, Bopomofo, Hangul, Thai, Lao, Khmer, Myanmar, Tibetan: scripts
/// written without spaces between words (or, for Hangul, with particles glued to the word).
/// A word boundary is assumed on both sides of such a character.
bool is_no_space_script(std::int32_t cp);

/// Whether a whole-word match may begin or end between `before` and `after` (code points of
/// normalized text, -1 at either end of the text). Never inside a ZWJ emoji sequence and
/// never before a combining mark.
bool is_word_boundary(std::int32_t before, std::int32_t after);

}  // namespace komentra::rules
