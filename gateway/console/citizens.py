"""How a citizen's platform address is shown on the console's screens: phones masked, long ids shortened."""

from __future__ import annotations

from nlu.pii import mask_phone


def citizen_label(channel: str, external: str) -> str:
    """What agents see of a citizen's address in lists (the full address stays in the store)."""
    if channel == "ivr":
        return mask_phone(external) or external
    if channel == "email":
        local, _, domain = external.partition("@")
        return f"{local[:2]}***@{domain}"
    return external if len(external) <= 10 else external[:4] + "…" + external[-4:]
