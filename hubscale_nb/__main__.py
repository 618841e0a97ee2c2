"""``python -m hubscale_nb review|test|init|setup-git``: the notebook tools for people and CI."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hubscale_nb.errors import NotebookError
from hubscale_nb.execute import check
from hubscale_nb.git_setup import SYSTEM_JUPYTEXT_DIR, GitSetupError, configure_system
from hubscale_nb.notebook_files import find_notebooks
from hubscale_nb.options import DEFAULT_TIMEOUT_S, RunOptions
from hubscale_nb.outputs import load_sanitizers
from hubscale_nb.review import ReviewError, write_review
from hubscale_nb.starter_kit import init


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubscale-nb", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    review = commands.add_parser("review", help="Render changed notebooks as one HTML page.")
    review.add_argument("range", metavar="BASE..HEAD", help="git revision range (or BASE...HEAD)")
    review.add_argument("--repo", type=Path, default=Path("."), help="the git repository")
    review.add_argument("--out", type=Path, default=Path("review.html"), help="the page to write")
    review.set_defaults(command=_review)

    test = commands.add_parser("test", help="Run notebooks headless; exit 1 if one fails.")
    test.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    test.add_argument("--kernel", default=None, help="kernel instead of each kernelspec")
    test.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per notebook"
    )
    test.add_argument("--compare-outputs", action="store_true", help="compare stored outputs")
    test.add_argument("--sanitize-with", type=Path, help="nbval-format regex sanitizers")
    test.set_defaults(command=_test)

    kit = commands.add_parser("init", help="Copy the team starter kit into a repository.")
    kit.add_argument("directory", type=Path)
    kit.add_argument("--force", action="store_true", help="overwrite files already there")
    kit.set_defaults(command=_init)

    setup = commands.add_parser(
        "setup-git", help="For every user: nbdime's git drivers and jupytext's pairing."
    )
    setup.add_argument("--jupytext-dir", type=Path, default=SYSTEM_JUPYTEXT_DIR)
    setup.set_defaults(command=_setup_git)
    return parser


def _review(args: argparse.Namespace) -> int:
    try:
        result = write_review(args.repo, args.range, args.out)
    except ReviewError as error:
        print(f"hubscale-nb review: {error}", file=sys.stderr)
        return 2
    for change in result.changes:
        print(f"{change.path} ({change.status})")
    print(f"{args.out}: {len(result.changes)} notebook(s) changed")
    return 0


def _test(args: argparse.Namespace) -> int:
    try:
        sanitizers = load_sanitizers(args.sanitize_with) if args.sanitize_with else []
        notebooks = find_notebooks(args.paths)
    except NotebookError as error:
        print(f"hubscale-nb test: {error}", file=sys.stderr)
        return 2
    if not notebooks:
        print("hubscale-nb test: no notebooks found", file=sys.stderr)
        return 1
    defaults = RunOptions(args.kernel, args.timeout, compare_outputs=args.compare_outputs)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for path in notebooks:
        started = time.monotonic()
        try:
            reason = check(path, defaults, sanitizers)
        except NotebookError as error:
            counts["failed"] += 1
            print(f"FAILED {path} ({time.monotonic() - started:.1f} s)\n{error.report()}\n")
            continue
        if reason:
            counts["skipped"] += 1
            print(f"SKIPPED {path}: {reason}")
        else:
            counts["passed"] += 1
            print(f"PASSED {path} ({time.monotonic() - started:.1f} s)")
    print(", ".join(f"{count} {outcome}" for outcome, count in counts.items()))
    return 1 if counts["failed"] else 0


def _init(args: argparse.Namespace) -> int:
    copied = init(args.directory, force=args.force)
    for path in copied.written:
        print(f"wrote {path}")
    for path in copied.kept:
        print(f"kept  {path} (already there; --force to overwrite)")
    return 0


def _setup_git(args: argparse.Namespace) -> int:
    try:
        configure_system(args.jupytext_dir)
    except GitSetupError as error:
        print(f"hubscale-nb setup-git: {error}", file=sys.stderr)
        return 2
    print(f"nbdime enabled in git's system config; jupytext pairing in {args.jupytext_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
