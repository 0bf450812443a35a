"""Governed artifacts declared by agents (filled by the PSMP work, issue #3)."""
