"""The grading service: HTTP API, gradebook, sandboxed grading and the mentor dashboard.

Not built yet (issue 3). `course/` never imports this package; it talks to the service
over HTTP only.
"""
