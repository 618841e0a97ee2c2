"""nbdime's built web app (``nbdime/webapp/static``) as one script that needs no server.

nbdime ships ``nbdime.js`` and the chunks it loads on demand, plus the icon fonts its CSS asks
for by URL. Here every chunk is registered before the entry point (webpack then loads none) and
the two Font Awesome faces nbdime uses come inline, so the app runs from a page opened as a file.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from functools import cache
from pathlib import Path

from nbdime.webapp.nbdimeserver import static_path as NBDIME_STATIC


@cache
def nbdime_bundle() -> str:
    """nbdime's web app as one script: every chunk registered first, then the entry point (the
    source map comments go: nothing is fetched)."""
    static = Path(NBDIME_STATIC)
    scripts = [*sorted(static.glob("*.nbdime.js")), static / "nbdime.js"]
    text = "\n;\n".join(path.read_text(encoding="utf-8") for path in scripts)
    return _icon_fonts(static) + re.sub(r"^//# sourceMappingURL=.*$", "", text, flags=re.M)


# nbdime's icons (Font Awesome 5 Free) load from its static folder, which a page without a server
# lacks: the bundle declares them again from data URLs. Found by the name inside each WOFF file.
ICON_FONTS = {"Font Awesome 5 Free Solid": 900, "Font Awesome 5 Free Regular": 400}


def _icon_fonts(static: Path) -> str:
    """A script adding @font-face rules with nbdime's icon fonts inlined ("" if none found)."""
    rules = []
    for path in sorted(static.glob("*.woff")):
        data = path.read_bytes()
        for name, weight in ICON_FONTS.items():
            if name.encode("utf-16-be") in _woff_names(data):
                url = f"data:font/woff;base64,{base64.b64encode(data).decode('ascii')}"
                rules.append(
                    f'@font-face{{font-family:"Font Awesome 5 Free";font-weight:{weight};'
                    f'font-style:normal;font-display:block;src:url({url}) format("woff")}}'
                )
    if not rules:
        return ""
    css = json.dumps("".join(rules))
    return (
        f'(()=>{{const s=document.createElement("style");s.textContent={css};'
        "document.head.appendChild(s);})();\n"
    )


def _woff_names(data: bytes) -> bytes:
    """The ``name`` table of a WOFF 1 font (b"" if it has none or is not WOFF)."""
    if data[:4] != b"wOFF":
        return b""
    (count,) = struct.unpack(">H", data[12:14])
    for entry in range(count):
        tag, offset, length, original, _ = struct.unpack(
            ">4sIIII", data[44 + 20 * entry : 64 + 20 * entry]
        )
        if tag == b"name":
            table = data[offset : offset + length]
            return zlib.decompress(table) if length < original else table
    return b""
