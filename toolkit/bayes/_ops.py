"""Each client's marginal log-likelihood as one PyTensor operation with an exact gradient.

Imported on first use only (it imports PyTensor). Writing the 4 x 4 Cholesky algebra and the
sums over change sessions and jump components as a symbolic graph makes its gradient graph
slow to compile; the compiled kernel in :mod:`._algebra` computes the value and the
closed-form derivatives in one pass instead. This operation serves the PyMC model (prior
checks, PyMC's sampler, which calls :meth:`Marginal.perform`); nutpie samples the same
density through :mod:`._density`, without a PyTensor graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ._algebra import kernel_layout, marginal_kernel
from ._design import Design

__all__ = ["Marginal"]

MODES = {"mixture": 0, "always": 1, "none": 2}


class Marginal(Op):
    """``Marginal(design, change, pooled, sign)(mean, jmean, var, jvar, sigma2, logw, pi, loc)``.

    Returns ``log p(y_i)`` per client (N,), with the change status, session and jump
    component summed out. Inputs: ``mean`` (N, J) prior means of each client's effects (the
    jump's column unused), ``jmean`` (N, C) the jump's prior mean per component, ``var``
    (J,) and ``jvar`` (C,) prior variances, ``sigma2`` (N,) noise variances, ``logw`` (N, C)
    log absolute component weights (``sign`` (C,), fixed, gives their signs: see
    :func:`._algebra.marginal_kernel`), ``pi`` (1,) the share changing, ``loc`` (2,) the
    pooled change location (mean, SD; unused unless ``pooled``). The other outputs are the
    per-client derivatives the gradient uses.
    """

    default_output = 0
    __props__ = ("key",)

    def __init__(self, design: Design, change: str, pooled: bool, sign: np.ndarray) -> None:
        st = design.stats
        self.G, self.h, self.G0, self.h0 = kernel_layout(st)
        self.yy = np.ascontiguousarray(st.yy, dtype=np.float64)
        self.n = np.ascontiguousarray(st.n, dtype=np.float64)
        self.logprior = np.ascontiguousarray(st.log_prior, dtype=np.float64)
        self.sessions = np.ascontiguousarray(design.candidate_sessions, dtype=np.float64)
        self.valid = np.ascontiguousarray(st.valid)
        self.mode = MODES[change]
        self.pooled = bool(pooled)
        self.ji = design.jump_index if design.has_jump else -1
        self.J0 = design.n_none
        self.sign = np.ascontiguousarray(sign, dtype=np.float64)
        self.C = len(self.sign)
        _, self.J, self.N = self.h.shape
        self.key = id(self)

    def arrays(self) -> tuple[Any, ...]:
        return (
            self.G,
            self.h,
            self.G0,
            self.h0,
            self.yy,
            self.n,
            self.logprior,
            self.sessions,
            self.valid,
        )

    def make_node(self, *inputs: Any) -> Apply:
        xs = [pt.as_tensor_variable(x).astype("float64") for x in inputs]
        N, J, C = self.N, self.J, self.C
        outputs = [
            pt.tensor(dtype="float64", shape=(N,)),
            pt.tensor(dtype="float64", shape=(N, J)),
            pt.tensor(dtype="float64", shape=(N, C)),
            pt.tensor(dtype="float64", shape=(N, J)),
            pt.tensor(dtype="float64", shape=(N, C)),
            pt.tensor(dtype="float64", shape=(N,)),
            pt.tensor(dtype="float64", shape=(N, C)),
            pt.tensor(dtype="float64", shape=(N,)),
            pt.tensor(dtype="float64", shape=(N, 2)),
        ]
        return Apply(self, xs, outputs)

    def empty(self) -> list[np.ndarray]:
        N, J, C = self.N, self.J, self.C
        return [
            np.empty(N),
            np.empty((N, J)),
            np.empty((N, C)),
            np.empty((N, J)),
            np.empty((N, C)),
            np.empty(N),
            np.empty((N, C)),
            np.empty(N),
            np.empty((N, 2)),
        ]

    def perform(self, node: Any, inputs: Any, outputs: Any) -> None:
        mean, jmean, var, jvar, sigma2, logw, pi, loc = (
            np.ascontiguousarray(x, dtype=np.float64) for x in inputs
        )
        outs = self.empty()
        marginal_kernel()(
            *self.arrays(),
            mean,
            jmean,
            var,
            jvar,
            sigma2,
            logw,
            self.sign,
            pi.reshape(1),
            loc,
            self.mode,
            self.pooled,
            self.ji,
            self.J0,
            *outs,
        )
        for out, value in zip(outputs, outs):
            out[0] = value

    def infer_shape(self, fgraph: Any, node: Any, input_shapes: Any) -> list[tuple[int, ...]]:
        N, J, C = self.N, self.J, self.C
        return [(N,), (N, J), (N, C), (N, J), (N, C), (N,), (N, C), (N,), (N, 2)]

    def connection_pattern(self, node: Any) -> list[list[bool]]:
        return [[True] + [False] * 8 for _ in node.inputs]

    def L_op(self, inputs: Any, outputs: Any, output_grads: Any) -> list[Any]:
        gz = output_grads[0]
        _, d_mean, d_jmean, d_var, d_jvar, d_sigma2, d_logw, d_pi, d_loc = outputs
        col = gz[:, None]
        grads = [
            col * d_mean,
            col * d_jmean,
            (col * d_var).sum(axis=0),
            (col * d_jvar).sum(axis=0),
            gz * d_sigma2,
            col * d_logw,
            (gz * d_pi).sum().reshape((1,)),
            (col * d_loc).sum(axis=0),
        ]
        return [g.astype(x.dtype) for g, x in zip(grads, inputs)]
