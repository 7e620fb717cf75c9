"""``python -m service.healthcheck``: exit 0 when this container's API is ready.

The container's HEALTHCHECK and the compose file run it; it asks ``/health`` on
the port from ``PORT`` (default 8000) and needs nothing but the standard library.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"healthcheck: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
