"""TRADES (Zhang et al. 2019) as the predecessor trains with it (Thesis §2.1.2, Equation 2).

    L = CE(f(x), y) + beta * KL(p(y|x) || p(y|x_adv)) / batch

* ``x_adv`` starts at ``x + 0.001 * N(0, 1)`` (not clipped) and takes ``steps`` signed-gradient
  steps of size ``step_size`` on the summed KL divergence to the natural prediction, each
  followed by projection onto the L-inf ball of radius ``eps`` and clipping to [0, 1];
* the attack runs with the model in eval mode (BatchNorm running statistics), gradients with
  respect to the input only;
* the loss runs in train mode; the natural logits are computed once and used for both terms;
  nothing is detached, so gradients flow through both branches.

The predecessor's defaults are beta = 6, eps = 8/255, step 2/255, 10 steps; the thesis's text
states beta = 0.6, which is available as an option (book: "Deviations and decisions").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .rng import draw

__all__ = ["kl_sum", "trades_adversary", "trades_loss", "settings", "TradesTerms",
           "trades_terms"]


def kl_sum(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """sum over batch and classes of softmax(p) * (log_softmax(p) - log_softmax(q))."""
    log_p = F.log_softmax(logits_p, dim=1)
    return (log_p.exp() * (log_p - F.log_softmax(logits_q, dim=1))).sum()


def trades_adversary(model: nn.Module, x: torch.Tensor, *, eps: float, step_size: float,
                     steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The TRADES inner maximisation; returns a detached ``x_adv`` in [0, 1] within ``eps``.

    The model is put in eval mode for the attack and its previous mode is restored.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            natural = model(x)
        noise = draw(torch.randn, x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_adv = x.detach() + 0.001 * noise
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = kl_sum(natural, model(x_adv))
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + step_size * grad.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0, 1)
        return x_adv.clamp(0, 1).detach()
    finally:
        model.train(was_training)


def trades_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, beta: float,
                eps: float, step_size: float, steps: int,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """TRADES loss (Equation 2) and the natural logits (for accuracy bookkeeping)."""
    x_adv = trades_adversary(model, x, eps=eps, step_size=step_size, steps=steps,
                             generator=generator)
    logits = model(x)
    loss = F.cross_entropy(logits, y) + beta * kl_sum(logits, model(x_adv)) / x.shape[0]
    return loss, logits


def settings(config: Mapping[str, Any]) -> dict[str, float]:
    """The TRADES settings a run trained with, read from its configuration (a ``result.json``
    ``"config"`` or ``Config.to_dict()``): ``beta``, ``eps``, ``step_size`` and ``steps``, the
    keyword arguments of :func:`trades_loss` and :func:`trades_terms`."""
    return {"beta": config["beta"], "eps": config["train_eps"],
            "step_size": config["train_step_size"], "steps": config["train_attack_steps"]}


@dataclass(frozen=True)
class TradesTerms:
    """The two terms of Equation 2 on one batch (Thesis §2.1.2): the cross-entropy on the
    clean inputs, the KL divergence to the TRADES adversary per image, the weight ``beta``
    and the loss ``cross_entropy + beta * kl``."""

    cross_entropy: float
    kl: float
    beta: float
    loss: float

    def __str__(self) -> str:
        rows = (("cross-entropy on clean images:", self.cross_entropy),
                ("KL(clean || TRADES adversary), per image:", self.kl),
                (f"TRADES loss with beta = {self.beta:g}:", self.loss))
        return "\n".join(f"{label:42s}{value:.3f}" for label, value in rows)


def trades_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, beta: float,
                 eps: float, step_size: float, steps: int,
                 generator: torch.Generator | None = None) -> TradesTerms:
    """The terms of the TRADES loss (Equation 2) of a trained ``model`` on one batch, for the
    book's demonstration: the adversary of :func:`trades_adversary`, both terms with the model
    in eval mode (BatchNorm running statistics, no gradients), its mode restored after.
    :func:`trades_loss` is what training minimises; this only shows its parts."""
    x_kl = trades_adversary(model, x, eps=eps, step_size=step_size, steps=steps,
                            generator=generator)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, logits_kl = model(x), model(x_kl)
            ce = F.cross_entropy(logits, y)
            kl = kl_sum(logits, logits_kl) / len(x)
            loss = ce + beta * kl
    finally:
        model.train(was_training)
    return TradesTerms(float(ce), float(kl), float(beta), float(loss))
