"""Framework-free helpers shared by every app (no Django model imports here)."""
