"""The audit filters as command-line options (same names and rules as the API's)."""

from compliance.api.filters import FILTER_NAMES

HELP = {
    "event_type": "exact type, or a prefix such as 'artifact.*'",
    "actor": "agent:<name>, user:<name> or system",
    "since": "ISO 8601 date or date-time (inclusive)",
    "until": "ISO 8601 date or date-time (inclusive)",
}


def add_filter_arguments(parser) -> None:
    for name in FILTER_NAMES:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, help=HELP.get(name))


def filter_params(options: dict) -> dict[str, str]:
    return {name: options[name] for name in FILTER_NAMES if options.get(name)}
