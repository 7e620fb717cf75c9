"""The HTTP front ends: the native API (``/predict``, ``/health``, ``/models``...), the
Open Inference Protocol (V2), their error envelopes and the OpenAPI document."""
