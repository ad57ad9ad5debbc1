"""Lesson 08's tiny character-level language model: its training text, its vocabulary, the
model, the training loop and sampling.

The text is the prose of this course's own lessons 01–07 (their markdown cells), read from the
notebooks next to this package; where they are missing, the docstrings of a few standard-library
modules. Nothing is downloaded. `settings()` chooses a smaller run when the environment variable
CI is "true", so that the test suite stays quick; the lesson's cells never mention it.

The pieces the learner writes (a log-softmax and a causal attention in torch) are passed in, so
that the same model trains with the learner's functions or with the references.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

LESSONS = Path(__file__).resolve().parent.parent / "notebooks"
FALLBACK_MODULES = ("json", "collections", "functools", "itertools", "pathlib", "textwrap",
                    "argparse", "statistics", "fractions", "dataclasses")


# --- the text ----------------------------------------------------------------------------------

def training_text(lessons: Path = LESSONS) -> tuple[str, str]:
    """The text to train on and where it came from: the markdown cells of lessons 01–07 of this
    course, or, when those notebooks are not there, standard-library docstrings."""
    notebooks = sorted(lessons.glob("0[1-7]*_*.ipynb"))  # 06b_calibration too
    if notebooks:
        cells = []
        for path in notebooks:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
        return "\n\n".join(cells), f"the prose of lessons 01–07 ({len(notebooks)} notebooks)"
    import importlib
    import inspect

    docs = []
    for name in FALLBACK_MODULES:
        module = importlib.import_module(name)
        docs += [inspect.getdoc(obj) or "" for _, obj in inspect.getmembers(module)
                 if (inspect.isfunction(obj) or inspect.isclass(obj))]
    return "\n\n".join(d for d in docs if d), "docstrings of the standard library"


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a text, one id each, in sorted order."""

    chars: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Vocabulary:
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters; a character outside the vocabulary becomes a space."""
        index = {c: i for i, c in enumerate(self.chars)}
        space = index.get(" ", 0)
        return np.array([index.get(c, space) for c in text], dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def show(c: str) -> str:
    """A character as a table or a bar label shows it: ␣ for a space, ↵ for a newline."""
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(c, c)


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The size of the model and of its training run."""

    context: int = 32
    """Characters the model sees at once (the attention's sequence length)."""
    width: int = 48
    """Size of the embeddings and of the attention's queries, keys and values."""
    steps: int = 400
    batch: int = 16
    lr: float = 5e-3
    seed: int = 0


def settings() -> Settings:
    """The lesson's run; a smaller one when CI is "true" (tests run it under a time budget)."""
    if os.environ.get("CI", "").lower() == "true":
        return Settings(context=24, width=32, steps=150, batch=16)
    return Settings()


# --- the references the lesson falls back on ---------------------------------------------------

def log_softmax(z: torch.Tensor) -> torch.Tensor:
    """z − logsumexp(z) along the last axis, from elementary operations (the max detached: it
    only shifts the exponent)."""
    m = z.amax(dim=-1, keepdim=True).detach()
    return z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))


def causal_softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of (…, T, T) scores, key j hidden from query i when j > i."""
    T = scores.shape[-1]
    keep = torch.ones(T, T, dtype=torch.bool, device=scores.device).tril()
    s = scores.masked_fill(~keep, float("-inf"))
    e = torch.exp(s - s.amax(dim=-1, keepdim=True).detach())
    return e / e.sum(dim=-1, keepdim=True)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d, causal) v over (…, T, d) inputs."""
    return causal_softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])) @ v


def yours_or_reference(problem_id: str, fn: Callable | None) -> Callable:
    """`fn` if it passes tutor.check(problem_id), else the course's reference; says which."""
    import tutor
    from tutor import registry

    result = tutor.check(problem_id, fn) if fn is not None else None
    if result is not None and result.passed:
        print(f"{problem_id}: yours (it passes its check)")
        return fn
    why = "not written yet" if result is None or result.status == "not_attempted" else \
        "it does not pass its check yet"
    print(f"{problem_id}: the course's reference ({why})")
    return registry.get(problem_id).reference


# --- the model ---------------------------------------------------------------------------------

@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block. A model this small is fastest that way: more
    threads only wait on each other, and on a busy machine they wait a lot. One thread also
    makes a run exactly repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TinyLM(nn.Module):
    """Characters → embeddings (+ positions) → one causal self-attention layer and a small MLP,
    each added to its input → logits over the vocabulary, at every position.

    `attention(q, k, v)` is the causal attention to use, so the learner's can be plugged in.
    """

    def __init__(self, vocab_size: int, s: Settings, attention: Callable = causal_attention):
        super().__init__()
        self.context, self.attention = s.context, attention
        self.embed = nn.Embedding(vocab_size, s.width)
        self.position = nn.Embedding(s.context, s.width)
        self.norm1, self.norm2 = nn.LayerNorm(s.width), nn.LayerNorm(s.width)
        self.qkv = nn.Linear(s.width, 3 * s.width, bias=False)
        self.mix = nn.Linear(s.width, s.width, bias=False)
        self.mlp = nn.Sequential(nn.Linear(s.width, 4 * s.width), nn.GELU(),
                                 nn.Linear(4 * s.width, s.width))
        self.head = nn.Linear(s.width, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) with T ≤ context → logits (B, T, V)."""
        T = ids.shape[-1]
        x = self.embed(ids) + self.position(torch.arange(T, device=ids.device))
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.mix(self.attention(q, k, v))
        x = x + self.mlp(self.norm2(x))
        return self.head(x)


def batches(data: np.ndarray, s: Settings, rng: np.random.Generator):
    """Endless (inputs, targets) pairs: `batch` random windows of `context` characters, and
    the same windows shifted by one (each position's next character)."""
    while True:
        starts = rng.integers(0, len(data) - s.context - 1, s.batch)
        x = np.stack([data[i:i + s.context] for i in starts])
        y = np.stack([data[i + 1:i + s.context + 1] for i in starts])
        yield torch.from_numpy(x), torch.from_numpy(y)


def loss_of(model: TinyLM, x: torch.Tensor, y: torch.Tensor,
            log_softmax: Callable = log_softmax) -> torch.Tensor:
    """Mean cross-entropy of the next character: −log_softmax(logits)[target], averaged."""
    log_p = log_softmax(model(x))
    return -log_p.gather(-1, y.unsqueeze(-1)).mean()


@dataclass
class Run:
    """A training run: the model, its vocabulary, the loss after each step, the validation loss
    and how long it took."""

    model: TinyLM
    vocab: Vocabulary
    settings: Settings
    source: str
    losses: list[float] = field(default_factory=list)
    validation: float = float("nan")
    seconds: float = 0.0

    @property
    def baseline(self) -> float:
        """ln V: the loss of the uniform guess over the vocabulary."""
        return math.log(len(self.vocab))

    def next_logits(self, ids: Sequence[int]) -> np.ndarray:
        """Float64 logits of the character after `ids` (the last `context` of them).

        Sampling asks for one character at a time, so this runs the trained model's forward
        pass in numpy (the same arithmetic as `TinyLM.forward`, with the standard causal
        attention): a few dozen small numpy calls cost far less than the same calls in torch.
        """
        ids = list(ids)[-self.settings.context:] or [int(self.vocab.encode(" ")[0])]
        if self._weights is None:
            self._weights = {k: v.detach().double().numpy()
                             for k, v in self.model.state_dict().items()}
        return _forward(self._weights, np.asarray(ids))[-1]

    _weights: dict | None = None


def _layer_norm(x, w, prefix):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w[prefix + ".weight"] + w[prefix + ".bias"]


def _forward(w: dict, ids: np.ndarray) -> np.ndarray:
    """TinyLM.forward for one sequence, in numpy: logits (T, V)."""
    from scipy.special import erf

    T = len(ids)
    x = w["embed.weight"][ids] + w["position.weight"][:T]
    q, k, v = np.split(_layer_norm(x, w, "norm1") @ w["qkv.weight"].T, 3, axis=-1)
    scores = q @ k.T / math.sqrt(q.shape[-1])
    scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    x = x + (e / e.sum(axis=-1, keepdims=True) @ v) @ w["mix.weight"].T
    h = _layer_norm(x, w, "norm2") @ w["mlp.0.weight"].T + w["mlp.0.bias"]
    h = 0.5 * h * (1 + erf(h / math.sqrt(2)))                    # GELU, exact
    x = x + h @ w["mlp.2.weight"].T + w["mlp.2.bias"]
    return x @ w["head.weight"].T + w["head.bias"]


def train(log_softmax: Callable = log_softmax, attention: Callable = causal_attention,
          s: Settings | None = None, text: str | None = None, source: str = "",
          progress: Callable[[int, float], None] | None = None) -> Run:
    """Train a TinyLM with Adam on 90 % of the text; the last 10 % gives the validation loss.
    Seeded: the same settings, text and functions give the same losses."""
    s = s or settings()
    if text is None:
        text, source = training_text()
    vocab = Vocabulary.of(text)
    data = vocab.encode(text)
    split = int(0.9 * len(data))
    torch.manual_seed(s.seed)
    model = TinyLM(len(vocab), s, attention)
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)
    run = Run(model, vocab, s, source)
    windows = batches(data[:split], s, np.random.default_rng(s.seed))
    start = time.perf_counter()
    with one_thread():
        for step in range(s.steps):
            x, y = next(windows)
            loss = loss_of(model, x, y, log_softmax)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            run.losses.append(loss.item())
            if progress is not None:
                progress(step, run.losses[-1])
    run.seconds = time.perf_counter() - start
    run.validation = validation_loss(run, data[split:])
    return run


def validation_loss(run: Run, data: np.ndarray, windows: int = 64) -> float:
    """Mean next-character loss over evenly spaced windows of held-out text."""
    T = run.settings.context
    starts = np.linspace(0, len(data) - T - 1, windows).astype(int)
    x = torch.from_numpy(np.stack([data[i:i + T] for i in starts]))
    y = torch.from_numpy(np.stack([data[i + 1:i + T + 1] for i in starts]))
    with torch.no_grad(), one_thread():
        return loss_of(run.model, x, y).item()


# --- sampling ----------------------------------------------------------------------------------

def softmax(z) -> np.ndarray:
    """softmax of a 1-D array of logits; −inf entries get 0."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def top_k_filter(logits, k: int) -> np.ndarray:
    """Entries below the k-th largest set to −inf (ties at the boundary kept)."""
    z = np.asarray(logits, dtype=np.float64)
    return np.where(z >= np.sort(z)[-k], z, -np.inf)


def top_p_filter(logits, p: float) -> np.ndarray:
    """The smallest set of most probable entries whose probabilities reach p kept (the one that
    crosses p included), others −inf."""
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    keep = np.zeros(len(z), dtype=bool)
    keep[order] = before < p
    keep[order[0]] = True
    return np.where(keep, z, -np.inf)


@dataclass(frozen=True)
class Filters:
    """The top-k and top-p filters sampling uses: the course's, or the learner's from
    chapter 06."""

    top_k: Callable = top_k_filter
    top_p: Callable = top_p_filter


def next_distribution(z, T: float, k: int, p: float, filters: Filters = Filters()):
    """Temperature, then top-k, then top-p, on logits z: (probabilities after temperature,
    the kept mask, the distribution sampled from)."""
    u = np.asarray(z, dtype=np.float64) / T
    before = softmax(u)
    if k < len(u):
        u = np.asarray(filters.top_k(u, k), dtype=np.float64)
    if p < 1.0:
        u = np.asarray(filters.top_p(u, p), dtype=np.float64)
    kept = np.isfinite(u)
    return before, kept, softmax(u)


def generate(next_logits: Callable, vocab: Vocabulary, prompt: str, n: int = 160,
             T: float = 1.0, k: int | None = None, p: float = 1.0, seed: int = 0,
             filters: Filters = Filters()) -> str:
    """`n` characters after `prompt`, each drawn from the filtered next-character distribution
    with a seeded generator; T = 0 takes the argmax."""
    rng = np.random.default_rng(seed)
    ids = list(vocab.encode(prompt))
    k = len(vocab) if k is None else k
    for _ in range(n):
        z = next_logits(ids)
        if T == 0:
            ids.append(int(np.argmax(z)))
            continue
        _, _, q = next_distribution(z, T, k, p, filters)
        ids.append(int(rng.choice(len(q), p=q)))
    return vocab.decode(ids[len(prompt):])


def most_likely(next_logits: Callable, vocab: Vocabulary, prompt: str, n: int = 8):
    """The n most likely next characters after `prompt`, with their probabilities."""
    q = softmax(next_logits(list(vocab.encode(prompt))))
    order = np.argsort(-q, kind="stable")[:n]
    return [(vocab.chars[i], float(q[i])) for i in order]


def table_html(rows: Sequence[tuple[str, float]], prompt: str) -> str:
    """The next-character table as HTML."""
    cells = "".join(f"<tr><td><code>{html.escape(show(c))}</code></td>"
                    f"<td style='text-align:right'>{100 * q:.1f}%</td></tr>" for c, q in rows)
    return (f"<table><caption>after <code>{html.escape(prompt)}</code></caption>"
            f"<tr><th>next</th><th>probability</th></tr>{cells}</table>")


# --- a counting model, for tests and widget examples without training ---------------------------

class CountModel:
    """Next-character logits from counts of what followed the last `order` characters in the
    text (add-one smoothed, backing off to shorter contexts). No torch, no training."""

    def __init__(self, text: str, vocab: Vocabulary | None = None, order: int = 3):
        self.vocab = vocab or Vocabulary.of(text)
        self.order = order
        self.counts: dict[tuple, np.ndarray] = {}
        ids = self.vocab.encode(text)
        V = len(self.vocab)
        for n in range(order + 1):
            for i in range(n, len(ids)):
                key = tuple(ids[i - n:i])
                row = self.counts.setdefault(key, np.zeros(V))
                row[ids[i]] += 1

    def next_logits(self, ids: Sequence[int]) -> np.ndarray:
        ids = list(ids)
        for n in range(min(self.order, len(ids)), -1, -1):
            row = self.counts.get(tuple(ids[len(ids) - n:]))
            if row is not None:
                return np.log(row + 0.01)
        return np.zeros(len(self.vocab))
