"""The flow table (vigil/core/flow.py): what it declares (tests/unit/test_imports.py checks
that the ground floor it lives on imports no stage)."""

from __future__ import annotations

from vigil.core import flow
from vigil.core.flow_types import Cleanup, StageKind
from vigil.core.settings import load_settings


def test_every_topic_is_declared_with_its_creation_config() -> None:
    settings = load_settings(namespace="t", partitions=6)
    names = {t.name(settings): t for t in flow.TOPICS}
    assert len(names) == len(flow.TOPICS)
    assert flow.AUDIT_CHECKPOINTS.partition_count(settings) == 1
    assert flow.AUDIT_CHECKPOINTS.cleanup is Cleanup.COMPACT_DELETE
    assert {t.partition_count(settings) for t in flow.FLOW_TOPICS} == {6}
    # Faust's names for the decide app's own topics, with the app id of the table.
    app = flow.DECIDE_STAGE.group(settings)
    assert {t.name(settings) for t in flow.DECIDE_INTERNAL} == {
        f"{app}-ticks", f"{app}-__assignor-__leader",
        *(f"{app}-{table}-changelog" for table in flow.DECIDE_TABLES)}
    for changelog in flow.DECIDE_CHANGELOGS:
        config = changelog.topic_config(settings)
        assert config["cleanup.policy"] == "compact" and "retention.ms" not in config


def test_every_stage_reads_topics_of_the_table_and_consumers_have_a_batch() -> None:
    settings = load_settings(namespace="t")
    for entry in flow.STAGES:
        assert set(entry.inputs) <= set(flow.TOPICS), entry.name
        assert entry.output is None or entry.output in flow.TOPICS, entry.name
        assert entry.group(settings) == f"t-{entry.name}"
        consumer_loop = entry.kind is not StageKind.GATEWAY and entry is not flow.DECIDE_STAGE
        assert (entry.batch_size is not None) == consumer_loop, entry.name
    assert [s.slot for s in flow.STAGES] == list(range(len(flow.STAGES)))
    # Only what the table says: the model stages scale and beat; the face stage is capacity.
    assert [s.name for s in flow.scaled_stages()] == [flow.FACE_STAGE.name,
                                                      flow.PHONE_STAGE.name]
    assert flow.CAPACITY_STAGE is flow.FACE_STAGE
    assert [s for s in flow.STAGES if s.beats] == [flow.FACE_STAGE, flow.PHONE_STAGE]
    # Every model result is read by decide; every decision by the three sinks.
    readers = {t: [s.name for s in flow.STAGES if t in s.inputs] for t in flow.FLOW_TOPICS}
    assert readers[flow.FACE_RESULTS] == readers[flow.PHONE_RESULTS] == [flow.DECIDE]
    assert readers[flow.DECISIONS] == [flow.EVIDENCE_STAGE.name, flow.AUDIT_STAGE.name,
                                       flow.REPLIES_STAGE.name]
