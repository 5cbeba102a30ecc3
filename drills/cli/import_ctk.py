"""`drillhall import-ctk EXPERIMENT [-o OUT]`: a Chaos Toolkit experiment as a playbook.

Exit 0 when converted (what did not map is listed on stderr and in the file's comments),
2 when the file is not a valid Chaos Toolkit experiment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from drills.ctk import CtkError, convert_experiment, load_experiment, render_playbook, report_lines

EXIT_CONVERTED, EXIT_INVALID = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="a Chaos Toolkit experiment (JSON or YAML)")
    parser.add_argument("-o", "--output", help="write the playbook here instead of stdout")


def cmd_import_ctk(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    try:
        experiment = load_experiment(args.experiment)
    except CtkError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    conversion = convert_experiment(experiment)
    text = render_playbook(conversion, Path(args.experiment).name)
    for line in report_lines(conversion):
        print(line, file=sys.stderr)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"{args.output}: cannot write: {exc.strerror}", file=sys.stderr)
            return EXIT_INVALID
        say(
            f"{args.output}: written ({len(conversion.unmapped)} not mapped, "
            f"{len(conversion.placeholders)} to fill in)"
        )
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return EXIT_CONVERTED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drillhall import-ctk", description=__doc__)
    add_arguments(parser)
    return cmd_import_ctk(parser.parse_args(argv), lambda m: print(m, flush=True))


if __name__ == "__main__":
    sys.exit(main())
