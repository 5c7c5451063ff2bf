"""Paper clients: gateway programs whose orders and money are a paper account of their own.

A paper client calls Kite's routes through the gateway like any client. Reads of the market
(quotes, instruments, candles, the margin calculators) go to Kite; everything about orders and
money is answered here, by the sandbox's order rules and books (kite_sandbox) run on live prices:

    market.py   LiveMarket: Kite's instruments, and prices from the hub's full-mode ticks
    book.py     PaperBook: the sandbox's order book, filled from the live depth
    store.py    paper.sqlite3: each account's orders, history and trades, kept across restarts
    account.py  PaperAccount: one client's book, varieties, GTTs and alerts; what it stores and sends
    desk.py     PaperDesk: the accounts, the matching thread, order updates to each client's ticker
    app.py      the WSGI app that answers a paper client's calls (the gateway hands them over)

Nothing here imports the gateway's forwarding: the only way to Kite a paper client has is the
read-only function the gateway hands to app.py, which refuses anything but a market read.
"""
