#include "config/settings.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <toml++/toml.h>

extern char** environ;

namespace komentra::config {

namespace {

std::string trim(std::string s) {
  auto ws = [](unsigned char c) { return std::isspace(c); };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), ws));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), ws).base(), s.end());
  return s;
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    auto item = trim(value.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

bool parse_int(const std::string& s, std::int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

std::string known_keys_hint(std::string_view unknown) {
  // Suggest keys sharing the unknown key's section, else list the sections.
  auto dot = unknown.find('.');
  std::string section(unknown.substr(0, dot == std::string_view::npos ? 0 : dot + 1));
  std::string hint;
  for (auto& k : schema())
    if (!section.empty() && k.name.substr(0, section.size()) == section)
      hint += (hint.empty() ? "" : ", ") + std::string(k.name);
  if (hint.empty())
    for (auto& k : schema()) hint += (hint.empty() ? "" : ", ") + std::string(k.name);
  return "known keys: " + hint;
}

// Flattens a TOML table into dotted keys with canonical string values.
std::string flatten(const toml::table& table, const std::string& prefix,
                    std::map<std::string, std::string>& out) {
  for (auto&& [k, node] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto* sub = node.as_table()) {
      if (auto err = flatten(*sub, key, out); !err.empty()) return err;
      continue;
    }
    const key_spec* spec = find_key(key);
    if (!spec) return "unknown configuration key '" + key + "'; " + known_keys_hint(key);
    if (auto* s = node.as_string()) {
      out[key] = s->get();
    } else if (auto* i = node.as_integer()) {
      out[key] = std::to_string(i->get());
    } else if (auto* b = node.as_boolean()) {
      out[key] = b->get() ? "true" : "false";
    } else if (auto* a = node.as_array(); a && spec->type == value_type::list) {
      std::string joined;
      for (auto&& item : *a) {
        auto* str = item.as_string();
        if (!str) return "configuration key '" + key + "' must be a list of strings";
        joined += (joined.empty() ? "" : ",") + str->get();
      }
      out[key] = joined;
    } else {
      return "configuration key '" + key + "' has the wrong type; expected " + describe_type(*spec);
    }
  }
  return {};
}

}  // namespace

std::string validate(const key_spec& spec, const std::string& value) {
  auto bad = [&] {
    return "invalid value for " + std::string(spec.name) + " (" + env_name(spec.name) +
           "): expected " + describe_type(spec);
  };
  switch (spec.type) {
    case value_type::string:
    case value_type::list:
      return {};
    case value_type::integer: {
      std::int64_t v;
      if (!parse_int(value, v) || v < spec.min || v > spec.max)
        return bad() + ", got '" + value + "'";
      return {};
    }
    case value_type::boolean:
      return value == "true" || value == "false" ? std::string{} : bad() + ", got '" + value + "'";
    case value_type::choice:
      for (auto c : spec.choices)
        if (c == value) return {};
      return bad() + ", got '" + value + "'";
    case value_type::host_port: {
      auto colon = value.rfind(':');
      std::int64_t port;
      if (colon == std::string::npos || colon == 0 || !parse_int(value.substr(colon + 1), port) ||
          port < 0 || port > 65535)
        return bad() + ", got '" + value + "'";
      return {};
    }
    case value_type::hex_key: {
      if (value.empty()) return {};
      bool ok = value.size() == 64 && std::all_of(value.begin(), value.end(), [](char c) {
                  return std::isxdigit(static_cast<unsigned char>(c));
                });
      return ok ? std::string{} : bad() + " (the value is not shown because it is secret)";
    }
  }
  return {};
}

std::pair<std::string, std::uint16_t> split_host_port(const std::string& value) {
  auto colon = value.rfind(':');
  auto host = value.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, static_cast<std::uint16_t>(std::stoi(value.substr(colon + 1)))};
}

std::string mask_database_url(const std::string& url) {
  std::string out = url;
  // URL form: scheme://user:password@host
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      out.replace(colon + 1, at - colon - 1, "***");
  }
  // key=value form and URL query parameters
  for (const std::string key : {"password="}) {
    std::size_t pos = 0;
    while ((pos = out.find(key, pos)) != std::string::npos) {
      auto start = pos + key.size();
      auto end = out.find_first_of(" &", start);
      if (end == std::string::npos) end = out.size();
      out.replace(start, end - start, "***");
      pos = start + 3;
    }
  }
  return out;
}

const std::pair<std::string, origin>& settings::entry(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end())
    throw std::logic_error("configuration key not in schema: " + std::string(key));
  return it->second;
}

const std::string& settings::str(std::string_view key) const {
  return entry(key).first;
}

std::int64_t settings::integer(std::string_view key) const {
  std::int64_t v = 0;
  parse_int(entry(key).first, v);
  return v;
}

bool settings::flag(std::string_view key) const {
  return entry(key).first == "true";
}

std::vector<std::string> settings::list(std::string_view key) const {
  return split_list(entry(key).first);
}

origin settings::source(std::string_view key) const {
  return entry(key).second;
}

std::string settings::set(std::string_view key, const std::string& value, origin from) {
  const key_spec* spec = find_key(key);
  if (!spec) return "unknown configuration key '" + std::string(key) + "'";
  if (auto err = validate(*spec, value); !err.empty()) return err;
  values_[std::string(key)] = {value, from};
  return {};
}

std::string settings::render() const {
  std::string out;
  for (auto& spec : schema()) {
    auto& [value, from] = entry(spec.name);
    std::string shown = value;
    if (spec.secret && !value.empty())
      shown = spec.name == "database.url" ? mask_database_url(value) : "********";
    const char* where = from == origin::environment ? "environment ("
                        : from == origin::file      ? "file"
                                                    : "default";
    out += std::string(spec.name) + " = \"" + shown + "\"  # " + where +
           (from == origin::environment ? env_name(spec.name) + ")" : "") + "\n";
  }
  return out;
}

std::variant<settings, std::string> load(const std::optional<std::string>& file,
                                         const std::map<std::string, std::string>& env) {
  settings s;
  for (auto& spec : schema())
    s.values_[std::string(spec.name)] = {std::string(spec.default_value), origin::schema_default};
  if (file) {
    std::map<std::string, std::string> from_file;
    try {
      auto table = toml::parse_file(*file);
      if (auto err = flatten(table, "", from_file); !err.empty()) return *file + ": " + err;
    } catch (const toml::parse_error& e) {
      auto& where = e.source().begin;
      return *file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
             ": not valid TOML: " + std::string(e.description());
    }
    for (auto& [k, v] : from_file)
      if (auto err = s.set(k, v, origin::file); !err.empty()) return *file + ": " + err;
  }
  for (auto& [name, value] : env) {
    if (name.rfind("KOMENTRA_", 0) != 0) continue;
    const key_spec* spec = nullptr;
    for (auto& k : schema())
      if (env_name(k.name) == name) spec = &k;
    if (!spec) {
      // Variables the scripts and tests use themselves are not configuration keys.
      static const std::vector<std::string> not_keys = {
          "KOMENTRA_CONFIG", "KOMENTRA_TEST_DATABASE_URL", "KOMENTRA_BUILD_DIR"};
      if (std::find(not_keys.begin(), not_keys.end(), name) != not_keys.end()) continue;
      return "unknown environment variable " + name + "; " + known_keys_hint("") +
             " (as KOMENTRA_ + upper case, dots as underscores)";
    }
    if (auto err = s.set(spec->name, value, origin::environment); !err.empty()) return err;
  }
  return s;
}

std::map<std::string, std::string> komentra_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("KOMENTRA_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace komentra::config
