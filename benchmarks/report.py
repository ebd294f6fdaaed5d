"""The benchmark's output: one Markdown table per history size, the summary of the history curve, the
issue's targets with whether each is met, and the PNG plot (matplotlib, the `bench` extra).

A point is the dict build_benchmark.run_point returns: `events`, `steps` (step key -> measured wall_s,
peak_rss_mb and, for builds, dbt's run; for the yardsticks, query_s: the query alone, without the process's
start) and `totals` (the lean query's invoices against the build's). The lean query's time is its query_s:
the build's figure it is compared with is beyond start-up, so neither counts a process start.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

STEP_NAMES = {
    "floor": "column-scan floor (DuckDB)",
    "hand": "hand-written single DuckDB query (text parsing)",
    "lean": "lean typed query (DuckDB typed JSON reader)",
    "startup": "empty start-up (Dagster + dbt, one empty file; measured once, history-independent)",
    "full": "full build (`usage-billing build`)",
    "close": "close the first month (`usage-billing close --force`; not a target)",
    "noop": "no-op build (no new file)",
    "increment": "realistic increment (one file of the latest hour, late events, re-sends)",
    "one_percent": "+1 % events, new files spread over all days",
}
BUILDS = ("full", "close", "noop", "increment", "one_percent")
THRESHOLD_S = (
    1.5  # no-op and increment beyond start-up stay within this of their value at the smallest history
)
ONE_PERCENT_SHARE = 0.05  # +1 % at 10M: at most this share of the full build beyond start-up
LEAN_RATIO = 4.0  # full build beyond start-up: at most this many lean queries


def lean_s(point: dict) -> float | None:
    return point["steps"].get("lean", {}).get("query_s")


def beyond(point: dict, step: str, startup_s: float) -> float | None:
    measured = point["steps"].get(step)
    return None if measured is None else measured["wall_s"] - startup_s


def point_table(point: dict, startup: dict) -> list[str]:
    events, steps = point["events"], dict(point["steps"], startup=startup)
    startup_s = startup["wall_s"]
    lines = [
        f"### {events:,} events of history",
        "",
        "| step | wall time (s) | beyond empty start-up (s) | query alone or dbt elapsed (s) | peak RSS (MB) | events/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, name in STEP_NAMES.items():
        if key not in steps:
            continue
        m = steps[key]
        extra = f"{m['wall_s'] - startup_s:.1f}" if key in BUILDS else ""
        own = m.get("query_s", (m.get("dbt") or {}).get("elapsed_s"))
        rate = f"{events / (own if key in ('floor', 'hand', 'lean') else m['wall_s']):,.0f}"
        rate = rate if key in ("floor", "hand", "lean", "full") else ""
        lines.append(
            f"| {name} | {m['wall_s']:.1f} | {extra} | {_cell(own)} | {m['peak_rss_mb']:,.0f} | {rate} |"
        )
    lines.append("")
    if point.get("increment_counts"):
        counts = point["increment_counts"]
        lines.append(
            "Realistic increment: "
            + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())
            + f" (one file, {sum(counts.values()):,} lines)."
        )
    totals = point.get("totals")
    if totals:
        verdict = "equal" if totals["differ"] == 0 else f"DIFFERENT for {totals['differ']:,}"
        if totals["differ"] and "differ_with_tie" in totals:
            verdict += (
                f" ({totals['differ_with_tie']:,} of them hold a conflicting copy that ties with the kept one"
                " on timestamp and file: E2 breaks it by line number, which the lean query cannot see)"
            )
        lines.append(
            f"Lean query against the build (marts.fct_invoices, subtotal, credits and total): {verdict}; "
            f"{totals['same']:,} of {totals['invoices']:,} account-months equal"
            + (f"; examples: {', '.join(totals['examples'])}" if totals["examples"] else "")
            + "."
        )
    full_beyond, lean = beyond(point, "full", startup_s), lean_s(point)
    if full_beyond is not None and lean:
        lines.append(
            f"Full build beyond start-up ÷ lean query: {full_beyond / lean:.1f}× (target ≤ {LEAN_RATIO:g}×)."
        )
    for key in BUILDS:
        run = steps.get(key, {}).get("dbt")
        if run:
            lines.append("")
            lines.append(
                f"dbt in the {STEP_NAMES[key].split(' (')[0]}: {run['elapsed_s']:.1f} s elapsed, its "
                f"{run['nodes']} nodes' own times add up to {run['node_sum_s']:.1f} s; slowest (s): "
                + ", ".join(f"{n} {t:.1f}" for n, t in run["slowest"])
            )
    return lines


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summary_table(points: list[dict], startup: dict) -> list[str]:
    s = startup["wall_s"]
    lines = [
        "| history (events) | empty start-up (s) | no-op beyond (s) | realistic increment beyond (s) "
        "| +1 % beyond (s, % of full) | full build beyond (s) | lean query (s) | full beyond ÷ lean |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        full, lean = beyond(p, "full", s), lean_s(p)
        one = beyond(p, "one_percent", s)
        share = f" ({100 * one / full:.1f} %)" if one is not None and full else ""
        ratio = f"{full / lean:.1f}×" if full is not None and lean else "—"
        lines.append(
            f"| {p['events']:,} | {s:.1f} | {_cell(beyond(p, 'noop', s))} | {_cell(beyond(p, 'increment', s))} "
            f"| {_cell(one)}{share} | {_cell(full)} | {_cell(lean)} | {ratio} |"
        )
    return lines


def targets(points: list[dict], startup: dict) -> list[str]:
    """Issue 18's "Done means", each with its figures and whether it is met."""
    s = startup["wall_s"]
    base = min(points, key=lambda p: p["events"])
    lines = [f"- empty start-up: {s:.1f} s (target < 10 s): {'met' if s < 10 else 'not met'}"]
    label = f"{base['events']:,}" + (
        "" if base["events"] == 1_000_000 else " (the issue's base is 1,000,000)"
    )
    for step in ("noop", "increment"):
        ref = beyond(base, step, s)
        upto = [p for p in points if p["events"] <= 30_000_000 and beyond(p, step, s) is not None]
        if ref is None or len(upto) < 2:
            lines.append(f"- {STEP_NAMES[step].split(' (')[0]}: needs two history sizes up to 30M")
            continue
        worst = max(abs(beyond(p, step, s) - ref) for p in upto)
        figures = ", ".join(f"{p['events']:,}: {beyond(p, step, s):.1f} s" for p in upto)
        lines.append(
            f"- {STEP_NAMES[step].split(' (')[0]} beyond start-up within {THRESHOLD_S} s of its value at "
            f"{label} ({figures}; largest difference {worst:.1f} s): {'met' if worst <= THRESHOLD_S else 'not met'}"
        )
    at_10m = [p for p in points if p["events"] == 10_000_000] or [max(points, key=lambda p: p["events"])]
    p = at_10m[0]
    one, full = beyond(p, "one_percent", s), beyond(p, "full", s)
    if one is not None and full:
        where = "10M" if p["events"] == 10_000_000 else f"{p['events']:,} (10M not measured)"
        lines.append(
            f"- +1 % file at {where}: {one:.1f} s = {100 * one / full:.1f} % of the full build beyond start-up "
            f"(target ≤ {100 * ONE_PERCENT_SHARE:g} %): {'met' if one <= ONE_PERCENT_SHARE * full else 'not met'}"
        )
    ratios = [
        (q["events"], beyond(q, "full", s) / lean_s(q))
        for q in points
        if lean_s(q) and beyond(q, "full", s) is not None
    ]
    if ratios:
        figures = ", ".join(f"{n:,}: {r:.1f}×" for n, r in ratios)
        met = all(r <= LEAN_RATIO for _, r in ratios)
        lines.append(
            f"- full build beyond start-up ≤ {LEAN_RATIO:g}× the lean typed query ({figures}): "
            f"{'met' if met else 'not met'}"
        )
    return lines


def plot(points: list[dict], startup: dict, out: Path, title: str) -> str:
    """History size vs seconds, one line per step; returns what was done (or how to get matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"no plot: matplotlib is missing; install it with `pip install -e '.[bench]'` (wanted {out})"
    s = startup["wall_s"]
    sizes = [p["events"] for p in points]
    # Left: what every run costs (the targets: flat in history). Right: the full build against the lean query.
    panels = {
        "per run": {
            "empty start-up (wall)": [s] * len(points),
            "no-op build, beyond start-up": [beyond(p, "noop", s) for p in points],
            "realistic increment, beyond start-up": [beyond(p, "increment", s) for p in points],
            "+1 % file, beyond start-up": [beyond(p, "one_percent", s) for p in points],
        },
        "whole history": {
            "full build, beyond start-up": [beyond(p, "full", s) for p in points],
            f"{LEAN_RATIO:g}× lean typed query (target)": [
                None if lean_s(p) is None else LEAN_RATIO * lean_s(p) for p in points
            ],
            "lean typed query": [lean_s(p) for p in points],
        },
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), dpi=120)
    for ax, (panel, series) in zip(axes, panels.items(), strict=True):
        for (label, values), marker in zip(series.items(), "osD^vx", strict=False):
            shown = [(x, y) for x, y in zip(sizes, values, strict=True) if y is not None]
            if shown:
                style = ":" if "target" in label else "-"
                ax.plot(*zip(*shown, strict=True), style, marker=marker, label=label)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{n / 1e6:g}M" for n in sizes])
        ax.minorticks_off()
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("events of history")
        ax.set_ylabel("seconds")
        ax.set_title(panel, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    shown_path = out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out
    return f"Plot: `{shown_path}`."
