"""Benchmark runner shared by bench scripts: evaluate a list of cases and turn the results into markdown tables.

A `Case` names a generated video and what it is scored against; with `make`, the runner first produces the
video (timed: frames/s, real-time factor, peak RSS of the generation) and then evaluates it. Every video is
tracked once per runner (shared track cache), however many cases use it.

    from bench.cases import Case, run_cases, results_table
    results = run_cases([Case("obama self", gen, reference=gen)])
    write_section("my-issue", protocol + results_table(results, ["psnr_face", "lmd_mouth_px"]))
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._report import markdown_table  # noqa: E402
from talkface.errors import UserError  # noqa: E402
from talkface.eval import EvalResult, evaluate, measure  # noqa: E402
from talkface.eval.report import fmt, write_report  # noqa: E402


@dataclass
class Case:
    """One scored video: `generated` (written first by `make(path)` when given), optional ground truth / audio."""

    name: str
    generated: Path
    reference: Path | None = None
    audio: Path | np.ndarray | None = None
    make: Callable[[Path], None] | None = None
    groups: list[str] | None = None  # metric groups to run (default: all that apply)
    eval_kwargs: dict = field(default_factory=dict)


@dataclass
class CaseResult:
    """A case's evaluation (or the one-line error that stopped it) and, when it was generated, its speed."""

    case: Case
    result: EvalResult | None
    error: str = ""
    generation: dict | None = None  # seconds, frames, fps, rtf, peak_rss_mb of `make`

    def value(self, key: str) -> float:
        """A metric (or `gen_fps` / `gen_rtf` / `gen_peak_rss_mb` / `eval_fps`), NaN when missing."""
        if key.startswith("gen_") and self.generation:
            return float(self.generation.get(key[4:], float("nan")))
        if key == "eval_fps" and self.result:
            return float(self.result.speed["fps"])
        if self.result is None:
            return float("nan")
        return float(self.result.values.get(key, float("nan")))


def run_case(case: Case, cache: dict, report_dir: Path | None = None) -> CaseResult:
    """Generate (if `make`), evaluate and optionally write the report folder of one case; user errors are kept."""
    generation = None
    try:
        if case.make is not None:
            from talkface.media import probe

            with measure() as speed:
                case.make(case.generated)
            info = probe(case.generated)
            speed.frames, speed.media_seconds = int(round(info.duration * 25)), info.duration
            generation = speed.as_dict()
        result = evaluate(case.generated, case.reference, case.audio, cache=cache, groups=case.groups,
                          **case.eval_kwargs)
    except UserError as exc:
        return CaseResult(case, None, str(exc), generation)
    if report_dir is not None:
        write_report(result, Path(report_dir) / case.name.replace(" ", "_"))
    return CaseResult(case, result, "", generation)


def run_cases(cases: Sequence[Case], cache: dict | None = None, report_dir: Path | None = None,
              verbose: bool = True) -> list[CaseResult]:
    """Run every case in order, sharing one track cache; print one line per case when `verbose`."""
    cache = {} if cache is None else cache
    out = []
    for case in cases:
        res = run_case(case, cache, report_dir)
        if verbose:
            status = res.error or ", ".join(f"{k} {fmt(v)}" for k, v in list(res.result.values.items())[:6])
            print(f"[{case.name}] {status}", flush=True)
        out.append(res)
    return out


def results_table(results: Sequence[CaseResult], columns: Sequence[str], digits: int = 3) -> str:
    """Markdown table: one row per case, one column per metric key (errors shown in place of values)."""
    rows = []
    for r in results:
        if r.error:
            rows.append([r.case.name, f"error: {r.error}"] + [""] * (len(columns) - 1))
        else:
            rows.append([r.case.name] + [fmt(r.value(c), digits) for c in columns])
    return markdown_table(["case", *columns], rows)


def distribution(values: Sequence[float]) -> dict[str, float]:
    """n, median, 10th/90th percentile, min and max of the finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if not len(v):
        return {"n": 0, "median": float("nan"), "p10": float("nan"), "p90": float("nan"),
                "min": float("nan"), "max": float("nan")}
    return {"n": len(v), "median": float(statistics.median(v)), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)), "min": float(v.min()), "max": float(v.max())}


def distribution_table(named: dict[str, Sequence[float]], digits: int = 3) -> str:
    """Markdown table of `distribution` for each named list of values."""
    rows = []
    for name, values in named.items():
        d = distribution(values)
        rows.append([name, d["n"]] + [fmt(d[k], digits) for k in ("median", "p10", "p90", "min", "max")])
    return markdown_table(["quantity", "n", "median", "p10", "p90", "min", "max"], rows)
