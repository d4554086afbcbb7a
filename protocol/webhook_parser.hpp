#pragma once
/// Turns the raw body of one webhook delivery (already signature-checked) into normalized
/// webhook_events. Pure and thread-safe: each thread reuses its own simdjson On-Demand
/// parser, and the returned events own their strings.
///
/// How it fails: any body that is not valid UTF-8 JSON, nests deeper than
/// max_delivery_nesting, is not the {"object": string, "entry": [object...]} envelope, or has
/// a value of the wrong type where a value is read, gives a non-empty `error` and no events;
/// the HTTP layer answers 400 and stores nothing. Shapes it does not know (another "object",
/// an unknown change field, an unknown messaging member) are never errors: each becomes one
/// event of kind unknown, keyed "unknown:<sha256 hex of the item's raw JSON>". Nor is an
/// escaped unpaired UTF-16 surrogate ("\ud83d" without its low half, a lone "\udc00": Meta
/// cuts texts inside emoji): it reads as U+FFFD, as does an escaped U+0000, and the body is
/// parsed as if it had said "\ufffd" there (also for the hashed keys).
///
/// Dedupe keys (parts containing ':' or '%' are percent-encoded, so parts never run into each
/// other; a key missing a part it needs uses "<prefix>:sha256:<hex>" over the item's raw JSON):
///   comments        comment:<value.id | value.comment_id>    (live_comments: live_comment:<id>)
///   mentions        mention:<comment_id>, or mention:media:<media_id> for a caption mention
///   message         message:<mid>, deleted:<mid> when is_deleted
///   message_edit    edit:<mid>:<num_edit>
///   postback        postback:<mid>, else postback:<sender>:<timestamp>:<payload>
///   reaction        reaction:<mid>:<action>:<sender>:<timestamp>
///   read            read:<mid>:<sender>
///   referral        referral:<sender>:<timestamp>:<ref>
///   standby[]       standby:<the key the same item would get under messaging[]>
///   unknown         unknown:<sha256 hex>; for a change the hash covers the field name and the
///                   raw value (so both change shapes give one key), else the item's raw JSON.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/webhook_event.hpp"

namespace komentra::protocol {

/// Bytes past the end of the body that simdjson may read (SIMDJSON_PADDING).
inline constexpr std::size_t delivery_padding_bytes = 64;

/// Deepest object/array nesting accepted in a delivery. A real delivery nests 9 levels.
inline constexpr int max_delivery_nesting = 32;

struct parse_outcome {
  std::vector<webhook_event> events;
  /// Non-empty: the body is rejected (HTTP 400) and `events` is empty.
  std::string error;

  bool ok() const { return error.empty(); }
};

/// Parses `body`, copying it into a reused per-thread padded buffer first.
parse_outcome parse_delivery(std::string_view body);

/// Parses in place without copying: `data[0, capacity)` must be readable and
/// capacity >= size + delivery_padding_bytes (e.g. a std::string whose capacity() was
/// reserved); otherwise it falls back to the copying overload.
parse_outcome parse_delivery(const char* data, std::size_t size, std::size_t capacity);

}  // namespace komentra::protocol
