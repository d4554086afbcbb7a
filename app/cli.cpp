#include "app/cli.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/database.hpp"
#include "app/demo.hpp"
#include "app/service.hpp"
#include "common/log.hpp"
#include "common/signals.hpp"
#include "config/settings.hpp"
#include "storage/migrations.hpp"
#include "storage/pool.hpp"

namespace komentra::app {

namespace {

constexpr int exit_startup_error = 2;

int startup_error(const std::string& message) {
  std::fprintf(stderr, "komentra: %s\n", message.c_str());
  spdlog::shutdown();
  return exit_startup_error;
}

std::string keys_help() {
  std::string out = "Configuration keys (TOML key / environment variable, default):\n";
  for (auto& k : config::schema())
    out += "  " + std::string(k.name) + " / " + config::env_name(k.name) + " (" +
           (k.default_value.empty() ? std::string("empty") : std::string(k.default_value)) +
           "): " + std::string(k.description) + "\n";
  return out;
}

int run_serve(const config::settings& cfg) {
  block_termination_signals();
  service svc(cfg);
  if (auto err = svc.start(); !err.empty()) {
    svc.stop();
    return startup_error(err);
  }
  int sig = wait_for_termination_signal();
  spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  svc.stop();
  spdlog::info("stopped");
  return 0;
}

int run_migrate(const config::settings& cfg) {
  database db;
  if (auto err = db.open(cfg); !err.empty()) return startup_error(err);
  storage::migrate_result res;
  try {
    auto conn = storage::connect(db.url());
    res = storage::migrate(*conn);
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  db.close();
  if (!res.error.empty()) return startup_error(res.error);
  std::printf("database schema at version %d (was %d)\n", res.to_version, res.from_version);
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App cli{
      "Komentra: answers Instagram comments and DMs for connected Business and Creator "
      "accounts.\nEvery option can also come from a TOML file (--config) or a KOMENTRA_* "
      "environment variable; the environment wins."};
  cli.footer(keys_help());
  std::string config_file;
  if (const char* env = std::getenv("KOMENTRA_CONFIG")) config_file = env;
  cli.add_option("-c,--config", config_file, "TOML configuration file (or KOMENTRA_CONFIG)")
      ->check(CLI::ExistingFile);
  cli.require_subcommand(1);
  // `komentra serve --config FILE` works as well as `komentra --config FILE serve`.
  cli.fallthrough();
  auto* serve = cli.add_subcommand(
      "serve",
      "Run the service: webhooks, dashboard API, metrics. Starts a private PostgreSQL in "
      "data_dir when database.url is empty. Stops cleanly on SIGINT/SIGTERM.");
  auto* migrate = cli.add_subcommand(
      "migrate", "Apply pending database migrations and exit (serve also does this at start).");
  demo_options demo_opts;
  auto* demo = cli.add_subcommand(
      "demo",
      "Try Komentra with nothing configured: starts the embedded PostgreSQL, the local Instagram "
      "simulator (komentra-sim) and the engine, seeds a demo account with two automations, streams "
      "simulated comments and DMs, and shows live progress until Ctrl-C.");
  demo->add_option("--sim", demo_opts.sim_binary,
                   "Path of komentra-sim (default: next to komentra, then PATH)");
  demo->add_option("--rate", demo_opts.events_per_second, "Simulated user actions per second")
      ->check(CLI::Range(0.1, 1000.0));
  auto* show = cli.add_subcommand(
      "config", "Print the effective configuration (defaults, file, environment), secrets masked.");

  // CLI11 would call an unknown command a missing one.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      ++i;
      continue;
    }
    if (arg.empty() || arg[0] == '-') continue;
    bool known = false;
    for (auto* sub : cli.get_subcommands({})) known = known || sub->get_name() == arg;
    if (!known)
      return startup_error("unknown command '" + arg +
                           "'; the commands are serve, demo, migrate and config (see --help)");
    break;
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? 0 : exit_startup_error;
  }

  auto loaded =
      config::load(config_file.empty() ? std::nullopt : std::optional<std::string>(config_file),
                   config::komentra_environment());
  if (auto* err = std::get_if<std::string>(&loaded)) return startup_error(*err);
  auto& cfg = std::get<config::settings>(loaded);

  log::setup(cfg.str("log.format") == "json" ? log::format::json : log::format::text,
             cfg.str("log.level"));

  if (*show) {
    std::cout << cfg.render();
    return 0;
  }
  if (*migrate) return run_migrate(cfg);
  if (*demo) return run_demo(cfg, demo_opts);
  if (*serve) return run_serve(cfg);
  return exit_startup_error;
}

}  // namespace komentra::app
