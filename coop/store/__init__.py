"""Data access as plain functions taking a Session; tasks, CLI and web all call these."""
