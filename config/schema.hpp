#pragma once
/// The one configuration schema: every key Komentra reads, with its type, default,
/// unit and description. Adding a key means adding one row to schema.cpp (see
/// CONTRIBUTING.md); the loader, `komentra config` and the README table all follow it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace komentra::config {

enum class value_type {
  string,     ///< any text
  integer,    ///< a whole number within [min, max]
  boolean,    ///< true or false
  list,       ///< comma-separated text items (a TOML array is accepted too)
  choice,     ///< one of `choices`
  host_port,  ///< host:port with a port in 0..65535 (0 picks a free port)
  hex_key,    ///< 64 hex digits (a 256-bit key), or empty
};

struct key_spec {
  std::string_view name;  ///< dotted TOML name; the variable is KOMENTRA_ + upper snake case
  value_type type;
  std::string_view default_value;
  std::string_view unit;  ///< empty when the value has none
  std::string_view description;
  bool secret = false;  ///< masked by `komentra config` and never logged
  std::vector<std::string_view> choices = {};
  std::int64_t min = 0;
  std::int64_t max = INT64_MAX;
};

/// All keys, in the order `komentra config` prints them.
const std::vector<key_spec>& schema();

/// The spec of `name`, or nullptr.
const key_spec* find_key(std::string_view name);

/// KOMENTRA_DATABASE_URL for "database.url".
std::string env_name(std::string_view key);

/// A human-readable name of a type with its accepted values, for error messages.
std::string describe_type(const key_spec& spec);

}  // namespace komentra::config
