"""Write deploy/haproxy.cfg's server lists for a local cluster (scripts/cluster.sh, tests/test_cluster.py).

    python deploy/haproxy_render.py OUT gateways=127.0.0.1:8081,127.0.0.1:8082 rasa_servers=...

A backend not named keeps the template's servers; one named with nothing after "=" is emptied.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "haproxy.cfg"


def render(template: str, backends: dict[str, list[str]]) -> str:
    """The template with the lines between `# servers:<name>` and `# end:<name>` replaced."""
    for name, addresses in backends.items():
        block = re.compile(rf"(# servers:{re.escape(name)}\n)(.*?)(\s*# end:{re.escape(name)})", re.S)
        if not block.search(template):
            raise ValueError(f"no backend {name!r} in the template")
        prefix = "gw" if name.startswith("gateways") else name.split("_")[0]
        lines = "".join(f"    server {prefix}{i} {a} check\n" for i, a in enumerate(addresses, 1))
        template = block.sub(lambda m: m.group(1) + lines.rstrip("\n") + m.group(3), template)
    return template


def main(argv: list[str]) -> int:
    out, *pairs = argv
    backends = {k: [a for a in v.split(",") if a] for k, v in (p.split("=", 1) for p in pairs)}
    Path(out).write_text(render(TEMPLATE.read_text(encoding="utf-8"), backends), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
