"""The 12345 hotline gateway: the aiohttp application that wires channels, triage, bot and store."""
