"""The evidence of every (client, candidate) as one PyTensor operation with an exact gradient.

Imported on first use only (it imports PyTensor). Writing the 4 x 4 Cholesky algebra as a
symbolic graph makes its gradient graph take a minute to compile; the closed-form derivatives
in :mod:`._algebra` need none of that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ._algebra import kernel

__all__ = ["Evidence"]


class Evidence(Op):
    """``Evidence(G, h, yy, n)(mean, var, sigma2)`` -> log evidence, shape (clients, candidates).

    ``mean`` (N, J) prior means of each client's effects, ``var`` (J,) their prior variances,
    ``sigma2`` (N,) noise variances. The other outputs are the derivatives the gradient uses.
    """

    default_output = 0

    def __init__(self, G: np.ndarray, h: np.ndarray, yy: np.ndarray, n: np.ndarray) -> None:
        self.G = np.ascontiguousarray(G, dtype=np.float64)
        self.h = np.ascontiguousarray(h, dtype=np.float64)
        self.yy = np.ascontiguousarray(yy, dtype=np.float64)
        self.n = np.ascontiguousarray(n, dtype=np.float64)
        self.shape = self.h.shape  # (N, K, J)

    # Op.make_node takes *inputs; this Op has exactly three
    def make_node(self, mean: Any, var: Any, sigma2: Any) -> Apply:  # type: ignore[override]
        inputs = [pt.as_tensor_variable(x).astype("float64") for x in (mean, var, sigma2)]
        N, K, J = self.shape
        outputs = [
            pt.tensor(dtype="float64", shape=(N, K)),
            pt.tensor(dtype="float64", shape=(N, K, J)),
            pt.tensor(dtype="float64", shape=(N, K, J)),
            pt.tensor(dtype="float64", shape=(N, K)),
        ]
        return Apply(self, inputs, outputs)

    def perform(self, node: Any, inputs: Any, outputs: Any) -> None:
        mean, var, sigma2 = (np.ascontiguousarray(x, dtype=np.float64) for x in inputs)
        N, K, J = self.shape
        ev, jm, jv, js = (
            np.empty((N, K)),
            np.empty((N, K, J)),
            np.empty((N, K, J)),
            np.empty((N, K)),
        )
        kernel()(self.G, self.h, self.yy, self.n, mean, var, sigma2, ev, jm, jv, js)
        for out, value in zip(outputs, (ev, jm, jv, js)):
            out[0] = value

    def infer_shape(self, fgraph: Any, node: Any, input_shapes: Any) -> list[tuple[int, ...]]:
        N, K, J = self.shape
        return [(N, K), (N, K, J), (N, K, J), (N, K)]

    def connection_pattern(self, node: Any) -> list[list[bool]]:
        return [[True, False, False, False] for _ in node.inputs]

    def L_op(self, inputs: Any, outputs: Any, output_grads: Any) -> list[Any]:
        gz = output_grads[0]
        _, jm, jv, js = outputs
        return [
            (gz[:, :, None] * jm).sum(axis=1),
            (gz[:, :, None] * jv).sum(axis=(0, 1)),
            (gz * js).sum(axis=1),
        ]


def _register_numba() -> None:
    """Let PyTensor's numba backend (used by nutpie) call the compiled kernel directly."""
    try:
        from pytensor.link.numba.dispatch import numba_funcify
    except ImportError:  # pragma: no cover - older PyTensor without the numba backend
        return

    @numba_funcify.register(Evidence)
    def _evidence_numba(op, node=None, **kwargs):
        import numba

        run = kernel()
        G, h, yy, n = op.G, op.h, op.yy, op.n
        N, K, J = op.shape

        @numba.njit
        def evidence(mean, var, sigma2):
            ev = np.empty((N, K))
            jm = np.empty((N, K, J))
            jv = np.empty((N, K, J))
            js = np.empty((N, K))
            run(
                G,
                h,
                yy,
                n,
                np.ascontiguousarray(mean),
                np.ascontiguousarray(var),
                np.ascontiguousarray(sigma2),
                ev,
                jm,
                jv,
                js,
            )
            return ev, jm, jv, js

        return evidence


_register_numba()
