"""``python -m processors.decide [--metrics-port N] [--web-port N]``: settings from VIGIL_*."""

from __future__ import annotations

import argparse
import sys

from processors.decide.policy_file import PolicyError
from processors.decide.worker import run_decide
from vigil.core.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors.decide", description=__doc__)
    parser.add_argument("--metrics-port", type=int, default=0,
                        help="serve /metrics and /healthz on this port (0: off)")
    parser.add_argument("--web-port", type=int, default=None,
                        help="Faust web server port on 127.0.0.1 (default: the setting)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return run_decide(settings, metrics_port=args.metrics_port, web_port=args.web_port)
    except (SettingsError, PolicyError) as exc:
        print(f"vigil decide: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
