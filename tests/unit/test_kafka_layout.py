"""The local cluster's layout and the one durability rule, without starting a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.apps.cli import build_parser
from vigil.core.settings import load_settings
from vigil.core.topics import Durability, TopicError, durability_for
from vigil.local.kafka_cluster import (
    cluster_bootstrap,
    cluster_nodes,
    kafka_nodes,
    layout_root,
    layouts_on_disk,
)
from vigil.local.servers import InfraError


def test_durability_is_three_copies_two_in_sync_on_three_brokers_one_and_one_on_one() -> None:
    assert durability_for(1) == Durability(1, 1)
    assert durability_for(2) == Durability(2, 1)
    assert durability_for(3) == Durability(3, 2)
    assert durability_for(5) == Durability(3, 2)
    assert durability_for(5, replication_factor=5) == Durability(5, 4)
    assert durability_for(3).config() == {"min.insync.replicas": "2"}
    with pytest.raises(TopicError, match="replication factor 3 needs 3 brokers, the cluster "
                                         "has 1"):
        durability_for(1, replication_factor=3)


def test_three_nodes_from_one_address_step_by_two(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_brokers=3)
    nodes = cluster_nodes(settings)
    assert [(n.node_id, n.port, n.controller_port) for n in nodes] == [
        (1, 9092, 9093), (2, 9094, 9095), (3, 9096, 9097)]
    assert cluster_bootstrap(nodes) == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"


def test_node_count_follows_the_bootstrap_list_when_not_set(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_brokers=None,
                             kafka_bootstrap="127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392")
    assert [n.port for n in cluster_nodes(settings)] == [9192, 9292, 9392]
    assert settings.kafka.local_nodes == 3


def test_clashing_ports_are_refused_with_the_ports_named(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_brokers=3,
                             kafka_bootstrap="127.0.0.1:9000", kafka_controller_port=9002)
    with pytest.raises(InfraError, match=r"share port\(s\) \[9002, 9004\]"):
        cluster_nodes(settings)


def test_node_properties_form_a_quorum_of_three_with_durable_internal_topics(
        tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_brokers=3)
    second = kafka_nodes(settings)[1]
    props = dict(line.split("=", 1) for line in second._properties().splitlines() if line)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097")
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert (props["offsets.topic.replication.factor"], props["min.insync.replicas"],
            props["transaction.state.log.min.isr"]) == ("3", "2", "2")
    assert second.root == (tmp_path / "kafka-3nodes" / "node-2").resolve()
    assert second.name == "kafka-2"


def test_single_node_keeps_its_old_folder_and_layouts_are_found(tmp_path: Path) -> None:
    [single] = kafka_nodes(load_settings(state_dir=tmp_path, kafka_brokers=1))
    assert single.root == (tmp_path / "kafka").resolve() and single.name == "kafka"
    assert layouts_on_disk(tmp_path) == []
    layout_root(tmp_path, 1).mkdir()
    (layout_root(tmp_path, 3) / "node-1").mkdir(parents=True)
    assert layouts_on_disk(tmp_path) == [1, 3]


def test_infra_takes_a_broker_count() -> None:
    args = build_parser().parse_args(["infra", "up", "--brokers", "3"])
    assert (args.action, args.brokers) == ("up", 3)
