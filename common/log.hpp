#pragma once
/// Process-wide logging set-up over spdlog: human-readable text or one JSON object per
/// line (the message JSON-escaped, so any text is safe to log). Call setup() once in
/// main before other threads start; spdlog's default logger is then used everywhere.
/// Never pass secrets (tokens, app secrets, passwords, session ids) to a log call.

#include <string>

namespace komentra::log {

enum class format { text, json };

/// Installs the default logger writing to stderr. `level` is an spdlog level name.
void setup(format fmt, const std::string& level);

}  // namespace komentra::log
