"""Notifications: the durable outbox and the channels it delivers to (webhook, Telegram)."""
