// komentra: see app/cli.cpp for the commands.
#include "app/cli.hpp"

// jemalloc's settings, read at start-up. A background thread gives pages freed a few seconds
// ago back to the system (a wave of passivated account actors leaves many), and two arenas
// suit the few threads that allocate (more spread the same actors' memory thinner).
extern "C" {
const char* malloc_conf = "background_thread:true,narenas:2,dirty_decay_ms:2000,muzzy_decay_ms:0";
}

int main(int argc, char** argv) {
  return komentra::app::run_cli(argc, argv);
}
