"""The method chapter's simulations (srewire.simulate): the claims of a few samples under the
two distances, Figure 2's masks and panels, and their zero fibres, on small inputs with
answers worked out by hand."""

import numpy as np
import pytest
import torch

from srewire import simulate
from srewire.metrics import connectivity_matrix


def test_claims_by_distance_follow_each_distance():
    """Sample (1, 5) of a 7 x 7 mask whose neighbours (0, 5) and (2, 5) are connected. Euclidean:
    the dormant cells at distance 1 are (1, 4) = 11 and (1, 6) = 13, claimed lowest first.
    Equation 3 prices a step along an axis by |p^2 - x^2|: (3, 5) = 26 costs 9 - 1 = 8,
    (1, 4) = 11 costs 25 - 16 = 9, everything else more."""
    connected = torch.zeros(7, 7, dtype=torch.bool)
    connected[0:3, 5] = True
    claims = simulate.claims_by_distance(connected, torch.tensor([12, 12]))
    assert claims == {"Euclidean distance": [11, 13], "Equation 3 as printed": [26, 11]}


def test_figure2_masks_are_the_simulations_of_each_rewiring():
    shape, connectivity, steps = (8, 8), 0.25, 3
    masks = simulate.figure2_masks(shape, connectivity, steps, seed=1)
    assert list(masks) == list(simulate.FIGURE2_LABELS)

    def after(strategy, metric="euclidean", step=steps):
        snaps = simulate.toy_layer(shape, connectivity, steps, strategy, metric=metric,
                                   seed=1, snapshots=(0, steps))
        return connectivity_matrix(snaps[step])

    expected = {"initial": after("random", step=0), "random": after("random"),
                "structured": after("structured"), "weight_based": after("weight_based"),
                "eq3": after("structured", "eq3")}
    for key, matrix in expected.items():
        assert np.array_equal(masks[key], matrix), key
    assert all(m.sum() == 16 for m in masks.values())  # the budget: a quarter of 64


def test_figure2_panels_are_in_label_order_with_their_step():
    masks = {k: np.full((2, 2), i, dtype=bool) for i, k in
             enumerate(("eq3", "random", "initial", "weight_based", "structured"))}
    panels, titles = simulate.figure2_panels(masks, 40)
    assert titles == ["Initial (random)", "Unstructured, step 40", "Structured, step 40",
                      "Weight-based, step 40", "Structured, Eq. 3, step 40"]
    assert [p is masks[k] for p, k in zip(panels, ("initial", "random", "structured",
                                                   "weight_based", "eq3"))] == [True] * 5


def _shares():
    """Four 4-row matrices with 0, 1, 2 and 3 empty rows, and one with all 4."""
    masks = {}
    for key, empty in (("initial", 0), ("random", 1), ("structured", 2),
                       ("weight_based", 3), ("eq3", 4)):
        m = np.zeros((4, 3), dtype=bool)
        m[empty:, 1] = True
        masks[key] = m
    return simulate.zero_fibre_shares(masks)


def test_zero_fibre_shares_count_the_empty_rows():
    assert _shares() == {"initial": 0.0, "random": 25.0, "structured": 50.0,
                         "weight_based": 75.0, "eq3": 100.0}


def test_zero_fibre_text_and_values():
    shares = _shares()
    assert simulate.zero_fibre_text(shares).splitlines() == [
        "initial (random)       zero fibres   0.0 %",
        "Unstructured           zero fibres  25.0 %",
        "Structured             zero fibres  50.0 %",
        "Weight-based           zero fibres  75.0 %",
        "Structured, Eq. 3      zero fibres 100.0 %"]
    assert simulate.zero_fibre_values({**shares, "structured": 12.345}) == {
        "toy_zero_random": "25.0", "toy_zero_structured": "12.3", "toy_zero_wb": "75.0",
        "toy_zero_eq3": "100.0"}
    with pytest.raises(KeyError):
        simulate.zero_fibre_values({"random": 1.0})
