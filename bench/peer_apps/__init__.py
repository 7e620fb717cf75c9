"""The same model served by other servers, for ``bench/peers.py``: each file is what a
user of that server would write, and runs in that server's own virtual environment."""
