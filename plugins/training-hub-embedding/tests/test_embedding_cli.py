"""embedding_sft as users reach it: ``th train`` with a YAML config and flags, a loss from a
pip-installed plugin's ``losses`` registry, Parquet and ``datasets`` folders as data,
bad data as exit code 2, ``th info``, and ``from training_hub import embedding_sft, gepa``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from training_hub_embedding.data import load_examples
from training_hub_embedding.testing import make_tiny_encoder, toy_labeled_rows, write_jsonl

from training_hub import DataError
from training_hub.cli import main as th_main
from training_hub.testing.dists import build_wheel

PLUGIN = '''
from training_hub import hookimpl

TRAINING_HUB_PLUGIN_API = 1


@hookimpl
def register_components(register):
    register("losses", "logged_infonce", "acme_embed.losses:logged_infonce")
'''

LOSSES = '''
import json
import os

import torch
import torch.nn.functional as F


def logged_infonce(embeddings, labels):
    """InfoNCE at temperature 0.1 on (anchor, positive); appends each value to $ACME_LOSS_LOG."""
    anchors = F.normalize(embeddings[0], dim=-1)
    positives = F.normalize(embeddings[1], dim=-1)
    scores = anchors @ positives.T / 0.1
    loss = F.cross_entropy(scores, torch.arange(scores.shape[0]))
    with open(os.environ["ACME_LOSS_LOG"], "a") as log:
        log.write(json.dumps([embeddings[0].shape[0], float(loss)]) + "\\n")
    return loss
'''

#: The parameters of training_hub 0.11.2's functions that issue 15 names.
PEER_EMBEDDING_SFT = (
    "model_path data_path ckpt_output_dir backend loss_type loss_fn num_epochs batch_size "
    "learning_rate warmup_ratio batch_sampler eval_data_path text_column label_column seed"
).split()
PEER_GEPA = (
    "seed_candidate task_lm data_path trainset valset output_dir evaluator reflection_lm "
    "api_base max_metric_calls candidate_selection_strategy use_merge seed"
).split()

#: (query, doc) pairs: every text distinct, so every batch of 8 is full.
PAIRS = [{"doc": f"document number {i} about topic {i % 5}", "query": f"question {i} ?",
          "source": f"site {i}"} for i in range(24)]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("encoder") / "model", hidden_size=32,
                             num_layers=1, num_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def loss_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A third-party distribution registering a loss, built as a wheel and pip-installed."""
    root = tmp_path_factory.mktemp("acme-embed")
    wheel = build_wheel(
        root / "dist", "acme-embed", "1.0",
        entry_points={"acme-embed": "acme_embed.plugin"},
        modules={"acme_embed/__init__.py": "", "acme_embed/plugin.py": PLUGIN,
                 "acme_embed/losses.py": LOSSES},
    )
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    return target


def _th(*args: str, cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    th = Path(sys.executable).parent / "th"
    return subprocess.run([str(th), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                          check=False)


def _write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_th_train_from_yaml_and_flags_with_a_registry_loss_on_parquet(
    encoder: Path, loss_site: Path, tmp_path: Path
) -> None:
    _write_parquet(tmp_path / "pairs.parquet", PAIRS)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({
        "algorithm": "embedding_sft",
        "backend": "native",
        "model_path": str(encoder),
        "data_path": "pairs.parquet",
        "loss_type": "logged_infonce",
        "batch_size": 8,
        "max_steps": 3,
        "learning_rate": 1e-3,
        "logging_steps": 1,
    }))
    log = tmp_path / "loss.jsonl"
    python_path = os.pathsep.join(filter(None, [str(loss_site), os.environ.get("PYTHONPATH")]))
    done = _th("train", "--config", "run.yaml", "--columns", "query,doc",
               "--ckpt-output-dir", "out", cwd=tmp_path,
               env={"PYTHONPATH": python_path, "ACME_LOSS_LOG": str(log)})
    assert done.returncode == 0, done.stderr[-3000:]

    # The registered loss trained the run: called once per step on full batches, and the
    # losses the run logged are its values.
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [batch for batch, _ in calls] == [8, 8, 8]
    logged = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text()
              .splitlines()]
    assert [r["loss"] for r in logged if "loss" in r] == pytest.approx([v for _, v in calls])

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tmp_path / "out"), device="cpu")
    assert model.encode(["question 1 ?", "document number 1 about topic 1"]).shape == (2, 32)


@pytest.mark.parametrize(("rows", "flags", "message"), [
    (PAIRS, ["--columns", "query,answer"], "has no column ['answer']"),
    ([{"text": f"text {i}", "label": "same"} for i in range(8)],
     ["--loss-type", "batch_all_triplet"], "every text has the same label"),
    ([], [], "is empty"),
])
def test_bad_data_is_one_clear_error_and_exit_code_2_from_th(
    encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    rows: list[dict[str, object]], flags: list[str], message: str,
) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    loss = [] if "--loss-type" in flags else ["--loss-type", "mnrl"]
    code = th_main(["train", "embedding_sft", "--model-path", str(encoder), "--data-path",
                    str(data), "--ckpt-output-dir", str(tmp_path / "out"), *loss, *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and str(data) in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "modules.json").exists()


def test_parquet_and_datasets_folders_read_as_jsonl_does(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    expected = load_examples(str(write_jsonl(tmp_path / "pairs.jsonl", PAIRS)),
                             columns=["query", "doc"])
    parquet = load_examples(str(_write_parquet(tmp_path / "pairs.parquet", PAIRS)),
                            columns=["query", "doc"])
    Dataset.from_list(PAIRS).save_to_disk(str(tmp_path / "saved"))
    folder = load_examples(str(tmp_path / "saved"), columns=["query", "doc"])
    assert expected.rows == parquet.rows == folder.rows and len(folder.rows) == 24
    assert expected.rows[0] == ("question 0 ?", "document number 0 about topic 0")

    labeled = toy_labeled_rows()
    reference = load_examples(str(write_jsonl(tmp_path / "labeled.jsonl", labeled)))
    DatasetDict({"train": Dataset.from_list(labeled), "test": Dataset.from_list(labeled[:4])}
                ).save_to_disk(str(tmp_path / "splits"))
    from_splits = load_examples(str(tmp_path / "splits"))
    assert from_splits.kind == "labels"
    assert (from_splits.rows, from_splits.labels) == (reference.rows, reference.labels)

    DatasetDict({"test": Dataset.from_list(labeled)}).save_to_disk(str(tmp_path / "no-train"))
    with pytest.raises(DataError, match="no 'train' split"):
        load_examples(str(tmp_path / "no-train"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not one written by datasets' save_to_disk"):
        load_examples(str(tmp_path / "plain"))


def test_th_info_lists_the_schema(tmp_path: Path) -> None:
    done = _th("info", "embedding_sft", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    flags = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("--")}
    peer = set(PEER_EMBEDDING_SFT) - {"backend"}  # --backend is th train's own option
    assert {"--" + name.replace("_", "-") for name in peer} <= flags
    assert "backends: native, sentence-transformers; default: native" in done.stdout


def test_the_peers_import_is_lazy(tmp_path: Path) -> None:
    code = (
        "import inspect, json, sys\n"
        "from training_hub import embedding_sft, gepa\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'gepa') "
        "if m in sys.modules]\n"
        "print(json.dumps([heavy, list(inspect.signature(embedding_sft).parameters), "
        "list(inspect.signature(gepa).parameters)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    heavy, embedding_names, gepa_names = json.loads(done.stdout)
    assert heavy == []
    assert [n for n in PEER_EMBEDDING_SFT if n not in embedding_names] == []
    assert [n for n in PEER_GEPA if n not in gepa_names] == []
