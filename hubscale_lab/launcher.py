"""The JupyterLab launcher's entries for the platform's pages, as jupyter-server-proxy lists them.

jupyter-server-proxy's JupyterLab extension adds a launcher card for each entry that its
``server-proxy/servers-info`` page lists; ``hubscale_lab.server`` serves that page with these
entries: "My clusters" (``clusters_page``, opened as a JupyterLab tab), one per cluster UI and
"Review branch…" (``hubscale_nb``'s review page, whose picker chooses the repository and branch),
these in a new browser tab. They go in the "Notebook"
section (jupyter-server-proxy's default): JupyterLab's launcher draws an entry's icon only in the
"Notebook" and "Console" sections, so elsewhere they would be blank cards at the bottom.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jupyter_server_proxy.config import ServerProcess

from hubscale.web_uis import WebUi
from hubscale_lab.clusters_page import ROUTE as CLUSTERS_ROUTE
from hubscale_nb.server import ROUTE as REVIEW_ROUTE

ICONS = Path(__file__).resolve().parent / "icons"
CATEGORY = "Notebook"
REVIEW = "hubscale-review"
REVIEW_TITLE = "Review branch…"
CLUSTERS = "hubscale-clusters"
CLUSTERS_TITLE = "My clusters"


def entry_name(ui: WebUi) -> str:
    return f"hubscale-{ui.name}"


def launcher_entries(uis: Sequence[WebUi]) -> list[ServerProcess]:
    """ "My clusters" (a tab in JupyterLab), a card per cluster UI, then "Review branch…"."""
    clusters = CLUSTERS_ROUTE.strip("/")
    entries = [_entry(CLUSTERS, CLUSTERS_TITLE, clusters, ICONS / "clusters.svg", new_tab=False)]
    entries += [_entry(entry_name(ui), ui.title, ui.path, ICONS / f"{ui.engine}.svg") for ui in uis]
    entries.append(_entry(REVIEW, REVIEW_TITLE, REVIEW_ROUTE.strip("/"), ICONS / "review.svg"))
    return entries


def icons(entries: Sequence[ServerProcess]) -> dict[str, str]:
    """Entry name -> its icon file, for jupyter-server-proxy's icon page."""
    return {
        entry.name: entry.launcher_entry.icon_path
        for entry in entries
        if entry.launcher_entry.icon_path
    }


def _entry(name: str, title: str, path: str, icon: Path, new_tab: bool = True) -> ServerProcess:
    launcher = {"title": title, "path_info": path, "category": CATEGORY, "icon_path": str(icon)}
    return ServerProcess(name=name, launcher_entry=launcher, new_browser_tab=new_tab)
