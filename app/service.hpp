#pragma once
/// The running Komentra service: database (embedded or configured), migrations, the
/// actor system, the HTTP server and its routes. `komentra serve` and `komentra demo`
/// both run one. start() returns a message saying what to fix when anything is wrong;
/// stop() shuts down in order (stop accepting, finish in-flight requests, drain actors,
/// stop the embedded database).

#include <cstdint>
#include <memory>
#include <string>

#include "config/settings.hpp"

namespace komentra::actors {
struct engine_counters;
struct journal_counters;
}  // namespace komentra::actors

namespace komentra::app {

class service {
 public:
  explicit service(config::settings cfg);
  ~service();

  std::string start();
  void stop();
  std::uint16_t port() const;
  /// libpq URL of the database in use (embedded or configured); valid after start().
  std::string database_url() const;
  /// Live counters of the engine and the journal; valid after start().
  const actors::engine_counters& engine_counters() const;
  const actors::journal_counters& journal_counters() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace komentra::app
