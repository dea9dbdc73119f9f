"""Models and data from the Hugging Face Hub, model cards, and `th push`.

These machines have no Hub access, so the tests lay out a Hub cache themselves, in
huggingface_hub's documented layout (``models--org--name/snapshots/<commit>/``,
``refs/main``), and point HF_HUB_CACHE at it. The Hub's HTTP API is a stand-in on
127.0.0.1 (``_hub_standin``, set as HF_ENDPOINT) that records the requests and
answers as the Hub does (gated: 401 ``GatedRepo``; unknown: 404 ``RepoNotFound``).
Calls run in subprocesses, since huggingface_hub reads its environment on import.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from training_hub import ConfigError, DataError
from training_hub.engine import train
from training_hub.hub import resolve_dataset, resolve_inputs
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl
from training_hub.training_params import TrainingParams

from ._engine_helpers import build_assets, checkpoint_weights, subprocess_env, tiny_params
from ._hub_standin import HubStandIn

MODEL_COMMIT = "1" * 40
DATA_COMMIT = "2" * 40


def _hub_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(subprocess_env())
    env.update(HF_HOME=str(tmp / "hf-home"), HF_HUB_CACHE=str(tmp / "hub"),
               HF_DATASETS_CACHE=str(tmp / "datasets-cache"), XDG_CACHE_HOME=str(tmp / "xdg"),
               HF_HUB_DISABLE_TELEMETRY="1", TRAINING_HUB_PLUGIN_CACHE="0")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hub cache holding model acme/tiny-chat and data set acme/chat (train, test)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = tmp_path_factory.mktemp("hubcache")
    model_repo = tmp / "hub" / "models--acme--tiny-chat"
    snapshot = model_repo / "snapshots" / MODEL_COMMIT
    make_tiny_model(snapshot, make_tiny_tokenizer(snapshot))
    (model_repo / "refs").mkdir()
    (model_repo / "refs" / "main").write_text(MODEL_COMMIT)
    data_repo = tmp / "hub" / "datasets--acme--chat"
    files = data_repo / "snapshots" / DATA_COMMIT / "data"
    files.mkdir(parents=True)
    rows = [json.loads(line) for line in
            write_chat_jsonl(tmp / "chat.jsonl", 40).read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows[:32]), files / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[32:]), files / "test-00000-of-00001.parquet")
    (data_repo / "refs").mkdir()
    (data_repo / "refs" / "main").write_text(DATA_COMMIT)
    return tmp


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny local run with validation: (its last checkpoint, its data file)."""
    tmp = tmp_path_factory.mktemp("card")
    assets = build_assets(tmp / "assets")
    result = train(tiny_params(assets, tmp / "out", max_steps=2, validation_split=0.25,
                               validation_frequency=1))
    return Path(result.last_checkpoint), assets.data_path


def _front_matter(card: str) -> dict:
    import yaml

    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_checkpoint_model_card_and_the_folder_still_loads(trained: tuple[Path, Path]) -> None:
    folder, data = trained
    card = (folder / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["library_name"] == "transformers"
    assert meta["tags"] == ["training-hub", "sft", "native"]
    assert "base_model" not in meta  # a local path is no Hub id: named in the body instead
    state = json.loads((folder / "training_state" / "trainer_state.json").read_text())
    metrics = [json.loads(line) for line in (folder.parents[1] / "metrics.jsonl").open()]
    val_loss = [m["val_loss"] for m in metrics if "val_loss" in m][-1]
    assert f"| final training loss | {state['last_loss']:.6g} |" in card
    assert f"| validation loss | {val_loss:.6g} |" in card
    assert f"sha256 `{hashlib.sha256(data.read_bytes()).hexdigest()}`" in card
    assert f"has {data.stat().st_size} bytes" in card
    assert "36 samples" in card  # 48 less the 25% held out for validation
    from training_hub import __version__

    assert f"| training-hub | {__version__} |" in card
    params = json.loads(card.split("```json\n")[1].split("```")[0])
    assert params["learning_rate"] == 1e-3 and params["validation_split"] == 0.25

    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM

    assert ModelCard.load(folder / "README.md").data.library_name == "transformers"
    model = AutoModelForCausalLM.from_pretrained(folder)
    saved = checkpoint_weights(folder)
    loaded = model.state_dict()
    assert all(bool((loaded[k] == v).all()) for k, v in saved.items())


def test_train_from_hub_ids_resolved_from_the_cache_offline(hub_cache: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _hub_env(hub_cache, HF_HUB_OFFLINE="1")
    th = str(Path(sys.executable).parent / "th")
    run = subprocess.run(
        [th, "train", "sft", "--model-path", "acme/tiny-chat", "--data-path", "acme/chat",
         "--data-split", "train", "--ckpt-output-dir", str(out), "--max-steps", "2",
         "--effective-batch-size", "8", "--max-tokens-per-gpu", "512", "--max-seq-len", "128",
         "--num-threads", "1", "--quiet", "--data-cache-dir", str(tmp_path / "data-cache")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    checkpoint = out / "checkpoints" / "step-2"
    card = (checkpoint / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["base_model"] == "acme/tiny-chat" and meta["datasets"] == ["acme/chat"]
    assert "32 samples" in card and "split `train`" in card  # the train split only
    params = json.loads((checkpoint / "training_state" / "params.json").read_text())
    assert params["model_path"] == str(hub_cache / "hub" / "models--acme--tiny-chat"
                                       / "snapshots" / MODEL_COMMIT)
    data_file = Path(params["data_path"])  # the split, written once as Parquet
    assert data_file.parent == tmp_path / "data-cache" / "hub" and data_file.suffix == ".parquet"


_RESOLVE = """
import json, sys
from training_hub import UserError
from training_hub.hub import resolve_dataset, resolve_model
for kind, value, revision in json.loads(sys.argv[1]):
    try:
        if kind == "model":
            print(json.dumps(["ok", resolve_model(value, revision=revision)]))
        else:
            print(json.dumps(["ok", resolve_dataset(value, revision=revision)]))
    except UserError as exc:
        print(json.dumps([type(exc).__name__, str(exc)]))
"""


def _resolve(env: dict[str, str], *cases: tuple[str, str, str | None]) -> list[list[str]]:
    run = subprocess.run([sys.executable, "-c", _RESOLVE, json.dumps(cases)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_hub_errors_are_clear(hub_cache: Path) -> None:
    snapshot = str(hub_cache / "hub" / "models--acme--tiny-chat" / "snapshots" / MODEL_COMMIT)
    # Offline: the cached model resolves; an unknown id and an uncached revision do not.
    cached, unknown, revision = _resolve(
        _hub_env(hub_cache, HF_HUB_OFFLINE="1"),
        ("model", "acme/tiny-chat", None), ("model", "acme/unknown", None),
        ("model", "acme/tiny-chat", "v2"),
    )
    assert cached == ["ok", snapshot]
    assert unknown[0] == "ConfigError"
    assert "model_path 'acme/unknown' is not a local path, the Hub is switched off " \
           "(HF_HUB_OFFLINE=1), and the model is not in the Hub cache" in unknown[1]
    assert "hf download acme/unknown" in unknown[1]
    assert revision[0] == "ConfigError" and "at revision 'v2'" in revision[1]

    # Online, against the stand-in Hub: gated without a token, unknown.
    stand_in = HubStandIn(gated={"acme/gated", "acme/gated-data"}, max_requests=20)
    try:
        gated, gated_data, missing = _resolve(
            _hub_env(hub_cache, HF_ENDPOINT=stand_in.endpoint),
            ("model", "acme/gated", None), ("dataset", "acme/gated-data", None),
            ("model", "acme/missing", None),
        )
    finally:
        stand_in.close()
    assert gated[0] == "ConfigError"
    assert "model_path 'acme/gated' is a gated model on the Hugging Face Hub and no token is " \
           f"set. Accept its terms on {stand_in.endpoint}/acme/gated" in gated[1]
    assert gated_data[0] == "DataError" and "is a gated dataset" in gated_data[1]
    assert f"{stand_in.endpoint}/datasets/acme/gated-data" in gated_data[1]
    assert missing[0] == "ConfigError"
    assert "'acme/missing' is neither a local path nor a model on the Hugging Face Hub" \
        in missing[1]
    asked = {r.path.split("?")[0] for r in stand_in.requests}
    assert {"/api/models/acme/gated/revision/main", "/api/datasets/acme/gated-data/revision/main",
            "/api/models/acme/missing/revision/main"} <= asked

    # Online but the Hub unreachable: the same call falls back to the cache.
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens
    fallback, nothing = _resolve(_hub_env(hub_cache, HF_ENDPOINT=closed, HF_HUB_ETAG_TIMEOUT="2"),
                                 ("model", "acme/tiny-chat", None),
                                 ("model", "acme/other", None))
    assert fallback == ["ok", snapshot]
    assert nothing[0] == "ConfigError" and "the Hugging Face Hub cannot be reached" in nothing[1]


def test_save_to_disk_folders_and_the_hub_fields(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in
            write_chat_jsonl(tmp_path / "chat.jsonl", 12).read_text().splitlines()]
    single = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(single))
    splits = tmp_path / "saved-dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:8]),
                          "validation": datasets.Dataset.from_list(rows[8:])}
                         ).save_to_disk(str(splits))
    cache = str(tmp_path / "cache")

    import pyarrow.parquet as pq

    written = resolve_dataset(str(single), cache_dir=cache)
    assert pq.read_table(written).to_pylist() == rows
    before = os.stat(written).st_mtime_ns
    assert resolve_dataset(str(single), cache_dir=cache) == written  # not written again
    assert os.stat(written).st_mtime_ns == before
    validation = resolve_dataset(str(splits), split="validation", cache_dir=cache)
    assert pq.read_table(validation).to_pylist() == rows[8:]
    with pytest.raises(DataError, match="has no split 'test' \\(data_split\\); it has: "
                                        "train, validation"):
        resolve_dataset(str(splits), split="test", cache_dir=cache)
    with pytest.raises(DataError, match="save_to_disk folder, which has no subsets"):
        resolve_dataset(str(single), subset="en", cache_dir=cache)

    base = {"model_path": str(tmp_path), "ckpt_output_dir": str(tmp_path / "out"),
            "data_cache_dir": cache}
    params = TrainingParams(data_path=str(splits), data_split="train", **base)
    resolved = resolve_inputs(params)
    assert pq.read_table(resolved.data_path).to_pylist() == rows[:8]
    assert resolved.model_path == str(tmp_path)  # a local folder stays as it is
    with pytest.raises(DataError, match="data_split='train' apply to data sets .* remove "
                                        "data_split"):
        resolve_inputs(TrainingParams(data_path=str(tmp_path / "chat.jsonl"),
                                      data_split="train", **base))
    with pytest.raises(ConfigError, match="revision='main' selects a version of a Hub model"):
        resolve_inputs(TrainingParams(data_path=str(tmp_path / "chat.jsonl"), revision="main",
                                      **base))
    # training_hub 0.11.2's data_config is data_subset
    assert TrainingParams(data_path="acme/chat", data_config="en", **base).data_subset == "en"


@pytest.fixture
def stand_in() -> Iterator[HubStandIn]:
    hub = HubStandIn(max_requests=30)
    yield hub
    hub.close()


def test_th_push_uploads_the_model_files(trained: tuple[Path, Path], stand_in: HubStandIn,
                                         tmp_path: Path) -> None:
    folder, _ = trained
    th = str(Path(sys.executable).parent / "th")
    env = _hub_env(tmp_path, HF_ENDPOINT=stand_in.endpoint, HF_TOKEN="hf_test_token")
    run = subprocess.run([th, "push", str(folder), "acme/tiny-sft", "--private",
                          "--revision", "v1"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"pushed: {stand_in.endpoint}/acme/tiny-sft/commit/" in run.stdout
    calls = [(r.method, r.path.split("?")[0]) for r in stand_in.requests]
    create = next(r for r in stand_in.requests if r.path == "/api/repos/create")
    assert create.json() == {"name": "tiny-sft", "organization": "acme", "visibility": "private",
                             "type": "model"}
    assert create.headers["authorization"] == "Bearer hf_test_token"
    assert ("POST", "/api/models/acme/tiny-sft/branch/v1") in calls
    model_files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                   and p.parts[len(folder.parts)] != "training_state"} - {"checkpoint.json"}
    preupload = next(r for r in stand_in.requests if "/preupload/v1" in r.path)
    assert {f["path"] for f in preupload.json()["files"]} == model_files
    commit = next(r for r in stand_in.requests if r.path == "/api/models/acme/tiny-sft/commit/v1")
    lines = commit.ndjson()
    assert lines[0]["value"]["summary"] == f"Upload {folder.name} with training-hub"
    sent = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
            for line in lines[1:] if line["key"] == "file"}
    assert set(sent) == model_files
    assert sent["README.md"] == (folder / "README.md").read_bytes()
    assert sent["model.safetensors"] == (folder / "model.safetensors").read_bytes()


def test_th_push_refusals(trained: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = trained
    th = str(Path(sys.executable).parent / "th")
    env = _hub_env(tmp_path, HF_ENDPOINT="http://127.0.0.1:9")
    no_token = subprocess.run([th, "push", str(folder), "acme/x"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert no_token.returncode == 2
    assert "needs a Hugging Face token: set HF_TOKEN" in no_token.stderr
    run_dir = folder.parents[1]
    not_checkpoint = subprocess.run([th, "push", str(run_dir), "acme/x"],
                                    env={**env, "HF_TOKEN": "t"}, capture_output=True,
                                    text=True, timeout=120)
    assert not_checkpoint.returncode == 2
    assert f"'{run_dir}' is not a checkpoint folder" in not_checkpoint.stderr
    assert f"push one of its checkpoints, e.g. '{folder}'" in not_checkpoint.stderr


def _repo_requests(hub: HubStandIn, repo: str) -> list[tuple[str, str]]:
    """The (method, path) of the requests about ``repo`` (huggingface_hub also asks the
    Hub things of its own, such as /api/agent-harnesses), sorted."""
    return sorted((r.method, r.path) for r in hub.requests if f"/{repo}/" in r.path)


def test_two_processes_download_hub_models_and_data_once(tmp_path: Path) -> None:
    """A 2-process gloo run (torchrun) from a Hub model id and a Hub data set id with an
    empty cache: rank 0 downloads, rank 1 then finds the files in the cache. The stand-in
    Hub counts the requests: each file is fetched once, and the run makes exactly the
    requests of one process alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training_hub.engine.launch import launch

    from ._engine_helpers import free_port

    served = tmp_path / "served"
    make_tiny_model(served, make_tiny_tokenizer(served))
    model_files = {p.name: p.read_bytes() for p in served.iterdir() if p.is_file()}
    rows = [json.loads(line) for line in
            write_chat_jsonl(tmp_path / "chat.jsonl", 32).read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train.parquet")
    data_files = {"data/train-00000-of-00001.parquet": (tmp_path / "train.parquet").read_bytes()}
    hub = HubStandIn(models={"acme/tiny-dl": model_files}, datasets={"acme/chat-dl": data_files},
                     max_requests=200, seconds=600)
    try:
        alone = _resolve(_hub_env(tmp_path / "alone", HF_ENDPOINT=hub.endpoint),
                         ("model", "acme/tiny-dl", None), ("dataset", "acme/chat-dl", None))
        assert [kind for kind, _ in alone] == ["ok", "ok"], alone
        one_process = _repo_requests(hub, "acme/tiny-dl") + _repo_requests(hub, "acme/chat-dl")
        hub.requests.clear()

        params = TrainingParams(
            model_path="acme/tiny-dl", data_path="acme/chat-dl",
            ckpt_output_dir=str(tmp_path / "out"), data_cache_dir=str(tmp_path / "data-cache"),
            effective_batch_size=8, max_tokens_per_gpu=512, max_seq_len=128, max_steps=2,
            quiet=True, tensorboard=False, device="cpu", num_threads=1, nproc_per_node=2,
            master_port=free_port(),
        )
        env = _hub_env(tmp_path / "ranks", HF_ENDPOINT=hub.endpoint, HF_HUB_OFFLINE="0")
        assert launch(params, env=env) == 0
        two_processes = _repo_requests(hub, "acme/tiny-dl") + _repo_requests(hub, "acme/chat-dl")
    finally:
        hub.close()
    downloads = [path for method, path in two_processes if method == "GET"
                 and "/resolve/" in path]
    fetched = sorted(path.rsplit("/", 1)[1] for path in downloads)
    wanted = sorted([*model_files, "train-00000-of-00001.parquet"])
    assert fetched == wanted  # every file once, not once per rank
    assert two_processes == one_process
    hub_cache = tmp_path / "ranks" / "hub"
    saved = json.loads((tmp_path / "out" / "checkpoints" / "step-2" / "training_state"
                        / "params.json").read_text())
    assert saved["model_path"] == str(hub_cache / "models--acme--tiny-dl" / "snapshots"
                                      / hub.commit)
    data_file = Path(saved["data_path"])  # written once as Parquet, by rank 0
    assert data_file.parent == tmp_path / "data-cache" / "hub"
    assert pq.read_table(data_file).to_pylist() == rows
    assert len((tmp_path / "out" / "metrics.jsonl").read_text().splitlines()) == 2
