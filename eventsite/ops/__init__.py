"""Operating eventsite: health endpoints, Prometheus metrics, request ids and the log format.

Project-wide and on top of every app. Apps record their own figures through eventsite.lib.metrics
(the one small recording interface) and never import this package.
"""
