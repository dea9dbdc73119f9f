"""THE GRPO recipe on the native engine, top to bottom: setup, then per generation batch
rollouts -> rewards -> advantages -> policy updates, with evaluation and checkpoints.

One *generation batch* is ``prompt_batch_size`` prompts (split over the processes)
times ``group_size`` completions. It is scored, turned into advantages, and
trained on for ``iterations_per_batch`` passes of ``steps_per_generation``
optimizer steps each. The update packs each group padding-free as one sample,
its prompt once and then its completions (:mod:`.packing`: a block mask in the
engine's packed attention), into micro-batches of ``max_tokens_per_gpu`` tokens,
and puts the loss on completion tokens only; every token carries the
weight of :func:`.loss.sequence_weights`, computed over the whole step on every
process, so accumulation and multi-process training are exact.

Several processes (torchrun) split each generation batch by prompt; optimizer
step ``s`` of a batch trains on the same completions, by their place in the whole
batch, whatever the number of processes. Each group samples with its own
generator, :func:`.rollout.group_generator` of (``seed``, batch number, prompt
index), so the completions do not depend on the processes or the rollout batches
either, and a run resumed from a checkpoint (taken between generation batches)
samples what the uninterrupted run samples: N processes train like one, and
resume is exact, with no sampling state to save.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from training_hub._errors import ParameterError, TrainingError
from training_hub.callbacks import CallbackRunner, TrainingHubContext
from training_hub.engine import checkpoint as ckpt
from training_hub.engine.adapter import ModelAdapter
from training_hub.engine.attention import PACKED_SDPA
from training_hub.engine.distributed import (
    DistributedContext,
    all_reduce_gradients,
    all_reduce_sum,
    broadcast_parameters,
    init_distributed,
    read_rank_env,
    shard_model,
    wait_for_all,
)
from training_hub.engine.metrics import MetricsLogger
from training_hub.engine.model import load_model, load_tokenizer, resolve_device, resolve_precision
from training_hub.engine.optim import build_optimizer, build_scheduler
from training_hub.engine.recipe import run_lock
from training_hub.engine.signals import StopRequest, TrainingInterrupted

from .data import Prompt, load_prompts
from .loss import group_advantages, policy_loss, sequence_weights
from .packing import PackedGroups, pack_groups
from .params import GRPOParams
from .rollout import Completion, SamplingSettings, group_generator, sample_groups
from .scoring import run_rewards, score

__all__ = ["GRPOResult", "PackedPolicy", "train_grpo"]

logger = logging.getLogger("training_hub.grpo")
EVAL_FILENAME = "eval.jsonl"


@dataclass
class GRPOResult:
    """What a finished GRPO run reports; ``result["reward_history"]`` works as in 0.11.2."""

    steps: int
    epochs: int
    elapsed_s: float
    final_reward: float | None
    reward_history: list[float] = field(default_factory=list)  # mean reward of each step
    eval_history: list[tuple[int, float]] = field(default_factory=list)  # (step, eval reward)
    completions: int = 0
    completions_per_second: float = 0.0
    generation_s: float = 0.0
    update_s: float = 0.0
    checkpoints: list[str] = field(default_factory=list)
    last_checkpoint: str | None = None
    output_dir: str = ""
    metrics_path: str = ""

    @property
    def checkpoint_path(self) -> str | None:  # training_hub 0.11.2's key
        return self.last_checkpoint

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class PackedPolicy(torch.nn.Module):
    """The model under training: log-probabilities of the completion tokens of packed groups.

    Like the engine's ``PackedCausalLM`` (one module, so FSDP2's root hooks see
    the whole forward) but returning ``log p(token)`` per loss token at the
    sampling temperature, as TRL scores completions. The LM head runs once on
    each predicting position (``head_positions``; a group's completions share
    their prompt's last one), and loss token ``n`` reads row ``head_rows[n]``.
    """

    def __init__(self, causal_lm: Any, temperature: float) -> None:
        super().__init__()
        self.causal_lm = causal_lm
        self.temperature = temperature

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor,
                head_positions: torch.Tensor, head_rows: torch.Tensor, targets: torch.Tensor,
                **attention_kwargs: Any) -> torch.Tensor:
        hidden = self.causal_lm.get_decoder()(
            input_ids=input_ids, position_ids=position_ids, use_cache=False, **attention_kwargs
        ).last_hidden_state[0].index_select(0, head_positions)
        logits = self.causal_lm.get_output_embeddings()(hidden).float() / self.temperature
        normaliser = torch.logsumexp(logits, dim=-1)
        return logits[head_rows, targets] - normaliser.index_select(0, head_rows)


@dataclass
class _Sequence:
    """One prompt+completion row of the update."""

    ids: list[int]
    prompt_length: int
    loss_tokens: int  # completion tokens carrying loss (0: masked truncated completion)
    advantage: float
    position: int  # place of the completion in the whole generation batch (all processes)
    group: int  # place of its prompt in the whole generation batch: a group shares its prompt
    old_logps: torch.Tensor | None = None
    ref_logps: torch.Tensor | None = None


def train_grpo(params: GRPOParams, adapter: ModelAdapter | None = None,
               callbacks: Sequence[Any] = (), *, algorithm: str = "grpo",
               backend: str = "native") -> GRPOResult:
    """Train ``params.model_path`` with GRPO on the prompts of ``params.data_path``."""
    ckpt.check_output_dir(params)  # type: ignore[arg-type]
    owns_group = not (dist.is_available() and dist.is_initialized())
    device = resolve_device(params, local_rank=read_rank_env()[2])  # type: ignore[arg-type]
    context = init_distributed(device)
    try:
        with run_lock(params, context):  # one live run per ckpt_output_dir, as for sft
            run = _GRPORun(params, adapter or ModelAdapter(), context, device, callbacks,
                           algorithm=algorithm, backend=backend)
            return run.run()
    finally:
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


class _GRPORun:
    """One run; the methods below are the recipe's phases, in order."""

    def __init__(self, params: GRPOParams, adapter: ModelAdapter, context: DistributedContext,
                 device: torch.device, callbacks: Sequence[Any], *, algorithm: str,
                 backend: str) -> None:
        self.params, self.adapter, self.context, self.device = params, adapter, context, device
        self.precision = resolve_precision(params, device)  # type: ignore[arg-type]
        self.output_dir = Path(params.ckpt_output_dir)
        self.callbacks = CallbackRunner(callbacks, is_main_process=context.is_main)
        self.event = TrainingHubContext(
            is_main_process=context.is_main, output_dir=str(self.output_dir),
            algorithm=algorithm, backend=backend, rank=context.rank,
            world_size=context.world_size, params=params.to_dict(),
        )
        self.checkpoints_written: list[str] = []
        self.last_checkpoint: str | None = None
        self.reward_history: list[float] = []
        self.eval_history: list[tuple[int, float]] = []
        self.generation_s = self.update_s = 0.0
        self.completions = 0

    # --- the recipe -----------------------------------------------------------------

    def run(self) -> GRPOResult:
        self.setup_numerics()
        self.setup_output_dir()
        self.setup_data()
        self.setup_model()
        self.setup_optimizer()
        self.resume_state()
        self.metrics = MetricsLogger(
            self.output_dir, total_steps=self.total_steps, start_step=self.state.step,
            quiet=self.params.quiet,
        ) if self.context.is_main else None
        self.event.total_steps = self.total_steps
        # a resumed run starts at its checkpoint (the JSONL tracker keeps the steps before it)
        self.event.step, self.event.epoch = self.state.step, self.state.epoch
        try:
            self.fire("on_train_begin")
            with StopRequest() as stop:
                self.train_loop(stop)
        finally:
            if self.metrics is not None:
                self.metrics.close()
        result = self.result()
        self.event.result = result
        self.fire("on_train_end")
        return result

    def setup_numerics(self) -> None:
        """Threads and seeds (sampling draws from generators of its own, one per group)."""
        if self.params.num_threads is not None:
            torch.set_num_threads(self.params.num_threads)
        random.seed(self.params.seed)
        np.random.seed(self.params.seed % 2**32)
        torch.manual_seed(self.params.seed)

    def setup_output_dir(self) -> None:
        self.resume_from = ckpt.resolve_resume_checkpoint(self.params)  # type: ignore[arg-type]
        self.last_checkpoint = str(self.resume_from) if self.resume_from else None
        if self.context.is_main:
            if self.params.resume == "none" and self.params.overwrite:
                ckpt.clear_previous_run(self.output_dir)
                (self.output_dir / EVAL_FILENAME).unlink(missing_ok=True)
            self.output_dir.mkdir(parents=True, exist_ok=True)
        wait_for_all(0.0, self.context)

    def setup_data(self) -> None:
        """Prompts, held-out prompts and reward functions; the step plan."""
        params = self.params
        self.tokenizer = load_tokenizer(params)  # type: ignore[arg-type]
        prompts = load_prompts(params, self.tokenizer)
        self.train_prompts, self.held_out = prompts.train, prompts.held_out
        self.rewards = run_rewards(params, [*self.train_prompts, *self.held_out])
        if len(self.train_prompts) < params.prompt_batch_size:
            raise ParameterError(
                f"prompt_batch_size={params.prompt_batch_size} is larger than the "
                f"{len(self.train_prompts)} training prompts of {params.data_path}. Lower "
                "prompt_batch_size or add prompts."
            )
        self.batches_per_epoch = len(self.train_prompts) // params.prompt_batch_size
        self.steps_per_batch = params.iterations_per_batch * params.steps_per_generation
        planned = self.batches_per_epoch * params.num_iterations * self.steps_per_batch
        self.total_steps = min(planned, params.max_steps) if params.max_steps else planned
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ParameterError(
                f"The tokenizer of {params.tokenizer_path or params.model_path} has no "
                "eos_token: completions could never end. Use a tokenizer with one."
            )
        self.eos_ids = [eos]
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else eos

    def setup_model(self) -> None:
        """Load and adapt the policy, a frozen reference when ``beta`` > 0, then place them."""
        model = load_model(self.params, self.device)  # type: ignore[arg-type]
        model = self.adapter.prepare(model)
        if self.resume_from is not None:
            self.adapter.load_checkpoint(model, self.resume_from)
        trainable = {id(p) for p in self.adapter.trainable_parameters(model)}
        for parameter in model.parameters():
            parameter.requires_grad_(id(parameter) in trainable)
        self.model = model
        self.reference: Any = None
        if self.params.beta > 0 and not hasattr(model, "disable_adapter"):
            self.reference = self._frozen_copy_of_start(model)
        self.policy = PackedPolicy(model, self.params.temperature)
        layers = list(getattr(model.get_decoder(), "layers", []))
        if self.context.sharded:
            shard_model(self.policy, layers, self.precision.compute_dtype)
        else:
            self.policy.to(self.device)
            broadcast_parameters(self.policy, self.context)
        self.policy.train()
        self.trainable = [p for p in self.policy.parameters() if p.requires_grad]

    def _frozen_copy_of_start(self, model: Any) -> Any:
        """The reference policy: the starting weights (the base model when resuming)."""
        if self.resume_from is not None:
            reference = load_model(self.params, self.device)  # type: ignore[arg-type]
        else:
            reference = copy.deepcopy(model)
        reference.requires_grad_(False)
        return PackedPolicy(reference.eval(), self.params.temperature).to(self.device)

    def setup_optimizer(self) -> None:
        self.optimizer = build_optimizer(self.trainable, self.params, self.device)  # type: ignore[arg-type]
        self.scheduler = build_scheduler(self.optimizer, self.params, self.total_steps)  # type: ignore[arg-type]

    def resume_state(self) -> None:
        """Optimizer, schedule, position and the global RNGs as saved (sampling needs no
        state: a group's draws depend on the seed, the batch number and the prompt)."""
        self.state = ckpt.TrainerState(adapter=self.adapter.name,
                                       extra={"batch_in_epoch": 0, "rewards": []})
        if self.resume_from is None:
            return
        loaded = ckpt.load_training_state(self.resume_from)
        self.state = loaded.state
        if self.context.sharded:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_optimizer_state_dict,
            )

            set_optimizer_state_dict(self.policy, self.optimizer, loaded.optimizer,
                                     options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(loaded.optimizer)
        self.scheduler.load_state_dict(loaded.scheduler)
        ckpt.restore_rng_state(loaded.rng)
        self.reward_history = list(self.state.extra.get("rewards", []))
        self.eval_history = [tuple(e) for e in self.state.extra.get("evals", [])]  # type: ignore[misc]

    def train_loop(self, stop: StopRequest) -> None:
        params, state = self.params, self.state
        run_start, elapsed_before = time.perf_counter(), state.elapsed_s
        if self.held_out and state.step == 0:
            self.evaluate()  # the starting point of the reward curve
        while state.step < self.total_steps:
            epoch, batch_index = state.epoch, state.extra["batch_in_epoch"]
            if batch_index == 0:
                self.fire("on_epoch_begin")
            prompt_ids, first = self.prompts_of_batch(epoch, batch_index)
            batch = self.rollout_and_score(epoch * self.batches_per_epoch + batch_index,
                                           prompt_ids, first)
            for iteration in range(params.iterations_per_batch):
                for part in range(params.steps_per_generation):
                    if state.step >= self.total_steps:
                        break
                    self.fire("on_step_begin")
                    record = self.optimizer_step(batch, part, iteration)
                    state.step += 1
                    state.elapsed_s = elapsed_before + time.perf_counter() - run_start
                    self.after_step(record, first_of_batch=iteration == part == 0)
            batch_index += 1
            if batch_index == self.batches_per_epoch:
                state.epoch, batch_index = epoch + 1, 0
                self.fire("on_epoch_end")
            state.extra["batch_in_epoch"] = batch_index
            state.extra["rewards"] = self.reward_history
            state.extra["evals"] = self.eval_history
            if self.end_of_batch(stop):
                break

    # --- one generation batch -----------------------------------------------------------

    def prompts_of_batch(self, epoch: int, batch_index: int) -> tuple[list[int], int]:
        """This process's share of the batch (indices into the training prompts; the epoch's
        order comes from ``seed``) and the place of its first prompt in the whole batch."""
        order = list(range(len(self.train_prompts)))
        random.Random(self.params.seed + epoch).shuffle(order)
        size = self.params.prompt_batch_size
        chosen = order[batch_index * size:(batch_index + 1) * size]
        share = size // self.context.world_size
        first = self.context.rank * share
        return chosen[first:first + share], first

    def rollout_and_score(self, batch_number: int, prompt_ids: list[int],
                          first: int) -> dict[str, Any]:
        """Sample the groups, score them, and build the rows of the update."""
        params = self.params
        prompts = [self.train_prompts[i] for i in prompt_ids]
        generators = [group_generator(params.seed, batch_number, i) for i in prompt_ids]
        start = time.perf_counter()
        completions = self.sample(prompts, SamplingSettings(
            max_tokens=params.max_tokens, temperature=params.temperature,
            top_p=params.top_p, top_k=params.top_k), params.group_size, generators)
        generation_s = time.perf_counter() - start
        texts = self.tokenizer.batch_decode([c.ids for c in completions], skip_special_tokens=True)
        table = self.score(prompts, completions, texts, params.group_size)
        weights = torch.tensor([r.weight for r in self.rewards], dtype=torch.float64)
        per_function = torch.tensor(table, dtype=torch.float64)  # [functions, completions]
        unscorable = per_function.isnan().all(dim=0)
        total = (per_function * weights[:, None]).nansum(dim=0)
        total[unscorable] = math.nan
        batch_std = self.global_batch_std(total) if params.scale_rewards == "batch" else None
        advantages, zero_std = group_advantages(total, params.group_size, params.scale_rewards,
                                                batch_std)
        rows = []
        offset = first * params.group_size
        for position, (completion, advantage) in enumerate(
                zip(completions, advantages.tolist(), strict=True), start=offset):
            prompt = prompts[completion.prompt_index]
            masked = params.mask_truncated_completions and completion.truncated
            rows.append(_Sequence(list(prompt.ids) + completion.ids, len(prompt.ids),
                                  0 if masked else len(completion.ids), advantage, position,
                                  first + completion.prompt_index))
        stats = self.global_sums({
            "generation_tokens": float(sum(r.loss_tokens for r in rows)),
            "completion_tokens": float(sum(len(c.ids) for c in completions)),
            "completions": float(len(completions)),
            "truncated": float(sum(c.truncated for c in completions)),
            "zero_std": float(zero_std.sum()),
            "generation_s": generation_s,
            "reward_sum": float(torch.nansum(total)),
            "reward_sq": float(torch.nansum(total ** 2)),
            "reward_n": float((~total.isnan()).sum()),
            **{f"{r.name}/sum": float(torch.nansum(per_function[i]))
               for i, r in enumerate(self.rewards)},
            **{f"{r.name}/sq": float(torch.nansum(per_function[i] ** 2))
               for i, r in enumerate(self.rewards)},
            **{f"{r.name}/n": float((~per_function[i].isnan()).sum())
               for i, r in enumerate(self.rewards)},
        })
        self.generation_s += generation_s
        self.completions += int(stats["completions"])
        self._batch_stats = _rollout_metrics(stats, [r.name for r in self.rewards],
                                              self.context.world_size)
        if params.iterations_per_batch > 1 or params.steps_per_generation > 1:
            self.attach_logps(rows, "old_logps", self.policy)  # the rollout policy's
        if params.beta > 0:
            self.attach_logps(rows, "ref_logps", self.reference)
        return {"rows": rows, "stats": stats}

    def sample(self, prompts: list[Prompt], settings: SamplingSettings, group_size: int,
               generators: list[torch.Generator] | None) -> list[Completion]:
        with self._generation_context(), self._autocast():
            return sample_groups(
                self.model, [p.ids for p in prompts], group_size=group_size, settings=settings,
                eos_token_ids=self.eos_ids, pad_token_id=self.pad_id,
                generators=generators, batch_size=self.params.rollout_batch_size,
            )

    def score(self, prompts: list[Prompt], completions: list[Completion], texts: list[str],
              group_size: int) -> list[list[float]]:
        owners = [prompts[c.prompt_index] for c in completions]
        names = sorted({k for p in prompts for k in p.columns})
        columns = {k: [p.columns.get(k) for p in owners] for k in names}
        return score(self.rewards, [p.text for p in owners], texts, columns)

    def optimizer_step(self, batch: dict[str, Any], part: int, iteration: int) -> dict[str, Any]:
        """One optimizer step on part ``part`` of the generation batch: the completions
        whose place in the whole batch (all processes) falls in that part."""
        params = self.params
        rows: list[_Sequence] = batch["rows"]
        per_step = params.prompt_batch_size * params.group_size // params.steps_per_generation
        step_rows = [r for r in rows if r.position // per_step == part]
        totals = self.global_sums({"tokens": float(sum(r.loss_tokens for r in step_rows)),
                                   "sequences": float(len(step_rows))})
        weights = sequence_weights(
            [r.loss_tokens for r in step_rows], params.loss_type,
            step_sequences=int(totals["sequences"]), step_tokens=int(totals["tokens"]),
            max_tokens=params.max_tokens,
            generation_tokens=int(batch["stats"]["generation_tokens"]),
            steps_per_generation=params.steps_per_generation,
        )
        lr = self.scheduler.get_last_lr()[0]
        start = time.perf_counter()
        loss, stats, tokens = self.forward_backward(step_rows, weights)
        if not self.context.sharded:
            all_reduce_gradients(self.trainable, self.context)
        norm = self.clip_gradients()
        shared = torch.cat([torch.stack([loss, torch.tensor(tokens, dtype=torch.float32,
                                                             device=self.device)]), stats])
        all_reduce_sum(shared, self.context)
        total_loss, update_tokens, n, low, high, kl, ratio = shared.tolist()
        if not (math.isfinite(total_loss) and math.isfinite(float(norm))):
            raise TrainingError(
                f"Step {self.state.step + 1}: the loss ({total_loss}) or gradient norm ({norm}) "
                f"is not finite. The last good checkpoint ({self.last_checkpoint or 'none'}) was "
                "kept. Lower learning_rate or set max_grad_norm."
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.adapter.after_optimizer_step(self.model)
        self.scheduler.step()
        update_s = time.perf_counter() - start
        self.update_s += update_s
        self.state.tokens_seen += int(update_tokens)
        record: dict[str, Any] = {
            "loss": total_loss, "lr": lr, "grad_norm": float(norm),
            "clip_ratio/low_mean": low / max(n, 1), "clip_ratio/high_mean": high / max(n, 1),
            "clip_ratio/region_mean": (low + high) / max(n, 1),
            "importance_ratio_mean": ratio / max(n, 1),
            "update_tokens_per_second": update_tokens / max(update_s, 1e-9),
            "update_s": update_s,
        }
        if params.beta > 0:
            record["kl"] = kl / max(n, 1)
        return record

    def forward_backward(self, rows: list[_Sequence], weights: list[float]
                         ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Accumulate the step's gradients micro-batch by micro-batch."""
        loss_sum = torch.zeros((), device=self.device)
        stats = torch.zeros(5, device=self.device)
        tokens = 0
        batches = self._same_count_on_every_rank(self._pack(rows, weights))
        for index, (host, members, member_weights) in enumerate(batches):
            if self.context.sharded:
                self.policy.set_requires_gradient_sync(index == len(batches) - 1)
            logps = self._logps(self.policy, host)
            old = _concat([r.old_logps for r in members], self.device)
            ref = _concat([r.ref_logps for r in members], self.device)
            counts = torch.tensor([r.loss_tokens for r in members], dtype=torch.long)
            advantages = torch.tensor([r.advantage for r in members], dtype=torch.float32
                                      ).repeat_interleave(counts).to(self.device)
            token_weights = torch.tensor(member_weights, dtype=torch.float32
                                         ).repeat_interleave(counts).to(self.device)
            loss, micro_stats = policy_loss(
                logps, old, advantages, token_weights, epsilon_low=self.params.epsilon,
                epsilon_high=self.params.clip_high, beta=self.params.beta, ref_logps=ref)
            loss.backward()
            loss_sum += loss.detach()
            stats += micro_stats
            tokens += host.row_tokens  # as if one row per completion (the shared prompt counted)
        return loss_sum, stats, tokens

    def _pack(self, rows: list[_Sequence], weights: list[float]
              ) -> list[tuple[PackedGroups, list[_Sequence], list[float]]]:
        """Micro-batches of the rows with loss tokens, a group's prompt computed once
        where the model runs the engine's packed attention (it takes the block masks)."""
        share = getattr(self.model.config, "_attn_implementation", None) == PACKED_SDPA
        return pack_groups(rows, weights, self.params.max_tokens_per_gpu, share_prompts=share)

    def _same_count_on_every_rank(self, batches: list[Any]) -> list[Any]:
        """FSDP2 gathers weights in every forward: every rank runs as many micro-batches
        (a rank with fewer adds empty ones whose loss is 0)."""
        if not self.context.sharded:
            return batches
        count = torch.tensor([float(len(batches))], device=self.device)
        dist.all_reduce(count, op=dist.ReduceOp.MAX)
        while len(batches) < int(count.item()):
            batches.append((PackedGroups.empty(self.pad_id), [], []))
        return batches

    @torch.no_grad()
    def attach_logps(self, rows: list[_Sequence], name: str, policy: Any) -> None:
        """Per-token log-probabilities of ``policy`` (the rollout policy, or the reference)
        on every completion, before any update of this generation batch."""
        disable = name == "ref_logps" and policy is None
        policy = self.policy if policy is None else policy
        manager = self.model.disable_adapter() if disable else contextlib.nullcontext()
        with manager:
            batches = self._pack(rows, [0.0] * len(rows))
            for host, members, _ in self._same_count_on_every_rank(batches):
                logps = self._logps(policy, host)
                for row, part in zip(members, logps.split([r.loss_tokens for r in members]),
                                     strict=True):
                    setattr(row, name, part.detach())

    def _logps(self, policy: Any, host: PackedGroups) -> torch.Tensor:
        batch = host.to(self.device)
        with self._autocast():
            return policy(batch.input_ids, batch.position_ids, batch.head_positions,
                          batch.head_rows, batch.targets, **host.attention_kwargs(batch))

    # --- after each step and each batch ---------------------------------------------------

    def after_step(self, record: dict[str, Any], *, first_of_batch: bool) -> None:
        """Metrics, ``on_step_end``/``on_log`` and ``iteration_callback``."""
        state, stats = self.state, self.batch_stats
        record = {"step": state.step, "epoch": state.epoch, **record}
        if first_of_batch:  # the rollout metrics belong to the batch's first step
            record.update(stats)
        self.reward_history.append(record["reward"] if "reward" in record else
                                   self.reward_history[-1])
        record["tokens"] = state.tokens_seen
        record["elapsed_s"] = round(state.elapsed_s, 3)
        record["tokens_per_second"] = state.tokens_seen / max(state.elapsed_s, 1e-9)
        self.event.step, self.event.epoch = state.step, state.epoch
        self.event.loss, self.event.learning_rate = record["loss"], record["lr"]
        self.event.metrics = record
        self.fire("on_step_end")
        if self.metrics is not None:
            if state.step % self.params.logging_steps == 0 or state.step == self.total_steps:
                self.metrics.log(record)
                self.fire("on_log")
            else:
                self.metrics.advance(state.step)
        if self.params.iteration_callback is not None and self.context.is_main:
            self.params.iteration_callback(state.step, record)

    def end_of_batch(self, stop: StopRequest) -> bool:
        """Evaluate and save when due or asked for; True when the run ends here."""
        params, state, control = self.params, self.state, self.event.control
        flags = torch.tensor([float(stop.requested), float(control.should_training_stop),
                              float(control.should_save), float(control.should_evaluate)])
        all_reduce_sum(flags, self.context)
        signalled, stop_asked, save_asked, eval_asked = (v > 0 for v in flags.tolist())
        finished = state.step >= self.total_steps
        every = params.validation_frequency
        if self.held_out and (eval_asked or finished or (every and state.step % every == 0)):
            self.evaluate()
            control.should_evaluate = False
        stopping = signalled or stop_asked
        due = params.save_every is not None and state.step % params.save_every == 0
        if due or save_asked or stopping or (finished and params.save_final_checkpoint):
            self.save_checkpoint()
            control.should_save = False
        if signalled and not finished:
            raise TrainingInterrupted(
                f"Training stopped on {stop.signal_name or 'a signal'} after step {state.step}; "
                f"checkpoint {self.last_checkpoint}. Continue with resume='latest'.",
                checkpoint=self.last_checkpoint)
        return finished or stopping

    def evaluate(self) -> None:
        """Mean reward of one greedy completion per held-out prompt (all processes)."""
        share = math.ceil(len(self.held_out) / self.context.world_size)
        mine = self.held_out[self.context.rank * share:(self.context.rank + 1) * share]
        sums = {"n": 0.0, "reward": 0.0, **{f"{r.name}": 0.0 for r in self.rewards}}
        if mine:
            completions = self.sample(mine, SamplingSettings(
                max_tokens=self.params.max_tokens, greedy=True), 1, None)
            texts = self.tokenizer.batch_decode([c.ids for c in completions],
                                                skip_special_tokens=True)
            table = torch.tensor(self.score(mine, completions, texts, 1), dtype=torch.float64)
            weights = torch.tensor([r.weight for r in self.rewards], dtype=torch.float64)
            sums["n"] = float(len(mine))
            sums["reward"] = float((table * weights[:, None]).nansum())
            for i, r in enumerate(self.rewards):
                sums[r.name] = float(torch.nansum(table[i]))
        elif self.context.sharded:
            raise TrainingError("fewer held-out prompts than processes under FSDP2")
        totals = self.global_sums(sums)
        n = max(totals["n"], 1.0)
        metrics = {"eval_reward": totals["reward"] / n,
                   **{f"eval_rewards/{r.name}": totals[r.name] / n for r in self.rewards}}
        self.eval_history.append((self.state.step, metrics["eval_reward"]))
        self.event.step, self.event.metrics = self.state.step, metrics
        if self.context.is_main:
            with (self.output_dir / EVAL_FILENAME).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": self.state.step, **metrics}) + "\n")
        self.fire("on_evaluate")

    # --- checkpoints ----------------------------------------------------------------

    def save_checkpoint(self) -> None:
        """Rank 0 writes ``checkpoints/step-<N>`` (HF model or peft adapter + state)."""
        if self.last_checkpoint and Path(self.last_checkpoint).name == f"step-{self.state.step}":
            return
        model_state, optimizer_state = self._gather_states()
        error: TrainingError | None = None
        if self.context.is_main:
            try:
                path = ckpt.write_checkpoint_atomically(
                    self.output_dir, self.state.step,
                    lambda folder: self._write(folder, model_state, optimizer_state),
                    epoch_end=self.state.extra["batch_in_epoch"] == 0)
                for removed in ckpt.prune_checkpoints(self.output_dir, self.params.keep_last_n):
                    if str(removed) in self.checkpoints_written:
                        self.checkpoints_written.remove(str(removed))
                self.checkpoints_written.append(str(path))
                self.last_checkpoint = str(path)
            except TrainingError as exc:
                error = exc
        if wait_for_all(float(error is not None), self.context) > 0:
            raise error or TrainingError(f"Rank 0 could not save step {self.state.step}.")
        if not self.context.is_main:
            self.last_checkpoint = str(ckpt.checkpoints_root(self.output_dir)
                                       / f"step-{self.state.step}")
        self.event.checkpoint = self.last_checkpoint
        self.fire("on_save")

    def _write(self, folder: Path, model_state: dict[str, Any] | None,
               optimizer_state: dict[str, Any]) -> None:
        config = self.model.config
        previous, config.use_cache = config.use_cache, True
        try:
            if model_state is not None:
                exported = self.adapter.export_state_dict(self.model, model_state)
                self.model.save_pretrained(folder, state_dict=exported)
            else:
                self.adapter.export_model(self.model).save_pretrained(folder)
        finally:
            config.use_cache = previous
        self.tokenizer.save_pretrained(folder)
        self.adapter.save_extra(self.model, folder)
        ckpt.write_training_state(
            folder, state=self.state, params=self.params,  # type: ignore[arg-type]
            optimizer_state=optimizer_state, scheduler_state=self.scheduler.state_dict(),
            scaler_state=None)

    def _gather_states(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if not self.context.sharded:
            return None, self.optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        full = get_model_state_dict(self.policy, options=options)
        model_state = {k.removeprefix("causal_lm."): v for k, v in full.items()}
        return model_state, get_optimizer_state_dict(self.policy, self.optimizer, options=options)

    # --- helpers --------------------------------------------------------------------

    @property
    def batch_stats(self) -> dict[str, float]:
        return getattr(self, "_batch_stats", {})

    def global_sums(self, values: dict[str, float]) -> dict[str, float]:
        """Sum host values over processes (one collective)."""
        if not self.context.is_distributed:
            return dict(values)
        tensor = torch.tensor(list(values.values()), dtype=torch.float64)
        dist.all_reduce(tensor, group=self.context.slow_group)
        return dict(zip(values, tensor.tolist(), strict=True))

    def global_batch_std(self, rewards: torch.Tensor) -> torch.Tensor:
        sums = self.global_sums({"n": float((~rewards.isnan()).sum()),
                                 "s": float(torch.nansum(rewards)),
                                 "q": float(torch.nansum(rewards ** 2))})
        n = sums["n"]
        if n < 2:
            return torch.tensor(math.nan, dtype=rewards.dtype)
        variance = (sums["q"] - sums["s"] ** 2 / n) / (n - 1)
        return torch.tensor(math.sqrt(max(variance, 0.0)), dtype=rewards.dtype)

    def clip_gradients(self) -> torch.Tensor:
        norm = torch.nn.utils.clip_grad_norm_(self.trainable, self.params.max_grad_norm or math.inf)
        if hasattr(norm, "full_tensor"):
            norm = norm.full_tensor()
        return norm.detach().float()

    def fire(self, event: str) -> None:
        self.callbacks.fire(event, self.event)

    def result(self) -> GRPOResult:
        elapsed = self.state.elapsed_s
        return GRPOResult(
            steps=self.state.step, epochs=self.state.epoch, elapsed_s=elapsed,
            final_reward=self.reward_history[-1] if self.reward_history else None,
            reward_history=list(self.reward_history), eval_history=list(self.eval_history),
            completions=self.completions,
            completions_per_second=self.completions / max(self.generation_s + self.update_s,
                                                          1e-9),
            generation_s=self.generation_s, update_s=self.update_s,
            checkpoints=list(self.checkpoints_written), last_checkpoint=self.last_checkpoint,
            output_dir=str(self.output_dir),
            metrics_path=str(self.output_dir / "metrics.jsonl"),
        )

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = self.precision.compute_dtype
        if self.context.sharded or dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    @contextlib.contextmanager
    def _generation_context(self) -> Any:
        """Sharded weights are gathered once for the whole rollout, not per decoded token."""
        if not self.context.sharded:
            yield
            return
        from torch.distributed.fsdp import FSDPModule

        modules = [m for m in self.policy.modules() if isinstance(m, FSDPModule)]
        for module in modules:
            module.unshard()
        try:
            yield
        finally:
            for module in modules:
                module.reshard()


def _mean_std(total: float, squares: float, n: float) -> tuple[float, float]:
    """Mean and sample std (Bessel, as TRL logs them) from sums."""
    if n < 1:
        return math.nan, math.nan
    mean = total / n
    variance = (squares - total * total / n) / (n - 1) if n > 1 else math.nan
    return mean, math.sqrt(max(variance, 0.0)) if n > 1 else math.nan


def _rollout_metrics(stats: dict[str, float], names: list[str], processes: int
                     ) -> dict[str, float]:
    """The rollout metrics of a generation batch, TRL's names where it has them."""
    completions = max(stats["completions"], 1.0)
    seconds = max(stats["generation_s"] / processes, 1e-9)  # the processes sample in parallel
    reward, reward_std = _mean_std(stats["reward_sum"], stats["reward_sq"], stats["reward_n"])
    metrics = {
        "reward": reward, "reward_std": reward_std,
        "frac_reward_zero_std": stats["zero_std"] / completions,
        "completions/mean_length": stats["completion_tokens"] / completions,
        "completions/clipped_ratio": stats["truncated"] / completions,
        "generation_s": stats["generation_s"] / processes,
        "generation_tokens_per_second": stats["completion_tokens"] / seconds,
        "completions_per_second_generation": stats["completions"] / seconds,
    }
    for name in names:
        mean, std = _mean_std(stats[f"{name}/sum"], stats[f"{name}/sq"], stats[f"{name}/n"])
        metrics[f"rewards/{name}/mean"], metrics[f"rewards/{name}/std"] = mean, std
    return metrics


def _concat(parts: list[torch.Tensor | None], device: torch.device) -> torch.Tensor | None:
    if not parts or any(p is None for p in parts):
        return None
    return torch.cat([p for p in parts if p is not None]).to(device)
