"""Reports of a real lab run of examples/redis-failover.yaml, in every format, read back the way
their readers read them: pdftotext and pdftoppm (poppler), junitparser, the published JSON
Schema, and a browser downloading each format from the run page (issue 13, done means 1 and 3).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
from junitparser import JUnitXml
from PIL import Image

from drills.report.formats import FORMATS
from tests.browser import chromium_page
from tests.e2e.stack import ROOT, Stack, cli

EXAMPLE = ROOT / "examples" / "redis-failover.yaml"
SCHEMA = ROOT / "schema" / "report.schema.json"


def words(text: str) -> str:
    return " ".join(text.split())


def chart_pixels(png: Path) -> tuple[int, int]:
    """Pixels of the probe line (blue, anti-aliased at 50 dpi) and of a shaded fault window
    (pale red) in the lower half of the page, where the first probe chart sits."""
    image = Image.open(png).convert("RGB")
    width, height = image.size
    line = shade = 0
    for y in range(height // 2, height):
        for x in range(width):
            r, g, b = image.getpixel((x, y))  # type: ignore[misc]
            line += b > r + 40 and b > g + 10
            shade += r > 220 and 190 < g < 235 and 190 < b < 235
    return line, shade


@pytest.mark.changes_lab
@pytest.mark.timeout(420)
def test_reports_of_a_redis_failover_run(stack: Stack, tmp_path: Path, e2e_password: str) -> None:
    out_files = {fmt: tmp_path / f"report.{fmt}" for fmt in ("html", "pdf", "junit", "md")}
    out = cli(
        stack.env, "run", str(EXAMPLE),
        "--report", str(out_files["html"]), "--pdf", str(out_files["pdf"]),
        "--junit", str(out_files["junit"]), "--md", str(out_files["md"]),
        timeout=300,
    )  # fmt: skip
    match = re.search(r"^run (\d+): redis-failover", out.stdout, re.M)
    assert match, out.stdout + out.stderr
    run_id = match.group(1)
    data_file = tmp_path / "report.json"
    got = cli(stack.env, "report", run_id, "--format", "json", "-o", str(data_file))
    assert got.returncode == 0, got.stderr

    # JSON: the published schema holds it.
    data = json.loads(data_file.read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    verdict = data["verdict"]
    assert verdict in ("passed", "failed"), out.stdout + out.stderr
    rto, rpo = data["objectives"]["rto_sentence"], data["objectives"]["rpo_sentence"]
    slas = [s["name"] for s in data["slas"]]
    assert slas and data["proofs"]

    # PDF: its text says the verdict, RTO, RPO and every SLA's name.
    pdf = out_files["pdf"]
    assert pdf.read_bytes().startswith(b"%PDF")
    text = words(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                check=True).stdout)  # fmt: skip
    for needle in (verdict, "RTO", "RPO", words(rto), words(rpo), *slas):
        assert needle in text, needle
    # ... and its first page shows the probe chart: a line and a shaded fault window.
    subprocess.run(
        ["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    line, shade = chart_pixels(next(tmp_path.glob("page*.png")))
    assert line > 100 and shade > 1000, (line, shade)

    # JUnit: one case per SLA and per fault's proof of effect.
    xml = JUnitXml.fromfile(str(out_files["junit"]))
    cases = [case for suite in xml for case in suite]
    assert len(cases) == len(slas) + len(data["proofs"])
    assert {c.name for c in cases} >= set(slas)

    # Markdown and HTML: the same numbers as the JSON.
    md, html = out_files["md"].read_text(), out_files["html"].read_text()
    for figure in (rto, rpo):
        assert figure in md and figure in html, figure
    for sla in data["slas"]:
        if sla["first_breach_offset"] is not None:
            first = f"+{sla['first_breach_offset']:.1f} s"
            assert first in md and first in html

    # The run page: each format downloads.
    with chromium_page() as page:
        page.goto(stack.url + "/accounts/login/")
        page.fill("input[name=username]", "owner")
        page.fill("input[name=password]", e2e_password)
        page.click("button[type=submit], input[type=submit]")
        page.goto(f"{stack.url}/runs/{run_id}/")
        for fmt in FORMATS:
            with page.expect_download() as info:
                page.click(f"#report-{fmt}")
            download = info.value
            assert download.suggested_filename.startswith(f"drillhall-redis-failover-run-{run_id}.")
            body = Path(download.path()).read_bytes()
            if fmt == "pdf":
                assert body.startswith(b"%PDF")
            elif fmt == "json":
                assert json.loads(body)["objectives"] == data["objectives"]
            else:
                assert rto.encode() in body, fmt
        assert page.errors == []  # type: ignore[attr-defined]
