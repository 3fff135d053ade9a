"""The service layer: what users and the processor may do to jobs, datasets, notifications and money.

Pages, the JSON API and the processor all come through here; nothing here knows about Dash,
Flask requests or RQ. Callers own the session and its transaction (docs/architecture.md).
"""
