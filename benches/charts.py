"""Charts for BENCHMARKS.md from the side-by-side runs' CSV files.

Reads every benches/results/*.csv (columns: family, workload, round, roost_rps,
redis_rps, roost_us, redis_us: one row per pair of runs, Roost's and Redis's, as the
compare_*.sh scripts append them with CSV=FILE) and writes one PNG per family into
benches/charts/: for each workload, the ratio Roost/Redis of requests per second and of
server CPU per request, the median of the rounds as a bar and the lowest and highest
round as the error bar, with the line at 1.0 (parity with Redis). Files whose columns
are roost_s, redis_s, roost_cpu_s, redis_cpu_s instead (durations, as restart.sh
writes) are drawn as the ratios of seconds and of CPU seconds, lower being better. Run
it through benches/charts.sh, which provides matplotlib.
"""

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent


def load(results: Path):
    """{family: {workload: [(rps_ratio, cpu_ratio), ...]}}, workloads in file order,
    and the families measured in seconds."""
    families = defaultdict(lambda: defaultdict(list))
    durations = set()
    for path in sorted(results.glob("*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if "roost_s" in row:
                    durations.add(row["family"])
                    first = float(row["roost_s"]) / float(row["redis_s"])
                    cpu = float(row["roost_cpu_s"]) / float(row["redis_cpu_s"])
                else:
                    first = float(row["roost_rps"]) / float(row["redis_rps"])
                    cpu = float(row["roost_us"]) / float(row["redis_us"])
                families[row["family"]][row["workload"]].append((first, cpu))
    return families, durations


def spread(values):
    median = statistics.median(values)
    return median, median - min(values), max(values) - median


def chart(family, workloads, out: Path, duration=False):
    names = list(workloads)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    if duration:
        panels = [
            (axes[0], 0, "seconds, Roost / Redis", "lower is better", False),
            (axes[1], 1, "server CPU seconds, Roost / Redis", "lower is better", False),
        ]
    else:
        panels = [
            (axes[0], 0, "requests per second, Roost / Redis", "higher is better", True),
            (axes[1], 1, "server CPU per request, Roost / Redis", "lower is better", False),
        ]
    for ax, index, title, better, higher in panels:
        stats = [spread([run[index] for run in workloads[n]]) for n in names]
        medians = [s[0] for s in stats]
        errors = [[s[1] for s in stats], [s[2] for s in stats]]
        colours = [
            ("#2a7" if (m >= 1.0) == higher else "#c44") for m in medians
        ]
        ax.bar(names, medians, yerr=errors, capsize=4, color=colours)
        ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
        for x, m in enumerate(medians):
            ax.annotate(f"{m:.2f}", (x, m), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=8)
        ax.set_title(f"{title}\n({better}; bar: median, whiskers: min-max)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.set_ylim(0, max(1.3, max(m + e for m, e in zip(medians, errors[1])) * 1.15))
    rounds = min(len(v) for v in workloads.values())
    fig.suptitle(f"{family}: Roost against redis-server ({rounds}+ rounds each)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results"
    charts = HERE / "charts"
    charts.mkdir(exist_ok=True)
    families, durations = load(results)
    if not families:
        sys.exit(f"no rows in {results}/*.csv")
    for family, workloads in sorted(families.items()):
        out = charts / f"{family}.png"
        chart(family, workloads, out, family in durations)
        print(out.relative_to(HERE.parent))


if __name__ == "__main__":
    main()
