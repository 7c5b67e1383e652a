"""Channel adapters: one module per channel, all producing `channels.base.InboundMessage`."""
