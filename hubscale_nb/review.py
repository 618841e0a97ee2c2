"""Every notebook changed between two git refs, as one self-contained HTML page.

nbdime finds the changed notebooks and diffs them (execution counts, cell ids and metadata left
out); its text rendering, coloured as ``nbdiff`` colours it, becomes HTML through nbconvert's
``ansi2html``. The page has no scripts and no links: a CI artifact or a PR comment as it is.
(nbdime's own "Export diff" serializes its web view in a browser; there is no headless API.)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from git import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from nbconvert.filters import ansi2html
from nbdime.gitfiles import changed_notebooks, get_repo
from nbdime.utils import EXPLICIT_MISSING_FILE, read_notebook

from hubscale_nb.nbdiff import diff_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; border-bottom: 1px solid #d0d7de; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre.nbdiff { background: #f6f8fa; padding: 1em; overflow-x: auto; line-height: 1.4; }
.status { font-weight: normal; color: #59636e; }
.ansi-red-fg { color: #cf222e; } .ansi-green-fg { color: #1a7f37; }
.ansi-blue-fg, .ansi-blue-intense-fg { color: #0969da; } .ansi-cyan-fg { color: #1b7c83; }
.ansi-yellow-fg { color: #9a6700; } .ansi-magenta-fg { color: #8250df; }
.ansi-bold { font-weight: bold; }
"""


# nbconvert's ansi2html grows faster than the text (0.5 s at 400 kB, ~9 s at 1.2 MB): a page
# shows this much diff text in all, and names the notebooks whose diff does not fit.
MAX_PAGE_DIFF_CHARS = 256 * 1024


class ReviewError(ValueError):
    """The repository or a ref cannot be read; the message says which."""


def repository_root(path: Path) -> Path:
    """The working tree of the git repository that holds ``path`` (it may be a parent)."""
    try:
        git_repo = get_repo(str(path))[0]
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise ReviewError(f"{path} is not in a git repository") from None
    return Path(str(git_repo.working_tree_dir)).resolve()


@dataclass(frozen=True)
class NotebookChange:
    """One changed notebook; ``diff`` is "" when only ignored parts (counts, metadata) changed."""

    path: str
    status: str  # added | deleted | modified | renamed from <path>
    diff: str  # nbdime's text, with ANSI colours


@dataclass(frozen=True)
class Review:
    base: str
    head: str
    base_commit: str
    head_commit: str
    changes: list[NotebookChange]


def review(repo: Path, revision_range: str) -> Review:
    """The notebook changes of ``BASE..HEAD`` (``BASE...HEAD``: since their merge base)."""
    base, head, symmetric = parse_range(revision_range)
    try:
        git_repo = get_repo(str(repo))[0]
        head_commit = git_repo.commit(head)
        base_commit = git_repo.commit(base)
        if symmetric:
            base_commit = git_repo.merge_base(base_commit, head_commit)[0]
        pairs = list(changed_notebooks(base_commit.hexsha, head_commit.hexsha, repo_dir=repo))
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise ReviewError(f"{repo} is not in a git repository") from None
    except (BadName, ValueError, IndexError, GitCommandError) as error:
        raise ReviewError(f"cannot resolve {revision_range!r} in {repo}: {error}") from None
    changes = [_change(before, after) for before, after in pairs]
    return Review(
        base, head, base_commit.hexsha, head_commit.hexsha, sorted(changes, key=lambda c: c.path)
    )


def parse_range(revision_range: str) -> tuple[str, str, bool]:
    """``A..B``, ``A...B`` (symmetric: from the merge base) or ``A`` (meaning ``A..HEAD``)."""
    for separator, symmetric in (("...", True), ("..", False)):
        if separator in revision_range:
            base, head = revision_range.split(separator, 1)
            return base or "HEAD", head or "HEAD", symmetric
    return revision_range, "HEAD", False


def render_html(result: Review, max_diff_chars: int = MAX_PAGE_DIFF_CHARS) -> str:
    """The review as one HTML page: a list of the notebooks, then each one's diff, as many diffs
    as fit in ``max_diff_chars`` (the others say how to see them)."""
    title = f"Notebook review {result.base}..{result.head}"
    items, sections = [], []
    budget = max_diff_chars
    for number, change in enumerate(result.changes):
        name = html.escape(change.path)
        status = f'<span class="status">{html.escape(change.status)}</span>'
        items.append(f'<li><a href="#nb-{number}">{name}</a> {status}</li>')
        if not change.diff:
            body = "<p>Only execution counts, cell ids or metadata changed.</p>"
        elif len(change.diff) > budget:
            body = _too_large(change, result, max_diff_chars)
        else:
            budget -= len(change.diff)
            body = f'<pre class="nbdiff">{ansi2html(change.diff)}</pre>'
        sections.append(f'<section id="nb-{number}"><h2>{name} {status}</h2>{body}</section>')
    summary = (
        f"{len(result.changes)} notebook(s) changed between <code>{html.escape(result.base)}"
        f"</code> ({result.base_commit[:12]}) and <code>{html.escape(result.head)}</code>"
        f" ({result.head_commit[:12]}). Execution counts, cell ids and metadata are not shown;"
        " <code>/cells/N</code> counts cells from 0."
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1><p>{summary}</p>",
            f"<ul>{''.join(items)}</ul>",
            *sections,
            "</body></html>",
        ]
    )


def _too_large(change: NotebookChange, result: Review, max_diff_chars: int) -> str:
    command = f"nbdiff {result.base_commit[:12]} {result.head_commit[:12]} -- {change.path}"
    return (
        f'<p class="too-large">This diff is {len(change.diff):,} characters: more than this page'
        f" shows ({max_diff_chars:,} in all). See it with <code>{html.escape(command)}</code>"
        " or nbdime's web view in JupyterLab.</p>"
    )


def write_review(repo: Path, revision_range: str, out: Path) -> Review:
    """Render the review of ``revision_range`` in ``repo`` into ``out``."""
    result = review(repo, revision_range)
    out.write_text(render_html(result), encoding="utf-8")
    return result


def _change(before: object, after: object) -> NotebookChange:
    before_path, after_path = _path(before), _path(after)
    if not before_path:
        status = "added"
    elif not after_path:
        status = "deleted"
    elif before_path != after_path:
        status = f"renamed from {before_path}"
    else:
        status = "modified"
    base = read_notebook(before, on_null="minimal")
    head = read_notebook(after, on_null="minimal")
    return NotebookChange(after_path or before_path, status, diff_text(base, head, color=True))


def _path(stream: object) -> str:
    """The repository path of one side (nbdime names blobs ``"<path> (<ref>)"``)."""
    if stream == EXPLICIT_MISSING_FILE:
        return ""
    return str(getattr(stream, "name", "")).rsplit(" (", 1)[0]
