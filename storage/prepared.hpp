#pragma once
/// Statements of the hot path (the engine's decisions and outbox updates) run as prepared
/// statements: each connection parses and plans one the first time it runs it, and after
/// that only binds and executes. The statement's name is derived from its text, so a call
/// site stays one line of SQL and two texts never share a name.

#include <functional>
#include <string>
#include <utility>

#include <pqxx/pqxx>

namespace komentra::storage {

/// Runs `sql` with `args` ($1, $2, ...) as a prepared statement on the transaction's
/// connection.
template <class... Args>
pqxx::result prepared(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  auto name = "k" + std::to_string(std::hash<std::string>{}(sql));
  tx.conn().prepare(name, sql);  // registers once per connection; the same text again is a no-op
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace komentra::storage
