// The OpenAPI 3 document of /api/v1. A test compares its operations with the router's.
#include <map>

#include "common/json_writer.hpp"
#include "http/api/support.hpp"

namespace komentra::http::api {

namespace {

struct operation {
  const char* method;
  const char* path;
  const char* tag;
  const char* summary;
  const char* auth;  ///< "none", "session", "member", "admin", "owner", "signed_request"
  std::vector<const char*> body_fields;
};

const std::vector<operation>& operations() {
  static const std::vector<operation> ops = {
      {"POST",
       "/api/v1/auth/signup",
       "users",
       "Sign up; a workspace is created and a verification link emailed",
       "none",
       {"email", "password", "name", "workspace_name"}},
      {"GET",
       "/api/v1/auth/verify-email",
       "users",
       "Verify an email address (the emailed link, ?token=)",
       "none",
       {}},
      {"POST",
       "/api/v1/auth/verify-email",
       "users",
       "Verify an email address or confirm an email change",
       "none",
       {"token"}},
      {"POST",
       "/api/v1/auth/login",
       "users",
       "Log in; sets the komentra_session cookie",
       "none",
       {"email", "password"}},
      {"POST", "/api/v1/auth/logout", "users", "End this session", "session", {}},
      {"POST",
       "/api/v1/auth/logout-everywhere",
       "users",
       "End every session of this user",
       "session",
       {}},
      {"POST",
       "/api/v1/auth/request-password-reset",
       "users",
       "Email a single-use reset token (same answer whether or not the address is registered)",
       "none",
       {"email"}},
      {"POST",
       "/api/v1/auth/reset-password",
       "users",
       "Set a new password with a reset token; ends all sessions",
       "none",
       {"token", "password"}},
      {"GET", "/api/v1/me", "users", "The signed-in user and their workspaces", "session", {}},
      {"PATCH", "/api/v1/me", "users", "Change the display name", "session", {"name"}},
      {"DELETE",
       "/api/v1/me",
       "privacy",
       "Delete my account and the workspaces I alone own, with all their data",
       "session",
       {"password"}},
      {"POST",
       "/api/v1/me/password",
       "users",
       "Change the password; ends the other sessions",
       "session",
       {"current_password", "new_password"}},
      {"POST",
       "/api/v1/me/email",
       "users",
       "Change the email address (confirmed through a link sent to the new one)",
       "session",
       {"password", "new_email"}},
      {"GET",
       "/api/v1/me/security-events",
       "users",
       "Recent sign-ins and sensitive changes",
       "session",
       {}},
      {"GET",
       "/api/v1/workspaces",
       "workspaces",
       "Workspaces of the signed-in user",
       "session",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}",
       "workspaces",
       "A workspace with its settings",
       "member",
       {}},
      {"PATCH",
       "/api/v1/workspaces/{workspace_id}",
       "workspaces",
       "Rename; time zone; default send caps",
       "admin",
       {"name", "time_zone", "default_private_replies_per_hour", "default_sends_per_second"}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/members",
       "workspaces",
       "Members and roles",
       "member",
       {}},
      {"PATCH",
       "/api/v1/workspaces/{workspace_id}/members/{user_id}",
       "workspaces",
       "Change a member's role",
       "owner",
       {"role"}},
      {"DELETE",
       "/api/v1/workspaces/{workspace_id}/members/{user_id}",
       "workspaces",
       "Remove a member (owners), or leave (anyone)",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/notifications",
       "workspaces",
       "Notifications, newest first (?unread=true: only unread), and the unread count",
       "member",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/notifications/{notification_id}/read",
       "workspaces",
       "Mark a notification read",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/invitations",
       "workspaces",
       "Pending invitations",
       "admin",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/invitations",
       "workspaces",
       "Invite someone by email",
       "admin",
       {"email", "role"}},
      {"DELETE",
       "/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
       "workspaces",
       "Withdraw an invitation",
       "admin",
       {}},
      {"POST",
       "/api/v1/invitations/accept",
       "workspaces",
       "Accept an invitation sent to my address",
       "session",
       {"token"}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/instagram/connect",
       "instagram",
       "Start connecting an Instagram account: the URL to send the browser to",
       "admin",
       {}},
      {"GET",
       "/api/v1/instagram/callback",
       "instagram",
       "OAuth redirect target (?code, ?state): stores the account and subscribes it to webhooks",
       "session",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts",
       "instagram",
       "Connected accounts with their status",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}",
       "instagram",
       "One connected account",
       "member",
       {}},
      {"PATCH",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}",
       "instagram",
       "The account's own send caps (null: the workspace's default)",
       "admin",
       {"private_replies_per_hour", "sends_per_second"}},
      {"DELETE",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}",
       "instagram",
       "Disconnect: removes the token and the active automations",
       "admin",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/media",
       "instagram",
       "The account's posts (?after= cursor), cached",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/live",
       "analytics",
       "Live state of the account in the engine",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations",
       "automations",
       "Automations of an account",
       "member",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations",
       "automations",
       "Create an automation",
       "admin",
       {"name", "trigger", "media_scope", "media_ids", "match_type", "keywords", "exclude_keywords",
        "accent_insensitive", "ignore_replies", "priority", "public_replies", "dm_text",
        "dm_buttons", "follow_gate", "follow_prompt_text", "follow_button_title", "max_reprompts"}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}",
       "automations",
       "One automation",
       "member",
       {}},
      {"PUT",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}",
       "automations",
       "Replace an automation",
       "admin",
       {"name", "trigger", "media_scope", "media_ids", "match_type", "keywords", "exclude_keywords",
        "accent_insensitive", "ignore_replies", "priority", "public_replies", "dm_text",
        "dm_buttons", "follow_gate", "follow_prompt_text", "follow_button_title", "max_reprompts"}},
      {"DELETE",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}",
       "automations",
       "Delete an automation",
       "admin",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}/pause",
       "automations",
       "Pause an automation",
       "admin",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}/resume",
       "automations",
       "Resume an automation",
       "admin",
       {}},
      {"POST",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/dry-run",
       "automations",
       "Which automation would win a sample text and exactly what would be sent",
       "member",
       {"text", "trigger", "username", "media_id", "is_reply"}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/automations/{automation_id}/stats",
       "analytics",
       "Counts per day (?days=30)",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/funnel",
       "analytics",
       "Funnels per automation (?days=30)",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/decisions",
       "analytics",
       "Recent matches and skips (?limit, ?before)",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/audience",
       "analytics",
       "Audience (?q search, ?limit, ?after)",
       "member",
       {}},
      {"GET",
       "/api/v1/workspaces/{workspace_id}/accounts/{account_id}/audience.csv",
       "analytics",
       "Audience as CSV",
       "member",
       {}},
      {"POST",
       "/api/v1/meta/deauthorize",
       "privacy",
       "Meta's deauthorize callback (form field signed_request)",
       "signed_request",
       {}},
      {"POST",
       "/api/v1/meta/data-deletion",
       "privacy",
       "Meta's data-deletion callback: answers {url, confirmation_code}",
       "signed_request",
       {}},
      {"GET",
       "/api/v1/meta/data-deletion/{confirmation_code}",
       "privacy",
       "Status page of a data-deletion request (HTML)",
       "none",
       {}},
      {"POST",
       "/api/v1/contact",
       "privacy",
       "Contact form (rate-limited per IP)",
       "none",
       {"email", "name", "message"}},
      {"GET", "/api/v1/openapi.json", "meta", "This document", "none", {}},
  };
  return ops;
}

std::string build() {
  json::writer w;
  w.begin_object().field("openapi", "3.0.3");
  w.key("info").begin_object().field("title", "Komentra dashboard API").field("version", "1");
  w.field("description",
          "JSON API of the Komentra dashboard. Sessions use the HttpOnly cookie komentra_session "
          "set by login. Every write (POST, PUT, PATCH, DELETE) except Meta's callbacks needs "
          "the header X-Requested-With (any value). Errors are "
          "{\"error\":{\"code\",\"message\",\"field\"}}; unknown body fields are rejected. A "
          "request body larger than " +
              std::to_string(body_limit_bytes) +
              " bytes gets 413 (code body_too_large) on every route.");
  w.end_object();
  w.key("components").begin_object();
  w.key("securitySchemes").begin_object().key("session").begin_object();
  w.field("type", "apiKey").field("in", "cookie").field("name", "komentra_session").end_object();
  w.end_object();
  w.key("schemas").begin_object().key("Error").begin_object().field("type", "object");
  w.key("properties").begin_object().key("error").begin_object().field("type", "object");
  w.key("properties").begin_object();
  for (auto k : {"code", "message", "field"})
    w.key(k).begin_object().field("type", "string").end_object();
  w.end_object().end_object().end_object().end_object().end_object().end_object();
  const auto too_large =
      "the request body is larger than " + std::to_string(body_limit_bytes) + " bytes";
  std::map<std::string, std::vector<const operation*>> by_path;
  for (auto& op : operations()) by_path[op.path].push_back(&op);
  w.key("paths").begin_object();
  for (auto& [path, ops] : by_path) {
    w.key(path).begin_object();
    for (auto* op : ops) {
      std::string m = op->method;
      for (auto& ch : m) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      w.key(m).begin_object().field("summary", op->summary);
      w.key("tags").begin_array().value(op->tag).end_array();
      std::string auth = op->auth;
      w.key("security").begin_array();
      if (auth != "none" && auth != "signed_request")
        w.begin_object().key("session").begin_array().end_array().end_object();
      w.end_array();
      if (auth == "member" || auth == "admin" || auth == "owner") w.field("x-komentra-role", auth);
      w.key("parameters").begin_array();
      std::string_view p = path;
      while (true) {
        auto open = p.find('{');
        if (open == std::string_view::npos) break;
        auto close = p.find('}', open);
        w.begin_object().field("name", p.substr(open + 1, close - open - 1)).field("in", "path");
        w.field("required", true).key("schema").begin_object().field("type", "string");
        w.end_object().end_object();
        p.remove_prefix(close + 1);
      }
      w.end_array();
      if (!op->body_fields.empty() || auth == "signed_request") {
        w.key("requestBody").begin_object().key("content").begin_object();
        if (auth == "signed_request") {
          w.key("application/x-www-form-urlencoded").begin_object().key("schema").begin_object();
          w.field("type", "object").key("properties").begin_object().key("signed_request");
          w.begin_object()
              .field("type", "string")
              .end_object()
              .end_object()
              .end_object()
              .end_object();
        } else {
          w.key("application/json").begin_object().key("schema").begin_object();
          w.field("type", "object").field("additionalProperties", false);
          w.key("properties").begin_object();
          for (auto f : op->body_fields) w.key(f).begin_object().end_object();
          w.end_object().end_object().end_object();
        }
        w.end_object().end_object();
      }
      w.key("responses").begin_object();
      w.key(std::string(op->method) == "DELETE" ? "204" : "200").begin_object();
      w.field("description", "success").end_object();
      for (auto [status, description] :
           {std::pair<const char*, std::string>{"413", too_large}, {"default", "error"}}) {
        w.key(status).begin_object().field("description", description);
        w.key("content").begin_object().key("application/json").begin_object().key("schema");
        w.begin_object().field("$ref", "#/components/schemas/Error").end_object();
        w.end_object().end_object().end_object();
      }
      w.end_object().end_object();
    }
    w.end_object();
  }
  w.end_object().end_object();
  return w.take();
}

}  // namespace

const std::string& openapi_document() {
  static const std::string doc = build();
  return doc;
}

void add_openapi_route(router& r) {
  add_plain(r, "GET", "/api/v1/openapi.json", [](request&&, const path_params&, responder respond) {
    respond(response::json(200, openapi_document()));
  });
}

}  // namespace komentra::http::api
