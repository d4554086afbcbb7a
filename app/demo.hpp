#pragma once
/// `komentra demo`: with nothing configured, starts the embedded PostgreSQL, the local
/// Instagram simulator (komentra-sim, as a child process) and the engine; seeds a demo
/// workspace (one account, two posts, two automations, one follow-gated); streams
/// simulated comments, DMs and button taps; and shows a live progress line until Ctrl-C,
/// which stops everything cleanly.

#include <string>

#include "config/settings.hpp"

namespace komentra::app {

struct demo_options {
  std::string sim_binary;          ///< empty: found next to komentra, then in PATH
  double events_per_second = 2.0;  ///< simulated user activity
};

/// Runs the demo until SIGINT/SIGTERM. Returns the process exit status.
int run_demo(config::settings cfg, const demo_options& opts);

}  // namespace komentra::app
