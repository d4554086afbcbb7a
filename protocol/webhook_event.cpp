#include "protocol/webhook_event.hpp"

#include <array>
#include <tuple>
#include <utility>

namespace komentra::protocol {

namespace {

constexpr std::array<std::pair<event_kind, const char*>, 11> kind_names{{
    {event_kind::comment, "comment"},
    {event_kind::live_comment, "live_comment"},
    {event_kind::mention, "mention"},
    {event_kind::message, "message"},
    {event_kind::message_edit, "message_edit"},
    {event_kind::postback, "postback"},
    {event_kind::reaction, "reaction"},
    {event_kind::read, "read"},
    {event_kind::referral, "referral"},
    {event_kind::standby, "standby"},
    {event_kind::unknown, "unknown"},
}};

}  // namespace

const char* to_string(event_kind k) {
  for (const auto& [kind, name] : kind_names)
    if (kind == k) return name;
  return "unknown";
}

event_kind kind_from_string(std::string_view text) {
  for (const auto& [kind, name] : kind_names)
    if (text == name) return kind;
  return event_kind::unknown;
}

bool operator==(const attachment& a, const attachment& b) {
  return a.type == b.type && a.url == b.url;
}

bool operator==(const webhook_event& a, const webhook_event& b) {
  auto members = [](const webhook_event& e) {
    return std::tie(e.kind, e.account_id, e.dedupe_key, e.field, e.time_ms, e.sender_id,
                    e.sender_username, e.recipient_id, e.from_self, e.comment_id, e.parent_id,
                    e.media_id, e.media_product_type, e.ad_id, e.mid, e.text, e.is_echo, e.is_self,
                    e.is_deleted, e.quick_reply_payload, e.reply_to_story_id, e.reply_to_mid,
                    e.attachments, e.postback_title, e.postback_payload, e.reaction_action,
                    e.reaction, e.emoji, e.referral_ref, e.referral_source, e.app_id);
  };
  return members(a) == members(b);
}

}  // namespace komentra::protocol
