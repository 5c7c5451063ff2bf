"""The floor for benchmark section 11: the least a Python gateway of this design can cost. A bare WSGI
function on the service's waitress settings that sends each request to the sandbox through one
urllib3 pool with a fixed Authorization, and passes the answer back: no Flask, no checks, no
limits, no audit.  python bench/bare_proxy.py PORT SANDBOX_PORT AUTHORIZATION"""

import sys

import urllib3
from waitress.server import create_server

from kite_service.web.http_server import WAITRESS_SETTINGS


def main() -> None:
    port, sandbox_port, authorization = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    pool = urllib3.HTTPConnectionPool("127.0.0.1", sandbox_port, maxsize=16, retries=False)
    headers = {"X-Kite-Version": "3", "Authorization": authorization}

    def proxy(environ, start_response):
        path = environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        answer = pool.urlopen(environ["REQUEST_METHOD"], path, headers=headers, redirect=False)
        start_response(f"{answer.status} {answer.reason}", [("Content-Type", answer.headers["Content-Type"])])
        return [answer.data]

    create_server(proxy, host="127.0.0.1", port=port, **WAITRESS_SETTINGS).run()


if __name__ == "__main__":
    main()
