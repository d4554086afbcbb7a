#include "storage/pool.hpp"

#include <chrono>

#include <pqxx/pqxx>

namespace komentra::storage {

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  return std::make_unique<pqxx::connection>(url);
}

pool::pool(pool_options opts) : opts_(std::move(opts)) {
  for (std::size_t i = 0; i < opts_.size; ++i) threads_.emplace_back([this, i] { work(i); });
}

pool::~pool() {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool pool::submit(job j, failure fail) {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    if (stopping_ || queue_.size() >= opts_.queue_limit) return false;
    queue_.push_back({std::move(j), std::move(fail)});
  }
  cv_.notify_one();
  return true;
}

pool::stats pool::snapshot() const {
  std::lock_guard<std::mutex> lock(mtx_);
  return {threads_.size(), busy_, queue_.size(), connected_};
}

void pool::work(std::size_t) {
  std::unique_ptr<pqxx::connection> conn;
  auto last_used = std::chrono::steady_clock::now();
  auto set_connected = [this](bool up) {
    std::lock_guard<std::mutex> lock(mtx_);
    up ? ++connected_ : --connected_;
  };
  for (;;) {
    task t;
    {
      std::unique_lock<std::mutex> lock(mtx_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      t = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    std::string error;
    try {
      // A connection idle for a while may have lost its server (restart, failover);
      // finding out with a trivial query costs one round trip, and spares the job a
      // spurious failure.
      if (conn && std::chrono::steady_clock::now() - last_used > std::chrono::seconds(1)) {
        try {
          pqxx::nontransaction probe(*conn);
          probe.exec("SELECT 1");
        } catch (const std::exception&) {
          conn.reset();
          set_connected(false);
        }
      }
      if (!conn) {
        conn = connect(opts_.url);
        set_connected(true);
      }
      last_used = std::chrono::steady_clock::now();
      t.run(*conn);
    } catch (const pqxx::broken_connection& e) {
      error = std::string("database unreachable: ") + e.what();
      if (conn) {
        conn.reset();
        set_connected(false);
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    // A connection that is no longer open (server restart, network) is replaced on the
    // next job rather than reused.
    if (conn && !conn->is_open()) {
      conn.reset();
      set_connected(false);
    }
    if (!error.empty() && t.fail) {
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      t.fail(error);
    }
    std::lock_guard<std::mutex> lock(mtx_);
    --busy_;
  }
  if (conn) set_connected(false);
}

}  // namespace komentra::storage
