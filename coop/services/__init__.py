"""Use cases, one function each: the CLI, the web routers, the `@task`s and the flows call these and nothing below.

Every function takes the database URL and, where it needs a knob, the `Settings` explicitly; none reads the
environment itself. Each module is one use case family (`planning`, `reports`, `sweep`, `status`, `schema`, …).
"""
