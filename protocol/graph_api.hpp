#pragma once
/// Meta's Graph API as the engine uses it: the request bodies and paths for public
/// replies, private replies, DMs (text or button template), follow checks; the answers
/// (send results, error objects, usage headers); and the error classification of the
/// fact sheet's table (§5.4). Pure functions over text; no I/O. Tokens never appear in a
/// path: senders pass them in an Authorization header.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace komentra::protocol {

enum class login_type { instagram, facebook };

struct button {
  std::string title;
  std::string url;
};

/// The message object of a DM or private reply: {"text": ...} without buttons, else a
/// button template with web_url buttons and no top-level text (BR-32).
std::string text_or_buttons_message(std::string_view text, const std::vector<button>& buttons);

/// A button template with one postback button (the follow-gate prompt).
std::string postback_prompt_message(std::string_view text, std::string_view button_title,
                                    std::string_view payload);

/// {"recipient":{"comment_id":...},"message":...}: the private reply (§3).
std::string private_reply_body(std::string_view comment_id, std::string_view message_json);

/// {"recipient":{"id":...},"message":...}: a DM inside the messaging window (§4.1).
std::string direct_message_body(std::string_view igsid, std::string_view message_json);

/// {"message": text}: a public reply (§2.3).
std::string public_reply_body(std::string_view text);

/// "/v25.0/<node>/messages" for the account's login type (BR-26): the IG account for
/// Instagram Login, the Page for Facebook Login. nullopt (and `error` set) when a needed
/// id is missing or not numeric, so no URL with "undefined" or "null" is ever built.
std::optional<std::string> messages_path(login_type login, std::string_view version,
                                         std::string_view ig_id, std::string_view page_id,
                                         std::string& error);

/// "/v25.0/<comment_id>/replies".
std::string replies_path(std::string_view version, std::string_view comment_id);

/// "/v25.0/<igsid>?fields=is_user_follow_business,username".
std::string follow_check_path(std::string_view version, std::string_view igsid);

/// True when a string is a Graph id (digits only, 1 to 32 of them).
bool is_graph_id(std::string_view id);

struct graph_error {
  int code = 0;
  int subcode = 0;
  std::string type;
  std::string message;
  std::string fbtrace_id;
  bool is_transient = false;
};

/// The {"error":{...}} object of a Graph answer; nullopt when the body is not one.
std::optional<graph_error> parse_graph_error(std::string_view body);

/// "code 190/463: <message>", for logs and recorded errors.
std::string describe(const graph_error& e);

enum class outcome {
  ok,
  transient,         ///< retry with backoff (1, 2, 1200, 5xx without an error object)
  throttled,         ///< pause the account's sends (4, 17, 32, 613, 80002, ...)
  spam_blocked,      ///< 4/2207051, 368: pause the account for hours
  token_invalid,     ///< 190, 102: the account needs reconnecting
  window_closed,     ///< 10/2534022, 10/2018278: outside the messaging window
  already_replied,   ///< 10/2534025: the comment's one private reply was used
  user_unavailable,  ///< 551/1545041, 100/2018001: the person cannot receive messages
  no_consent,        ///< 230: profile not readable until the user messages
  not_found,         ///< 100/33: the object is gone (deleted comment)
  permanent,         ///< any other error: do not retry
};

const char* to_string(outcome o);

/// Classifies an answer on error.code / error_subcode, not on the HTTP status (§5.4).
outcome classify(int http_status, const std::optional<graph_error>& error);

/// Whether a failed write may still have happened (code 2 or is_transient, 5xx): such a
/// write is not retried until a read shows it did not happen (invariant 4).
bool outcome_may_have_happened(int http_status, const std::optional<graph_error>& error);

struct usage {
  int max_percent = 0;     ///< highest percentage in X-App-Usage / X-Business-Use-Case-Usage
  int regain_minutes = 0;  ///< estimated_time_to_regain_access
};

/// Reads both usage headers (either may be empty); malformed headers count as 0.
usage parse_usage(std::string_view app_usage, std::string_view business_usage);

/// The id a send or reply answered: message_id (messages) or id (replies); empty if none.
std::string result_id(std::string_view body);

/// How to learn whether a write whose answer was lost (a time-out, code 1 or 2, a 5xx, a
/// dropped connection) happened after all. A public reply is looked for in the comment's
/// replies. A private reply is simply sent again: Meta allows one per comment (§3) and
/// refuses a second (10/2534025, classified already_replied). A DM is looked for in the 20
/// latest messages of the conversation with its recipient (Conversations API, §4; the
/// listing's shape is practice, unverified), by its text (a button template's text), so
/// an earlier DM with the same text counts as this one: a lost copy is preferred to a
/// second one.
struct write_check {
  enum class method { read_replies, read_conversation, send_again };
  method how = method::read_replies;
  std::string path;  ///< the GET target, query included (empty for send_again)
};

/// The check for a write to `path` with `body`, addressed to `recipient_igsid` (the
/// commenter for a public or private reply); nullopt for writes that cannot be checked.
std::optional<write_check> check_for_write(std::string_view path, std::string_view body,
                                           std::string_view recipient_igsid);

/// The path and query of a listing's next page (paging.next without its scheme and host);
/// empty on the last page.
std::string next_page_path(std::string_view listing);

/// Whether `listing` (the answer of a read check's GET) holds the write `request_body`; a
/// message counts only when it is not from `recipient_igsid` (not the user's own words).
bool check_finds(const write_check& check, std::string_view listing, std::string_view request_body,
                 std::string_view recipient_igsid);

/// is_user_follow_business from a profile answer; nullopt when absent.
std::optional<bool> parse_follows(std::string_view body);

/// A long-lived token answer ({"access_token","token_type","expires_in"}) of
/// GET /access_token (ig_exchange_token) and GET /refresh_access_token.
struct access_token {
  std::string token;
  std::int64_t expires_in_s = 0;  ///< 0 when the answer did not say
};
/// nullopt when the body has no access_token string.
std::optional<access_token> parse_access_token(std::string_view body);

/// GET path and query of a long-lived token refresh (the token goes in the query, as the
/// endpoint requires; never log it).
std::string refresh_token_target(std::string_view token);

}  // namespace komentra::protocol
