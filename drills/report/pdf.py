"""The PDF report: the HTML report printed by WeasyPrint (Pango underneath), the same page and
the same inline SVG charts. No LaTeX, no browser: a library call, about a second per report.

WeasyPrint is imported on first use: nothing else in the report needs it, and a missing Pango
says so in one sentence instead of breaking every import of this package.
"""

from __future__ import annotations

import logging

# WeasyPrint logs each layout step at INFO, and CSS it skips at WARNING: neither is news to
# whoever asked for a report. Errors still show.
for _name in ("weasyprint", "weasyprint.progress"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class PdfUnavailable(RuntimeError):
    """WeasyPrint or its Pango libraries are missing on this machine."""


def html_to_pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: Pango's shared libraries are missing
        raise PdfUnavailable(
            "PDF reports need WeasyPrint and Debian's pango libraries (make setup installs "
            f"both): {exc}"
        ) from None
    # No base URL and no fetcher for remote files: the page is self-contained, and nothing a
    # playbook wrote may make the server fetch a URL.
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf()  # type: ignore[no-any-return]


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    raise ValueError(f"the report fetches nothing: {url}")
