"""A local Hugging Face model folder as task_lm: runs in-process through transformers' generate.

The tiny model is built from a config (random weights), so its answers are noise:
this checks the path end to end, not the quality of the prompt found.
"""

from __future__ import annotations

import json
from pathlib import Path

import gepa_toy
import pytest
from training_hub_gepa.lm import LanguageModelError

import training_hub
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("gepa-model") / "model"
    make_tiny_model(folder, make_tiny_tokenizer(folder))
    return str(folder)


def test_local_model_folder_as_task_lm_runs_end_to_end(model_folder: str, tmp_path: Path) -> None:
    examples = [{"input": f"what is {a} plus {b} ?", "answer": answer}
                for a, b, answer in [("one", "two", "three"), ("two", "two", "four"),
                                     ("three", "one", "four")]]
    prompts: list[str] = []

    def reflection(prompt: str) -> str:  # deterministic, local
        prompts.append(prompt)
        return "```\nanswer the question with a number .\n```"

    result = training_hub.train(
        "gepa", seed_candidate={"system_prompt": "you are a helpful assistant ."},
        task_lm=model_folder, reflection_lm=reflection, trainset=examples,
        max_metric_calls=9, reflection_minibatch_size=2, task_lm_kwargs={"max_tokens": 4},
        output_dir=str(tmp_path / "out"), device="cpu", tensorboard=False,
    )
    assert result.complete and result.total_metric_calls >= len(examples)
    assert result.seed_score == result.candidates[0]["val_score"]
    # The model generated the outputs gepa scored, and the reflection LM was shown them.
    outputs = result.gepa_result.best_outputs_valset
    assert outputs and all(isinstance(out["full_assistant_response"], str)
                           for pairs in outputs.values() for _, out in pairs)
    assert prompts and "Generated Outputs" in prompts[0]
    assert json.loads((tmp_path / "out" / "result.json").read_text())["complete"] is True


def test_batched_generation_answers_as_one_prompt_at_a_time(tmp_path: Path) -> None:
    from training_hub_gepa.lm import LocalHFLM, _Failures

    folder = tmp_path / "model"  # large random weights, so answers differ between prompts
    make_tiny_model(folder, make_tiny_tokenizer(folder), seed=3, initializer_range=0.5)
    lm = LocalHFLM(str(folder), role="task LM", options={"max_tokens": 5}, device="cpu",
                   seed=0, loaded={}, failures=_Failures())
    words = "cat dog bird fish tree red blue green big small".split()
    prompts = [[{"role": "user", "content": " ".join(words[i:i + n])}]
               for i, n in enumerate(range(1, 6))]  # different lengths: left padding
    one_by_one = [lm(p) for p in prompts]
    assert len(set(one_by_one)) > 1
    assert lm.batch_complete(prompts) == one_by_one


def test_a_prompt_longer_than_the_local_model_takes_is_a_clear_error(model_folder: str) -> None:
    with pytest.raises(LanguageModelError, match="takes 512 positions, but the prompt is"):
        training_hub.train(
            "gepa", seed_candidate={"system_prompt": "the " * 600},
            task_lm=model_folder, reflection_lm=gepa_toy.reflection_model,
            trainset=gepa_toy.toy_examples()[:2], max_metric_calls=4, device="cpu",
            tensorboard=False,
        )
