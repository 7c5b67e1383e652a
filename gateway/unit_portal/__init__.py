"""The handling units' portal (`/unit/`): their staff log in, work their tickets and keep their
knowledge-base entries current (Art. 8, 15)."""
