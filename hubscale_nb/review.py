"""Every notebook changed between two git refs: what nbdime's web diff needs to draw each one.

nbdime finds the changed notebooks and diffs them (execution counts, cell ids and metadata left
out); ``review_page`` draws them with nbdime's own web app.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from git import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from nbdime.diffing.notebooks import diff_notebooks
from nbdime.gitfiles import changed_notebooks, get_repo
from nbdime.utils import EXPLICIT_MISSING_FILE, read_notebook

from hubscale_nb.nbdiff import REVIEW_TARGETS, diff_targets, diff_text

# What one page carries: nbdime's data (the base notebook and the diff) of every notebook, in all.
# A notebook whose data does not fit is named with the command that shows it.
MAX_PAGE_DATA_BYTES = 8 * 1024 * 1024


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
    diff: str  # nbdime's text (what ``nbdiff`` prints)
    base: dict[str, Any]  # the notebook at the base ({} cells when added)
    head: dict[str, Any]
    entries: list[dict[str, Any]]  # nbdime's diff of base to head, what its web view draws


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


def write_review(repo: Path, revision_range: str, out: Path) -> Review:
    """Render the review of ``revision_range`` in ``repo`` into ``out``."""
    from hubscale_nb.review_page import render_page  # the page imports this module

    result = review(repo, revision_range)
    out.write_text(render_page(result), encoding="utf-8")
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
    with diff_targets(REVIEW_TARGETS):
        entries = diff_notebooks(base, head)
    return NotebookChange(
        after_path or before_path, status, diff_text(base, head), base, head, to_json(entries)
    )


def to_json(value: Any) -> Any:
    """nbdime's diff (``DiffEntry`` objects) as plain JSON values, as its web API sends it."""
    return json.loads(json.dumps(value))


def _path(stream: object) -> str:
    """The repository path of one side (nbdime names blobs ``"<path> (<ref>)"``)."""
    if stream == EXPLICIT_MISSING_FILE:
        return ""
    return str(getattr(stream, "name", "")).rsplit(" (", 1)[0]
