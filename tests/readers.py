"""Strict readers of the collector formats, to parse the checks' output back."""


def parse_influx(text: str) -> list[tuple[str, dict, dict]]:
    """A strict reader of the line protocol subset the checks write."""
    import re

    rows = []
    for line in text.splitlines():
        head, fields = re.split(r"(?<!\\) (?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", line, maxsplit=1)
        measurement, *tags = re.split(r"(?<!\\),", head)
        tag_map = dict(tag.split("=", 1) for tag in tags)
        field_map = {}
        for key, value in re.findall(r'([^,=]+)=("(?:[^"\\]|\\.)*"|[^,]+)', fields):
            if value.startswith('"'):
                field_map[key] = value[1:-1].replace('\\"', '"')
            elif value.endswith("i"):
                field_map[key] = int(value[:-1])
            else:
                field_map[key] = float(value)
        rows.append((measurement, tag_map, field_map))
    return rows


def parse_prometheus(text: str) -> dict[str, list]:
    """Samples by family name, read by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def swap_deployed(text: str, swaps: dict[str, str]) -> str:
    """A command from deploy/ with its example addresses and paths swapped for the test
    servers' own, nothing else changed; a host path left unswapped fails the test, so a
    manifest that grows a new one cannot pass untried."""
    for old, new in swaps.items():
        text = text.replace(old, new)
    assert "/etc/" not in text and "/var/" not in text, f"{text!r}: a path the test does not swap"
    return text
