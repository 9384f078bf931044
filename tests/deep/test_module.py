import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from microlab.deep.module import SegmentationModule, WarmupCosine, sparse_loss  # noqa: E402


def test_sparse_loss_ignores_unlabelled_pixels():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    labels = torch.zeros(2, 8, 8)
    labels[:, :4] = torch.randint(1, 4, (2, 4, 8)).float()
    loss = sparse_loss(logits, labels, torch.tensor([1.0, 2.0, 0.5]))
    loss.backward()
    assert torch.all(logits.grad[:, :, 4:] == 0)
    assert torch.any(logits.grad[:, :, :4] != 0)
    changed = logits.detach().clone()
    changed[:, :, 4:] = torch.randn(2, 3, 4, 8) * 10
    assert torch.isclose(sparse_loss(changed, labels, torch.tensor([1.0, 2.0, 0.5])), loss)
    assert sparse_loss(logits, torch.zeros(2, 8, 8)).item() == 0.0


def test_outside_pixels_accept_background_or_boundary_but_not_interior():
    # label 4 (OUTSIDE): the ring just outside a whole painted object
    weight = torch.tensor([1.5, 1.0, 0.5])
    labels = torch.tensor([[[4.0]]])

    def loss(logits):
        return float(sparse_loss(torch.tensor(logits).reshape(1, 3, 1, 1), labels, weight))

    assert loss([5.0, -5.0, -5.0]) == pytest.approx(loss([-5.0, 5.0, -5.0]))  # either is right
    assert loss([5.0, -5.0, -5.0]) < 1e-3
    assert loss([-5.0, -5.0, 5.0]) > 5  # interior is wrong
    # beside ordinary labels it counts as one background-weighted pixel
    mixed = torch.tensor([[[4.0, 2.0]]])
    logits = torch.randn(1, 3, 1, 2)
    log_p = torch.log_softmax(logits, 1)[0, :, 0]
    expected = (-1.5 * torch.logsumexp(log_p[:2, 0], 0) - 1.0 * log_p[1, 1]) / 2.5
    assert torch.isclose(sparse_loss(logits, mixed, weight), expected)


def test_learning_rate_warms_up_then_decays():
    schedule = WarmupCosine(max_steps=1000, warmup=50)
    factors = [schedule(s) for s in (0, 25, 49, 50, 500, 999, 1000, 5000)]
    assert factors[0] < factors[1] < factors[2] == pytest.approx(factors[3], rel=1e-3)
    assert factors[3] > factors[4] > factors[5] >= factors[6] == pytest.approx(0.02)
    assert factors[4] == pytest.approx(0.02 + 0.98 * 0.5, rel=1e-6)
    assert factors[7] == pytest.approx(0.02)  # stays at the floor after the budget


def test_learning_rate_follows_the_clock_under_a_time_budget():
    clock = iter([0.0, 30.0, 60.0])
    timed = WarmupCosine(max_steps=10**6, max_seconds=60.0, warmup=0)
    timed.clock = lambda: next(clock)
    timed.start()
    assert timed.progress(10) == pytest.approx(0.5)  # half the time budget is spent
    assert timed(10) == pytest.approx(0.02)  # all of it: annealed


def test_the_optimiser_steps_along_the_schedule():
    network = torch.nn.Conv2d(1, 2, 1)
    schedule = WarmupCosine(max_steps=10, warmup=2)
    module = SegmentationModule(network, [1.0, 1.0], 1e-3, schedule)
    setup = module.configure_optimizers()
    optimiser, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    assert setup["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(12):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    assert rates == pytest.approx([1e-3 * schedule(s) for s in range(12)])
