"""The reference for the service benchmark: a bare Flask app on the service's waitress settings that answers
/health and /api/url with fixed JSON bodies, i.e. Kite App without its middleware, throttling,
session reads and logging.  python bench/bare_app.py PORT HEALTH_JSON URL_JSON"""

import json
import sys

from flask import Flask, jsonify
from waitress.server import create_server

from kite_service.web.http_server import WAITRESS_SETTINGS


def main() -> None:
    port, health, url = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    app = Flask(__name__)
    app.json.sort_keys = False
    app.add_url_rule("/health", "health", lambda: jsonify(health))
    app.add_url_rule("/api/url", "url", lambda: jsonify(url))
    create_server(app, host="127.0.0.1", port=port, **WAITRESS_SETTINGS).run()


if __name__ == "__main__":
    main()
