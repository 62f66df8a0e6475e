"""Validated scores: the rows, the shared (clients x sessions) matrix, and the shared facts.

A :class:`LongScores` is built by :func:`toolkit.long_scores` and carries, besides the
validated rows, everything that every method must answer the same way: the instrument and
the direction of improvement, the reliable-change criterion (:mod:`toolkit.criterion`), how
a client's sequence of sessions is read (``sequence``) and the statistics pooled across
clients (:mod:`toolkit.pooled`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .. import pooled as _pooled
from ..criterion import ReliableChangeCriterion
from ..errors import DirectionError, EmptyDataError, MissingColumnError, NonNumericError
from ..instruments import Instrument, direction_sign
from ..pooled import PooledStatistics
from ._helpers import counting_sort, first_and_last, missing_column_message

__all__ = ["LongScores", "SEQUENCES"]

#: How a client's sequence is read by consecutive-session methods (sudden gains).
SEQUENCES = ("sessions", "positions")


@dataclass(frozen=True, eq=False, repr=False)
class LongScores:
    """Validated long-format repeated scores. Build it with :func:`toolkit.long_scores`.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per (client, session), sorted by client then session, with columns
        ``client``, ``session`` (int64), ``score`` (float64, NaN = missing), ``date`` (only
        when sessions were given as dates) and the covariates. Treat it as read-only.
    excluded : pandas.DataFrame
        Rows set aside (only with ``invalid="exclude"``): columns ``row`` (the input's index
        label), ``client``, ``session``, ``column``, ``value`` and ``reason``.
    instrument : Instrument or None
        The measure the scores come from.
    better : {"lower", "higher"} or None
        Which direction is improvement (the instrument's, else as validated; None if unknown).
    reliable_change : ReliableChangeCriterion
        The one reliable-change criterion every method uses (see :mod:`toolkit.criterion`).
    sequence : {"sessions", "positions"}
        How consecutive-session methods read a client's sequence: by session number (a gap
        in a client's session numbers is a missed session) or by position (the client's
        rows in session order are consecutive, as in assessment schedules such as months
        2, 3, 5, 8).
    roles : dict
        The caller's column names for ``client``, ``session`` and ``score``.
    clients : pandas.Index
        Sorted client ids; row ``i`` of :meth:`to_matrix` is ``clients[i]``.
    sessions : numpy.ndarray
        Every session number from the first to the last in the data, whether or not anyone
        attended it: column ``j`` of :meth:`to_matrix`.
    settings : dict
        The arguments of :func:`toolkit.long_scores`, the reliable-change keys and the
        toolkit version.
    """

    excluded: pd.DataFrame
    instrument: Instrument | None
    better: str | None
    reliable_change: ReliableChangeCriterion
    sequence: str
    roles: dict[str, str]
    clients: pd.Index
    sessions: np.ndarray
    settings: dict[str, Any]
    # The valid rows as arrays, in the input's order: vectorised methods need only the codes
    # and the scores (a scatter into the matrix does not care about order), so sorting and
    # assembling the canonical frame wait until someone asks for it.
    _client_code: np.ndarray = field(repr=False)
    _session_code: np.ndarray = field(repr=False)
    _score: np.ndarray = field(repr=False)
    _columns: dict[str, Any] = field(repr=False)
    _pooled: _pooled.PooledStatistics | None = field(default=None, repr=False)

    # -- rows ----------------------------------------------------------------------------
    @functools.cached_property
    def data(self) -> pd.DataFrame:
        """The rows in canonical order (see the class docstring). Treat it as read-only."""
        order = counting_sort(self._cell, self.n_clients * self.n_sessions)
        frame = {
            "client": self.clients.take(self._client_code[order]),
            "session": self.sessions[self._session_code[order]],
            "score": self._score[order],
            **{name: values[order] for name, values in self._columns.items()},
        }
        return pd.DataFrame(frame)

    @property
    def _cell(self) -> np.ndarray:
        return self._client_code * self.n_sessions + self._session_code

    @property
    def covariates(self) -> list[str]:
        """Names of the carried covariates (and ``date`` when sessions were dates)."""
        return list(self._columns)

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_clients(self) -> int:
        """Number of clients (rows of the matrix)."""
        return len(self.clients)

    @property
    def n_sessions(self) -> int:
        """Number of sessions from the first to the last (columns of the matrix)."""
        return len(self.sessions)

    @property
    def score_label(self) -> str:
        """Axis label for scores: the instrument's name, else the caller's score column."""
        return self.instrument.name if self.instrument is not None else self.roles["score"]

    # -- direction -----------------------------------------------------------------------
    def direction(self, better: str | None = None) -> int:
        """+1 when lower scores are better, -1 when higher ones are.

        Parameters
        ----------
        better : {"lower", "higher"}, optional
            A method's own ``better=`` argument; it must agree with the instrument.

        Raises
        ------
        DirectionError
            The direction is unknown (no instrument, no ``better``), or contradictory.
        """
        sign = direction_sign(self.instrument, better or self.better)
        if better is not None and self.better is not None and better != self.better:
            raise DirectionError(
                f"better={better!r} contradicts the scores, validated with better="
                f"{self.better!r}. Fix: drop better= here."
            )
        if sign is None:
            raise DirectionError(
                "Which direction is improvement? No instrument was given. Fix: pass "
                "better='lower' (e.g. symptom scales) or better='higher' (e.g. well-being) "
                "to toolkit.long_scores, or name a registered instrument."
            )
        return sign

    @property
    def sign(self) -> int:
        """:meth:`direction` without an override."""
        return self.direction()

    # -- pooled statistics ---------------------------------------------------------------
    @functools.cached_property
    def pooled(self) -> PooledStatistics:  # `_pooled` here would name the field, not the module
        """Statistics pooled across all clients (see :mod:`toolkit.pooled`).

        Computed from these scores on first use, unless given when validating (e.g. by a
        first pass over all partitions of a registry).
        """
        if self._pooled is not None:
            return self._pooled
        return _pooled.combine([_pooled.parts(self.to_matrix())])

    # -- the shared matrix ---------------------------------------------------------------
    def to_matrix(self, value: str = "score") -> np.ndarray:
        """The (clients x sessions) float array with NaN where a session has no value.

        Parameters
        ----------
        value : str, default "score"
            Column to spread: ``"score"`` (or the caller's score column name) or a numeric
            covariate (e.g. a process measure).

        Returns
        -------
        numpy.ndarray
            Shape ``(n_clients, n_sessions)``, dtype float64; a fresh array on every call.
        """
        if value in ("score", self.roles["score"]):
            values = self._score
        elif value in self._columns:
            values = _as_float(self._columns[value], column=value)
        else:
            names = ["score", *self._columns]
            raise MissingColumnError(missing_column_message(value, names))
        out = np.full(self.n_clients * self.n_sessions, np.nan)
        out[self._cell] = values
        return out.reshape(self.n_clients, self.n_sessions)

    def sequence_matrix(self, value: str = "score") -> tuple[np.ndarray, np.ndarray]:
        """Each client's sequence as consecutive-session methods read it.

        Returns
        -------
        matrix : (n_clients, L) float array
            With ``sequence="sessions"`` the same as :meth:`to_matrix`; with
            ``"positions"`` each client's rows in session order, packed to the left (a row
            with a missing score stays a missing position), NaN beyond its last row.
        session_labels : (n_clients, L) int64 array
            The session number of each cell, -1 where the client has no row.
        """
        x = self.to_matrix(value)
        present = self._present()
        if self.sequence == "sessions":
            labels = np.where(present, self.sessions[None, :], -1).astype(np.int64)
            return x, labels
        order = np.argsort(~present, axis=1, kind="stable")  # present cells first, in order
        length = int(present.sum(axis=1).max(initial=0))
        packed = np.take_along_axis(x, order, axis=1)[:, :length]
        labels = np.take_along_axis(np.where(present, self.sessions[None, :], -1), order, axis=1)[
            :, :length
        ].astype(np.int64)
        packed[labels < 0] = np.nan
        return packed, labels

    def _present(self) -> np.ndarray:
        present = np.zeros(self.n_clients * self.n_sessions, dtype=bool)
        present[self._cell] = True
        return present.reshape(self.n_clients, self.n_sessions)

    def to_wide(self, value: str = "score") -> pd.DataFrame:
        """Wide table: one row per client, one column per session number.

        Examples
        --------
        >>> import toolkit
        >>> scores = toolkit.datasets.load_scores("sgdata")
        >>> scores.to_wide().shape
        (43, 13)
        """
        return pd.DataFrame(
            self.to_matrix(value),
            index=pd.Index(self.clients, name="client"),
            columns=pd.Index(self.sessions, name="session"),
        )

    def n_observed(self) -> pd.Series:
        """Number of observed (non-missing) scores per client, indexed by client."""
        counts = np.bincount(self._client_code[~np.isnan(self._score)], minlength=self.n_clients)
        return pd.Series(counts, index=pd.Index(self.clients, name="client"), name="n_observed")

    def too_few_sessions(self, minimum: int, *, method: str) -> pd.DataFrame:
        """Clients with fewer than ``minimum`` observed scores, with the reason (for ``skipped``).

        Methods call this to report, rather than fail on, clients they cannot analyse.

        Returns
        -------
        pandas.DataFrame
            Columns ``client``, ``n_observed``, ``reason``.
        """
        n = self.n_observed()
        few = n[n < minimum]
        return pd.DataFrame(
            {
                "client": few.index.to_numpy(),
                "n_observed": few.to_numpy(),
                "reason": [
                    f"{k} observed score(s); {method} needs at least {minimum}" for k in few
                ],
            }
        )

    def sequence_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Matrix column of each client's first and last session (rows with missing scores count).

        A client's sequence runs between its own first and last session; per-interval
        methods use it so that sessions outside it are never treated as that client's.
        """
        return first_and_last(self._present())

    # -- clients' covariates -------------------------------------------------------------
    def client_values(self, column: str) -> pd.Series:
        """One value per client of a client-level covariate, indexed by client.

        Raises
        ------
        MissingColumnError
            No such covariate (the message lists them).
        ValueError
            The covariate changes within a client (the message names clients).
        """
        if column not in self._columns:
            raise MissingColumnError(
                f"The scores carry no covariate {column!r}: "
                + missing_column_message(column, list(self._columns))
                + " Fix: keep the column when validating (covariates=...)."
            )
        values = self._columns[column]
        code = self._client_code
        # Each client's first row, then every row compared with it (missing equals missing
        # only): one vectorised pass, whatever the dtype.
        first = np.full(self.n_clients, len(code), dtype=np.int64)
        np.minimum.at(first, code, np.arange(len(code), dtype=np.int64))
        array = np.asarray(values)
        if array.dtype.kind in "biufcmM":
            key = array
            same = key == key[first[code]]
            if array.dtype.kind in "fcmM":
                same |= pd.isna(key) & pd.isna(key[first[code]])
        else:
            key = pd.factorize(values, use_na_sentinel=True)[0]
            same = key == key[first[code]]
        if not same.all():
            # The first few offending clients are enough for the message.
            bad = self.clients.take(np.unique(code[np.flatnonzero(~same)[:1000]])).tolist()
            raise ValueError(
                f"Covariate {column!r} changes within client(s) {bad[:5]}, so it is not a "
                "client-level grouping. Fix: use a column that is constant within each "
                "client (e.g. its value at intake)."
            )
        out = pd.Series(values, name=column).take(first)
        out.index = pd.Index(self.clients, name="client")
        return out

    # -- subsets -------------------------------------------------------------------------
    def subset(
        self, clients: Sequence[Any] | pd.Index | None = None, *, query: str | None = None
    ) -> LongScores:
        """The same validated scores for some clients or rows, with the shared facts kept.

        The reliable-change criterion, the direction and the pooled statistics stay those of
        the whole data, so every method gives each kept client exactly the answer it gives
        on the whole data.

        Parameters
        ----------
        clients : list of ids, optional
            Clients to keep (ids not in the data are an error).
        query : str, optional
            A :meth:`pandas.DataFrame.query` expression on the rows of :attr:`data`
            (e.g. ``"arm == 'cbt'"`` or ``"session <= 8"``).

        Raises
        ------
        ValueError
            Unknown client ids, a query that fails, or nothing left.

        Examples
        --------
        >>> import toolkit
        >>> scores = toolkit.datasets.load_scores("sgdata")
        >>> part = scores.subset([1, 2, 3])
        >>> part.n_clients, part.reliable_change == scores.reliable_change
        (3, True)
        """
        keep = np.ones(len(self._score), dtype=bool)
        if clients is not None:
            wanted = pd.Index(list(clients) if not isinstance(clients, pd.Index) else clients)
            codes = self.clients.get_indexer(wanted)
            if (codes < 0).any():
                unknown = wanted[codes < 0].tolist()
                raise ValueError(f"subset(): client(s) {unknown[:5]} are not in the scores.")
            chosen = np.zeros(self.n_clients, dtype=bool)
            chosen[codes] = True
            keep &= chosen[self._client_code]
        if query is not None:
            try:
                mask = self._rows_frame().eval(query)
            except Exception as exc:  # pandas raises many kinds for a bad expression
                raise ValueError(f"subset(): the query {query!r} failed: {exc}") from None
            mask = np.asarray(mask, dtype=bool)
            keep &= mask
        if not keep.any():
            raise EmptyDataError("subset() keeps no rows. Fix: check the clients and the query.")
        return self._keep_rows(keep)

    def keep_covariates(self, names: Sequence[str] = ()) -> LongScores:
        """The same scores carrying only the named covariates (e.g. none, for a model whose
        own variables a covariate would shadow)."""
        unknown = [n for n in names if n not in self._columns]
        if unknown:
            raise MissingColumnError(
                f"keep_covariates(): no covariate(s) {unknown}; the scores carry "
                f"{list(self._columns)}."
            )
        kept = {n: v for n, v in self._columns.items() if n in names or n == "date"}
        return replace(
            self,
            _columns=kept,
            _pooled=self._pooled,
            settings={**self.settings, "covariates": list(names)},
        )

    def _rows_frame(self) -> pd.DataFrame:
        """The rows in input order (the order of the internal arrays), for queries."""
        return pd.DataFrame(
            {
                "client": self.clients.take(self._client_code),
                "session": self.sessions[self._session_code],
                "score": self._score,
                **{name: values for name, values in self._columns.items()},
            }
        )

    def _keep_rows(self, keep: np.ndarray) -> LongScores:
        codes = self._client_code[keep]
        used = np.unique(codes)
        remap = np.full(self.n_clients, -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        sess = self._session_code[keep]
        lo, hi = int(sess.min()), int(sess.max())
        return replace(
            self,
            clients=self.clients.take(used),
            sessions=self.sessions[lo : hi + 1].copy(),
            _client_code=remap[codes],
            _session_code=sess - lo,
            _score=self._score[keep],
            _columns={k: v[keep] for k, v in self._columns.items()},
            _pooled=self.pooled,
            excluded=self.excluded.iloc[:0].copy(),
            settings={**self.settings, "subset": True},
        )

    # -- description ---------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One-row description of the validated data (counts, missingness, score range).

        Returns
        -------
        pandas.DataFrame
            Columns ``instrument``, ``n_clients``, ``n_sessions``, ``n_rows``,
            ``n_missing_scores``, ``share_missing``, ``observed_per_client_min``,
            ``observed_per_client_median``, ``observed_per_client_max``, ``score_mean``,
            ``score_sd``, ``score_min``, ``score_max``, ``n_excluded_rows``,
            ``reliable_change_points``, ``reliable_change_source``.
        """
        score = pd.Series(self._score)
        n_obs = self.n_observed()
        return pd.DataFrame(
            {
                "instrument": [self.instrument.name if self.instrument else None],
                "n_clients": [self.n_clients],
                "n_sessions": [self.n_sessions],
                "n_rows": [len(self._score)],
                "n_missing_scores": [int(score.isna().sum())],
                "share_missing": [float(score.isna().mean()) if len(score) else np.nan],
                "observed_per_client_min": [int(n_obs.min())],
                "observed_per_client_median": [float(n_obs.median())],
                "observed_per_client_max": [int(n_obs.max())],
                "score_mean": [score.mean()],
                "score_sd": [score.std()],
                "score_min": [score.min()],
                "score_max": [score.max()],
                "n_excluded_rows": [len(self.excluded)],
                "reliable_change_points": [self.reliable_change.points],
                "reliable_change_source": [self.reliable_change.source],
            }
        )

    def __repr__(self) -> str:
        return (
            f"<LongScores {self.score_label}: {self.n_clients} clients x {self.n_sessions} "
            f"sessions, {len(self._score)} rows, {int(np.isnan(self._score).sum())} missing "
            f"scores, {len(self.excluded)} excluded rows; reliable change: {self._criterion}>"
        )

    @property
    def _criterion(self) -> str:
        c = self.reliable_change
        return f"{c.points:.4g} points ({c.source})" if c.points is not None else "none"

    def _repr_html_(self) -> str:
        return (
            f"<p>{self.__repr__()[1:-1]}</p>"
            f"<p>Reliable-change criterion: {self.reliable_change.description}.</p>"
            + self.summary().to_html(index=False)
        )


def _as_float(values: Any, *, column: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise NonNumericError(
            f"Column {column!r} is not numeric, so it cannot be spread into a matrix."
        ) from None
