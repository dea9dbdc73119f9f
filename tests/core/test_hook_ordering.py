"""Hooks go through pluggy's hook caller: ``tryfirst``, ``trylast`` and ``wrapper``
implementations of installed plugins (real distributions) behave as pluggy documents,
for the event hooks of a real run and for the registration hooks; and an event plugin
observes runs of algorithms of other distributions without an entry point per algorithm."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from training_hub import AlgorithmRegistry, create_algorithm
from training_hub.testing.tiny import make_tiny_model, make_tiny_tokenizer, write_chat_jsonl

from .conftest import PLUGIN_HEADER, AddDist

# Every plugin appends to the list of one shared module, so the test reads one order.
HOOK_LOG = "LOG = []\n"

# Loaded (and so registered) in the order of their entry-point names: hooks-1 first. pluggy
# calls plain implementations last-registered first, so without the markers the order
# would be last, plain, first and no wrapper around them.
EVENT_PLUGINS = {
    "hooks-1": PLUGIN_HEADER + """
from hooklog import LOG

@hookimpl(tryfirst=True)
def on_step_end(context):
    LOG.append(("first", context.step))
""",
    "hooks-2": PLUGIN_HEADER + """
from hooklog import LOG

@hookimpl
def on_step_end(context):
    LOG.append(("plain", context.step))

@hookimpl
def on_train_begin(context):
    LOG.append(("begin", context.algorithm))
""",
    "hooks-3": PLUGIN_HEADER + """
from hooklog import LOG

@hookimpl(trylast=True)
def on_step_end(context):
    LOG.append(("last", context.step))
""",
    "hooks-4": PLUGIN_HEADER + """
from hooklog import LOG

@hookimpl(wrapper=True)
def on_step_end(context):
    LOG.append(("wrapper before", context.step))
    outcome = yield
    LOG.append(("wrapper after", context.step))
    return outcome
""",
}

TOY_ALGORITHM = PLUGIN_HEADER + """
from training_hub._params import Params

class ToyParams(Params):
    pass

class Toy(Algorithm):
    params_schema = ToyParams
    default_backend = "plain"

class Plain(Backend):
    algorithm_name, backend_name = "toy", "plain"
    def execute_training(self, p): return {"trained": True}

@hookimpl
def register_algorithms(register):
    register("toy", Toy)

@hookimpl
def register_backends(register):
    register("toy", "plain", Plain)
"""


def _install_event_plugins(add: AddDist) -> list[Any]:
    add("hook-log", entry_points={}, modules={"hooklog.py": HOOK_LOG})
    for index, (name, source) in enumerate(EVENT_PLUGINS.items()):
        module = f"hooks_{index + 1}"
        add(f"{name}-dist", entry_points={name: module}, modules={f"{module}.py": source})
    return importlib.import_module("hooklog").LOG  # type: ignore[no-any-return]


def _tiny_run(folder: Path, **extra: Any) -> dict[str, Any]:
    model = folder / "model"
    make_tiny_model(model, make_tiny_tokenizer(model))
    return {
        "model_path": str(model), "data_path": str(write_chat_jsonl(folder / "c.jsonl", 8)),
        "data_cache_dir": str(folder / "cache"), "effective_batch_size": 4,
        "max_tokens_per_gpu": 512, "max_seq_len": 128, "learning_rate": 1e-3,
        "quiet": True, "tensorboard": False, "device": "cpu", "num_threads": 1,
        "data_workers": 1, **extra,
    }


def test_event_hooks_follow_pluggy_order_and_observe_every_algorithm(
    plugin_site: AddDist, tmp_path: Path
) -> None:
    log = _install_event_plugins(plugin_site)
    plugin_site("toy-dist", entry_points={"toy": "toyplug"}, modules={"toyplug.py": TOY_ALGORITHM})
    values = _tiny_run(tmp_path)
    create_algorithm("sft").train(**values, ckpt_output_dir=str(tmp_path / "sft"), max_steps=2)
    steps = [entry for entry in log if entry[0] != "begin"]
    one_step = ["wrapper before", "first", "plain", "last", "wrapper after"]
    assert steps == [(name, step) for step in (1, 2) for name in one_step]

    # the same installed plugins observe other algorithms' runs: none has an entry point
    # named after them (lora comes from training-hub-lora, toy from toy-dist)
    log.clear()
    create_algorithm("lora").train(**values, ckpt_output_dir=str(tmp_path / "lora"),
                                   max_steps=1)
    assert create_algorithm("toy").train() == {"trained": True}
    assert [entry for entry in log if entry[0] == "begin"] == [("begin", "lora"), ("begin", "toy")]
    assert ("plain", 1) in log


# One plugin, four implementations of one registration hook (named apart by specname).
REGISTRATION_HOOKS = {
    "reg-1": """
@hookimpl(tryfirst=True, specname="register_components")
def first_components(register):
    ORDER.append("first")
""",
    "reg-2": """
@hookimpl(specname="register_components")
def plain_components(register):
    ORDER.append("plain")
""",
    "reg-3": """
@hookimpl(wrapper=True)
def register_components(register):
    ORDER.append("wrapper before")
    yield
    ORDER.append("wrapper after")

@hookimpl(trylast=True, specname="register_components")
def last_components(register):
    ORDER.append("last")
    register("losses", "reg3-loss", "reg3:nothing")
""",
}


def test_registration_hooks_are_called_through_pluggy(plugin_site: AddDist) -> None:
    """One plugin's registration hooks (several, with markers) run in pluggy's order and a
    wrapper wraps them; what it registers is committed."""
    source = PLUGIN_HEADER + "ORDER = []\n" + "".join(REGISTRATION_HOOKS.values())
    plugin_site("reg-dist", entry_points={"reg": "reg3"}, modules={"reg3.py": source})
    AlgorithmRegistry.list_algorithms()
    from training_hub._plugins import plugin_manager

    plugin_manager().load_all()
    module = importlib.import_module("reg3")
    assert module.ORDER == ["wrapper before", "first", "plain", "last", "wrapper after"]
    from training_hub.registry import LOSSES

    assert "reg3-loss" in LOSSES.list()


@pytest.mark.parametrize("marker", ["tryfirst", "trylast"])
def test_registration_order_across_plugins(plugin_site: AddDist, marker: str) -> None:
    """Across plugins each plugin's registration hooks are called when it loads (one at a
    time, isolated), and a broken one never stops the others."""
    for index in range(3):
        body = f"""
@hookimpl({marker}=True)
def register_components(register):
    register("losses", "cross-{index}", "nowhere:nothing")
"""
        plugin_site(f"cross-{index}", entry_points={f"cross{index}": f"cross{index}"},
                    modules={f"cross{index}.py": PLUGIN_HEADER + body})
    plugin_site("cross-broken", entry_points={"cross1": "crossbroken"},
                modules={"crossbroken.py": PLUGIN_HEADER + """
@hookimpl(tryfirst=True)
def register_components(register):
    register("losses", "half-registered", "nowhere:nothing")
    raise RuntimeError("broken registration")
"""})
    from training_hub._plugins import plugin_manager

    loader = plugin_manager()
    loader.load_all()
    from training_hub.registry import LOSSES

    assert {"cross-0", "cross-1", "cross-2"} <= set(LOSSES.list())
    assert "half-registered" not in LOSSES.list()
    assert [b.origin.distribution for b in loader.broken] == ["cross-broken"]
