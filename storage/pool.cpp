#include "storage/pool.hpp"

#include <chrono>

#include <pqxx/pqxx>

namespace komentra::storage {

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  return std::make_unique<pqxx::connection>(url);
}

namespace {

// PostgreSQL's errors carry their SQLSTATE, so that a caller can tell a violated
// constraint (class 23: running the job again fails again) from a passing trouble.
std::string describe(const std::exception& e) {
  std::string what = e.what();
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql && !sql->sqlstate().empty())
    what += " [SQLSTATE " + sql->sqlstate() + "]";
  return what;
}

}  // namespace

bool is_permanent(const std::string& reason) {
  for (auto* cls : {"[SQLSTATE 22", "[SQLSTATE 23", "[SQLSTATE 54"})
    if (reason.find(cls) != std::string::npos) return true;
  return false;
}

pool::pool(pool_options opts) : opts_(std::move(opts)) {
  for (std::size_t i = 0; i < opts_.size; ++i) threads_.emplace_back([this, i] { work(i); });
}

pool::~pool() {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    stopping_ = true;
    held_ = false;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void pool::hold(bool on) {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    held_ = on;
  }
  cv_.notify_all();
}

void pool::wait_idle() {
  std::unique_lock<std::mutex> lock(mtx_);
  idle_cv_.wait(lock, [&] { return busy_ == 0 && (queue_.empty() || held_); });
}

bool pool::enqueue(task t) {
  {
    std::lock_guard<std::mutex> lock(mtx_);
    if (stopping_ || queue_.size() >= opts_.queue_limit) return false;
    queue_.push_back(std::move(t));
  }
  cv_.notify_one();
  return true;
}

bool pool::submit(job j, failure fail) {
  return enqueue({std::move(j), {}, std::move(fail)});
}

bool pool::submit_in_transaction(tx_job j, failure fail) {
  return enqueue({{}, std::move(j), std::move(fail)});
}

std::string pool::run_together(pqxx::connection& conn, std::vector<task>& tasks) {
  std::vector<after_commit> after;
  after.reserve(tasks.size());
  try {
    pqxx::work tx(conn);
    shared_tx shared{tx, {}};
    for (auto& t : tasks) after.push_back(t.in_tx(shared));
    shared.merged.flush(tx);
    tx.commit();
  } catch (const pqxx::broken_connection&) {
    throw;  // every job fails with the reason; each failure callback decides what follows
  } catch (const pqxx::in_doubt_error&) {
    throw;  // the commit may have happened: running the jobs again here could repeat them
  } catch (const std::exception& e) {
    if (tasks.size() == 1) return describe(e);
    for (auto& t : tasks) {
      std::vector<task> alone{std::move(t)};
      std::string err;
      try {
        err = run_together(conn, alone);
      } catch (const std::exception& lost) {
        err = std::string("database unreachable: ") + lost.what();
      }
      if (!err.empty() && alone[0].fail) alone[0].fail(err);
    }
    tasks.clear();  // each one answered
    return {};
  }
  for (auto& a : after)
    if (a) a();
  return {};
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
    std::vector<task> batch;
    {
      std::unique_lock<std::mutex> lock(mtx_);
      cv_.wait(lock, [&] { return stopping_ || (!held_ && !queue_.empty()); });
      if (queue_.empty()) break;
      // Transaction jobs at the head of the queue share one transaction; taking only
      // the head keeps jobs in the order they were queued.
      do {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } while (batch.back().in_tx && !queue_.empty() && queue_.front().in_tx &&
               batch.size() < opts_.max_batch);
      ++busy_;
    }
    auto& t = batch.front();
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
      if (t.in_tx) {
        error = run_together(*conn, batch);
      } else {
        t.run(*conn);
      }
    } catch (const pqxx::broken_connection& e) {
      error = std::string("database unreachable: ") + e.what();
      if (conn) {
        conn.reset();
        set_connected(false);
      }
    } catch (const std::exception& e) {
      error = describe(e);
    }
    // A connection that is no longer open (server restart, network) is replaced on the
    // next job rather than reused.
    if (conn && !conn->is_open()) {
      conn.reset();
      set_connected(false);
    }
    if (!error.empty()) {
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      for (auto& failed : batch)
        if (failed.fail) failed.fail(error);
    }
    std::lock_guard<std::mutex> lock(mtx_);
    if (--busy_ == 0 && queue_.empty()) idle_cv_.notify_all();
  }
  if (conn) set_connected(false);
}

}  // namespace komentra::storage
