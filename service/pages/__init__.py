"""Pages for people: the models page at ``/`` and the API explorer at ``/docs``."""
