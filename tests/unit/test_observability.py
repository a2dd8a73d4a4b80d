"""The Grafana dashboard, Prometheus and nginx configs agree with the code and the compose file.

Every series the dashboard queries must be one the code exports (vigil/core/metrics.py and
prometheus_client's process collector) or one Prometheus makes itself (``up``), with the labels
it groups by; every Vigil stage in docker-compose.yml must be scraped on the port its command
gives; the nginx template's variables must all be set where it is rendered.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import yaml
from prometheus_client import ProcessCollector
from prometheus_client.metrics import MetricWrapperBase

from vigil.core import metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "infra" / "grafana" / "dashboards" / "vigil.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset"}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
PROMETHEUS_OWN = {"up": set[str]()}  # series Prometheus writes about each scrape


def exported() -> dict[str, set[str]]:
    """Every series name the code exports -> its label names."""
    series: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            suffixes = {"counter": ["_total", "_created"], "gauge": [""],
                        "histogram": ["_bucket", "_sum", "_count", "_created"]}[family.type]
            for suffix in suffixes:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    for family in ProcessCollector(registry=None).collect():  # served beside them
        for sample in family.samples:
            series[sample.name] = set()
    return series


def queried(expr: str) -> tuple[list[str], list[str]]:
    """(series names, label names grouped by) of one PromQL expression."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # selectors and ranges
    grouped = [label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
               for label in group.split(",") if label.strip()]
    expr = re.sub(r"\b(?:by|without)\s*\([^)]*\)", " ", expr)
    names = [m.group(1) for m in re.finditer(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", expr)
             if m.group(2) is None and m.group(1) not in KEYWORDS]
    return names, grouped


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel["targets"]]


def test_the_query_parser_finds_series_and_groupings() -> None:
    names, grouped = queried('histogram_quantile(0.95, sum by (le, stage) '
                             '(rate(vigil_stage_latency_seconds_bucket{stage=~"f.*"}[5m])))')
    assert (names, grouped) == (["vigil_stage_latency_seconds_bucket"], ["le", "stage"])
    assert queried("count by (job) (up == 1)") == (["up"], ["job"])


def test_every_series_the_dashboard_queries_is_exported_with_its_labels() -> None:
    known = {**exported(), **PROMETHEUS_OWN}
    queries = dashboard_queries()
    assert len(queries) >= 8
    for title, expr in queries:
        names, grouped = queried(expr)
        assert names, f"{title}: no series in {expr!r}"
        for name in names:
            assert name in known, f"{title}: {name} is not exported by the code ({expr!r})"
        labels = set().union(*(known[n] for n in names)) | TARGET_LABELS
        assert set(grouped) <= labels, f"{title}: groups by {set(grouped) - labels} ({expr!r})"


def test_the_dashboard_covers_what_operators_watch() -> None:
    text = " ".join(expr for _title, expr in dashboard_queries())
    for series in ("vigil_frames_in_total", "vigil_decisions_total",
                   "vigil_end_to_end_latency_seconds_bucket", "vigil_consumer_lag",
                   "vigil_capacity_sessions", "vigil_sessions_in_use", "vigil_queue_waiting",
                   "vigil_device_info", "vigil_stage_processes", "vigil_stage_restarts_total"):
        assert series in text, f"the dashboard shows no {series}"


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_prometheus_scrapes_every_compose_stage_on_its_metrics_port() -> None:
    config = yaml.safe_load((REPO / "infra" / "prometheus" / "prometheus.yml").read_text())
    scraped = {(name, sd["port"]) for job in config["scrape_configs"]
               for sd in job["dns_sd_configs"] for name in sd["names"]}
    stages = {name: service["command"] for name, service in compose()["services"].items()
              if "build" in service and service.get("restart") != "no"
              and service["command"][0] != "console"}  # the console is no stage of the flow
    assert len(stages) == 8  # two gateways, face, phone, decide, evidence, audit, replies
    for name, command in stages.items():
        assert "--metrics-port" in command, f"{name} serves no /metrics"
        port = int(command[command.index("--metrics-port") + 1])
        assert (name, port) in scraped, f"Prometheus does not scrape {name}:{port}"


def test_grafana_provisioning_finds_the_dashboard_and_its_datasource() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provider = yaml.safe_load((REPO / "infra/grafana/provisioning/dashboards/vigil.yml")
                              .read_text())["providers"][0]
    assert mounts["./infra/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./infra/grafana/provisioning"] == "/etc/grafana/provisioning"
    source = yaml.safe_load((REPO / "infra/grafana/provisioning/datasources/prometheus.yml")
                            .read_text())["datasources"][0]
    uids = {panel["datasource"]["uid"] for panel in json.loads(DASHBOARD.read_text())["panels"]}
    assert uids == {source["uid"]} and source["url"] == "http://prometheus:9090"


def test_the_nginx_template_gets_every_variable_it_names() -> None:
    template = (REPO / "infra" / "nginx" / "vigil.conf.template").read_text()
    wanted = {m.group("braced") for m in string.Template.pattern.finditer(template)
              if m.group("braced")}
    nginx = compose()["services"]["nginx"]
    assert wanted == set(nginx["environment"]) == {
        "NGINX_LISTEN", "NGINX_CONSOLE_LISTEN", "NGINX_HTTP_LISTEN", "NGINX_HTTPS_PORT",
        "TLS_CERT", "TLS_KEY", "GATEWAY_1", "GATEWAY_2", "CONSOLE"}
    for name in ("GATEWAY_1", "GATEWAY_2", "CONSOLE"):
        service = nginx["environment"][name].split(":")[0]
        assert service in compose()["services"], f"{name} names no compose service"


def test_no_metric_names_a_client() -> None:
    """/metrics is served without authentication (compose binds it beyond loopback for
    Prometheus): a client_id label would list who is online, and grow without bound."""
    labelled = {name for name, labels in exported().items() if "client_id" in labels}
    assert not labelled, f"series labelled by client_id: {sorted(labelled)}"


def test_compose_serves_tls_and_trusts_only_its_nginx() -> None:
    services = compose()["services"]
    nginx_address = services["nginx"]["networks"]["default"]["ipv4_address"]
    for name in ("gateway-1", "gateway-2", "console"):
        trusted = json.loads(services[name]["environment"]["VIGIL_TRUSTED_PROXIES"])
        assert trusted == [nginx_address], name
    template = (REPO / "infra" / "nginx" / "vigil.conf.template").read_text()
    assert template.count(" ssl;") == 2 and "return 308 https://" in template
