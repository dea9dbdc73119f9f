"""embedding_sft trains a tiny local BERT on a toy retrieval task with both backends:
held-out recall@1 rises, saved models reload in sentence-transformers with the same
embeddings, callbacks steer the run, and bad data is one clear DataError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_hub_embedding.data import load_examples, prepare_for_loss, retrieval_task
from training_hub_embedding.testing import (
    make_tiny_encoder,
    toy_labeled_rows,
    toy_pairs,
    write_jsonl,
)

from training_hub import DataError, train
from training_hub.callbacks import TrainingHubCallback


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("embedding")
    return {
        "model": make_tiny_encoder(root / "encoder"),
        "train": write_jsonl(root / "train.jsonl", toy_pairs()),
        "eval": write_jsonl(root / "eval.jsonl", toy_pairs(held_out=True)),
        "root": root,
    }


def _train(task: dict[str, Path], backend: str, out: str, **extra: object) -> object:
    values = dict(model_path=str(task["model"]), data_path=str(task["train"]),
                  ckpt_output_dir=str(task["root"] / out), eval_data_path=str(task["eval"]),
                  loss_type="mnrl", num_epochs=20, batch_size=32, learning_rate=3e-3)
    values.update(extra)
    return train("embedding_sft", backend, **values)


def _same_embeddings_in_sentence_transformers(folder: str, reference: torch.Tensor,
                                              texts: list[str]) -> None:
    from sentence_transformers import SentenceTransformer

    reloaded = SentenceTransformer(folder, device="cpu").encode(texts, convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(reloaded, reference)
    assert cosine.min().item() > 0.9999


@pytest.mark.parametrize("backend", ["native", "sentence-transformers"])
def test_recall_at_1_rises_and_the_model_reloads(task: dict[str, Path], backend: str) -> None:
    result = _train(task, backend, f"out-{backend}")
    before, after = result.metrics_before, result.metrics_after  # type: ignore[attr-defined]
    assert before["recall@1"] < 0.15
    assert after["recall@1"] > before["recall@1"] + 0.2, (before, after)
    losses = result.losses  # type: ignore[attr-defined]
    assert len(losses) == result.global_step == 120  # type: ignore[attr-defined]
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    # The saved folder is the model that was evaluated: SentenceTransformer(path) gives the
    # metrics the run measured after training, and the native loader the same embeddings.
    from sentence_transformers import SentenceTransformer
    from training_hub_embedding.algorithm import EmbeddingSFTParams
    from training_hub_embedding.evaluation import evaluate_retrieval
    from training_hub_embedding.native import _load_encoder
    from training_hub_embedding.packing import pack_texts

    folder = result["model_path"]  # type: ignore[index]
    reloaded = SentenceTransformer(folder, device="cpu")
    eval_task = retrieval_task(load_examples(str(task["eval"])))
    metrics = evaluate_retrieval(
        lambda texts: reloaded.encode(list(texts), convert_to_tensor=True), eval_task)
    assert metrics == pytest.approx(after, abs=1e-6)
    texts = ["what is the capital of france", "tourists love paris in the summer", "two"]
    params = EmbeddingSFTParams(model_path=folder, data_path="-", ckpt_output_dir="-")
    encoder, tokenizer, _, _ = _load_encoder(params, torch.device("cpu"))
    encoder.eval()
    with torch.no_grad():
        ours = encoder(pack_texts([tokenizer(t)["input_ids"] for t in texts],
                                  torch.device("cpu")))
    _same_embeddings_in_sentence_transformers(folder, ours, texts)


class _StopAtThree(TrainingHubCallback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_begin(self, context):  # type: ignore[no-untyped-def]
        self.events.append("on_train_begin")

    def on_step_end(self, context):  # type: ignore[no-untyped-def]
        self.events.append("on_step_end")
        assert context.loss is not None and context.loss > 0
        if context.step == 3:
            context.control.should_training_stop = True

    def on_evaluate(self, context):  # type: ignore[no-untyped-def]
        self.events.append("on_evaluate")
        assert "eval_recall@1" in context.metrics

    def on_train_end(self, context):  # type: ignore[no-untyped-def]
        self.events.append("on_train_end")


@pytest.mark.parametrize("backend", ["native", "sentence-transformers"])
def test_callbacks_see_the_run_and_stop_it(task: dict[str, Path], backend: str) -> None:
    callback = _StopAtThree()
    result = _train(task, backend, f"stop-{backend}", num_epochs=1, callbacks=[callback])
    assert result.global_step == 3 and result.stopped_early  # type: ignore[attr-defined]
    assert callback.events.count("on_step_end") == 3
    assert callback.events[:2] == ["on_train_begin", "on_evaluate"]  # metrics before training
    assert callback.events[-1] == "on_train_end"
    assert callback.events.count("on_evaluate") == 2
    # metrics.jsonl (training-hub's tracker) holds the evaluations before and after, once each.
    records = [json.loads(line) for line in
               (task["root"] / f"stop-{backend}" / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "eval_recall@1" in r]
    assert [r["step"] for r in evaluations] == [0, 3]


def test_triplet_loss_on_labeled_rows_trains_natively(task: dict[str, Path]) -> None:
    data = write_jsonl(task["root"] / "labeled.jsonl", toy_labeled_rows())
    held_out = write_jsonl(task["root"] / "labeled-eval.jsonl", toy_labeled_rows(held_out=True))
    result = train("embedding_sft", "native", model_path=str(task["model"]),
                   data_path=str(data), ckpt_output_dir=str(task["root"] / "triplet"),
                   eval_data_path=str(held_out), loss_type="batch_all_triplet",
                   num_epochs=10, batch_size=32, learning_rate=3e-3)
    before, after = result.metrics_before, result.metrics_after
    assert after["recall@10"] > before["recall@10"] + 0.2, (before, after)
    assert after["mrr@10"] > before["mrr@10"] + 0.05


def test_bad_data_gives_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_examples(str(empty))
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "a", "score": 1}])
    with pytest.raises(DataError, match="cannot tell its format"):
        load_examples(str(odd))
    no_label = write_jsonl(tmp_path / "nolabel.jsonl", [{"text": "a"}, {"text": "b"}])
    with pytest.raises(DataError, match="no 'label' column"):
        load_examples(str(no_label))
    one = write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": 1},
                                               {"text": "b", "label": 1}])
    with pytest.raises(DataError, match="same label"):
        prepare_for_loss(load_examples(str(one)), "labels", max_pairs_per_label=10, seed=0,
                         loss_name="batch_all_triplet")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"q": "a", "d": "b"}, {"q": "c", "d": "e"}])
    examples = load_examples(str(pairs))
    assert examples.kind == "pairs" and examples.rows == [("a", "b"), ("c", "e")]
    with pytest.raises(DataError, match="trains on \\{text, label\\} rows"):
        prepare_for_loss(examples, "labels", max_pairs_per_label=10, seed=0,
                         loss_name="batch_hard_triplet")


def test_missing_column_is_refused_before_training(task: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="no column \\['negative'\\]"):
        train("embedding_sft", "native", model_path=str(task["model"]),
              data_path=str(task["train"]), ckpt_output_dir=str(task["root"] / "bad"),
              loss_type="mnrl", columns=["anchor", "negative"])


def test_cached_mnrl_gives_mnrl_loss_and_gradients_in_mini_batches(task: dict[str, Path]) -> None:
    from training_hub_embedding.algorithm import EmbeddingSFTParams
    from training_hub_embedding.native import _load_encoder, _tokenize, _train_step
    from training_hub_embedding.run import load_run_data

    cpu = torch.device("cpu")
    outcome = {}
    for loss_type in ("mnrl", "cached_mnrl"):
        params = EmbeddingSFTParams(model_path=str(task["model"]), data_path=str(task["train"]),
                                    ckpt_output_dir=str(task["root"] / "unused"),
                                    loss_type=loss_type, batch_size=8, mini_batch_size=4)
        encoder, tokenizer, _, max_length = _load_encoder(params, cpu)
        encoder.eval()  # no dropout: the two computations must agree exactly
        data = load_run_data(params, lambda examples, sampler: 1)
        token_ids, _ = _tokenize(tokenizer, data.train.rows, max_length)
        texts_per_forward: list[int] = []
        encoder.register_forward_pre_hook(
            lambda module, args, seen=texts_per_forward: seen.append(len(args[0].lengths)))
        loss = _train_step(encoder, data, params, list(range(8)), token_ids, cpu)
        grads = {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}
        outcome[loss_type] = (float(loss), grads, texts_per_forward)
    plain_loss, plain_grads, plain_forwards = outcome["mnrl"]
    cached_loss, cached_grads, cached_forwards = outcome["cached_mnrl"]
    assert plain_forwards == [16]  # 8 anchors and 8 positives in one pass
    # GradCache: 4 chunks of mini_batch_size=4 texts embedded without a graph, then again
    # with one, chunk by chunk: never more than 4 texts' activations held at once.
    assert cached_forwards == [4] * 8
    assert abs(cached_loss - plain_loss) < 1e-5
    assert plain_grads.keys() == cached_grads.keys() and len(plain_grads) > 10
    worst = max((plain_grads[n] - cached_grads[n]).abs().max().item() for n in plain_grads)
    assert worst < 1e-5, worst
    assert max(g.abs().max().item() for g in plain_grads.values()) > 1e-3  # not all zero


def test_cached_mnrl_replays_the_dropout_of_its_first_pass(task: dict[str, Path]) -> None:
    # In train mode (attention and hidden dropout on, the fast CPU paths), a GradCache step
    # whose one chunk holds the whole batch draws the masks of plain mnrl twice, under
    # no_grad and again with the graph: loss and gradients equal plain mnrl's.
    from training_hub_embedding.algorithm import EmbeddingSFTParams
    from training_hub_embedding.native import _load_encoder, _tokenize, _train_step
    from training_hub_embedding.run import load_run_data

    cpu = torch.device("cpu")
    outcome = {}
    for loss_type in ("mnrl", "cached_mnrl"):
        params = EmbeddingSFTParams(model_path=str(task["model"]), data_path=str(task["train"]),
                                    ckpt_output_dir=str(task["root"] / "unused"),
                                    loss_type=loss_type, batch_size=8, mini_batch_size=16)
        encoder, tokenizer, _, max_length = _load_encoder(params, cpu)
        encoder.train()
        data = load_run_data(params, lambda examples, sampler: 1)
        token_ids, _ = _tokenize(tokenizer, data.train.rows, max_length)
        torch.manual_seed(7)
        loss = _train_step(encoder, data, params, list(range(8)), token_ids, cpu)
        grads = {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}
        outcome[loss_type] = (float(loss), grads)
    (plain_loss, plain_grads), (cached_loss, cached_grads) = outcome["mnrl"], outcome["cached_mnrl"]
    assert abs(cached_loss - plain_loss) < 1e-5
    worst = max((plain_grads[n] - cached_grads[n]).abs().max().item() for n in plain_grads)
    assert worst < 1e-5, worst
    # Dropout was on: another seed gives another loss.
    params = EmbeddingSFTParams(model_path=str(task["model"]), data_path=str(task["train"]),
                                ckpt_output_dir=str(task["root"] / "unused"), loss_type="mnrl",
                                batch_size=8)
    encoder, tokenizer, _, max_length = _load_encoder(params, cpu)
    encoder.train()
    data = load_run_data(params, lambda examples, sampler: 1)
    token_ids, _ = _tokenize(tokenizer, data.train.rows, max_length)
    torch.manual_seed(8)
    assert abs(float(_train_step(encoder, data, params, list(range(8)), token_ids, cpu))
               - plain_loss) > 1e-4
