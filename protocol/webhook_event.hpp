#pragma once
/// The engine's normalized form of one Instagram webhook update. Only protocol/ knows
/// Meta's JSON; everything downstream (journal, actors, storage) sees these structs.
/// Ids are strings: Meta's ids exceed 2^53. Text fields hold decoded UTF-8.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace komentra::protocol {

enum class event_kind {
  comment,       ///< changes[].field == "comments"
  live_comment,  ///< changes[].field == "live_comments"
  mention,       ///< changes[].field == "mentions" (Facebook Login only)
  message,       ///< messaging[].message (text, attachments, story reply/mention, quick reply)
  message_edit,  ///< messaging[].message_edit
  postback,      ///< messaging[].postback
  reaction,      ///< messaging[].reaction
  read,          ///< messaging[].read
  referral,      ///< messaging[].referral
  standby,       ///< entry[].standby[] (another app owns the thread: record, never answer)
  unknown,       ///< anything else: stored, never answered, never an error
};

/// "comment", "message", ... as stored in the journal's kind column.
const char* to_string(event_kind k);
/// Inverse of to_string; unknown text gives event_kind::unknown.
event_kind kind_from_string(std::string_view text);

struct attachment {
  std::string type;  ///< image, video, story_mention, ig_reel, share, ...
  std::string url;
};

struct webhook_event {
  event_kind kind = event_kind::unknown;
  std::string account_id;  ///< entry[].id: our professional account
  /// Natural key against Meta's duplicate deliveries, unique per account:
  /// "comment:<id>", "live_comment:<id>", "mention:<comment_id>", "mention:media:<media_id>",
  /// "message:<mid>", "deleted:<mid>", "edit:<mid>:<num_edit>", "postback:<mid>" (else
  /// "postback:<sender>:<timestamp>:<payload>"), "reaction:<mid>:<action>:<sender>:<timestamp>",
  /// "read:<mid>:<sender>", "referral:<sender>:<timestamp>:<ref>", "standby:<key of the inner
  /// event>", "unknown:<sha256 hex of the item's raw JSON>". A key whose parts are missing falls
  /// back to "<prefix>:sha256:<hex of the item>". See webhook_parser.hpp for the exact rules.
  std::string dedupe_key;
  /// changes[].field, or the messaging member name ("message", "postback", ...); for standby
  /// events the member name of the inner event.
  std::string field;

  std::int64_t time_ms = 0;  ///< messaging timestamp, else entry time (seconds scaled to ms)

  // Who and where.
  std::string sender_id;        ///< comment from.id, or messaging sender.id
  std::string sender_username;  ///< comment from.username when present
  std::string recipient_id;     ///< messaging recipient.id
  bool from_self = false;       ///< from.self_ig_scoped_id present (our own comment)

  // Comments.
  std::string comment_id;  ///< value.id (or value.comment_id in the Facebook Login shape)
  std::string parent_id;   ///< set when the comment is a reply
  std::string media_id;
  std::string media_product_type;  ///< FEED, REELS, STORY, AD
  std::string ad_id;

  // Messaging.
  std::string mid;
  std::string text;
  bool is_echo = false;
  bool is_self = false;
  bool is_deleted = false;
  std::string quick_reply_payload;
  std::string reply_to_story_id;  ///< a reply to our story
  std::string reply_to_mid;
  std::vector<attachment> attachments;
  std::string postback_title;
  std::string postback_payload;
  std::string reaction_action;  ///< react / unreact
  std::string reaction;         ///< love, like, ...
  std::string emoji;
  std::string referral_ref;
  std::string referral_source;
  std::string app_id;  ///< echoes may carry the sending app's id (a number on the wire)
};

bool operator==(const attachment& a, const attachment& b);
bool operator==(const webhook_event& a, const webhook_event& b);
inline bool operator!=(const webhook_event& a, const webhook_event& b) {
  return !(a == b);
}

}  // namespace komentra::protocol
