"""The sandbox's Kite-style login page (server-rendered HTML, no JavaScript)."""

from html import escape

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Kite sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;background:#f6f6f6;margin:0;display:flex;justify-content:center}}
main{{background:#fff;margin:3rem 1rem;padding:2rem;max-width:24rem;width:100%;border-radius:6px;box-shadow:0 1px 4px #0002}}
label{{display:block;margin-top:1rem}} input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}
button{{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:#ff5722;color:#fff;border:0;border-radius:4px}}
.error{{color:#b00020}} .note{{color:#555;font-size:.9rem}} code{{word-break:break-all}}
</style></head><body><main>{body}</main></body></html>"""

FORM = """<h1>Login to Kite (sandbox)</h1>
<p class="note">This is the Kite App sandbox, not Zerodha. Use the demo login it printed.</p>
{error}
<form method="post">
<label for="user_id">User ID</label><input id="user_id" name="user_id" autocomplete="username" required value="{user_id}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="twofa_value">TOTP (6 digits)</label><input id="twofa_value" name="twofa_value" inputmode="numeric" pattern="[0-9]{{6}}" autocomplete="one-time-code" required>
<button type="submit">Login</button>
</form>"""


def login_form(error: str = "", user_id: str = "") -> str:
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return PAGE.format(title="Login", body=FORM.format(error=error_html, user_id=escape(user_id)))


def error_page(message: str) -> str:
    return PAGE.format(title="Error", body=f'<h1>Login failed</h1><p class="error" role="alert">{escape(message)}</p>')


def landing_page(exchange_command: str) -> str:
    """Where the sandbox redirects by default: says what to do with the request_token."""
    body = (
        "<h1>Logged in</h1><p>Copy the <code>request_token</code> value from this page's address "
        "(URL bar). It is single use and valid for a few minutes. Exchange it with Kite App:</p>"
        f"<p><code>{escape(exchange_command)}</code></p>"
    )
    return PAGE.format(title="Logged in", body=body)
