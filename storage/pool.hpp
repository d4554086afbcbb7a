#pragma once
/// A fixed set of worker threads, each owning one PostgreSQL connection (libpqxx is
/// blocking and not thread-safe). Callers on event loops or actors submit jobs and get
/// the outcome through their own callbacks, so nothing waits on the database except
/// these workers. A lost connection is reopened for the next job; while the database
/// is down every job fails fast with a message instead of queueing without bound.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

namespace komentra::storage {

struct pool_options {
  std::string url;
  std::size_t size = 4;
  std::size_t queue_limit = 10000;
};

class pool {
 public:
  /// Runs on a worker with its connection; may throw (caught and reported to `fail`).
  using job = std::function<void(pqxx::connection&)>;
  /// Called on the worker thread when the job could not run or threw.
  using failure = std::function<void(const std::string& reason)>;

  explicit pool(pool_options opts);
  ~pool();  ///< finishes queued jobs, then joins the workers

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Queues a job. Returns false (and calls nothing) when the queue is full.
  bool submit(job j, failure fail);

  struct stats {
    std::size_t size, busy, queued, connected;
  };
  stats snapshot() const;

 private:
  struct task {
    job run;
    failure fail;
  };
  void work(std::size_t index);

  pool_options opts_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<task> queue_;
  std::size_t busy_ = 0;
  std::size_t connected_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// Opens a connection; throws pqxx::broken_connection with libpq's message.
std::unique_ptr<pqxx::connection> connect(const std::string& url);

}  // namespace komentra::storage
