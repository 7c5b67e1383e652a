"""Who handles what: units catalogue, dispatch rules, deadlines, the ticket lifecycle (Art. 14-16)."""
