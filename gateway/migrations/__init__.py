"""Alembic migrations for the gateway's store (run by `hotline db upgrade` or at start-up)."""
