#pragma once
/// The `komentra` command line: serve, migrate, config (and demo, once the engine
/// lands). Exit status 0 on success, 2 when start-up cannot proceed (bad configuration,
/// unreachable database, busy port), with one line saying what to fix.

namespace komentra::app {

int run_cli(int argc, char** argv);

}  // namespace komentra::app
