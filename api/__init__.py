"""The Flask side of the web process: the single auth guard, the runtime a request shares, and the
JSON API's blueprints (docs/api.md). Each handler parses the request, calls services/, and answers
JSON; errors answer `{error, details}` with a 4xx.
"""
