"""A checked Chaos Toolkit experiment in, a drillhall/v1 playbook (plain data) out.

Everything that does not map is reported with where it was and why; nothing is guessed
silently. Placeholders the author must fill in are spelled CHANGE-ME.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from drills.ctk.extensions import python_reason
from drills.ctk.provider_commands import Kill, classify, command_line
from drills.playbook.durations import format_duration

PLACEHOLDER = "CHANGE-ME"
BASELINE_SECONDS = 10.0  # the window of the SLAs below: the baseline must fill one
SLA_WINDOW = "10s"
SLA_ERROR_RATE = "1%"
HANDLED_KEYS = {
    "version", "title", "description", "tags", "steady-state-hypothesis", "method",
    "rollbacks", "configuration", "secrets",
}  # fmt: skip
HTTP_PROVIDER_KEYS = {"type", "url", "timeout", "method", "arguments"}
VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True)
class Finding:
    where: str  # e.g. "method[1] action 'kill-app'"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Conversion:
    playbook: dict[str, Any]
    unmapped: list[Finding] = field(default_factory=list)
    placeholders: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    sla_comments: list[str] = field(default_factory=list)


def slugify(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].rstrip("-")
    return slug or fallback


def convert_experiment(experiment: dict[str, Any]) -> Conversion:
    """Convert an experiment checked by ``parse_experiment``/``load_experiment``."""
    return _Converter(experiment).run()


class _Converter:
    def __init__(self, experiment: dict[str, Any]) -> None:
        self.exp = experiment
        self.name = slugify(experiment["title"], "imported-experiment")
        self.out = Conversion(playbook={})
        self.probes: list[dict[str, Any]] = []
        self.probe_names: dict[str, str] = {}  # CTK steady-state probe name -> playbook name
        self.slas: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self.targets: dict[str, dict[str, Any]] = {}
        self.declared = self._declared()

    def run(self) -> Conversion:
        self._top_level()
        self._hypothesis()
        self.steps.append(
            {
                "name": "baseline (the steady-state hypothesis is checked before the method)",
                "wait": format_duration(BASELINE_SECONDS),
            }
        )
        for i, activity in enumerate(self.exp["method"]):
            self._method_activity(i, activity)
        self._rollbacks()
        if not self.probes:
            self.probes.append(
                {"name": "change-me", "http": {"url": f"http://{PLACEHOLDER}/"}, "every": "500ms"}
            )
            self.out.placeholders.append(
                Finding(
                    "probes",
                    "no steady-state probe could be converted; a playbook needs one: "
                    f"replace the {PLACEHOLDER} probe",
                )
            )
        metadata: dict[str, Any] = {"name": self.name, "description": self.exp["description"]}
        if self.exp.get("tags"):
            metadata["tags"] = list(self.exp["tags"])
        self.out.playbook = {
            "apiVersion": "drillhall/v1",
            "kind": "Playbook",
            "metadata": metadata,
            "targets": self.targets,
            "probes": self.probes,
            "steps": self.steps,
        }
        if self.slas:
            self.out.playbook["slas"] = self.slas
        return self.out

    # -- sections -----------------------------------------------------------------------

    def _top_level(self) -> None:
        config = self.exp.get("configuration") or {}
        if config:
            self._unmapped(
                "configuration",
                f"keys {', '.join(sorted(config))} not mapped (a playbook has no runtime "
                "configuration); inline string values were substituted into probe URLs",
            )
        if self.exp.get("secrets"):
            self._unmapped(
                "secrets", "not imported: secrets never go into a playbook (drillhall probes "
                "send no credentials)",
            )  # fmt: skip
        for key in sorted(set(self.exp) - HANDLED_KEYS):
            self._unmapped(key, "has no equivalent in a drillhall playbook")

    def _hypothesis(self) -> None:
        hypothesis = self.exp.get("steady-state-hypothesis")
        if not hypothesis:
            self._unmapped(
                "steady-state-hypothesis", "absent: no SLA can be derived; add probes and slas"
            )
            return
        for key in sorted(set(hypothesis) - {"title", "probes"}):
            self._unmapped(f"steady-state-hypothesis.{key}", "has no equivalent")
        for i, raw in enumerate(hypothesis.get("probes", [])):
            where = f"steady-state-hypothesis.probes[{i}]"
            probe = self._resolve(raw)
            label = f"{where} probe '{probe['name']}'"
            provider = probe["provider"]
            if probe.get("type") != "probe":
                self._unmapped(label, "is an action, not a probe")
                continue
            if provider["type"] != "http":
                self._unmapped(label, _provider_reason(provider, "probe"))
                continue
            self._http_probe(label, probe, raw.get("tolerance", probe.get("tolerance")))

    def _http_probe(self, label: str, probe: dict[str, Any], tolerance: Any) -> None:
        provider = probe["provider"]
        method = str(provider.get("method", "GET")).upper()
        if method != "GET":
            self._unmapped(label, f"sends {method}; drillhall HTTP probes send GET only")
            return
        extra = sorted(set(provider) - HTTP_PROVIDER_KEYS)
        if extra:
            self._unmapped(label, f"provider keys not mapped: {', '.join(extra)}")
        url = self._url(label, provider)
        name = self._unique(slugify(probe["name"], "probe"), {p["name"] for p in self.probes})
        http: dict[str, Any] = {"url": url}
        timeout = provider.get("timeout")
        if isinstance(timeout, list):
            http["timeout"] = format_duration(float(timeout[0]) + float(timeout[1]))
            self._note(label, f"timeout {timeout} (connect, read) became one {http['timeout']}")
        elif timeout is not None:
            http["timeout"] = format_duration(float(timeout))
        else:
            self._note(label, "no timeout in the experiment: the probe's default (1s) applies")
        statuses = self._statuses(label, tolerance)
        if statuses:
            http["expect_status"] = statuses
        self.probes.append({"name": name, "http": http})
        self.probe_names[probe["name"]] = name
        if statuses is None:
            return  # the tolerance did not map: reported; the probe is still worth watching
        self.slas += [
            {
                "name": f"{name} holds before the faults",
                "assert": f"error_rate({name}, {SLA_WINDOW}) < {SLA_ERROR_RATE}",
                "during": "before",
                "on_breach": "abort",
            },
            {
                "name": f"{name} holds after the faults",
                "assert": f"error_rate({name}, {SLA_WINDOW}) < {SLA_ERROR_RATE}",
                "during": "recovery",
                "on_breach": "record",
            },
        ]

    def _statuses(self, label: str, tolerance: Any) -> list[int] | None:
        """[] for "success" (2xx/3xx), a list for explicit statuses, None when not mapped."""
        if _is_status(tolerance):
            return [] if tolerance == 200 else [tolerance]
        if isinstance(tolerance, list) and tolerance and all(_is_status(t) for t in tolerance):
            if len(tolerance) == 2:
                low, high = tolerance
                if low > high:
                    self._unmapped(label, f"tolerance range {tolerance} is empty")
                    return None
                # Chaos Toolkit reads a two-value sequence as inclusive bounds, not a set.
                if high - low + 1 > 2:
                    self._note(label, f"tolerance {tolerance} is a range: {low}..{high}")
                return list(range(low, high + 1))
            return list(dict.fromkeys(tolerance))
        if isinstance(tolerance, dict):
            reasons = {
                "jsonpath": "checks the response body with a JSON path",
                "regex": "matches the response against a regular expression",
                "range": "is a numeric range object",
                "probe": "runs another probe to judge the value",
            }
            reason = reasons.get(tolerance.get("type", ""), "is an object")
            self._unmapped(
                label,
                f"tolerance {reason}; drillhall SLAs judge status, errors and latency only, "
                "so no SLA was made for this probe",
            )
            return None
        self._unmapped(
            label,
            f"tolerance {tolerance!r} is not an HTTP status (or list of statuses); "
            "no SLA was made for this probe",
        )
        return None

    def _url(self, label: str, provider: dict[str, Any]) -> str:
        config = self.exp.get("configuration") or {}

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            value = config.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                self._note(label, f"${{{key}}} in the URL was replaced by its configuration value")
                return str(value)
            self.out.placeholders.append(
                Finding(
                    label,
                    f"the URL uses ${{{key}}}, whose value is not in the experiment "
                    f"(environment, vault or secret): replaced by {PLACEHOLDER}",
                )
            )
            return PLACEHOLDER

        url = VARIABLE.sub(substitute, str(provider["url"]))
        arguments = provider.get("arguments")
        if arguments:
            # For GET, Chaos Toolkit sends the arguments as the query string.
            query = urlencode({str(k): str(v) for k, v in arguments.items()})
            url = f"{url}{'&' if urlsplit(url).query else '?'}{query}"
            self._note(label, "the provider's arguments became the URL's query string")
        return url

    def _method_activity(self, i: int, raw: dict[str, Any]) -> None:
        activity = self._resolve(raw)
        kind = activity.get("type", "activity")
        label = f"method[{i}] {kind} '{activity['name']}'"
        pauses = activity.get("pauses") or {}
        if pauses.get("before"):
            self._wait(pauses["before"], f"pause before {activity['name']}")
        if kind == "probe":
            self._method_probe(label, raw, activity)
        else:
            self._action(label, activity)
        if pauses.get("after"):
            self._wait(pauses["after"], f"pause after {activity['name']}")

    def _method_probe(self, label: str, raw: dict[str, Any], probe: dict[str, Any]) -> None:
        if "ref" in raw and probe["name"] in self.probe_names:
            self._note(
                label,
                f"re-checks steady-state probe '{self.probe_names[probe['name']]}': drillhall "
                "samples it throughout and its SLAs judge it, so no step is needed",
            )
            return
        self._unmapped(
            label,
            "a probe in the method is a one-off check; drillhall probes sample continuously "
            "(add it under probes, with an SLA, if it should be watched)",
        )

    def _action(self, label: str, action: dict[str, Any]) -> None:
        provider = action["provider"]
        if provider["type"] != "process":
            self._unmapped(label, _provider_reason(provider, "action"))
            return
        argv = command_line(provider)
        verdict = classify(argv)
        if not isinstance(verdict, Kill):
            self._unmapped(label, f"runs `{' '.join(argv)}`: {verdict.reason}")
            return
        target = self._placeholder_target()
        self.steps.append(
            {
                "name": action["name"],
                "fault": "process.kill",
                "target": target,
                "match": {"name": verdict.name},
                "signal": verdict.signal,
            }
        )
        for note in verdict.notes:
            self._note(label, note)
        if action.get("background"):
            self._note(label, "ran in the background in Chaos Toolkit; steps here run in order")

    def _rollbacks(self) -> None:
        for i, raw in enumerate(self.exp.get("rollbacks") or []):
            activity = self._resolve(raw)
            self.out.rollbacks.append(
                f"rollbacks[{i}] {activity.get('type', 'activity')} '{activity['name']}' "
                f"({_describe_provider(activity['provider'])})"
            )

    # -- helpers ------------------------------------------------------------------------

    def _placeholder_target(self) -> str:
        if self.name not in self.targets:
            self.targets[self.name] = {"host": PLACEHOLDER}
            self.out.placeholders.append(
                Finding(
                    f"targets.{self.name}.host",
                    f"is {PLACEHOLDER}: bind it to the inventory host whose processes the "
                    "experiment kills (Chaos Toolkit ran the command where it was started)",
                )
            )
        return self.name

    def _wait(self, seconds: float, name: str) -> None:
        self.steps.append({"name": name, "wait": format_duration(float(seconds))})

    def _resolve(self, activity: dict[str, Any]) -> dict[str, Any]:
        if "ref" in activity:
            return self.declared[activity["ref"]]
        return activity

    def _declared(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        hypothesis = self.exp.get("steady-state-hypothesis") or {}
        for section in (hypothesis.get("probes"), self.exp["method"], self.exp.get("rollbacks")):
            for activity in section or []:
                if "ref" not in activity:
                    found.setdefault(activity["name"], activity)
        return found

    @staticmethod
    def _unique(name: str, taken: set[str]) -> str:
        candidate, n = name, 2
        while candidate in taken:
            suffix = f"-{n}"
            candidate, n = name[: 63 - len(suffix)] + suffix, n + 1
        return candidate

    def _unmapped(self, where: str, message: str) -> None:
        self.out.unmapped.append(Finding(where, message))

    def _note(self, where: str, message: str) -> None:
        self.out.notes.append(Finding(where, message))


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _provider_reason(provider: dict[str, Any], what: str) -> str:
    kind = provider["type"]
    if kind == "python":
        return python_reason(str(provider["module"]), str(provider["func"]))
    if kind == "http" and what == "action":
        return (
            f"calls {provider.get('method', 'GET')} {provider['url']}; drillhall has no "
            "HTTP action step yet"
        )
    if kind == "process" and what == "probe":
        return f"runs `{' '.join(command_line(provider))}`; drillhall probes are HTTP only here"
    return f"a {kind} {what} has no equivalent"


def _describe_provider(provider: dict[str, Any]) -> str:
    kind = provider["type"]
    if kind == "python":
        return f"python {provider['module']}.{provider['func']}"
    if kind == "http":
        return f"http {provider.get('method', 'GET')} {provider['url']}"
    return f"process `{' '.join(command_line(provider))}`"
