#pragma once
/// A fixed set of worker threads, each owning one PostgreSQL connection (libpqxx is
/// blocking and not thread-safe). Callers on event loops or actors submit jobs and get
/// the outcome through their own callbacks, so nothing waits on the database except
/// these workers. A lost connection is reopened for the next job; while the database
/// is down every job fails fast with a message instead of queueing without bound.
/// Small writes can share a transaction (group commit): a worker runs the transaction
/// jobs waiting at the head of the queue in one transaction, so many accounts' decisions
/// and outbox updates cost one commit. A job's after-commit step runs only once its
/// transaction committed. Rows the jobs write without needing an answer are merged into one
/// statement per table before the commit (storage::merged_writes). When a shared transaction fails
/// for a reason other than the connection, each of its jobs runs again alone, so one bad job cannot
/// fail the others.

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
#include <pqxx/transaction>

#include "storage/merged_writes.hpp"

namespace komentra::storage {

struct pool_options {
  std::string url;
  std::size_t size = 4;
  std::size_t queue_limit = 10000;
  std::size_t max_batch = 64;  ///< transaction jobs sharing one transaction at most
};

class pool {
 public:
  /// Runs on a worker with its connection; may throw (caught and reported to `fail`).
  using job = std::function<void(pqxx::connection&)>;
  /// Called on the worker thread when the job could not run or threw.
  using failure = std::function<void(const std::string& reason)>;
  /// What to do once the transaction committed (may be empty).
  using after_commit = std::function<void()>;
  /// Runs inside a transaction that other jobs may share; must not commit or abort it,
  /// may throw (the whole transaction is then retried job by job).
  using tx_job = std::function<after_commit(shared_tx&)>;

  explicit pool(pool_options opts);
  ~pool();  ///< finishes queued jobs, then joins the workers

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  /// Queues a job. Returns false (and calls nothing) when the queue is full.
  bool submit(job j, failure fail);
  /// Queues a transaction job; false when the queue is full.
  bool submit_in_transaction(tx_job j, failure fail);

  struct stats {
    std::size_t size, busy, queued, connected;
  };
  stats snapshot() const;

  /// Holds queued jobs (true) or lets them run (false). For CAF's deterministic actor tests:
  /// their scheduler runs the actors on the test's thread and is not thread-safe, so a job's
  /// outcome must not reach an actor while it runs. Such a test runs its actors with the pool
  /// held, then releases it and waits for wait_idle(), in turns.
  void hold(bool on);
  /// Blocks until no job runs and none is queued (or the queued ones are held).
  void wait_idle();

 private:
  struct task {
    job run;
    tx_job in_tx;
    failure fail;
  };
  bool enqueue(task t);
  void work(std::size_t index);
  /// Runs tasks of one transaction; returns the error (empty on commit).
  std::string run_together(pqxx::connection& conn, std::vector<task>& tasks);

  pool_options opts_;
  mutable std::mutex mtx_;
  std::condition_variable cv_, idle_cv_;
  std::deque<task> queue_;
  std::size_t busy_ = 0;
  std::size_t connected_ = 0;
  bool stopping_ = false;
  bool held_ = false;
  std::vector<std::thread> threads_;
};

/// Whether a job's failure `reason` would come back at every try: a value PostgreSQL cannot
/// take (SQLSTATE class 22), a violated constraint (23), a limit such as an index row's size
/// (54); the pool appends the SQLSTATE to PostgreSQL's message.
bool is_permanent(const std::string& reason);

/// Opens a connection; throws pqxx::broken_connection with libpq's message.
std::unique_ptr<pqxx::connection> connect(const std::string& url);

}  // namespace komentra::storage
