"""The models being served: the per-worker registry with hot reload, and choosing and
running a model for a request."""
