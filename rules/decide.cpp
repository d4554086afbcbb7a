#include "rules/decide.hpp"

#include <strings.h>

#include <algorithm>
#include <cstdio>

namespace komentra::rules {

namespace {

using protocol::event_kind;

bool iequals(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string substitute(std::string_view text, std::string_view username) {
  static constexpr std::string_view placeholder = "{username}";
  std::string out;
  std::size_t pos = 0;
  for (std::size_t hit; (hit = text.find(placeholder, pos)) != std::string_view::npos;) {
    out.append(text.substr(pos, hit - pos)).append(username.empty() ? "there" : username);
    pos = hit + placeholder.size();
  }
  out.append(text.substr(pos));
  return out;
}

std::string random_token(std::mt19937_64& rng) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// The DM of an automation: its text with {username}, and its buttons pointing at our
// redirect so clicks can be counted.
std::string dm_message(const account_info& account, const automation& a, std::string_view username,
                       std::mt19937_64& rng, std::vector<tracked_link>& links) {
  std::vector<protocol::button> buttons;
  for (auto& b : a.dm_buttons) {
    std::string url = b.url;
    if (!account.link_base_url.empty()) {
      auto token = random_token(rng);
      links.push_back({token, b.url});
      url = account.link_base_url + token;
    }
    buttons.push_back({b.title, url});
  }
  return protocol::text_or_buttons_message(substitute(a.dm_text, username), buttons);
}

std::string prompt_message(const automation& a, std::string_view comment_id) {
  auto text = a.follow_prompt_text.empty()
                  ? std::string("Follow us, then tap the button below and I'll send you the link.")
                  : a.follow_prompt_text;
  auto title = a.follow_button_title.empty() ? std::string("I'm following") : a.follow_button_title;
  return protocol::postback_prompt_message(text, title, follow_gate_payload(a.id, comment_id));
}

bool in_scope(const automation& a, const protocol::webhook_event& ev) {
  switch (a.scope) {
    case media_scope::any:
      return true;
    case media_scope::selected:
    case media_scope::next:
      // "next" automations hold the post's id once it is published (empty until then).
      return std::find(a.media_ids.begin(), a.media_ids.end(), ev.media_id) != a.media_ids.end();
  }
  return false;
}

// Instagram's ids are short (numeric ids of about 20 digits, message ids of about 150
// characters). An event with one far longer cannot be answered (the Graph API would not know
// it), and the id would not fit the keys of the outbox and the audience: PostgreSQL would
// refuse its decision at every try.
constexpr std::size_t max_id_bytes = 256;

bool has_overlong_id(const protocol::webhook_event& ev) {
  for (auto* id : {&ev.sender_id, &ev.recipient_id, &ev.comment_id, &ev.parent_id, &ev.media_id,
                   &ev.mid, &ev.reply_to_mid, &ev.reply_to_story_id})
    if (id->size() > max_id_bytes) return true;
  return false;
}

decision skip(std::string reason) {
  decision d;
  d.outcome = "skipped:" + reason;
  return d;
}

}  // namespace

std::optional<decision> decide_own(const protocol::webhook_event& ev) {
  switch (ev.kind) {
    case event_kind::comment:
    case event_kind::live_comment:
      // BR-12: our own comments (public replies included) come back as comment events.
      if (ev.from_self || (!ev.sender_id.empty() && ev.sender_id == ev.account_id))
        return skip("own_comment");
      return std::nullopt;
    case event_kind::message:
      // BR-11: our own sends come back as echoes.
      if (ev.is_echo || (!ev.sender_id.empty() && ev.sender_id == ev.account_id))
        return skip("echo");
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

namespace {

decision decide_comment(const account_info& account, const compiled_rules& rules,
                        const protocol::webhook_event& ev, std::int64_t now_ms,
                        std::mt19937_64& rng) {
  if (auto own = decide_own(ev)) return *own;
  if (ev.sender_id == account.id ||
      (!account.username.empty() && iequals(ev.sender_username, account.username)))
    return skip("own_comment");
  auto trigger =
      ev.kind == event_kind::live_comment ? trigger_kind::live_comment : trigger_kind::comment;
  // BR-16: a parent equal to the media is a top-level comment (Facebook's shape).
  bool is_reply = !ev.parent_id.empty() && ev.parent_id != ev.media_id;
  const automation* winner = nullptr;
  bool reply_skipped = false;
  for (auto* a : rules.matching(trigger, ev.text)) {
    if (!in_scope(*a, ev)) continue;
    if (is_reply && a->ignore_replies) {
      reply_skipped = true;
      continue;
    }
    winner = a;
    break;
  }
  if (!winner) return skip(reply_skipped ? "reply_ignored" : "no_match");
  auto& a = *winner;
  decision d;
  d.outcome = "matched";
  d.automation_id = a.id;
  bool wants_private = !a.dm_text.empty() || a.follow_gate;
  std::string path_error;
  auto messages = protocol::messages_path(account.login, account.graph_version, account.id,
                                          account.page_id, path_error);
  if (!messages && wants_private) {
    // BR-26: no call at all with a broken account configuration.
    d.outcome = "failed:config_" + path_error;
    std::replace(d.outcome.begin(), d.outcome.end(), ' ', '_');
    return d;
  }
  // Live comments take no public replies (§2.3).
  if (trigger == trigger_kind::comment && !a.public_replies.empty()) {
    std::uniform_int_distribution<std::size_t> pick(0, a.public_replies.size() - 1);
    planned_action p{action_kind::public_reply, a.id, ev.comment_id, ev.sender_id};
    // A reply to a reply is posted under the top-level comment (§2.3, BR-16).
    p.path = protocol::replies_path(account.graph_version, is_reply ? ev.parent_id : ev.comment_id);
    p.body =
        protocol::public_reply_body(substitute(a.public_replies[pick(rng)], ev.sender_username));
    d.actions.push_back(std::move(p));
  }
  if (wants_private) {
    if (ev.time_ms > 0 && now_ms - ev.time_ms > private_reply_window_ms) {
      d.notes.push_back("skipped:private_reply_window_expired");
    } else {
      planned_action p{action_kind::private_reply, a.id, ev.comment_id, ev.sender_id};
      p.path = *messages;
      auto message = a.follow_gate ? prompt_message(a, ev.comment_id)
                                   : dm_message(account, a, ev.sender_username, rng, p.links);
      p.body = protocol::private_reply_body(ev.comment_id, message);
      if (a.follow_gate) d.notes.push_back("prompted");
      d.actions.push_back(std::move(p));
    }
  }
  return d;
}

decision decide_message(const account_info& account, const compiled_rules& rules,
                        const protocol::webhook_event& ev, std::mt19937_64& rng) {
  if (auto own = decide_own(ev)) return *own;
  if (ev.sender_id == account.id) return skip("echo");
  if (ev.is_self) return skip("self_message");
  if (ev.is_deleted) return skip("deleted");
  auto trigger = trigger_kind::dm;
  for (auto& at : ev.attachments)
    if (at.type == "story_mention") trigger = trigger_kind::story_mention;
  if (trigger == trigger_kind::dm && !ev.reply_to_story_id.empty())
    trigger = trigger_kind::story_reply;
  decision d;
  d.inbound_message = true;
  auto candidates = rules.matching(trigger, ev.text);
  if (candidates.empty()) {
    d.outcome = "skipped:no_match";
    return d;
  }
  auto& a = *candidates.front();
  d.outcome = "matched";
  d.automation_id = a.id;
  if (a.dm_text.empty()) return d;
  std::string path_error;
  auto messages = protocol::messages_path(account.login, account.graph_version, account.id,
                                          account.page_id, path_error);
  if (!messages) {
    d.outcome = "failed:config_" + path_error;
    std::replace(d.outcome.begin(), d.outcome.end(), ' ', '_');
    return d;
  }
  planned_action p{action_kind::dm, a.id, ev.mid, ev.sender_id};
  p.path = *messages;
  p.body = protocol::direct_message_body(ev.sender_id, dm_message(account, a, "", rng, p.links));
  d.actions.push_back(std::move(p));
  return d;
}

decision decide_postback(const account_info& account, const compiled_rules& rules,
                         const protocol::webhook_event& ev) {
  // BR-32: a tap on our own button by the account itself is not a lead.
  if (ev.sender_id == account.id) return skip("own_postback");
  static constexpr std::string_view prefix = "KOMENTRA_FG:";
  std::string_view payload = ev.postback_payload;
  decision d;
  d.inbound_message = true;
  if (payload.substr(0, prefix.size()) != prefix) {
    d.outcome = "skipped:not_a_trigger";
    return d;
  }
  payload.remove_prefix(prefix.size());
  auto colon = payload.find(':');
  std::int64_t id = 0;
  auto id_text = std::string(payload.substr(0, colon));
  if (colon == std::string_view::npos || id_text.empty() ||
      id_text.find_first_not_of("0123456789") != std::string::npos) {
    d.outcome = "skipped:unknown_postback";
    return d;
  }
  id = std::stoll(id_text);
  auto* a = rules.find(id);
  if (!a || !a->follow_gate) {
    d.outcome = "skipped:unknown_postback";
    return d;
  }
  d.outcome = "follow_tapped";
  d.automation_id = id;
  planned_action p{action_kind::follow_check, id, std::string(payload.substr(colon + 1)),
                   ev.sender_id};
  p.method = "GET";
  p.path = protocol::follow_check_path(account.graph_version, ev.sender_id);
  // One check per tap: the tap's own key makes repeated deliveries of it one action.
  p.source_key += ":" + ev.dedupe_key;
  d.actions.push_back(std::move(p));
  return d;
}

}  // namespace

const char* to_string(action_kind k) {
  switch (k) {
    case action_kind::public_reply:
      return "public_reply";
    case action_kind::private_reply:
      return "private_reply";
    case action_kind::dm:
      return "dm";
    case action_kind::follow_prompt:
      return "follow_prompt";
    case action_kind::follow_check:
      return "follow_check";
    case action_kind::link_dm:
      return "link_dm";
  }
  return "dm";
}

std::string follow_gate_payload(std::int64_t automation_id, std::string_view comment_id) {
  return "KOMENTRA_FG:" + std::to_string(automation_id) + ":" + std::string(comment_id);
}

compiled_rules compiled_rules::compile(std::vector<automation> automations) {
  compiled_rules out;
  // The first of equal ids counts, as it did when they were keys of a map.
  std::stable_sort(automations.begin(), automations.end(),
                   [](const automation& a, const automation& b) { return a.id < b.id; });
  std::map<trigger_kind, std::vector<keyword_rule>> by_trigger;
  for (auto& a : automations) {
    if (!a.active || (!out.automations_.empty() && out.automations_.back().id == a.id)) continue;
    keyword_rule r;
    r.automation_id = a.id;
    r.priority = a.priority;
    r.created_order = a.created_order;
    r.type = a.match;
    r.keywords = std::move(a.keywords);
    r.exclude_keywords = std::move(a.exclude_keywords);
    r.accent_insensitive = a.accent_insensitive;
    by_trigger[a.trigger].push_back(std::move(r));
    a.keywords = {};
    a.exclude_keywords = {};
    a.account_id = {};
    a.media_ids.shrink_to_fit();
    a.public_replies.shrink_to_fit();
    a.dm_buttons.shrink_to_fit();
    out.automations_.push_back(std::move(a));
  }
  out.automations_.shrink_to_fit();
  out.matchers_.reserve(by_trigger.size());
  for (auto& [t, rs] : by_trigger) out.matchers_.emplace_back(t, matcher::compile(std::move(rs)));
  return out;
}

const automation* compiled_rules::find(std::int64_t id) const {
  auto it = std::lower_bound(automations_.begin(), automations_.end(), id,
                             [](const automation& a, std::int64_t id) { return a.id < id; });
  return it == automations_.end() || it->id != id ? nullptr : &*it;
}

std::vector<const automation*> compiled_rules::matching(trigger_kind t,
                                                        std::string_view text) const {
  std::vector<const automation*> out;
  auto it =
      std::find_if(matchers_.begin(), matchers_.end(), [t](const auto& m) { return m.first == t; });
  if (it == matchers_.end()) return out;
  for (auto id : it->second.matches(text))
    if (auto* a = find(id)) out.push_back(a);
  return out;
}

decision decide(const account_info& account, const compiled_rules& rules,
                const protocol::webhook_event& ev, std::int64_t now_ms, std::mt19937_64& rng) {
  if (has_overlong_id(ev)) return skip("invalid_id");
  switch (ev.kind) {
    case event_kind::comment:
    case event_kind::live_comment:
      return decide_comment(account, rules, ev, now_ms, rng);
    case event_kind::message:
      return decide_message(account, rules, ev, rng);
    case event_kind::postback:
      return decide_postback(account, rules, ev);
    case event_kind::standby:
      return skip("standby");
    case event_kind::mention:
      return skip("mention_not_automated");
    default:
      return skip("not_a_trigger");
  }
}

std::vector<planned_action> after_follow_check(const account_info& account, const automation& a,
                                               const std::string& igsid,
                                               const std::string& source_key,
                                               std::optional<bool> follows, int prompts,
                                               std::mt19937_64& rng) {
  std::vector<planned_action> out;
  std::string error;
  auto messages = protocol::messages_path(account.login, account.graph_version, account.id,
                                          account.page_id, error);
  if (!messages) return out;
  if (!follows || *follows) {
    planned_action p{action_kind::link_dm, a.id, source_key, igsid};
    p.path = *messages;
    p.body = protocol::direct_message_body(igsid, dm_message(account, a, "", rng, p.links));
    out.push_back(std::move(p));
  } else if (prompts <= a.max_reprompts) {
    planned_action p{action_kind::follow_prompt, a.id,
                     source_key + ":prompt:" + std::to_string(prompts), igsid};
    p.path = *messages;
    p.body = protocol::direct_message_body(igsid, prompt_message(a, source_key));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace komentra::rules
