#pragma once
/// What the dashboard API handlers (/api/v1, /l/{token}, Meta's deauthorize and
/// data-deletion callbacks) may use: configuration, the database pool, the server (for
/// deadlines), the Graph API client, and the engine's hooks. The hooks are how an API
/// change reaches the running account actors without a restart.

#include <functional>
#include <string>

namespace komentra::config {
class settings;
}
namespace komentra::storage {
class pool;
}

namespace komentra::http {

class server;
class client;

struct engine_hooks {
  /// An account's automations changed (created, updated, paused, deleted): recompile.
  std::function<void(const std::string& account_id)> automations_changed;
  /// An account was disconnected or deleted: stop its actor now.
  std::function<void(const std::string& account_id)> account_removed;
  /// The live state of an account actor as a JSON object text (queue depth, budgets,
  /// status), delivered to the callback on some thread; "{}" when not running.
  std::function<void(const std::string& account_id, std::function<void(std::string)>)> live_state;
};

struct api_context {
  const config::settings& cfg;
  storage::pool& db;
  server& srv;
  client& graph;
  engine_hooks engine;
};

}  // namespace komentra::http
