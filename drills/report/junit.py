"""The JUnit XML report, for CI systems: one test case per SLA and one per fault's proof of
effect. A breached SLA or a fault that showed no effect is a failure carrying the first
breach (or the judgement); a proof that cannot be judged is skipped, with the reason.

Written with the standard library's ElementTree, which escapes every value; the shape is the
common JUnit one (testsuites > testsuite > testcase > failure | skipped) that junitparser,
GitLab, Jenkins and GitHub read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from drills.report.model import GameDayReport, RunReport

FAILED_SLA = ("breached", "failed")


def _suite(parent: ET.Element, r: RunReport, name: str) -> None:
    suite = ET.SubElement(parent, "testsuite", name=name)
    classname = f"drillhall.{r.playbook}"
    failures = skipped = tests = 0
    for s in r.slas:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"{classname}.sla", name=s.name)
        if s.verdict in FAILED_SLA:
            failures += 1
            first = (
                f"first breach at +{s.first_breach_offset:.1f} s"
                if s.first_breach_offset is not None
                else "no breach recorded"
            )
            value = "" if s.first_breach_value is None else f" (value {s.first_breach_value:.4g})"
            failure = ET.SubElement(
                case, "failure", message=f"{s.name}: {s.verdict}, {first}{value}", type="breach"
            )
            failure.text = s.first_breach_reason or s.sentence
        elif s.verdict not in ("passed",):
            skipped += 1
            ET.SubElement(case, "skipped", message=f"{s.name}: {s.verdict}")
        case.set("time", "0")
    for p in r.proofs:
        tests += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{classname}.proof_of_effect",
            name=f"{p.kind} on {p.hosts[0] if p.hosts else '?'} ({p.fault_id})",
            time="0",
        )
        if p.passed is False:
            failures += 1
            ET.SubElement(case, "failure", message=p.sentence, type="no_effect").text = p.sentence
        elif p.passed is None:
            skipped += 1
            ET.SubElement(case, "skipped", message=p.sentence)
    if r.verdict in ("error", "aborted"):
        # The run itself did not finish as a drill: say so as a case, not only by omission.
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"{classname}.run", name="run", time="0")
        ET.SubElement(case, "error", message=f"run {r.verdict}: {r.reason}", type=r.verdict)
        suite.set("errors", "1")
    else:
        suite.set("errors", "0")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{r.duration_seconds or 0.0:.3f}")
    if r.started_at:
        suite.set("timestamp", r.started_at.split("+")[0].split(".")[0])
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run", str(r.run_id)),
        ("verdict", r.verdict),
        ("reason", r.reason),
        ("rto", r.objectives.rto_sentence),
        ("rpo", r.objectives.rpo_sentence),
        ("playbook_version", str(r.version)),
        ("content_hash", r.content_hash),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    # properties first, as the JUnit schema orders them
    suite.remove(props)
    suite.insert(0, props)


def _document(root: ET.Element) -> bytes:
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def render_run_junit(r: RunReport) -> bytes:
    root = ET.Element("testsuites", name=f"drillhall {r.playbook} run {r.run_id}")
    _suite(root, r, f"{r.playbook} run {r.run_id}")
    return _document(root)


def render_gameday_junit(g: GameDayReport) -> bytes:
    root = ET.Element("testsuites", name=f"drillhall game day {g.gameday} run {g.run_id}")
    for d in g.drills:
        if d.report is not None:
            _suite(root, d.report, f"{d.position}. {d.playbook} run {d.report.run_id}")
    return _document(root)
