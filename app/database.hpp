#pragma once
/// Resolves which PostgreSQL komentra uses: the configured URL, or the embedded cluster
/// (started here, stopped when this object dies). Start-up only.

#include <memory>
#include <string>

#include "config/settings.hpp"
#include "storage/embedded_postgres.hpp"

namespace komentra::app {

class database {
 public:
  /// Starts the embedded cluster when database.url is empty. Error message or empty.
  std::string open(const config::settings& cfg);
  const std::string& url() const { return url_; }
  bool embedded() const { return embedded_ != nullptr; }
  /// Stops the embedded cluster (no-op for an external server).
  void close();

 private:
  std::unique_ptr<storage::embedded_postgres> embedded_;
  std::string url_;
};

}  // namespace komentra::app
