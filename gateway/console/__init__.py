"""The agent console: watch bot conversations, take over, reply, hand back."""
