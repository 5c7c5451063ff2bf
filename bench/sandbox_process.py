"""The sandbox in a process of its own: python bench/sandbox_process.py DATA_DIR PORT

For benchmarks that time a client. Kite is another machine; a sandbox in the client's own
process would share its interpreter lock and let the server's work blur the client's. Its ticker
listens on PORT + 1.
"""

import sys
from pathlib import Path

from waitress.server import create_server

from kite_sandbox.accounts import DemoCredentials
from kite_sandbox.server import create_sandbox_app
from kite_sandbox.ticker import TickerServer

if __name__ == "__main__":
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    app = create_sandbox_app(DemoCredentials.load_or_create(data_dir, None), enforce_rate_limits=False)
    TickerServer(app.extensions["kite_sandbox"], "127.0.0.1", port + 1).start()
    create_server(app, host="127.0.0.1", port=port, threads=8).run()
