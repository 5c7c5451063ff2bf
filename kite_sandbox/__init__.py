"""A local server that speaks the Kite Connect v3 protocol, for trying Kite App without an account.

Start it alone with `python -m kite_sandbox`, or together with the service via
`python kite_app.py --sandbox`. The service imports only its exchange_numbers module otherwise (the
exchanges' dated numbers, which both check orders by).
"""
