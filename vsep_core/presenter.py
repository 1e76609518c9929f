"""One way to show scores: a metrics report turned into rows, labels and display rules.

:func:`score_table` reads a report (:func:`vsep_core.evaluate.evaluate_pair`,
:func:`~vsep_core.evaluate.evaluate_experiment`, ``metrics.json``, or the quick
SI-SDR-only report) and its target, and returns a :class:`ScoreTable`: the
columns (named after the target and its complement, e.g. "drums SI-SDR" and
"everything else SI-SDR"), one :class:`ScoreRow` per method, and the rules
every view follows:

* a figure that means nothing is ``None`` and shown as :data:`DASH` (the
  mixture-as-estimate's SAR: nothing was processed; a reference method's loss:
  it matches no fingerprints);
* a figure above :data:`vsep_core.limits.NOISE_FLOOR_DB` is a ratio to
  rounding noise, written ``>150`` in text;
* NaN (a method that failed) is written ``n/a``;
* a blind method built for another target has its kind marked ``*`` and its
  note kept.

The terminal table (:func:`vsep_core.evaluate.format_table`), the HTML report
(``vsep_core.report``) and the dashboard (``vsep_app.scores_view.metrics_section``) only
format these rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .limits import NOISE_FLOOR_DB

#: The metrics of each source, in table order, and how their headings read.
METRIC_LABELS = {"si_sdr": "SI-SDR", "sdr": "SDR", "sir": "SIR", "sar": "SAR"}

#: The report's two source slots (its keys), in table order: the target, then the rest of the mixture.
SOURCE_SLOTS = ("vocal", "instrumental")

#: Which group each slot's columns belong to (a view that hides the complement filters on this).
GROUPS = {"vocal": "target", "instrumental": "complement"}

#: Methods whose SAR is not meaningful (nothing was processed): shown as :data:`DASH`.
NO_SAR = frozenset({"mixture"})

#: How a figure that means nothing is shown.
DASH = "—"


@dataclass(frozen=True)
class ScoreColumn:
    """One figure column.

    Attributes
    ----------
    slot : str
        The report's source key (``"vocal"``: the target, ``"instrumental"``: the rest).
    group : str
        ``"target"`` or ``"complement"``.
    metric : str
        ``"si_sdr"``, ``"sdr"``, ``"sir"`` or ``"sar"``.
    part : str
        What the source is called (``"vocal"``, ``"drums"``, ``"everything else"``).
    metric_label : str
        ``"SI-SDR"`` … ``"SAR"``.
    """

    slot: str
    group: str
    metric: str
    part: str
    metric_label: str

    @property
    def label(self) -> str:
        """The column's heading: ``"drums SI-SDR"``."""
        return f"{self.part} {self.metric_label}"


@dataclass(frozen=True)
class ScoreRow:
    """One method's scores as every view shows them.

    Attributes
    ----------
    name, kind, description : str
    suited : bool
        False for a blind method built for another target (its figures are shown, flagged).
    note : str or None
        Why it does not suit this target.
    error : str or None
    loss : float or None
        The fingerprint loss (``None``: a reference method, which has none).
    seconds : float or None
    values : tuple of (float or None)
        One per column of the table; ``None`` where the figure means nothing.
    figures : tuple of float
        The report's figures as they are, one per column (NaN where missing): what ``metrics.json`` holds.
    """

    name: str
    kind: str
    description: str
    suited: bool
    note: str | None
    error: str | None
    loss: float | None
    seconds: float | None
    values: tuple
    figures: tuple = ()

    @property
    def marked_kind(self) -> str:
        """The kind, with ``*`` for a method not built for this target."""
        return self.kind + ("" if self.suited else "*")


@dataclass(frozen=True)
class ScoreTable:
    """A report as rows, labels and rules (see the module docstring).

    Attributes
    ----------
    target, complement : str
        What the two sources are called (``"vocal"`` / ``"instrumental"``, ``"drums"`` / ``"everything else"``).
    columns : tuple of ScoreColumn
        Target columns first, then the complement's.
    rows : tuple of ScoreRow
    alignment : dict or None
        The report's alignment check (``None`` in a quick report).
    """

    target: str
    complement: str
    columns: tuple
    rows: tuple
    alignment: dict | None

    def columns_of(self, group: str) -> tuple:
        """The columns of one group (``"target"`` or ``"complement"``)."""
        return tuple(c for c in self.columns if c.group == group)

    @property
    def unsuited(self) -> tuple:
        """The rows of methods not built for this target (their notes go under the table)."""
        return tuple(row for row in self.rows if not row.suited)


def source_labels(report: dict) -> dict:
    """What a report's ``"vocal"`` and ``"instrumental"`` slots are: ``{"vocal": "drums", ...}``."""
    return (report.get("pair") or {}).get("labels") or {"vocal": "vocal", "instrumental": "instrumental"}


def score_table(report: dict, metrics=None) -> ScoreTable:
    """Turn a metrics report into rows, labels and display rules: the one presenter of scores.

    Parameters
    ----------
    report : dict
        An evaluation report (``{"pair", "alignment", "methods", ...}``) or the quick report
        (``{"methods"}`` with ``si_sdr`` only, and ``"pair"`` for its labels).
    metrics : sequence of str, optional
        The metric columns (default: those of :data:`METRIC_LABELS` the report's methods hold).

    Returns
    -------
    ScoreTable
    """
    names = source_labels(report)
    methods = report.get("methods") or []
    if metrics is None:
        held = set().union(*((m.get("vocal") or {}).keys() for m in methods)) if methods else set(METRIC_LABELS)
        metrics = [k for k in METRIC_LABELS if k in held] or list(METRIC_LABELS)
    columns = tuple(
        ScoreColumn(slot, GROUPS[slot], k, names[slot], METRIC_LABELS[k]) for slot in SOURCE_SLOTS for k in metrics
    )
    rows = []
    for m in methods:
        values, figures = [], []
        for c in columns:
            value = (m.get(c.slot) or {}).get(c.metric)
            figures.append(math.nan if value is None else float(value))
            meaningless = c.metric == "sar" and m["name"] in NO_SAR
            values.append(None if meaningless else figures[-1])
        loss = (m.get("info") or {}).get("loss")  # only this method's runs match fingerprints
        rows.append(
            ScoreRow(
                name=m["name"],
                kind=m.get("kind", ""),
                description=m.get("description", ""),
                suited=m.get("suited") is not False,
                note=m.get("note"),
                error=m.get("error"),
                loss=None if loss is None else float(loss),
                seconds=m.get("seconds"),
                values=tuple(values),
                figures=tuple(figures),
            )
        )
    return ScoreTable(
        target=names["vocal"],
        complement=names["instrumental"],
        columns=columns,
        rows=tuple(rows),
        alignment=report.get("alignment"),
    )


def format_score(value) -> str:
    """A figure as text: two decimals, ``inf``, ``>150`` (rounding noise), ``n/a`` (NaN), :data:`DASH` (``None``)."""
    if value is None:
        return DASH
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value > NOISE_FLOOR_DB:
        return f">{NOISE_FLOOR_DB:.0f}"
    return f"{value:.2f}"
