"""Bayesian connectivity sampling and structured rewiring (Thesis §2.2.2, §3.2, Algorithm 1).

After every optimiser step a :class:`Rewirer` adds Langevin noise to the connected
coordinates, counts them, and revives dormant coordinates up to the global budget, split
across layers in proportion to layer size. Where inside a layer the revived coordinates go is
the *strategy*:

* ``random`` — uniformly among the dormant coordinates (the predecessor, "unstructured");
* ``structured`` — ``n_l`` connected coordinates are sampled uniformly and each claims, in that
  order, its nearest still-free dormant coordinate (Thesis §3.2, Equation 3, Algorithm 1);
* ``weight_based`` — as structured, but the samples are the ``n_l`` connected coordinates with
  the largest theta, claiming in decreasing order (Thesis §3.2.1).

The package, one job per module, read in this order:

* ``srewire.rewiring.options`` — the strategy, metric, tie-break and initial-fill names;
* ``srewire.rewiring.space`` — the flat index space of all layers and the search offsets;
* ``srewire.rewiring.search`` — the greedy nearest-dormant search (:func:`nearest_dormant`);
* ``srewire.rewiring.arrays``, ``srewire.rewiring.sampling`` — the host step's array helpers and uniform sampling;
* ``srewire.rewiring.stats`` — what a step did (:class:`RewireStats`);
* ``srewire.rewiring.host`` — the host step (``rng="host"``), the reference;
* ``srewire.rewiring.claims``, ``srewire.rewiring.device`` — the greedy claims with static
  shapes and the O(budget), sync-free device step (``rng="device"``);
* ``srewire.rewiring.rewirer`` — the :class:`Rewirer`: state, which step runs, the hand-over
  between the two, checkpoints.
"""

from .rewirer import Rewirer
from .stats import RewireStats
from .options import INITIAL_FILLS, METRICS, STRATEGIES, TIE_BREAKS
from .search import nearest_dormant

__all__ = ["nearest_dormant", "Rewirer", "RewireStats", "STRATEGIES", "METRICS", "TIE_BREAKS",
           "INITIAL_FILLS"]
