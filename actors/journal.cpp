#include "actors/journal.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "metrics/metrics.hpp"
#include "storage/pool.hpp"

namespace komentra::actors {

namespace {

using clock = std::chrono::steady_clock;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class journal_writer {
 public:
  journal_writer(journal_options opts, router_actor router, std::shared_ptr<journal_counters> c)
      : opts_(std::move(opts)), router_(std::move(router)), counters_(std::move(c)) {}

  std::size_t rows(const std::vector<journal_request>& batch) const {
    std::size_t n = 0;
    for (auto& r : batch) n += std::max<std::size_t>(1, r.delivery.events.size());
    return n;
  }

  // A batch's events go to PostgreSQL as array parameters of one statement: bounded well
  // below PostgreSQL's 1 GB per parameter (256 deliveries of the 4 MiB body limit would
  // not be).
  static constexpr std::size_t max_batch_bytes = 16 << 20;
  bool full(const std::vector<journal_request>& batch) const {
    std::size_t bytes = 0;
    for (auto& r : batch) bytes += r.delivery.body.size();
    return rows(batch) >= opts_.max_batch_rows || bytes >= max_batch_bytes;
  }

  void flush(std::vector<journal_request>& batch) {
    if (batch.empty()) return;
    std::string error = store(batch, 0, batch.size());
    if (!error.empty() && batch.size() > 1 && conn_) {
      // Not the connection: isolate the delivery that cannot be stored.
      spdlog::warn("journal: batch of {} failed ({}); storing deliveries one by one", batch.size(),
                   error);
      for (std::size_t i = 0; i < batch.size(); ++i)
        if (auto err = store(batch, i, i + 1); !err.empty()) fail(batch[i], err);
    } else if (!error.empty()) {
      for (auto& r : batch) fail(r, error);
    }
    batch.clear();
  }

  void purge() {
    try {
      connect();
      auto n = storage::purge_deliveries(*conn_, opts_.raw_retention);
      if (n > 0) spdlog::info("journal: removed {} raw deliveries past retention", n);
      // Hourly: its walk over the journal's account ids is not free, and a retention in
      // hours does not need it every minute.
      if (clock::now() >= next_unowned_purge_) {
        next_unowned_purge_ = clock::now() + std::chrono::hours(1);
        n = storage::purge_unowned_events(*conn_, opts_.unowned_retention);
        if (n > 0)
          spdlog::info("journal: removed {} events of accounts not connected, past retention", n);
      }
    } catch (const std::exception& e) {
      drop_broken();
      spdlog::warn("journal: purge of old raw deliveries failed: {}", trimmed(e.what()));
    }
  }

 private:
  void connect() {
    if (!conn_) conn_ = storage::connect(opts_.database_url);
  }

  void drop_broken() {
    if (conn_ && !conn_->is_open()) conn_.reset();
  }

  // Stores batch[from, to) in one transaction and answers those requests on success.
  std::string store(std::vector<journal_request>& batch, std::size_t from, std::size_t to) {
    std::vector<const storage::delivery_record*> records;
    for (std::size_t i = from; i < to; ++i) records.push_back(&batch[i].delivery);
    storage::batch_result res;
    auto started = clock::now();
    try {
      connect();
      res = storage::store_batch(*conn_, records);
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      return "database unreachable: " + trimmed(e.what());
    } catch (const std::exception& e) {
      drop_broken();
      if (!conn_) return "database unreachable: " + trimmed(e.what());
      return trimmed(e.what());
    }
    ++counters_->commits;
    counters_->batch_rows += rows(batch);
    std::size_t batch_events = 0;
    for (auto* r : records) batch_events += r->events.size();
    metrics::journal_commit(batch_events,
                            std::chrono::duration<double>(clock::now() - started).count());
    std::vector<journal_outcome> outcomes(records.size());
    std::vector<stored_event> fresh;
    fresh.reserve(res.inserted.size());
    for (auto& ins : res.inserted) {
      auto& req = batch[from + ins.delivery_index];
      ++outcomes[ins.delivery_index].new_events;
      fresh.push_back({ins.journal_id, req.delivery.id, req.delivery.events[ins.event_index]});
    }
    if (!res.undecided_error.empty()) {
      drop_broken();
      spdlog::warn(
          "journal: batch stored, but its duplicates could not be checked for events still "
          "undecided ({}); such events are decided when Meta delivers them again or at the "
          "next start",
          trimmed(res.undecided_error));
    }
    for (auto& again : res.undecided) {
      auto& req = batch[from + again.delivery_index];
      spdlog::debug("delivery {}: event {} was stored before and is still undecided; routed again",
                    req.delivery.id, req.delivery.events[again.event_index].dedupe_key);
      fresh.push_back({again.journal_id, req.delivery.id, req.delivery.events[again.event_index]});
    }
    // The router hears of the events before anyone hears the answer, so whoever reacts to
    // the answer finds them routed.
    if (!fresh.empty()) caf::anon_send(router_, events_atom::value, std::move(fresh));
    for (std::size_t i = 0; i < records.size(); ++i) {
      auto& out = outcomes[i];
      out.stored = true;
      out.duplicates = records[i]->events.size() - out.new_events;
      counters_->events_stored += out.new_events;
      counters_->duplicates += out.duplicates;
      ++counters_->deliveries;
      spdlog::debug("delivery {}: stored {} new events, {} duplicates", records[i]->id,
                    out.new_events, out.duplicates);
      answer(batch[from + i], std::move(out));
    }
    return {};
  }

  void answer(journal_request& r, journal_outcome out) {
    --counters_->pending;
    if (r.done) r.done(std::move(out));
    r.done = nullptr;
  }

  void fail(journal_request& r, const std::string& error) {
    ++counters_->failures;
    spdlog::warn("delivery {}: not stored: {}", r.delivery.id, error);
    journal_outcome out;
    out.error = error;
    answer(r, std::move(out));
  }

  journal_options opts_;
  router_actor router_;
  std::shared_ptr<journal_counters> counters_;
  std::unique_ptr<pqxx::connection> conn_;
  clock::time_point next_unowned_purge_ = clock::now();
};

// `purges`: this writer also removes raw bodies past retention (one writer does).
void journal_loop(caf::blocking_actor* self, journal_options opts, router_actor router,
                  std::shared_ptr<journal_counters> counters, bool purges) {
  journal_writer writer(opts, std::move(router), std::move(counters));
  std::vector<journal_request> batch;
  bool running = true;
  auto next_purge = clock::now();
  while (running) {
    self->receive([&](append_atom, journal_request& r) { batch.push_back(std::move(r)); },
                  [&](caf::exit_msg&) { running = false; },
                  caf::after(std::chrono::seconds(1)) >> [] {});
    // Group commit: whatever else is already waiting (or arrives within batch_wait)
    // joins this transaction.
    auto deadline = clock::now() + opts.batch_wait;
    bool more = !batch.empty();
    while (more && running && !writer.full(batch)) {
      auto left = std::max(clock::duration::zero(), deadline - clock::now());
      self->receive([&](append_atom, journal_request& r) { batch.push_back(std::move(r)); },
                    [&](caf::exit_msg&) { running = false; },
                    caf::after(std::chrono::duration_cast<std::chrono::microseconds>(left)) >>
                        [&] { more = false; });
    }
    writer.flush(batch);
    if (purges && clock::now() >= next_purge) {
      writer.purge();
      next_purge = clock::now() + opts.purge_interval;
    }
  }
  writer.flush(batch);
}

}  // namespace

journal_handle::journal_handle(std::vector<caf::actor> writers,
                               std::shared_ptr<journal_counters> counters, std::size_t queue_limit)
    : writers_(std::move(writers)), counters_(std::move(counters)), queue_limit_(queue_limit) {}

bool journal_handle::submit(journal_request req) const {
  if (writers_.empty()) return false;
  if (counters_->pending.fetch_add(1) >= queue_limit_) {
    --counters_->pending;
    return false;
  }
  auto& writer = writers_[std::hash<std::string_view>{}(req.delivery.body) % writers_.size()];
  caf::anon_send(writer, append_atom::value, std::move(req));
  return true;
}

void journal_handle::stop() const {
  for (auto& w : writers_) caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

journal_handle spawn_journal(caf::actor_system& sys, journal_options opts, router_actor router,
                             std::size_t queue_limit) {
  auto counters = std::make_shared<journal_counters>();
  std::vector<caf::actor> writers;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, opts.writers); ++i)
    writers.push_back(sys.spawn<caf::detached>(journal_loop, opts, router, counters, i == 0));
  return journal_handle(std::move(writers), std::move(counters), queue_limit);
}

}  // namespace komentra::actors
