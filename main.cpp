// komentra: see app/cli.cpp for the commands.
#include "app/cli.hpp"

int main(int argc, char** argv) {
  return komentra::app::run_cli(argc, argv);
}
