"""What the command handlers of every area share: the settings of the parsed command line.

A handler raises :class:`~vigil.core.errors.VigilError` for an error meant for the user; the
`vigil` command (vigil/apps/cli.py) prints it on one line and exits with its code.
"""

from __future__ import annotations

import argparse

from vigil.core.settings import Settings, load_settings


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``--config`` (else VIGIL_CONFIG and the environment). A parser built
    by one area alone, as its tests build one, has no ``--config``: the environment decides."""
    return load_settings(getattr(args, "config", None))
