"""Cost functions with known gradients (and known bugs) shared by the gradcheck tests.

``seed003_problem`` ports seed 003's network (3 inputs, 5 hidden units, 3
labels, 5 examples, weights from ``debugInitializeWeights``) to numpy, with
the user's bug as an option: the regularisation term of the cost counts
Theta2's bias column (twice), the gradient excludes it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

INPUTS, HIDDEN, LABELS, EXAMPLES = 3, 5, 3, 5
SEED003_BLOCKS = {"Theta1": (HIDDEN, INPUTS + 1), "Theta2": (LABELS, HIDDEN + 1)}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def debug_weights(fan_out: int, fan_in: int, dtype: type = np.float64) -> np.ndarray:
    """Seed 003's ``debugInitializeWeights``: sin(1..n)/10, shape (fan_out, 1 + fan_in)."""
    values = np.sin(np.arange(1, fan_out * (fan_in + 1) + 1)) / 10
    return values.reshape(fan_out, fan_in + 1).astype(dtype)


def seed003_problem(
    dtype: type = np.float64, lam: float = 3.0, bias_bug: bool = False
) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], np.ndarray]:
    """``(cost_and_grad, nn_params)`` for seed 003's unrolled two-layer network."""
    theta1 = debug_weights(HIDDEN, INPUTS, dtype)
    theta2 = debug_weights(LABELS, HIDDEN, dtype)
    x = debug_weights(EXAMPLES, INPUTS - 1, dtype)
    labels = np.arange(EXAMPLES) % LABELS
    y = np.eye(LABELS, dtype=dtype)[labels]
    m = EXAMPLES
    split = HIDDEN * (INPUTS + 1)

    def nn_cost(nn_params: np.ndarray) -> tuple[float, np.ndarray]:
        t1 = nn_params[:split].reshape(HIDDEN, INPUTS + 1)
        t2 = nn_params[split:].reshape(LABELS, HIDDEN + 1)
        a1 = np.hstack([np.ones((m, 1), dtype), x])
        z2 = a1 @ t1.T
        a2 = np.hstack([np.ones((m, 1), dtype), sigmoid(z2)])
        a3 = sigmoid(a2 @ t2.T)
        cost = np.sum(-y * np.log(a3) - (1 - y) * np.log(1 - a3)) / m
        if bias_bug:  # the seed's line: subtracts t1₀·t1₀ but *adds* t2₀·t2₀
            squares = np.sum(t1 * t1) + np.sum(t2 * t2)
            reg = lam / (2 * m) * (squares - (t1[:, 0] @ t1[:, 0] - t2[:, 0] @ t2[:, 0]))
        else:
            reg = lam / (2 * m) * (np.sum(t1[:, 1:] ** 2) + np.sum(t2[:, 1:] ** 2))
        d3 = a3 - y
        d2 = (d3 @ t2[:, 1:]) * sigmoid(z2) * (1 - sigmoid(z2))
        g1 = d2.T @ a1 / m
        g2 = d3.T @ a2 / m
        g1[:, 1:] += lam / m * t1[:, 1:]
        g2[:, 1:] += lam / m * t2[:, 1:]
        return cost + reg, np.concatenate([g1.ravel(), g2.ravel()])

    return nn_cost, np.concatenate([theta1.ravel(), theta2.ravel()])


def quadratic(
    scale: np.ndarray, wrong: dict[int, float] | None = None
) -> tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], np.ndarray]]:
    """``C(θ) = Σ sᵢθᵢ²/2 + Σ θᵢ`` and its gradient, with planted errors ``{index: delta}``."""

    def cost(theta: np.ndarray) -> float:
        return float(0.5 * np.sum(scale * theta * theta) + np.sum(theta))

    def grad(theta: np.ndarray) -> np.ndarray:
        g = scale * theta + 1.0
        for index, delta in (wrong or {}).items():
            g.reshape(-1)[index] += delta
        return g

    return cost, grad


def layer_problem(
    shape: tuple[int, int] = (4, 3), dtype: type = np.float64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, x, y)`` for a one-layer tanh regression, C = ½‖tanh(x W) − y‖² / m."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype(dtype)
    x = rng.normal(size=(6, shape[0])).astype(dtype)
    y = rng.normal(size=(6, shape[1])).astype(dtype)
    return w, x, y


def layer_cost(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    out = np.tanh(x @ w)
    return 0.5 * np.sum((out - y) ** 2) / x.shape[0]


def layer_grad(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.tanh(x @ w)
    return x.T @ ((out - y) * (1 - out**2)) / x.shape[0]


def seed001_rnn(wrong_preactivation: bool = True, seed: int = 1):
    """Seed 001's vanilla RNN, one time step after the first, as ``(params, cost, grad)``.

    ``B = σ(A·AB + B_t·B_RNN)``, ``C = σ(B·BC)``, cost ``½(C_real − C)²``.  The
    user's backprop takes σ' at ``B1 = A·AB`` (and at ``B_t1``) instead of at the
    full pre-activation ``B1 + B_t1``.
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, 4)
    b_t = sigmoid(rng.normal(size=6))
    c_real = 0.3
    params = [rng.normal(size=(4, 6)), rng.normal(size=(6, 1)), rng.normal(size=(6, 6))]

    def forward(p):
        ab, bc, b_rnn = p
        b1, b_t1 = a @ ab, b_t @ b_rnn
        b = sigmoid(b1 + b_t1)
        c1 = b @ bc
        return b1, b_t1, b, c1, sigmoid(c1)

    def cost(p):
        return float(0.5 * np.sum((c_real - forward(p)[4]) ** 2))

    def grad(p):
        bc = p[1]
        b1, b_t1, b, c1, c = forward(p)
        delta3 = -(c_real - c) * sigmoid(c1) * (1 - sigmoid(c1))
        z = b1 + b_t1
        at_b, at_bt = (b1, b_t1) if wrong_preactivation else (z, z)
        delta2 = (delta3 @ bc.T) * sigmoid(at_b) * (1 - sigmoid(at_b))
        delta2t = (delta3 @ bc.T) * sigmoid(at_bt) * (1 - sigmoid(at_bt))
        return [np.outer(a, delta2), np.outer(b, delta3), np.outer(b_t, delta2t)]

    return params, cost, grad


def max_pool(x: np.ndarray, dout: np.ndarray, size: int = 2) -> tuple[float, np.ndarray]:
    """CS231n's max_pool_forward_naive/backward_naive (2×2, stride 2), the assignment's loops."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, H // size, W // size))
    dx = np.zeros_like(x)
    for i in range(H // size):
        for j in range(W // size):
            window = x[:, :, i * size:(i + 1) * size, j * size:(j + 1) * size]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
            for n in range(N):
                for c in range(C):
                    r, q = np.unravel_index(np.argmax(window[n, c]), (size, size))
                    dx[n, c, i * size + r, j * size + q] += dout[n, c, i, j]
    return float(np.sum(out * dout)), dx
