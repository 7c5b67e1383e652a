"""Telegram channel (python-telegram-bot): webhook updates in, Bot API messages out."""
