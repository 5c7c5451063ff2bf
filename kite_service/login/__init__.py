"""The daily login: access code, login URL and callback pages, token exchange, session.json, reminder."""
