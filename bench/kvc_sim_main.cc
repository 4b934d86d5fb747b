// kvc-sim: discrete-event cluster simulator running the real scheduling policy library
// on virtual time (bench/sim, docs/scheduling.md).
#include "bench/sim/sim_cli.h"

int main(int argc, char** argv) { return kvc::sim::RunSimCli(argc, argv); }
