#include "app/database.hpp"

#include <algorithm>
#include <cstdlib>

#include <pqxx/pqxx>

#include "storage/pool.hpp"

namespace komentra::app {

std::string database::open(const config::settings& cfg) {
  // libpq reads the connect time-out from the environment for every connection it opens.
  auto timeout_s =
      std::max<std::int64_t>(1, (cfg.integer("database.connect_timeout_ms") + 999) / 1000);
  setenv("PGCONNECT_TIMEOUT", std::to_string(timeout_s).c_str(), 0);
  url_ = cfg.str("database.url");
  if (url_.empty()) {
    storage::embedded_options opts;
    opts.data_dir = cfg.str("data_dir");
    opts.bin_dir = cfg.str("database.postgres_bin_dir");
    opts.run_as_user = cfg.str("database.embedded_user");
    embedded_ = std::make_unique<storage::embedded_postgres>(opts);
    if (auto err = embedded_->start(); !err.empty()) {
      embedded_.reset();
      return err;
    }
    url_ = embedded_->url();
    return {};
  }
  try {
    storage::connect(url_);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return "cannot reach the database at " + config::mask_database_url(url_) + ": " + msg +
           " (check KOMENTRA_DATABASE_URL, or unset it to use the embedded PostgreSQL)";
  }
  return {};
}

void database::close() {
  if (embedded_) embedded_->stop();
  embedded_.reset();
}

}  // namespace komentra::app
