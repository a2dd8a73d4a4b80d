"""`python -m ingest [--metrics-port N]`: the gateway alone (same as `vigil ingest`)."""

from __future__ import annotations

import argparse
import logging
import sys

from ingest.run import run_gateway
from vigil.core.settings import load_settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (else VIGIL_CONFIG)")
    parser.add_argument("--metrics-port", type=int, default=0, help="/metrics port (0: off)")
    args = parser.parse_args()
    settings = load_settings(args.config)
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return run_gateway(settings, args.metrics_port)


if __name__ == "__main__":
    raise SystemExit(main())
