"""E-mail channel: an SMTP server on the gateway loop, mail parsing, threaded replies."""
