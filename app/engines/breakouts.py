"""Breakout groups: exactly optimal assignment of participants to groups.

Pure module (NumPy and SciPy, no Flask). The console, the CLI and the benchmark build a
:class:`Problem`, call :func:`solve` (or :func:`greedy` for the first-come baseline) and read a
:class:`Result`. :func:`evaluate` scores any assignment, e.g. after an organiser moved someone.

Cost of placing a participant: the rank index squared for a listed group (1st choice 0, 2nd 1,
3rd 4, …) and ``4·(K+1)²`` for a group they did not list, K being the number of ranks. With
diversity on attribute ``a``, each group holds up to ``ceil(n_v / G)`` participants sharing value
``v`` for free and every one above that costs the penalty P.

Model (details and the exactness argument in docs/breakouts.md):

* no diversity, or diversity on one attribute: a min-cost flow
  participant → (group, value) bucket → group, with the shared "unlisted" route through one hub
  per value, solved as an LP by HiGHS (``scipy.optimize.linprog``). The constraint matrix is a
  network matrix, hence totally unimodular, so the simplex vertex is integral: exact.
* diversity on several attributes at once: one person counts in the buckets of every
  attribute, which is no longer a network, so the assignment is solved as a MILP
  (``scipy.optimize.milp``) with a relative gap of zero.

Ties: among all assignments of minimum cost the engine picks one minimising
``Σ cost_i · (n − i) / n`` over the free participants in input order, i.e. when two people
compete for the same seat at equal total cost, the one listed earlier (who signed up earlier)
gets the better choice. It is a second optimisation restricted to the optimal face (for the
MILP: to seat exchanges between people sharing every spread attribute), so it never changes the
total cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

__all__ = [
    "DEFAULT_PENALTY",
    "BreakoutError",
    "Group",
    "InfeasibleError",
    "Options",
    "Participant",
    "Problem",
    "Result",
    "evaluate",
    "greedy",
    "parse_problem",
    "problem_to_dict",
    "solve",
]

DEFAULT_PENALTY = 2
"""Between a 2nd choice (1) and a 3rd choice (4): spreading may cost someone one rank."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Reduced costs are integers (or integer combinations of P) at a network basis; anything within
# this distance of zero is zero. HiGHS' own dual feasibility tolerance is 1e-7.
_REDUCED_COST_TOL = 1e-6
_INTEGRALITY_TOL = 1e-6
# HiGHS accepts MIP solutions within mip_feasibility_tolerance (1e-6) of integral.
_MIP_INTEGRALITY_TOL = 1e-5
_FIRST_PASS = {"presolve": False, "simplex_dual_edge_weight_strategy": "devex"}


class BreakoutError(ValueError):
    """The problem is malformed; the message names the offending group or participant."""


class InfeasibleError(BreakoutError):
    """The problem is well formed but no assignment satisfies capacities and pins."""


class SolverError(BreakoutError):
    """The solver did not return an optimal integral solution (should not happen)."""


@dataclass(frozen=True)
class Group:
    id: str
    capacity: int
    fixed: tuple[str, ...] = ()
    """Participants pinned here (facilitators, manual pins); they count against capacity."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed", tuple(self.fixed))


@dataclass(frozen=True)
class Participant:
    id: str
    prefs: tuple[str, ...] = ()
    """Group ids, best first."""
    attrs: Mapping[str, str] = field(default_factory=dict)
    """e.g. prefecture, org_type, organization, round1; a missing or empty value is not spread."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefs", tuple(self.prefs))


@dataclass(frozen=True)
class Problem:
    groups: tuple[Group, ...]
    participants: tuple[Participant, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "participants", tuple(self.participants))


@dataclass(frozen=True)
class Options:
    diversity: tuple[str, ...] = ()
    """Attributes to spread across groups; one is a network flow, two or more need a MILP."""
    penalty: float = DEFAULT_PENALTY
    """Cost of each participant above a group's free share of their attribute value."""
    ranks: int | None = None
    """K, the number of ranks; defaults to the longest preference list."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", tuple(self.diversity))


@dataclass(frozen=True)
class Result:
    assignment: dict[str, str]
    """Participant id → group id, in the problem's participant order."""
    cost: float
    """preference_cost + diversity_penalty: the minimised objective (pinned people included)."""
    preference_cost: int
    diversity_penalty: float
    rank_counts: list[int]
    """How many got their 1st, 2nd, …, K-th choice; the last entry counts unlisted groups."""
    group_sizes: dict[str, int]
    ceilings: dict[str, dict[str, int]]
    """Attribute → value → how many may share a group for free, ceil(n_v / G)."""
    overflow: dict[str, dict[str, int]]
    """Attribute → group → participants above the free ceilings (each costs the penalty)."""
    ranks: int
    method: str
    """"network-lp", "milp", "pinned-only" (nothing to decide) or "greedy"."""


# --------------------------------------------------------------------------------------------
# Validation and indexing


@dataclass
class _Model:
    group_ids: list[str]
    capacity: IntArray
    participant_ids: list[str]
    prefs: IntArray  # (N, K) group indices, -1 past the end of a shorter list
    pinned: IntArray  # (N,) group index or -1
    ranks: int
    rank_cost: IntArray  # (K + 1,) cost by rank index; the last is the unlisted cost
    attrs: list[str]
    codes: list[IntArray]  # per attribute, (N,) value index or -1 when missing
    values: list[list[str]]
    ceilings: list[IntArray]  # per attribute, (V,)
    penalty: float


def _prepare(problem: Problem, options: Options) -> _Model:
    group_ids: list[str] = []
    gindex: dict[str, int] = {}
    for group in problem.groups:
        if group.id in gindex:
            raise BreakoutError(f"duplicate group id {group.id!r}")
        if not isinstance(group.capacity, int) or isinstance(group.capacity, bool):
            raise BreakoutError(f"group {group.id!r}: capacity must be a whole number")
        if group.capacity < 0:
            raise BreakoutError(
                f"group {group.id!r}: capacity {group.capacity} is below zero"
            )
        gindex[group.id] = len(group_ids)
        group_ids.append(group.id)

    pindex: dict[str, int] = {}
    for position, participant in enumerate(problem.participants):
        if participant.id in pindex:
            raise BreakoutError(f"duplicate participant id {participant.id!r}")
        pindex[participant.id] = position
    n_all = len(problem.participants)

    longest = max((len(p.prefs) for p in problem.participants), default=0)
    ranks = longest if options.ranks is None else options.ranks
    if ranks < 0:
        raise BreakoutError(f"the number of ranks must not be negative (got {ranks})")
    prefs = np.full((n_all, ranks), -1, dtype=np.int64)
    for i, participant in enumerate(problem.participants):
        if len(participant.prefs) > ranks:
            raise BreakoutError(
                f"participant {participant.id!r} ranks {len(participant.prefs)} groups "
                f"but only {ranks} ranks are allowed"
            )
        seen: set[str] = set()
        for r, gid in enumerate(participant.prefs):
            if gid not in gindex:
                raise BreakoutError(
                    f"participant {participant.id!r} lists unknown group {gid!r}"
                )
            if gid in seen:
                raise BreakoutError(f"participant {participant.id!r} lists group {gid!r} twice")
            seen.add(gid)
            prefs[i, r] = gindex[gid]

    pinned = np.full(n_all, -1, dtype=np.int64)
    for group in problem.groups:
        g = gindex[group.id]
        for pid in group.fixed:
            if pid not in pindex:
                raise BreakoutError(f"group {group.id!r} pins unknown participant {pid!r}")
            i = pindex[pid]
            if pinned[i] == g:
                raise BreakoutError(f"group {group.id!r} pins participant {pid!r} twice")
            if pinned[i] >= 0:
                raise BreakoutError(
                    f"participant {pid!r} is pinned to both {group_ids[pinned[i]]!r} "
                    f"and {group.id!r}"
                )
            pinned[i] = g
        if len(group.fixed) > group.capacity:
            raise InfeasibleError(
                f"group {group.id!r} is full: {len(group.fixed)} pinned participants "
                f"exceed its capacity {group.capacity}"
            )

    capacity = np.array([g.capacity for g in problem.groups], dtype=np.int64)
    total = int(capacity.sum())
    if total < n_all:
        raise InfeasibleError(
            f"total capacity {total} is below the {n_all} participants to place"
        )

    penalty = float(options.penalty)
    if not math.isfinite(penalty) or penalty < 0:
        raise BreakoutError(f"the diversity penalty must be zero or more (got {options.penalty})")

    attrs = list(dict.fromkeys(options.diversity))
    # Groups that cannot hold anyone must not dilute the free share of the others.
    usable_groups = max(int(np.count_nonzero(capacity > 0)), 1)
    codes: list[IntArray] = []
    values: list[list[str]] = []
    ceilings: list[IntArray] = []
    for attr in attrs:
        vindex: dict[str, int] = {}
        code = np.full(n_all, -1, dtype=np.int64)
        for i, participant in enumerate(problem.participants):
            value = participant.attrs.get(attr)
            if value is None or value == "":
                continue
            code[i] = vindex.setdefault(str(value), len(vindex))
        if not vindex and n_all:
            raise BreakoutError(f"no participant has the attribute {attr!r} to spread on")
        counts = np.bincount(code[code >= 0], minlength=len(vindex))
        codes.append(code)
        values.append(list(vindex))
        ceilings.append(-(-counts // usable_groups))

    rank_cost = np.array([r * r for r in range(ranks)] + [4 * (ranks + 1) ** 2], dtype=np.int64)
    return _Model(
        group_ids=group_ids,
        capacity=capacity,
        participant_ids=[p.id for p in problem.participants],
        prefs=prefs,
        pinned=pinned,
        ranks=ranks,
        rank_cost=rank_cost,
        attrs=attrs,
        codes=codes,
        values=values,
        ceilings=ceilings,
        penalty=penalty,
    )


# --------------------------------------------------------------------------------------------
# Scoring


def _rank_indices(model: _Model, prefs: IntArray, assigned: IntArray) -> IntArray:
    """Rank index of each assigned group in the matching row of ``prefs`` (K if unlisted)."""
    ranks = np.full(assigned.shape, model.ranks, dtype=np.int64)
    # Reverse order so that, should a list repeat a group, the better rank wins (validated
    # lists never do; this only keeps the function total).
    for r in range(model.ranks - 1, -1, -1):
        ranks[prefs[:, r] == assigned] = r
    return ranks


def _as_number(value: float) -> float:
    """An integral cost as int, so JSON shows 12 rather than 12.0."""
    return int(value) if float(value).is_integer() else float(value)


def _figures(model: _Model, assigned: IntArray, method: str) -> Result:
    n_groups = len(model.group_ids)
    ranks = _rank_indices(model, model.prefs, assigned)
    preference_cost = int(model.rank_cost[ranks].sum())
    rank_counts = np.bincount(ranks, minlength=model.ranks + 1)
    sizes = np.bincount(assigned, minlength=n_groups)
    over_total = 0
    ceilings: dict[str, dict[str, int]] = {}
    overflow: dict[str, dict[str, int]] = {}
    for attr, code, values, ceiling in zip(
        model.attrs, model.codes, model.values, model.ceilings, strict=True
    ):
        has = code >= 0
        n_values = len(values)
        counts = np.bincount(
            assigned[has] * n_values + code[has], minlength=n_groups * n_values
        ).reshape(n_groups, n_values)
        over = np.maximum(counts - ceiling[None, :], 0).sum(axis=1)
        over_total += int(over.sum())
        ceilings[attr] = {v: int(c) for v, c in zip(values, ceiling, strict=True)}
        overflow[attr] = {g: int(o) for g, o in zip(model.group_ids, over, strict=True)}
    penalty = _as_number(model.penalty * over_total)
    return Result(
        assignment={
            pid: model.group_ids[g]
            for pid, g in zip(model.participant_ids, assigned.tolist(), strict=True)
        },
        cost=_as_number(preference_cost + penalty),
        preference_cost=preference_cost,
        diversity_penalty=penalty,
        rank_counts=[int(c) for c in rank_counts],
        group_sizes={g: int(s) for g, s in zip(model.group_ids, sizes, strict=True)},
        ceilings=ceilings,
        overflow=overflow,
        ranks=model.ranks,
        method=method,
    )


def evaluate(
    problem: Problem, assignment: Mapping[str, str], options: Options | None = None
) -> Result:
    """Score a given assignment (e.g. after manual moves). Capacities and pins are not
    enforced here: an organiser may deliberately overfill a room; compare group_sizes."""
    model = _prepare(problem, options or Options())
    gindex = {g: k for k, g in enumerate(model.group_ids)}
    assigned = np.empty(len(model.participant_ids), dtype=np.int64)
    for i, pid in enumerate(model.participant_ids):
        if pid not in assignment:
            raise BreakoutError(f"participant {pid!r} has no group")
        gid = assignment[pid]
        if gid not in gindex:
            raise BreakoutError(f"participant {pid!r} is placed in unknown group {gid!r}")
        assigned[i] = gindex[gid]
    extra = set(assignment) - set(model.participant_ids)
    if extra:
        raise BreakoutError(f"unknown participant {sorted(extra)[0]!r} in the assignment")
    return _figures(model, assigned, "given")


# --------------------------------------------------------------------------------------------
# First-come baseline


def greedy(problem: Problem, options: Options | None = None) -> Result:
    """Participants in input order take their best listed group with a seat left, else the
    first group (in input order) with a seat left. Pins are placed first. Ignores diversity
    but is scored with it, so its cost compares with :func:`solve`'s."""
    model = _prepare(problem, options or Options())
    assigned = model.pinned.copy()
    left = model.capacity - np.bincount(
        assigned[assigned >= 0], minlength=len(model.group_ids)
    )
    for i in np.flatnonzero(assigned < 0).tolist():
        choice = -1
        for g in model.prefs[i].tolist():
            if g >= 0 and left[g] > 0:
                choice = g
                break
        if choice < 0:
            choice = int(np.argmax(left > 0))
        assigned[i] = choice
        left[choice] -= 1
    return _figures(model, assigned, "greedy")


# --------------------------------------------------------------------------------------------
# Exact solvers


def solve(problem: Problem, options: Options | None = None) -> Result:
    """The minimum-cost assignment; raises BreakoutError / InfeasibleError with a message."""
    model = _prepare(problem, options or Options())
    assigned = model.pinned.copy()
    free = np.flatnonzero(assigned < 0)
    if free.size == 0:
        return _figures(model, assigned, "pinned-only")
    left = model.capacity - np.bincount(
        assigned[assigned >= 0], minlength=len(model.group_ids)
    )
    if len(model.attrs) <= 1:
        assigned[free] = _solve_network(model, free, left)
        return _figures(model, assigned, "network-lp")
    assigned[free] = _solve_milp(model, free, left)
    return _figures(model, assigned, "milp")


def _pinned_counts(model: _Model, a: int) -> IntArray:
    """(G, V) participants already pinned per group and value of attribute ``a``."""
    n_groups, n_values = len(model.group_ids), len(model.values[a])
    code = model.codes[a]
    mask = (model.pinned >= 0) & (code >= 0)
    return np.bincount(
        model.pinned[mask] * n_values + code[mask], minlength=n_groups * n_values
    ).reshape(n_groups, n_values)


def _listed_arcs(model: _Model, free: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(free participant index, group, rank) for every listed choice."""
    prefs = model.prefs[free]
    ii, rr = np.nonzero(prefs >= 0)
    return ii.astype(np.int64), prefs[ii, rr], rr.astype(np.int64)


def _tie_weights(n: int) -> FloatArray:
    # Earlier entries weigh more, so at equal total cost the worse ranks go to later ones.
    return np.asarray((n - np.arange(n)) / n, dtype=np.float64)


def _distribute(
    unlisted: IntArray, unlisted_class: IntArray, hub_groups: IntArray, hub_amounts: IntArray
) -> tuple[IntArray, IntArray]:
    """Hand the seats that each hub (one per class) sends to groups to the participants who went
    through that hub. At an optimum no such participant listed any of those groups (else going
    there directly would be cheaper with the same seats used), so any pairing is exact; this one
    follows input order."""
    order = np.argsort(unlisted_class, kind="stable")
    # hub_groups / hub_amounts are ordered class-major, matching the stable sort above.
    seats = np.repeat(hub_groups, hub_amounts)
    if seats.size != unlisted.size:
        raise SolverError("the unlisted flow does not balance; the solution is not a flow")
    return unlisted[order], seats


def _rounded(x: FloatArray, tolerance: float = _INTEGRALITY_TOL) -> IntArray:
    rounded = np.rint(x)
    if x.size and float(np.max(np.abs(x - rounded))) > tolerance:
        raise SolverError("the solver returned a fractional assignment")
    return rounded.astype(np.int64)


def _solve_network(model: _Model, free: IntArray, left: IntArray) -> IntArray:
    """No diversity, or diversity on one attribute: one min-cost flow (see :func:`_flow`).

    A class is a value of the diversity attribute; participants without a value, or everyone
    when there is no diversity, share one class whose buckets have no free ceiling and no
    penalty arc.
    """
    n, n_groups = free.size, len(model.group_ids)
    if not model.attrs:
        unbounded = np.full((1, n_groups), np.inf)
        return _flow(model, free, left, np.zeros(n, dtype=np.int64), np.zeros(1, dtype=bool),
                     np.zeros_like(unbounded), unbounded)
    code = model.codes[0][free]
    n_values = len(model.values[0])
    raw_class = np.where(code >= 0, code, n_values)
    # Only classes with someone to place get nodes; the value order stays the input's.
    present, cls = np.unique(raw_class, return_inverse=True)
    limited = present < n_values
    ceiling = np.concatenate([model.ceilings[0], [0]])[present]
    pinned = np.concatenate([_pinned_counts(model, 0), np.zeros((n_groups, 1), np.int64)], axis=1)
    free_share = np.where(
        limited[:, None], np.maximum(ceiling[:, None] - pinned[:, present].T, 0), np.inf
    )
    return _flow(model, free, left, cls.astype(np.int64), limited,
                 np.zeros_like(free_share), free_share)


def _flow(
    model: _Model,
    free: IntArray,
    left: IntArray,
    cls: IntArray,
    limited: npt.NDArray[np.bool_],
    share_lower: FloatArray,
    share_upper: FloatArray,
) -> IntArray:
    """Min-cost flow as an LP; returns the group of each free participant.

    Nodes (equality rows): participants (supply 1), one "unlisted" hub per class ``cls``, one
    bucket per (class, group). Group capacities are the inequality rows.

    Arcs (columns): participant → bucket(own class, listed group) at r²; participant → own hub
    at the unlisted cost; hub → bucket(class, g) for every g at 0; bucket → group between
    ``share_lower`` and ``share_upper`` at 0; bucket → group beyond that at P (``limited``
    classes only).
    """
    n, n_groups = free.size, len(model.group_ids)
    unlisted_cost = float(model.rank_cost[-1])
    n_classes = limited.size

    hub0 = n
    bucket0 = n + n_classes
    n_rows = bucket0 + n_classes * n_groups

    ii, gg, rr = _listed_arcs(model, free)
    m1 = ii.size
    pair_class = np.repeat(np.arange(n_classes), n_groups)
    pair_group = np.tile(np.arange(n_groups), n_classes)
    pair_bucket = bucket0 + pair_class * n_groups + pair_group
    pen_class = np.flatnonzero(limited)
    pen_bucket = (bucket0 + pen_class[:, None] * n_groups + np.arange(n_groups)).ravel()
    pen_group = np.tile(np.arange(n_groups), pen_class.size)
    n_pairs, n_pen = pair_class.size, pen_bucket.size

    # Column blocks: listed, unlisted, hub→bucket, bucket→group free, bucket→group penalty.
    s1, s2, s3, s4 = m1, m1 + n, m1 + n + n_pairs, m1 + n + 2 * n_pairs
    n_cols = s4 + n_pen
    tail = np.concatenate([
        ii,
        np.arange(n),
        hub0 + pair_class,
        pair_bucket,
        pen_bucket,
    ])
    head = np.concatenate([bucket0 + cls[ii] * n_groups + gg, hub0 + cls, pair_bucket])
    cols = np.arange(n_cols)
    a_eq = sp.csc_matrix(
        (
            np.concatenate([np.ones(n_cols), -np.ones(head.size)]),
            (np.concatenate([tail, head]), np.concatenate([cols, cols[: head.size]])),
        ),
        shape=(n_rows, n_cols),
    )
    b_eq = np.zeros(n_rows)
    b_eq[:n] = 1.0
    a_ub = sp.csc_matrix(
        (np.ones(n_pairs + n_pen), (np.concatenate([pair_group, pen_group]), cols[s3:])),
        shape=(n_groups, n_cols),
    )
    b_ub = left.astype(np.float64)

    cost = np.zeros(n_cols)
    cost[:s1] = rr * rr
    cost[s1:s2] = unlisted_cost
    cost[s4:] = model.penalty
    lower = np.zeros(n_cols)
    upper = np.full(n_cols, np.inf)
    upper[:s2] = 1.0
    lower[s3:s4] = share_lower.ravel()
    upper[s3:s4] = share_upper.ravel()

    # Measured on the benchmark: HiGHS' presolve finds little to remove in a flow network and
    # devex pricing needs about half the iterations of the default steepest edge here.
    first = _linprog(cost, a_ub, b_ub, a_eq, b_eq, lower, upper, options=_FIRST_PASS)
    x = first.x
    # Second pass on the optimal face: complementary slackness says every optimal flow keeps
    # arcs with positive reduced cost at their lower bound and those with negative reduced cost
    # at their upper bound, and any flow doing so is optimal. Fixing them and minimising the tie
    # weights keeps a network LP, so the answer stays integral and exactly as cheap.
    at_lower = np.asarray(first.lower.marginals) > _REDUCED_COST_TOL
    at_upper = np.asarray(first.upper.marginals) < -_REDUCED_COST_TOL
    lower2, upper2 = lower.copy(), upper.copy()
    upper2[at_lower] = lower[at_lower]
    lower2[at_upper] = upper[at_upper]
    weights = _tie_weights(n)
    tie_cost = np.zeros(n_cols)
    tie_cost[:s1] = rr * rr * weights[ii]
    tie_cost[s1:s2] = unlisted_cost * weights
    # Most arcs are fixed at zero now; dropping them up front halves this pass (measured),
    # presolve would find them too but slower.
    keep = upper2 > 0
    second = _linprog(
        tie_cost[keep], a_ub[:, keep], b_ub, a_eq[:, keep], b_eq, lower2[keep], upper2[keep],
        required=False,
    )
    if second is not None:
        x2 = np.zeros(n_cols)
        x2[keep] = second.x
        if float(cost @ x2) <= float(first.fun) + _REDUCED_COST_TOL:
            x = x2
    flow = _rounded(x)

    groups = np.full(n, -1, dtype=np.int64)
    chosen = flow[:s1] == 1
    groups[ii[chosen]] = gg[chosen]
    unlisted = np.flatnonzero(flow[s1:s2] == 1)
    who, seats = _distribute(unlisted, cls[unlisted], pair_group, flow[s2:s3])
    groups[who] = seats
    if np.any(groups < 0):
        raise SolverError("the solver left a participant without a group")
    return groups


def _linprog(
    cost: FloatArray,
    a_ub: sp.csc_matrix,
    b_ub: FloatArray,
    a_eq: sp.csc_matrix,
    b_eq: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    *,
    required: bool = True,
    options: dict[str, Any] | None = None,
) -> Any:
    # Dual simplex: returns a vertex (integral here) with reduced costs for the second pass;
    # an interior-point answer would sit in the middle of a tied face.
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.column_stack([lower, upper]),
        method="highs-ds",
        options=options or {},
    )
    if res.status != 0:
        if required:
            raise SolverError(f"the LP solver failed: {res.message}")
        return None
    return res


def _solve_milp(model: _Model, free: IntArray, left: IntArray) -> IntArray:
    """Several diversity attributes: variables y (listed arc, binary), z (goes unlisted,
    binary), u (hub of an attribute-tuple class → group, integer) and o (overflow per attribute,
    value, group, continuous: integral at the optimum since everything else is)."""
    n, n_groups = free.size, len(model.group_ids)
    unlisted_cost = float(model.rank_cost[-1])
    codes = np.column_stack([code[free] for code in model.codes])
    # Participants sharing every attribute value are interchangeable on the unlisted route.
    tuples, cls = np.unique(codes, axis=0, return_inverse=True)
    cls = cls.reshape(-1).astype(np.int64)
    n_classes = tuples.shape[0]

    ii, gg, rr = _listed_arcs(model, free)
    m1 = ii.size
    hub_class = np.repeat(np.arange(n_classes), n_groups)
    hub_group = np.tile(np.arange(n_groups), n_classes)
    n_hub = hub_class.size
    s1, s2, s3 = m1, m1 + n, m1 + n + n_hub

    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    lo: list[FloatArray] = []
    hi: list[FloatArray] = []

    def add(r: IntArray, c: IntArray, v: float) -> None:
        rows.append(r)
        cols.append(c)
        vals.append(np.full(r.size, v))

    # Participants: Σ y + z = 1.
    add(ii, np.arange(m1), 1.0)
    add(np.arange(n), s1 + np.arange(n), 1.0)
    lo.append(np.ones(n))
    hi.append(np.ones(n))
    # Classes: Σ z − Σ u = 0.
    row0 = n
    add(row0 + cls, s1 + np.arange(n), 1.0)
    add(row0 + hub_class, s2 + np.arange(n_hub), -1.0)
    lo.append(np.zeros(n_classes))
    hi.append(np.zeros(n_classes))
    # Groups: Σ y + Σ u ≤ seats left.
    row0 += n_classes
    add(row0 + gg, np.arange(m1), 1.0)
    add(row0 + hub_group, s2 + np.arange(n_hub), 1.0)
    lo.append(np.full(n_groups, -np.inf))
    hi.append(left.astype(np.float64))
    row0 += n_groups
    # Buckets per attribute: Σ y + Σ u − o ≤ free ceiling.
    col0 = s3
    for a in range(len(model.attrs)):
        n_values = len(model.values[a])
        free_ceiling = np.maximum(model.ceilings[a][None, :] - _pinned_counts(model, a), 0)
        value = codes[:, a]
        listed = value[ii] >= 0
        add(row0 + gg[listed] * n_values + value[ii][listed], np.flatnonzero(listed), 1.0)
        hub_value = tuples[hub_class, a]
        on_hub = hub_value >= 0
        add(
            row0 + hub_group[on_hub] * n_values + hub_value[on_hub],
            s2 + np.flatnonzero(on_hub),
            1.0,
        )
        n_buckets = n_groups * n_values
        add(row0 + np.arange(n_buckets), col0 + np.arange(n_buckets), -1.0)
        lo.append(np.full(n_buckets, -np.inf))
        hi.append(free_ceiling.ravel().astype(np.float64))
        row0 += n_buckets
        col0 += n_buckets
    n_cols = col0

    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(row0, n_cols),
    )
    cost = np.zeros(n_cols)
    cost[:s1] = rr * rr
    cost[s1:s2] = unlisted_cost
    cost[s3:] = model.penalty
    integrality = np.zeros(n_cols)
    integrality[:s3] = 1
    upper = np.full(n_cols, np.inf)
    upper[:s2] = 1.0
    bounds = Bounds(np.zeros(n_cols), upper)
    constraint = LinearConstraint(matrix, np.concatenate(lo), np.concatenate(hi))
    # A zero relative gap: HiGHS' default (1e-4) would accept a cost a few units off.
    solver_options = {"mip_rel_gap": 0.0, "presolve": True}
    first = milp(cost, integrality=integrality, bounds=bounds, constraints=constraint,
                 options=solver_options)
    if first.status != 0 or first.x is None:
        raise SolverError(f"the MILP solver failed: {first.message}")
    # Only the integer columns decide the assignment; the overflow columns are continuous and
    # may sit a feasibility tolerance (1e-6) off an integer.
    flow = _rounded(first.x[:s3], _MIP_INTEGRALITY_TOL)

    groups = np.full(n, -1, dtype=np.int64)
    chosen = flow[:s1] == 1
    groups[ii[chosen]] = gg[chosen]
    unlisted = np.flatnonzero(flow[s1:s2] == 1)
    who, seats = _distribute(unlisted, cls[unlisted], hub_group, flow[s2:s3])
    groups[who] = seats
    if np.any(groups < 0):
        raise SolverError("the solver left a participant without a group")
    # Tie pass: people of one class share every attribute value, so exchanging seats within a
    # class keeps every bucket, size and penalty. With the seats per (class, group) fixed, the
    # rest is a flow problem: the same two passes as the network path break the ties. (A second
    # MILP capped at the optimal cost did the same on the whole optimal face but took eight
    # times as long as the first at 10,000 people.)
    taken = np.bincount(cls * n_groups + groups, minlength=n_classes * n_groups)
    seats_taken: FloatArray = taken.reshape(n_classes, n_groups).astype(np.float64)
    tied = _flow(model, free, left, cls, np.zeros(n_classes, dtype=bool), seats_taken,
                 seats_taken)
    if _preference_cost(model, free, tied) <= _preference_cost(model, free, groups):
        return tied
    return groups


def _preference_cost(model: _Model, free: IntArray, groups: IntArray) -> int:
    return int(model.rank_cost[_rank_indices(model, model.prefs[free], groups)].sum())


# --------------------------------------------------------------------------------------------
# JSON problem files


def parse_problem(data: object) -> Problem:
    """Build a Problem from the JSON file format (see docs/breakouts.md); raises BreakoutError
    naming the offending entry."""
    if not isinstance(data, dict):
        raise BreakoutError("the problem must be a JSON object with 'groups' and 'participants'")
    for key in ("groups", "participants"):
        if key not in data:
            raise BreakoutError(f"missing key {key!r}")
        if not isinstance(data[key], list):
            raise BreakoutError(f"{key!r} must be a list")
    groups = [_parse_group(k, item) for k, item in enumerate(data["groups"])]
    participants = [_parse_participant(k, item) for k, item in enumerate(data["participants"])]
    return Problem(groups=tuple(groups), participants=tuple(participants))


def _identifier(where: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise BreakoutError(f"{where}: 'id' must be a non-empty string")
    return value


def _string_list(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BreakoutError(f"{where} must be a list of strings")
    return tuple(value)


def _parse_group(k: int, item: object) -> Group:
    where = f"groups[{k}]"
    if not isinstance(item, dict):
        raise BreakoutError(f"{where} must be an object")
    if "id" not in item:
        raise BreakoutError(f"{where}: missing key 'id'")
    gid = _identifier(where, item["id"])
    if "capacity" not in item:
        raise BreakoutError(f"group {gid!r}: missing key 'capacity'")
    capacity = item["capacity"]
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise BreakoutError(f"group {gid!r}: capacity must be a whole number")
    if capacity < 0:
        raise BreakoutError(f"group {gid!r}: capacity {capacity} is below zero")
    fixed = _string_list(f"group {gid!r}: 'fixed'", item.get("fixed", []))
    return Group(id=gid, capacity=capacity, fixed=fixed)


def _parse_participant(k: int, item: object) -> Participant:
    where = f"participants[{k}]"
    if not isinstance(item, dict):
        raise BreakoutError(f"{where} must be an object")
    if "id" not in item:
        raise BreakoutError(f"{where}: missing key 'id'")
    pid = _identifier(where, item["id"])
    prefs = _string_list(f"participant {pid!r}: 'prefs'", item.get("prefs", []))
    raw_attrs = item.get("attrs", {})
    if not isinstance(raw_attrs, dict):
        raise BreakoutError(f"participant {pid!r}: 'attrs' must be an object")
    attrs: dict[str, str] = {}
    for name, value in raw_attrs.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BreakoutError(
                f"participant {pid!r}: attribute {name!r} must be a string or a number"
            )
        attrs[name] = str(value)
    return Participant(id=pid, prefs=prefs, attrs=attrs)


def problem_to_dict(problem: Problem) -> dict[str, list[dict[str, Any]]]:
    """The inverse of :func:`parse_problem`, for exports and round trips."""
    return {
        "groups": [
            {"id": g.id, "capacity": g.capacity, "fixed": list(g.fixed)} for g in problem.groups
        ],
        "participants": [
            {"id": p.id, "prefs": list(p.prefs), "attrs": dict(p.attrs)}
            for p in problem.participants
        ],
    }
