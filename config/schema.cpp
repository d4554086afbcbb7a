#include "config/schema.hpp"

#include <algorithm>
#include <cctype>

namespace komentra::config {

namespace {
using vt = value_type;
constexpr std::int64_t mib = 1024 * 1024;
}  // namespace

const std::vector<key_spec>& schema() {
  static const std::vector<key_spec> keys = {
      {"data_dir", vt::string, "var", "path",
       "Directory for the embedded PostgreSQL cluster and other local state"},
      {"listen", vt::host_port, "127.0.0.1:8080", "host:port",
       "Address of the HTTP server (webhooks, dashboard API, metrics)"},
      {"database.url", vt::string, "", "libpq URL or key=value string",
       "PostgreSQL to use; empty starts a private embedded cluster in data_dir", true},
      {"database.pool_size",
       vt::integer,
       "4",
       "connections",
       "Connections in the general query pool",
       false,
       {},
       1,
       64},
      {"database.queue_limit",
       vt::integer,
       "10000",
       "queries",
       "Queries waiting for a pool connection before new ones are refused",
       false,
       {},
       1,
       1000000},
      {"database.connect_timeout_ms",
       vt::integer,
       "3000",
       "ms",
       "Time allowed to open one database connection",
       false,
       {},
       100,
       60000},
      {"database.embedded_user", vt::string, "postgres", "OS user name",
       "User that runs the embedded PostgreSQL when komentra runs as root (PostgreSQL refuses "
       "root)"},
      {"database.postgres_bin_dir", vt::string, "/usr/lib/postgresql/15/bin", "path",
       "Where initdb, pg_ctl and postgres of PostgreSQL 15 are installed"},
      {"http.threads",
       vt::integer,
       "2",
       "threads",
       "Threads running the HTTP server",
       false,
       {},
       1,
       64},
      {"http.body_limit_bytes",
       vt::integer,
       "4194304",
       "bytes",
       "Largest request body accepted; larger ones get 413",
       false,
       {},
       1024,
       256 * mib},
      {"http.header_limit_bytes",
       vt::integer,
       "16384",
       "bytes",
       "Largest request header block accepted",
       false,
       {},
       1024,
       mib},
      {"http.header_timeout_ms",
       vt::integer,
       "10000",
       "ms",
       "Time a client has to send the request line and headers",
       false,
       {},
       100,
       600000},
      {"http.body_timeout_ms",
       vt::integer,
       "30000",
       "ms",
       "Time a client has to send the body",
       false,
       {},
       100,
       600000},
      {"http.idle_timeout_ms",
       vt::integer,
       "60000",
       "ms",
       "Time an idle keep-alive connection is kept open",
       false,
       {},
       100,
       3600000},
      {"http.max_connections",
       vt::integer,
       "4096",
       "connections",
       "Open connections accepted at once; more are closed at once",
       false,
       {},
       1,
       1000000},
      {"http.shutdown_grace_ms",
       vt::integer,
       "10000",
       "ms",
       "Time in-flight requests get to finish on SIGINT/SIGTERM",
       false,
       {},
       0,
       600000},
      {"journal.max_batch_rows",
       vt::integer,
       "256",
       "events",
       "Most events stored in one group-commit transaction",
       false,
       {},
       1,
       100000},
      {"journal.batch_wait_us",
       vt::integer,
       "0",
       "microseconds",
       "Extra time a commit waits for more deliveries (0: only those already waiting join)",
       false,
       {},
       0,
       1000000},
      {"journal.commit_deadline_ms",
       vt::integer,
       "5000",
       "ms",
       "Time a webhook delivery waits for its commit before it gets 503",
       false,
       {},
       10,
       60000},
      {"journal.queue_limit",
       vt::integer,
       "20000",
       "deliveries",
       "Deliveries waiting for the journal before new ones get 503",
       false,
       {},
       1,
       10000000},
      {"journal.raw_retention_hours",
       vt::integer,
       "72",
       "hours",
       "How long raw webhook bodies are kept for replay and debugging",
       false,
       {},
       0,
       24 * 365},
      {"actors.threads",
       vt::integer,
       "2",
       "threads",
       "Threads running the actor system",
       false,
       {},
       1,
       64},
      {"meta.app_secrets", vt::list, "", "comma-separated secrets",
       "App secrets accepted for X-Hub-Signature-256 (Instagram app secret and/or Meta app secret; "
       "two allow rotation); empty rejects every webhook",
       true},
      {"meta.verify_token", vt::string, "", "text",
       "Token Meta echoes in the webhook verification handshake; empty refuses the handshake",
       true},
      {"meta.graph_version", vt::string, "v25.0", "vNN.0", "Graph API version used in every call"},
      {"graph.base_url", vt::string, "https://graph.instagram.com", "URL",
       "Base URL of the Instagram Graph API (the simulator's URL in the demo)"},
      {"oauth.base_url", vt::string, "https://api.instagram.com", "URL",
       "Base URL of Instagram's OAuth token endpoint"},
      {"token_key", vt::hex_key, "", "64 hex digits",
       "AES-256-GCM key encrypting Instagram access tokens at rest", true},
      {"admin_token", vt::string, "", "text",
       "Bearer token for /admin/*; empty disables the operator endpoints", true},
      {"log.format", vt::choice, "text", "", "Log line format", false, {"text", "json"}},
      {"log.level",
       vt::choice,
       "info",
       "",
       "Lowest level logged",
       false,
       {"trace", "debug", "info", "warn", "error"}},
  };
  return keys;
}

const key_spec* find_key(std::string_view name) {
  for (auto& k : schema())
    if (k.name == name) return &k;
  return nullptr;
}

std::string env_name(std::string_view key) {
  std::string out = "KOMENTRA_";
  for (char c : key)
    out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string describe_type(const key_spec& spec) {
  switch (spec.type) {
    case vt::string:
      return "text";
    case vt::integer:
      return "a whole number from " + std::to_string(spec.min) + " to " +
             (spec.max == INT64_MAX ? std::string("any size") : std::to_string(spec.max));
    case vt::boolean:
      return "true or false";
    case vt::list:
      return "a comma-separated list";
    case vt::choice: {
      std::string s = "one of";
      for (auto c : spec.choices) s += " " + std::string(c) + (c == spec.choices.back() ? "" : ",");
      return s;
    }
    case vt::host_port:
      return "host:port, e.g. 127.0.0.1:8080";
    case vt::hex_key:
      return "64 hex digits (generate one with: openssl rand -hex 32)";
  }
  return "text";
}

}  // namespace komentra::config
