"""`vigil process face|phone|decide`: run one processing stage in this process."""

from __future__ import annotations

import argparse
import logging

from vigil.core import metrics
from vigil.core.settings import Settings, load_settings
from vigil.core.stage_loop import stop_on_signals

log = logging.getLogger(__name__)


def _run_model_stage(stage: str, settings: Settings, metrics_port: int) -> int:
    from control.heartbeat import Heartbeat

    if stage == "face":
        from control.embeddings import enrolled_embeddings_loader
        from processors.face import face_loop

        loop, device = face_loop(settings, enrolled_embeddings_loader(settings))
    else:
        from processors.phone import phone_loop

        loop, device = phone_loop(settings)
    stop_on_signals(loop.stop)
    heartbeat = Heartbeat.start_for_processor(settings, stage, device, loop.stop)
    metrics.serve_metrics(metrics_port, settings.metrics_host, healthy=heartbeat.alive)
    loop.run()
    return 0


def _process(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.stage == "decide":
        from processors.decide.worker import run_decide

        return run_decide(settings, metrics_port=args.metrics_port)
    return _run_model_stage(args.stage, settings, args.metrics_port)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("process", help="run one processing stage (a consumer group member)")
    parser.add_argument("stage", choices=["face", "phone", "decide"])
    parser.add_argument("--metrics-port", type=int, default=0,
                        help="serve /metrics and /healthz here (0: off)")
    parser.set_defaults(handler=_process)
