"""The Rasa bot: the Rasa project, the action server's actions, and the gateway's client for Rasa."""
