"""A plugin built as a real wheel and installed by pip is discovered with no code change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from training_hub.testing.dists import build_wheel

from .conftest import PLUGIN_HEADER


def test_pip_install_wheel_then_th_list(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path / "dist", "acme-trainer", "3.1.4",
        entry_points={"sft": "acme_trainer.plugin"},
        modules={
            "acme_trainer/__init__.py": "",
            "acme_trainer/plugin.py": PLUGIN_HEADER + """
@hookimpl
def register_backends(register):
    register("sft", "acme", "acme_trainer.backend:AcmeBackend")
""",
            "acme_trainer/backend.py": PLUGIN_HEADER + """
class AcmeBackend(Backend):
    def execute_training(self, p): return {"trained_by": "acme", "model": p["model_path"]}
""",
        },
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    th = Path(sys.executable).parent / "th"
    listing = subprocess.run([str(th), "list"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "acme" in listing.stdout and "acme-trainer 3.1.4" in listing.stdout
    code = (
        "from training_hub import create_algorithm\n"
        "print(create_algorithm('sft', backend_name='acme').backend.execute_training("
        "{'model_path': 'm'}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert "{'trained_by': 'acme', 'model': 'm'}" in run.stdout, run.stderr
