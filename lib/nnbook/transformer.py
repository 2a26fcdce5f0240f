"""Transformers: the six components of the notes, a small GPT and a small BERT.

Read top to bottom, this file is the chapter's model:

1. :func:`scaled_dot_product_attention` and :class:`MultiHeadAttention`
   (多头注意力), ``softmax(Q Kᵀ / √d_k + mask) V``;
2. :func:`sinusoidal_positional_encoding` (位置编码);
3. :class:`FeedForward`, the position-wise FFN (逐位置前馈网络);
4. the residual connection (残差连接), in :class:`Block`;
5. :class:`LayerNorm` (层归一化);
6. :func:`causal_mask` and :func:`padding_mask` (掩码).

:class:`Transformer` stacks them (nanoGPT-style, pre-LayerNorm) into a causal
language model (GPT, ``causal=True``) or a bidirectional encoder (BERT,
``causal=False``). Shapes in comments: ``B`` batch, ``T`` sequence length,
``C = d_model`` channels, ``H`` heads, ``D = C / H`` head size, ``V`` vocabulary.

Masks are boolean and mean "may attend": ``True`` where a query may look at a
key, ``False`` where it may not (the convention of
``torch.nn.functional.scaled_dot_product_attention``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnbook.exercises import exercise, expect_close, expect_equal, CheckFailed
from nnbook.train import train_steps
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, PROBABILITY, Float, Function, Instance, Int, Tensor,
                             check_tensor, checked)

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "sinusoidal_positional_encoding",
    "MultiHeadAttention",
    "FeedForward",
    "LayerNorm",
    "Block",
    "TransformerConfig",
    "Transformer",
    "generate",
    "CharTokenizer",
    "load_corpus",
    "lm_batch",
    "mask_tokens",
    "reversal_data",
    "PARITY_TOKENS",
    "parity_data",
    "parity_batch",
    "parity_accuracy",
    "train_tokens",
    "distillation_loss",
    "distill_tokens",
    "saved_activation_bytes",
    "time_forward",
]


class TokenIds(Tensor):
    """The rule for integer token (or class) ids of rank ``ndim``; no pass over the values (ints are finite)."""

    def check(self, name, value):
        value = check_tensor(name, value, ndim=self.ndim)
        if value.is_floating_point() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer ids, got dtype {value.dtype}")
        return value


TOKENS, MODULE, FLAG = TokenIds(ndim=2), Instance(nn.Module), Instance(bool)
N_BITS = Int(1, 30)


# ------------------------------------------------------------------ 1. attention
def _check_attention_inputs(q, k, v, mask):
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (..., T, d), got shape {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same last dimension d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same length T_k, got k {tuple(k.shape)} and v {tuple(v.shape)}")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError("mask must be a boolean torch.Tensor (True = may attend)")
        want = (q.shape[-2], k.shape[-2])
        if mask.dim() < 2 or tuple(mask.shape[-2:]) != want and not (mask.shape[-2] == 1 and mask.shape[-1] == want[1]):
            raise ValueError(f"mask must have shape (..., T_q, T_k) = (..., {want[0]}, {want[1]}) "
                             f"(or (..., 1, T_k)), got {tuple(mask.shape)}")


@checked(q=Tensor(), k=Tensor(), v=Tensor())  # real, finite, not empty
def scaled_dot_product_attention(q, k, v, mask=None, return_weights: bool = False):
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, with an optional boolean mask.

    q: (..., T_q, d_k); k: (..., T_k, d_k); v: (..., T_k, d_v);
    mask: bool, broadcastable to (..., T_q, T_k), True where the query may see the key.
    Returns out (..., T_q, d_v), and the weights (..., T_q, T_k) if ``return_weights``.
    A query row whose keys are all masked gets zero weights (and a zero output).
    """
    _check_attention_inputs(q, k, v, mask)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)            # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)                # rows with every key masked
    out = weights @ v                                           # (..., T_q, d_v)
    return (out, weights) if return_weights else out


# ------------------------------------------------------------------ 6. masks
@checked(T=COUNT)
def causal_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) boolean lower-triangular mask: position t may attend to positions ≤ t only."""
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))


@checked(tokens=TOKENS, pad_id=Int())
def padding_mask(tokens, pad_id: int) -> torch.Tensor:
    """(B, 1, 1, T) boolean mask, False at padding keys: no query attends to a pad token.

    tokens: (B, T) integer token ids. Broadcasts against attention scores (B, H, T, T).
    """
    return (tokens != pad_id)[:, None, None, :]


# ------------------------------------------------------------------ 2. positional encoding
@checked(T=COUNT, d_model=Int(2))
def sinusoidal_positional_encoding(T: int, d_model: int, device=None) -> torch.Tensor:
    """(T, d_model) sinusoidal position codes of Vaswani et al. (2017).

    PE[t, 2i] = sin(t / 10000^(2i/d)),  PE[t, 2i+1] = cos(t / 10000^(2i/d)).
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal encodings, got {d_model}")
    t = torch.arange(T, dtype=torch.float32, device=device)[:, None]                       # (T, 1)
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float32, device=device) / d_model)  # (d/2,)
    pe = torch.zeros(T, d_model, device=device)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)
    return pe


# ------------------------------------------------------------------ modules
class MultiHeadAttention(nn.Module):
    """MultiHead(X) = Concat(head_1..head_H) W_O, head_h = Attention(X W_Q^h, X W_K^h, X W_V^h).

    forward(x, context=None, mask=None): x (B, T, C) queries; context (B, S, C) keys/values
    (defaults to x: self-attention); mask broadcastable to (B, H, T, S). Returns (B, T, C).
    The last attention weights (B, H, T, S) are kept in ``self.weights`` for plotting.
    """

    @checked(d_model=COUNT, n_heads=COUNT)
    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)
        self.weights = None

    def _split(self, x):  # (B, T, C) -> (B, H, T, D)
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, x, context=None, mask=None):
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (B, T, d_model={self.d_model}), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        context = x if context is None else context
        if not isinstance(context, torch.Tensor) or context.dim() != 3 or context.shape[-1] != self.d_model \
                or context.shape[0] != x.shape[0]:
            raise ValueError(f"context must have shape (B={x.shape[0]}, S, d_model={self.d_model})")
        B, T, C = x.shape
        q, k, v = self._split(self.W_q(x)), self._split(self.W_k(context)), self._split(self.W_v(context))
        out, self.weights = scaled_dot_product_attention.unchecked(q, k, v, mask, return_weights=True)  # (B, H, T, D)
        out = out.transpose(1, 2).reshape(B, T, C)                                         # concat heads
        return self.W_o(out)


class FeedForward(nn.Module):
    """Position-wise FFN(x) = W_2 GELU(W_1 x + b_1) + b_2, the same MLP at every position."""

    @checked(d_model=COUNT, d_ff=COUNT)
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        return self.net(x)


class LayerNorm(nn.Module):
    """LayerNorm(x) = γ ⊙ (x − μ) / √(σ² + ε) + β, with μ, σ² over the last (feature) axis of each position."""

    @checked(d_model=COUNT, eps=POSITIVE)
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(d_model))
        self.beta = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mu = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, unbiased=False, keepdim=True)
        return self.gamma * (x - mu) / torch.sqrt(var + self.eps) + self.beta


class Block(nn.Module):
    """One pre-LN Transformer block: x ← x + MHA(LN(x)); x ← x + FFN(LN(x)) (two residual connections)."""

    @checked(d_model=COUNT, n_heads=COUNT, d_ff=COUNT)
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1, self.attn = LayerNorm(d_model), MultiHeadAttention(d_model, n_heads)
        self.ln2, self.ffn = LayerNorm(d_model), FeedForward(d_model, d_ff)

    def forward(self, x, mask=None):  # (B, T, C) -> (B, T, C)
        x = x + self.attn(self.ln1(x), mask=mask)
        x = x + self.ffn(self.ln2(x))
        return x


@dataclass
class TransformerConfig:
    """Hyper-parameters of :class:`Transformer`. ``causal=True``: GPT; ``causal=False``: BERT-style encoder."""

    vocab_size: int
    block_size: int = 64       # longest sequence (context length)
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int | None = None    # default 4 * d_model
    causal: bool = True

    def __post_init__(self):  # the single arguments are checked by the rules declared below the class
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (sinusoidal positions), got {self.d_model}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model


TransformerConfig.__init__ = checked(vocab_size=COUNT, block_size=COUNT, d_model=Int(2), n_heads=COUNT, n_layers=COUNT,
                                     d_ff=Int(1, optional=True))(TransformerConfig.__init__)


class Transformer(nn.Module):
    """Token embedding + sinusoidal positions → n_layers blocks → LayerNorm → logits over the vocabulary.

    forward(idx, pad_mask=None): idx (B, T) token ids with T ≤ block_size; returns logits (B, T, V).
    With ``config.causal`` every position sees only itself and the past (GPT); otherwise all
    positions (BERT). ``pad_mask`` (B, T) bool, True for real tokens, hides padding keys.
    """

    @checked(config=Instance(TransformerConfig))
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = c = config
        self.tok = nn.Embedding(c.vocab_size, c.d_model)
        self.register_buffer("pe", sinusoidal_positional_encoding.unchecked(c.block_size, c.d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(c.d_model, c.n_heads, c.d_ff) for _ in range(c.n_layers))
        self.ln_f = LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size)

    def forward(self, idx, pad_mask=None):
        idx = TOKENS("idx", idx)  # called every training step: a cheap check of rank and dtype, no pass over the ids
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"idx has length T={T} > block_size={self.config.block_size}")
        mask = causal_mask.unchecked(T, device=idx.device) if self.config.causal else None      # (T, T)
        if pad_mask is not None:
            if not isinstance(pad_mask, torch.Tensor) or pad_mask.dtype != torch.bool or pad_mask.shape != idx.shape:
                raise ValueError(f"pad_mask must be a boolean tensor of shape {tuple(idx.shape)}")
            keys = pad_mask[:, None, None, :]                                           # (B, 1, 1, T)
            mask = keys if mask is None else mask & keys
        x = self.tok(idx) + self.pe[:T]                                                 # (B, T, C)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))                                                  # (B, T, V)

    def attention_maps(self) -> list[torch.Tensor]:
        """The attention weights (B, H, T, T) of each layer from the last forward pass."""
        return [b.attn.weights for b in self.blocks]


@checked(model=Instance(Transformer), idx=TOKENS, n_new=Int(0), temperature=NONNEGATIVE)
@torch.no_grad()
def generate(model: Transformer, idx, n_new: int, temperature: float = 1.0, generator=None):
    """Sample ``n_new`` tokens one by one from a causal ``model``, starting after ``idx`` (B, T).

    ``temperature=0`` is greedy decoding: always the most likely token.
    """
    if not model.config.causal:
        raise ValueError("model must be a causal Transformer (config.causal=True)")
    was_training = model.training
    model.eval()
    for _ in range(n_new):
        logits = model(idx[:, -model.config.block_size:])[:, -1]                   # (B, V)
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)                                  # (B, 1)
        else:
            nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
        idx = torch.cat([idx, nxt], dim=1)
    model.train(was_training)
    return idx


# ------------------------------------------------------------------ data
class CharTokenizer:
    """Characters ↔ integer ids; id 0 is reserved for the [MASK] token, 1 for [PAD]."""

    MASK, PAD = 0, 1

    def __init__(self, text: str):  # a non-empty str, checked here
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        self.chars = ["\u2588", "\u2591"] + sorted(set(text))   # █ = [MASK], ░ = [PAD]
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> torch.Tensor:
        unknown = set(s) - set(self.stoi)
        if unknown:
            raise ValueError(f"s contains characters not in the vocabulary: {sorted(unknown)[:5]}")
        return torch.tensor([self.stoi[ch] for ch in s], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@checked(n_chars=COUNT)
def load_corpus(n_chars: int = 200_000) -> str:
    """The first ``n_chars`` printable-ASCII characters of Python's own help texts (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    text = "\n".join(topics[k] for k in sorted(topics))
    text = "".join(ch for ch in text if ch == "\n" or 32 <= ord(ch) < 127)
    return text[:n_chars]


@checked(data=Tensor(ndim=1), batch_size=COUNT, block_size=COUNT)
def lm_batch(data, batch_size: int, block_size: int, generator=None):
    """Random windows for next-token prediction: x = data[i:i+T], y = data[i+1:i+T+1], each (B, T)."""
    if block_size > len(data) - 1:
        raise ValueError(f"block_size must be <= {len(data) - 1} (len(data) - 1), got {block_size}")
    i = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    idx = i[:, None] + torch.arange(block_size)
    return data[idx], data[idx + 1]


@checked(x=Tensor(ndim=2), p=Float(0.0, 1.0, lo_open=True), mask_id=Int())
def mask_tokens(x, p: float = 0.15, mask_id: int = CharTokenizer.MASK, generator=None):
    """BERT's masked-LM corruption (simplified): each token becomes ``mask_id`` with probability p.

    Returns (corrupted x, targets) where targets = x at masked positions and -100 elsewhere
    (``F.cross_entropy`` ignores -100), so the loss is only on the hidden tokens.
    """
    hide = torch.rand(x.shape, generator=generator).to(x.device) < p
    return x.masked_fill(hide, mask_id), x.masked_fill(~hide, -100)


@checked(n=COUNT, length=COUNT, n_symbols=Int(2))
def reversal_data(n: int, length: int = 10, n_symbols: int = 10, generator=None):
    """The sequence-reversal task: x (n, length) random symbols, y = x reversed along the sequence."""
    x = torch.randint(n_symbols, (n, length), generator=generator)
    return x, x.flip(1)


#: Tokens of the parity task: bits 0 and 1 are ids 0 and 1, "=" is id 2.
PARITY_TOKENS = "01="


def _parity_sequences(codes, n_bits: int, scratchpad: bool):
    """Sequences for the bit strings whose binary values are ``codes`` (first bit = most significant)."""
    bits = (codes[:, None] >> torch.arange(n_bits - 1, -1, -1)) & 1      # (n, n_bits)
    running = bits.cumsum(dim=1) % 2                                   # p_1 … p_n
    tail = running if scratchpad else running[:, -1:]
    prompt = torch.cat([bits, torch.full((len(codes), 1), 2, dtype=torch.long)], dim=1)
    return torch.cat([prompt, tail], dim=1), prompt.shape[1], running[:, -1]


def _check_codes(name, codes, n_bits):
    if codes is not None and (codes.dtype != torch.long or codes.min() < 0 or codes.max() >= 2**n_bits):
        raise ValueError(f"{name} must be a long tensor of string codes in [0, 2**n_bits = {2**n_bits})")


@checked(n=COUNT, n_bits=N_BITS, scratchpad=FLAG, pool=Tensor(ndim=1, optional=True))
def parity_data(n: int, n_bits: int = 8, scratchpad: bool = False, generator=None, pool=None):
    """``n`` random bit strings and their parity (1 if the number of ones is odd).

    Every sequence starts with the prompt ``b_1 … b_n =``. Without a scratchpad it ends
    with the parity ``p_n``. With ``scratchpad=True`` it ends with the running parities
    ``p_1 p_2 … p_n`` (``p_i = b_1 ⊕ … ⊕ b_i``): each written bit is the previous one
    XOR the next input bit, and the last one is the answer. A string is identified by
    its binary value (its *code*); ``pool`` (1-D long tensor of codes) restricts the
    draw to those strings, e.g. to keep a held-out set out of training.

    Returns ``(seq (n, T) long, prompt_len, answer (n,) long)``.
    """
    _check_codes("pool", pool, n_bits)
    if pool is None:
        codes = torch.randint(2**n_bits, (n,), generator=generator)
    else:
        codes = pool[torch.randint(len(pool), (n,), generator=generator)]
    return _parity_sequences(codes, n_bits, scratchpad)


@checked(n=COUNT, n_bits=N_BITS, scratchpad=FLAG, pool=Tensor(ndim=1, optional=True))
def parity_batch(n: int, n_bits: int = 8, scratchpad: bool = False, generator=None, pool=None):
    """A next-token batch ``(x, y)`` of parity problems; the prompt's targets are -100 (no loss on the question)."""
    seq, prompt_len, _ = parity_data.unchecked(n, n_bits, scratchpad, generator, pool)
    x, y = seq[:, :-1], seq[:, 1:].clone()
    y[:, : prompt_len - 1] = -100
    return x, y


@checked(model=Instance(Transformer), codes=Tensor(ndim=1), n_bits=N_BITS, scratchpad=FLAG)
@torch.no_grad()
def parity_accuracy(model: Transformer, codes, n_bits: int = 8, scratchpad: bool = False) -> float:
    """Fraction of the strings ``codes`` (each once) whose final answer the model gets right, by greedy decoding.

    With a scratchpad the model writes, and then reads back, its own running parities.
    """
    _check_codes("codes", codes, n_bits)
    seq, prompt_len, answer = _parity_sequences(codes, n_bits, scratchpad)
    device = next(model.parameters()).device
    out = generate.unchecked(model, seq[:, :prompt_len].to(device), n_new=seq.shape[1] - prompt_len, temperature=0.0)
    return (out[:, -1].cpu() == answer).float().mean().item()


def _adamw(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)


@checked(model=MODULE, batch_fn=Function(), steps=COUNT, lr=POSITIVE, callback=Function(optional=True))
def train_tokens(model: nn.Module, batch_fn, steps: int, lr: float = 3e-3, callback=None) -> list[float]:
    """Train ``model`` for ``steps`` steps on batches ``x, y = batch_fn()``; returns the loss of every step.

    The loss is token-level cross-entropy of ``model(x)`` (B, T, V) against ``y`` (B, T); targets
    equal to -100 are ignored. AdamW (weight decay 0.01), gradient norm clipped to 1, in the loop
    :func:`nnbook.train.train_steps`; ``callback(step, model)`` runs after every step (from 1).
    """
    device = next(model.parameters()).device

    def step_loss(step):
        x, y = batch_fn()
        logits = model(x.to(device))                                              # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())

    return train_steps(model, step_loss, _adamw(model, lr), steps, every=1, clip_grad_norm=1.0, callback=callback)


@checked(student_logits=Tensor(ndim=2), teacher_logits=Tensor(ndim=2), targets=TokenIds(ndim=1),
         temperature=POSITIVE, alpha=PROBABILITY)
def distillation_loss(student_logits, teacher_logits, targets, temperature: float = 2.0, alpha: float = 0.5):
    """Knowledge-distillation loss of Hinton et al. (2015), per token.

    (1 − α) · CE(student, targets) + α · τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ)).
    student_logits, teacher_logits: (N, V); targets: (N,). The τ² keeps the soft term's
    gradient on the same scale as the hard one when τ changes.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must both have shape (N, V), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if len(targets) != len(student_logits):
        raise ValueError(f"targets must have shape ({len(student_logits)},) (one class id per row, -100 = ignored), "
                         f"got {tuple(targets.shape)}")
    hard = F.cross_entropy(student_logits, targets)
    return (1 - alpha) * hard + alpha * temperature**2 * _kd_soft(student_logits, teacher_logits, temperature)


def _kd_soft(student_logits, teacher_logits, temperature):
    """KL(softmax(teacher/τ) ‖ softmax(student/τ)), averaged over the rows."""
    return F.kl_div(F.log_softmax(student_logits / temperature, -1), F.log_softmax(teacher_logits / temperature, -1),
                    reduction="batchmean", log_target=True)


@checked(student=MODULE, teacher=Instance(nn.Module, optional=True), batch_fn=Function(), steps=COUNT, lr=POSITIVE,
         temperature=POSITIVE, alpha=PROBABILITY, callback=Function(optional=True))
def distill_tokens(student: nn.Module, teacher: nn.Module | None, batch_fn, steps: int, lr: float = 3e-3,
                   temperature: float = 2.0, alpha: float = 0.5, callback=None) -> list[float]:
    """Like :func:`train_tokens`, but the loss is :func:`distillation_loss` against a frozen ``teacher``.

    With a ``teacher`` module, ``batch_fn()`` returns ``(x, y)`` and the teacher's logits are computed
    on every batch. With ``teacher=None``, ``batch_fn()`` returns ``(x, y, teacher_logits)`` with the
    teacher's logits (B, T, V) computed beforehand (cheaper when the student sees a fixed set of windows).
    ``callback(step, student)`` runs after every step (from 1).
    """
    device = next(student.parameters()).device
    if teacher is not None:
        teacher.eval()

    def step_loss(step):
        batch = batch_fn()
        if len(batch) != (2 if teacher is not None else 3):
            raise ValueError("batch_fn must return (x, y) with a teacher module, (x, y, teacher_logits) with "
                             f"teacher=None; got {len(batch)} items")
        x, y = batch[0].to(device), batch[1].to(device)
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(x)                                 # (B, T, V)
        else:
            t_logits = batch[2].to(device)
        s_logits = student(x)
        if t_logits.shape != s_logits.shape:
            raise ValueError(f"teacher logits must have the student's shape {tuple(s_logits.shape)}, "
                             f"got {tuple(t_logits.shape)}")
        return distillation_loss.unchecked(s_logits.flatten(0, 1), t_logits.flatten(0, 1), y.flatten(), temperature, alpha)

    return train_steps(student, step_loss, _adamw(student, lr), steps, every=1, clip_grad_norm=1.0, callback=callback)


@checked(fn=Function())
def saved_activation_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while ``fn()`` runs.

    This is the activation memory that training must hold between the forward and the backward
    pass (parameters saved by reference are counted too). Measured, not computed from a formula:
    every tensor that an operation stores for its gradient passes through a
    ``torch.autograd.graph.saved_tensors_hooks`` pack hook, which adds up its size once per storage.
    """
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.device)
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


@checked(fn=Function(), repeats=COUNT)
def time_forward(fn, repeats: int = 3) -> float:
    """The best of ``repeats`` wall-clock times (seconds) of ``fn()`` under ``torch.no_grad``."""
    best = float("inf")
    with torch.no_grad():
        fn()  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best


# ------------------------------------------------------------------ exercise checkers
def _ref_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def _wrong_attention_noscale(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def _wrong_attention_axis(q, k, v, mask=None):  # softmax over the queries
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.nan_to_num(torch.softmax(scores, -2)) @ v


def _wrong_attention_nomask(q, k, v, mask=None):
    return _ref_attention(q, k, v, None)


@exercise("transformer.scaled_dot_product_attention", reference=_ref_attention,
          wrong=[_wrong_attention_noscale, _wrong_attention_axis, _wrong_attention_nomask],
          hint="scores = Q Kᵀ / √d_k; set masked scores to -inf; softmax over the last axis (the keys); then multiply by V.")
def _check_attention(func):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 5, 8, generator=g) for _ in range(3))
    expect_close(func(q, k, v), F.scaled_dot_product_attention(q, k, v), "attention without a mask", atol=1e-5)
    q2 = torch.randn(2, 3, 4, 8, generator=g)
    k2, v2 = torch.randn(2, 3, 6, 8, generator=g), torch.randn(2, 3, 6, 5, generator=g)
    expect_close(func(q2, k2, v2), F.scaled_dot_product_attention(q2, k2, v2),
                 "attention with heads and T_q ≠ T_k, d_v ≠ d_k", atol=1e-5)
    m = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    expect_close(func(q, k, v, m), F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                 "attention with a causal mask", atol=1e-5)


def _ref_causal(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def _wrong_causal_strict(T):  # forgets the diagonal: a token cannot see itself
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)


def _wrong_causal_upper(T):  # sees the future instead of the past
    return torch.triu(torch.ones(T, T, dtype=torch.bool))


@exercise("transformer.causal_mask", reference=_ref_causal, wrong=[_wrong_causal_strict, _wrong_causal_upper],
          hint="row t (the query) may see columns 0..t (the keys): a lower-triangular matrix including the diagonal.")
def _check_causal(func):
    for T in (1, 4, 7):
        m = func(T)
        if not isinstance(m, torch.Tensor):
            raise CheckFailed(f"causal mask for T={T}: expected a torch.Tensor, got {type(m).__name__}")
        expect_equal(tuple(m.shape), (T, T), f"shape of the mask for T={T}")
        expect_equal(m.dtype, torch.bool, f"dtype of the mask for T={T}")
        if not torch.equal(m, causal_mask(T)):
            bad = (m != causal_mask(T)).nonzero()[0].tolist()
            raise CheckFailed(f"T={T}: entry (query {bad[0]}, key {bad[1]}) is {bool(m[bad[0], bad[1]])}, "
                              f"should be {bad[1] <= bad[0]}")


def _ref_pe(T, d_model):
    return sinusoidal_positional_encoding(T, d_model)


def _wrong_pe_swapped(T, d_model):  # cos at even, sin at odd
    return sinusoidal_positional_encoding(T, d_model)[:, [i ^ 1 for i in range(d_model)]]


def _wrong_pe_freq(T, d_model):  # exponent i/d instead of 2i/d
    t = torch.arange(T, dtype=torch.float32)[:, None]
    freq = 10000.0 ** (-torch.arange(0, d_model // 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(T, d_model)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(t * freq), torch.cos(t * freq)
    return pe


@exercise("transformer.sinusoidal_positional_encoding", reference=_ref_pe, wrong=[_wrong_pe_swapped, _wrong_pe_freq],
          hint="PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)); i runs over d/2 frequencies.")
def _check_pe(func):
    for T, d in ((1, 2), (5, 8), (50, 16)):
        expect_close(func(T, d), sinusoidal_positional_encoding(T, d), f"encoding for T={T}, d_model={d}", atol=1e-5)


def _ref_patches(images, patch):
    return F.unfold(images, patch, stride=patch).transpose(1, 2)


def _wrong_patches_columns(images, patch):  # patches in column order (top to bottom first)
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // patch, patch, W // patch, patch).permute(0, 4, 2, 1, 3, 5)
    return x.reshape(B, -1, C * patch * patch)


def _wrong_patches_pixels(images, patch):  # each patch flattened pixel first, channels last
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // patch, patch, W // patch, patch).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, -1, C * patch * patch)


@exercise("transformer.image_patches", reference=_ref_patches, wrong=[_wrong_patches_columns, _wrong_patches_pixels],
          hint="reshape (B, C, H, W) to (B, C, H/p, p, W/p, p), move the two block axes in front of C, then flatten: "
               "(B, T, C·p·p) with the patches in reading order.")
def _check_patches(func):
    g = torch.Generator().manual_seed(2)
    for shape, p in (((2, 1, 8, 8), 4), ((3, 3, 6, 9), 3), ((1, 2, 4, 4), 1)):
        images = torch.randn(*shape, generator=g)
        got = func(images, p)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"patches of a {shape} batch: expected a torch.Tensor, got {type(got).__name__}")
        want = _ref_patches(images, p)
        expect_equal(tuple(got.shape), tuple(want.shape), f"shape of the patches of a {shape} batch, patch {p}")
        expect_close(got, want, f"patches of a {shape} batch, patch {p}")


def _wrong_kd_no_t2(student_logits, teacher_logits, targets, temperature, alpha):  # forgets the τ² factor
    hard = F.cross_entropy(student_logits, targets)
    return (1 - alpha) * hard + alpha * _kd_soft(student_logits, teacher_logits, temperature)


def _wrong_kd_reversed(student_logits, teacher_logits, targets, temperature, alpha):  # KL(q || p)
    hard = F.cross_entropy(student_logits, targets)
    return (1 - alpha) * hard + alpha * temperature**2 * _kd_soft(teacher_logits, student_logits, temperature)


@exercise("transformer.distillation_loss", reference=distillation_loss.unchecked, wrong=[_wrong_kd_no_t2, _wrong_kd_reversed],
          hint="(1 − α)·cross_entropy(student, targets) + α·τ²·KL(p ‖ q) with p = softmax(teacher/τ), "
               "q = softmax(student/τ); the KL sums over classes and averages over the rows.")
def _check_kd(func):
    g = torch.Generator().manual_seed(3)
    for n, v, tau, alpha in ((5, 7, 2.0, 0.5), (8, 4, 1.0, 0.3), (3, 10, 4.0, 1.0), (6, 5, 3.0, 0.0)):
        zs, zt = torch.randn(n, v, generator=g), 3 * torch.randn(n, v, generator=g)
        y = torch.randint(v, (n,), generator=g)
        got = func(zs, zt, y, tau, alpha)
        want = distillation_loss.unchecked(zs, zt, y, tau, alpha)
        expect_close(torch.as_tensor(got, dtype=want.dtype).reshape(()), want,
                     f"loss for {n} rows of {v} classes, temperature {tau}, alpha {alpha}", atol=1e-5)
