"""Reading request bodies: limits, deadlines on slow sockets, compressed bodies."""
