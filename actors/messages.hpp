#pragma once
/// Atoms, message types and their inspect() overloads for every actor, in one place.
/// Register them all with add_message_types(cfg) (actor_system_config), so tests print
/// them and a future remote node could serialize them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "protocol/webhook_event.hpp"

namespace komentra::protocol {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attachment& x) {
  return f(caf::meta::type_name("attachment"), x.type, x.url);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_event& x) {
  // The kind travels as its stable text form (see protocol::to_string).
  std::string kind = to_string(x.kind);
  auto restore = caf::meta::load_callback([&]() -> caf::error {
    x.kind = kind_from_string(kind);
    return caf::none;
  });
  return f(caf::meta::type_name("webhook_event"), kind, x.account_id, x.dedupe_key, x.field,
           x.time_ms, x.sender_id, x.sender_username, x.recipient_id, x.from_self, x.comment_id,
           x.parent_id, x.media_id, x.media_product_type, x.ad_id, x.mid, x.text, x.is_echo,
           x.is_self, x.is_deleted, x.quick_reply_payload, x.reply_to_story_id, x.reply_to_mid,
           x.attachments, x.postback_title, x.postback_payload, x.reaction_action, x.reaction,
           x.emoji, x.referral_ref, x.referral_source, x.app_id, restore);
}

}  // namespace komentra::protocol

namespace komentra::actors {

using events_atom = caf::atom_constant<caf::atom("events")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using unknown_atom = caf::atom_constant<caf::atom("unknown")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using purge_atom = caf::atom_constant<caf::atom("purge")>;

/// An event the journal stored (not a duplicate), with its journal row id.
struct stored_event {
  std::int64_t journal_id = 0;
  std::string delivery_id;  ///< correlation id of the delivery, for logs
  protocol::webhook_event event;
  /// Decided again on an operator's request (POST /admin/accounts/{id}/replay): see
  /// storage::record_decision for what a replay may change.
  bool replay = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_event& x) {
  return f(caf::meta::type_name("stored_event"), x.journal_id, x.delivery_id, x.event, x.replay);
}

/// What the router has seen.
struct router_stats {
  std::uint64_t events = 0;
  /// Only a router without an engine (tests of the journal) counts per account: in the
  /// engine's router this map would keep an entry for every account ever seen.
  std::map<std::string, std::uint64_t> events_per_account;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(caf::meta::type_name("router_stats"), x.events, x.events_per_account);
}

/// Registers every message type above with an actor system configuration.
inline void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<protocol::attachment>("komentra::attachment");
  cfg.add_message_type<protocol::webhook_event>("komentra::webhook_event");
  cfg.add_message_type<stored_event>("komentra::stored_event");
  cfg.add_message_type<std::vector<stored_event>>("std::vector<komentra::stored_event>");
  cfg.add_message_type<router_stats>("komentra::router_stats");
}

}  // namespace komentra::actors
