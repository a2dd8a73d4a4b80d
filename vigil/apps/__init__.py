"""What a person runs: the vigil CLI, vigil up, the reference client, the benchmarks."""
