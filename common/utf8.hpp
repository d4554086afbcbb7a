#pragma once
/// UTF-8 well-formedness, for text that goes to PostgreSQL (which refuses anything else)
/// from wherever it comes: automations, URL paths and queries.

#include <string_view>

namespace komentra {

/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace komentra
