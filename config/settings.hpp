#pragma once
/// The effective configuration: defaults from the schema, overridden by a TOML file,
/// overridden by KOMENTRA_* environment variables. Loading validates every value; the
/// result is immutable and safe to read from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/schema.hpp"

namespace komentra::config {

/// Where a value came from, for `komentra config`.
enum class origin { schema_default, file, environment };

class settings {
 public:
  /// Accessors take a schema key; asking for a key that is not in the schema is a
  /// programming error and throws std::logic_error.
  const std::string& str(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  bool flag(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;
  origin source(std::string_view key) const;

  /// Overrides a value after validating it (tests and sub-commands use this).
  /// Returns an error message, or an empty string on success.
  std::string set(std::string_view key, const std::string& value, origin from = origin::file);

  /// The effective configuration as TOML-like lines, secrets masked.
  std::string render() const;

 private:
  friend std::variant<settings, std::string> load(const std::optional<std::string>&,
                                                  const std::map<std::string, std::string>&);
  const std::pair<std::string, origin>& entry(std::string_view key) const;
  std::map<std::string, std::pair<std::string, origin>, std::less<>> values_;
};

/// Loads from an optional TOML file and an environment map. On failure the string
/// names the key (or the file position) and the accepted values.
std::variant<settings, std::string> load(const std::optional<std::string>& file,
                                         const std::map<std::string, std::string>& env);

/// The process environment as a map (only KOMENTRA_* variables).
std::map<std::string, std::string> komentra_environment();

/// Checks one value against its spec; returns an error message or empty.
std::string validate(const key_spec& spec, const std::string& value);

/// host and port of a host_port value ("127.0.0.1:8080" -> {"127.0.0.1", 8080}).
std::pair<std::string, std::uint16_t> split_host_port(const std::string& value);

/// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db"; also masks
/// password=... in key=value strings.
std::string mask_database_url(const std::string& url);

}  // namespace komentra::config
