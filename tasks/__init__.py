"""Prefect @task wrappers over plain coop functions; each task handles a whole batch."""
