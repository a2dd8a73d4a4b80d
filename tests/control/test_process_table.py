"""`vigil status`'s view of this machine's `vigil up` processes: pid files, memory, stages."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from control.cluster.process_table import per_stage, stack_processes, totals
from control.cluster.status import print_stack
from vigil.core.settings import load_settings


def test_live_pid_files_give_each_process_memory_and_its_stage(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (run / "face.pid").write_text(f"{os.getpid()}\n")
    (run / "face-1.pid").write_text(f"{os.getpid()}\n")
    (run / "audit.pid").write_text(f"{gone}\n")  # a process that has exited
    (run / "phone.pid").write_text("not a pid\n")
    found = stack_processes(settings)
    assert [p.name for p in found] == ["face", "face-1"]
    assert all(p.rss > 10 * 2**20 for p in found)
    assert per_stage(found) == {"face": 2}
    rss, pss = totals(found)
    assert rss == sum(p.rss for p in found)
    assert pss is None or pss <= rss
    out = io.StringIO()
    print_stack(settings, out)
    text = out.getvalue()
    assert "local processes per stage: gateway=0, face=2, phone=0" in text
    assert "face-1" in text and "total" in text


def test_no_pid_files_says_where_it_looked(tmp_path: Path) -> None:
    out = io.StringIO()
    print_stack(load_settings(state_dir=tmp_path), out)
    assert f"no live pid file in {tmp_path / 'run'}" in out.getvalue()
