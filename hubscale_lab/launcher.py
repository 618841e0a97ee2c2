"""The JupyterLab launcher's entries for the platform's pages, as jupyter-server-proxy lists them.

jupyter-server-proxy's JupyterLab extension adds a launcher card for each entry that its
``server-proxy/servers-info`` page lists; ``hubscale_lab.server`` serves that page with these
entries: one per cluster UI and "Review branch…" (``hubscale_nb``'s review page, whose picker
chooses the repository and branch). Each opens in a new browser tab.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jupyter_server_proxy.config import ServerProcess

from hubscale.web_uis import WebUi
from hubscale_nb.server import ROUTE as REVIEW_ROUTE

ICONS = Path(__file__).resolve().parent / "icons"
CLUSTERS_CATEGORY = "Your clusters"
REVIEW = "hubscale-review"
REVIEW_TITLE = "Review branch…"


def entry_name(ui: WebUi) -> str:
    return f"hubscale-{ui.name}"


def launcher_entries(uis: Sequence[WebUi]) -> list[ServerProcess]:
    """A card per cluster UI (in their own launcher section), then "Review branch…"."""
    entries = [
        _entry(entry_name(ui), ui.title, ui.path, CLUSTERS_CATEGORY, ICONS / f"{ui.engine}.svg")
        for ui in uis
    ]
    review_path = REVIEW_ROUTE.strip("/")
    entries.append(_entry(REVIEW, REVIEW_TITLE, review_path, "Other", ICONS / "review.svg"))
    return entries


def icons(entries: Sequence[ServerProcess]) -> dict[str, str]:
    """Entry name -> its icon file, for jupyter-server-proxy's icon page."""
    return {
        entry.name: entry.launcher_entry.icon_path
        for entry in entries
        if entry.launcher_entry.icon_path
    }


def _entry(name: str, title: str, path: str, category: str, icon: Path) -> ServerProcess:
    launcher = {"title": title, "path_info": path, "category": category, "icon_path": str(icon)}
    return ServerProcess(name=name, launcher_entry=launcher, new_browser_tab=True)
