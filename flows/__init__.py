"""Prefect flows: orchestration only — they call tasks, branch on results and publish artifacts."""
