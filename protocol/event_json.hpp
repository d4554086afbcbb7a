#pragma once
/// The journal's JSON form of a normalized webhook_event (stored in a jsonb column and
/// replayed later). Pure and thread-safe. event_from_json(to_json(e)) == e for every event
/// whose strings are valid UTF-8 (all events from parse_delivery are).
///
/// Keys are the struct's member names; empty strings, false flags and an empty attachment
/// list are left out. Unknown keys are ignored on reading, so older rows stay readable.

#include <optional>
#include <string>
#include <string_view>

#include "protocol/webhook_event.hpp"

namespace komentra::protocol {

/// One compact JSON object.
std::string to_json(const webhook_event& ev);

/// Inverse of to_json; nullopt when `json` is not an object of that shape (a value of the
/// wrong type, invalid JSON or UTF-8). An unknown "kind" text reads as event_kind::unknown.
std::optional<webhook_event> event_from_json(std::string_view json);

}  // namespace komentra::protocol
