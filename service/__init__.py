"""Moonserve's HTTP service: Flask under gunicorn, serving the trainer's model files."""
