#pragma once
/// The engine's decision for one webhook event of one account: ignore it (with a named
/// reason), or which automation wins it and which Graph API actions to plan. Pure: the
/// account actor supplies the compiled rules, the clock and the random source, and
/// persists the result. Covers the self-loop rules (own comments, echoes, own postbacks),
/// replies to replies, media scopes, the 7-day private-reply window, live comments,
/// story replies and mentions, and the follow gate.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "protocol/graph_api.hpp"
#include "protocol/webhook_event.hpp"
#include "rules/automation.hpp"
#include "rules/matcher.hpp"

namespace komentra::rules {

/// What the engine knows of the account it decides for.
struct account_info {
  std::string id;        ///< IG professional account id
  std::string username;  ///< lower-cased comparison for BR-12
  protocol::login_type login = protocol::login_type::instagram;
  std::string page_id;  ///< Facebook Login only
  std::string graph_version = "v25.0";
  std::string link_base_url;  ///< e.g. "https://app.example/l/" ; empty: links are sent as is
};

/// An account's active automations compiled for matching: one matcher per trigger. Every
/// account actor holds one, so it is kept small: the automations it returns have no keywords
/// (those live in the matchers only) and no account_id (the account's own).
class compiled_rules {
 public:
  static compiled_rules compile(std::vector<automation> automations);
  const automation* find(std::int64_t id) const;
  /// Automations of that trigger matching `text`, best first.
  std::vector<const automation*> matching(trigger_kind t, std::string_view text) const;
  std::size_t size() const { return automations_.size(); }

 private:
  std::vector<automation> automations_;                     ///< by id
  std::vector<std::pair<trigger_kind, matcher>> matchers_;  ///< by trigger
};

enum class action_kind { public_reply, private_reply, dm, follow_prompt, follow_check, link_dm };
const char* to_string(action_kind k);

struct tracked_link {
  std::string token;
  std::string url;
};

struct planned_action {
  action_kind kind;
  std::int64_t automation_id = 0;
  std::string source_key;    ///< the comment id or message mid answered
  std::string recipient_id;  ///< the user's IGSID when known
  std::string method = "POST";
  std::string path;  ///< relative to the Graph base URL, token not included
  std::string body;
  std::vector<tracked_link> links;  ///< redirect tokens to store with the action
};

struct decision {
  /// "matched", or "skipped:<reason>" (own_comment, echo, own_postback, standby,
  /// reply_ignored, no_match, not_a_trigger, deleted, config_page_id_missing, ...).
  std::string outcome;
  std::int64_t automation_id = 0;
  std::vector<planned_action> actions;
  /// Extra named outcomes of a match (e.g. "skipped:private_reply_window_expired").
  std::vector<std::string> notes;
  /// The user wrote to us (message, postback, story reply/mention): opens the 24-h window.
  bool inbound_message = false;
};

constexpr std::int64_t private_reply_window_ms = 7LL * 24 * 3600 * 1000;

/// Payload of the follow gate's postback button: "KOMENTRA_FG:<automation id>:<comment id>".
std::string follow_gate_payload(std::int64_t automation_id, std::string_view comment_id);

decision decide(const account_info& account, const compiled_rules& rules,
                const protocol::webhook_event& ev, std::int64_t now_ms, std::mt19937_64& rng);

/// The part of decide() that needs nothing of the account but the event's account id: our
/// own comments (public replies included: from.self_ig_scoped_id, or from.id the account)
/// and DM echoes (is_echo, or sent by the account) are skipped. The router records these
/// without waking the account's actor; nullopt means the account's rules decide.
std::optional<decision> decide_own(const protocol::webhook_event& ev);

/// The DM a follow check leads to: the link when the user follows (or consent is
/// missing, error 230, as the fact sheet advises), else a re-prompt while `prompts`
/// is below the automation's max_reprompts, else nothing ("gave up").
std::vector<planned_action> after_follow_check(const account_info& account, const automation& a,
                                               const std::string& igsid,
                                               const std::string& source_key,
                                               std::optional<bool> follows, int prompts,
                                               std::mt19937_64& rng);

}  // namespace komentra::rules
