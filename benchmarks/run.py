"""One command for all benchmarks: options, the tables, and the targets checked at the end."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import (
    micro,
    peer,
    peer_report,
    replay,
    report,
    shared,
    shared_report,
    startup,
    team,
)

Check = tuple[str, "bool | None", str]
PARTS = ("micro", "replay", "shared", "team")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Replay real typing through the server (full vs plain configuration), "
        "several servers at once under one shared rate limit, and time the per-keystroke paths; "
        "print the tables and check the targets.",
    )
    parser.add_argument("--quick", action="store_true", help="shorter versions of each part")
    parser.add_argument("--only", choices=PARTS, help="run one part")
    parser.add_argument("--shared", action="store_true", help="the same as --only shared")
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="--shared with a sliding 60 s window and 2,000 tokens a minute per typist (x F)",
    )
    parser.add_argument(
        "--simulate-team",
        action="store_true",
        help="the same as --only team: 50 simulated clients of one workspace limit (seconds)",
    )
    parser.add_argument(
        "--peer",
        choices=("tabby-agent",),
        help="replay stdlib functions through us and this peer side by side (installs it from npm)",
    )
    parser.add_argument(
        "--rates",
        type=_rates,
        default=(3.0, 12.0),
        metavar="LO-HI",
        help="--simulate-team: each typist's requests a minute, drawn in this range (3-12; "
        "15-45 is a team typing steadily at the default debounce, 1-4 one that mostly reads)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        help="--simulate-team over seeds 1 to N, each target to be met in every one",
    )
    parser.add_argument("--functions", type=int, default=4, help="functions for --peer (4)")
    parser.add_argument(
        "--startup",
        action="store_true",
        help="time spawn to initialize and to the first suggestion: us (default and plain) "
        "and tabby-agent in turn (installs it from npm)",
    )
    parser.add_argument(
        "--spawns", type=int, help="spawns of each server for --startup (10; 5 with --quick)"
    )
    parser.add_argument("--files", type=int, help="stdlib files to replay (default 3)")
    parser.add_argument(
        "--servers", type=int, default=4, help="servers sharing one limit (default 4)"
    )
    parser.add_argument("--seed", type=int, default=1, help="picks regions, gaps, answers")
    parser.add_argument(
        "--compression",
        type=float,
        help="time compression factor F: every simulated delay is divided by F (default 5)",
    )
    parser.add_argument("--min-lines", type=int, default=20, help="shortest region (lines)")
    parser.add_argument("--max-lines", type=int, help="longest region (default 60)")
    parser.add_argument(
        "--wrong-rate", type=float, default=0.2, help="share of answers that are not the truth"
    )
    parser.add_argument("--samples", type=int, help="micro-benchmark calls per row (20000)")
    parser.add_argument("--keep-logs", type=Path, help="keep the servers' logs in this folder")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even if a target fails")
    return parser.parse_args(argv)


def _rates(text: str) -> tuple[float, float]:
    """``LO-HI`` requests a minute, 0 < LO <= HI."""
    try:
        lo, hi = (float(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI, e.g. 3-12, not {text!r}") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI, not {text!r}")
    return lo, hi


def replay_options(args: argparse.Namespace) -> replay.ReplayOptions:
    quick = args.quick
    return replay.ReplayOptions(
        files=args.files or (1 if quick else 3),
        seed=args.seed,
        compression=args.compression or 5.0,
        min_lines=args.min_lines,
        max_lines=args.max_lines or (30 if quick else 60),
        wrong_rate=args.wrong_rate,
        keep_logs=args.keep_logs,
    )


def shared_options(args: argparse.Namespace) -> shared.SharedOptions:
    return shared.SharedOptions(
        servers=args.servers,
        seed=args.seed,
        compression=args.compression or 5.0,
        chars=1000 if args.quick else 2500,
        realistic=args.realistic,
        wrong_rate=args.wrong_rate,
        keep_logs=args.keep_logs and args.keep_logs / "shared",
    )


def report_checks(found: list[Check]) -> bool:
    """Print each target's verdict; True if none failed."""
    print("\nTargets")
    for target, passed, value in found:
        verdict = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        print(f"  {verdict}  {target}: {value}")
    return all(passed is not False for _, passed, _ in found)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parts = ("shared",) if args.shared else (args.only,) if args.only else PARTS
    if args.simulate_team:
        parts = ("team",)
    parts = ("peer",) if args.peer else parts
    parts = ("startup",) if args.startup else parts
    began = time.perf_counter()
    found: list[Check] = []
    try:
        for part in parts:
            found += run_part(part, args)
    except RuntimeError as exc:  # a server failed: say how, without our traceback
        print(f"\n{part.capitalize()} failed: {exc}", file=sys.stderr)
        return 2
    ok = report_checks(found)
    print(f"\nTotal {time.perf_counter() - began:.1f} s")
    return 0 if ok or args.no_check else 1


def run_part(part: str, args: argparse.Namespace) -> list[Check]:
    """Run one part, print its table (and how long it took), return its target checks."""
    began = time.perf_counter()
    if part == "micro":
        timings = micro.run(args.samples or (5_000 if args.quick else 20_000))
        print(micro.format_table(timings), end="\n\n", flush=True)
        return micro.checks(timings)
    if part == "replay":
        outcome = asyncio.run(replay.replay(replay_options(args)))
        print(report.format_report(outcome), flush=True)
        print(f"(replay {time.perf_counter() - began:.1f} s)\n", flush=True)
        return report.checks(outcome)
    if part == "team":
        if args.seeds:
            reports = [
                team.simulate(team.TeamOptions(seed=seed, rates=args.rates))
                for seed in range(1, args.seeds + 1)
            ]
            print(team.format_seeds(reports), end="\n\n", flush=True)
            return team.checks_over(reports)
        seed = args.seed if args.seed != 1 else 7
        outcome = team.simulate(team.TeamOptions(seed=seed, rates=args.rates))
        print(team.format_team(outcome), end="\n\n", flush=True)
        return team.checks(outcome)
    if part == "startup":
        options = startup.StartupOptions(
            spawns=args.spawns or (5 if args.quick else 10), keep_logs=args.keep_logs
        )
        table, found = startup.run(options)
        print(table, flush=True)
        print(f"(startup {time.perf_counter() - began:.1f} s)\n", flush=True)
        return found
    if part == "peer":
        options = peer.PeerOptions(
            peer=args.peer,
            functions=args.functions,
            seed=args.seed,
            compression=args.compression or 5.0,
            wrong_rate=args.wrong_rate,
            keep_logs=args.keep_logs,
        )
        runs = asyncio.run(peer.compare(options))
        print(peer_report.format_report(runs, options), flush=True)
        print(f"(peer {time.perf_counter() - began:.1f} s)\n", flush=True)
        return peer_report.checks(runs)
    result = asyncio.run(shared.run(shared_options(args)))
    print(shared_report.format_report(result), flush=True)
    print(f"(shared {time.perf_counter() - began:.1f} s)\n", flush=True)
    return shared_report.checks(result)
