"""Seeded draws: where the generator lives decides the numbers, not where they are used."""

import pytest
import torch

from srewire.rng import draw, make_generator


def test_host_generator_stays_on_the_cpu_whatever_the_device():
    assert make_generator(3, "cuda", "host").device.type == "cpu"
    assert make_generator(3, "cpu", "device").device.type == "cpu"
    with pytest.raises(ValueError, match="rng must be one of"):
        make_generator(3, "cpu", "gpu")


@pytest.mark.parametrize("fn, args", [(torch.randn, (7,)), (torch.rand, (2, 3)),
                                      (torch.randint, (0, 100, (9,))), (torch.randperm, (11,))])
def test_draw_gives_the_generators_own_numbers(fn, args):
    a = draw(fn, *args, generator=make_generator(5, "cpu"), device="cpu")
    b = fn(*args, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_host_draws_arrive_on_the_gpu_unchanged():
    a = draw(torch.randn, 1000, generator=make_generator(5, "cuda"), device="cuda")
    assert a.device.type == "cuda"
    assert torch.equal(a.cpu(), torch.randn(1000, generator=torch.Generator().manual_seed(5)))
