"""Kite App's service, by concern: config, storage, kite (talking to Kite), login, orders,
notifications, web, logs and runtime. The top-level kite_app.py, kite_api.py, scheduler.py and
log_utils.py use it; nothing here imports them."""
