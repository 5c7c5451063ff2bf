"""The /day page's figures, read from the parts that own them: nothing here counts anything itself.

Each section takes its numbers where the rest of the service takes them, so the page cannot disagree
with them: the session and the three order channels from /health's own summary, the P&L from the
guard's loss watch (Kite's positions marked at the hub's prices), the limits from the guard's
settings and counts, the orders from the order database (states, details and timelines as announced)
with their programs from the gateway's audit, the programs from the client registry, the audit's
counts and the ticker hub, and the kill switch from its latch file and reports.
"""

from datetime import datetime

from kite_service.clock import as_ist
from kite_service.guard.kill_switch import EXIT_TAG
from kite_service.guard.latch import ACCOUNT
from kite_service.kite.rate_limit import ORDERS_PER_DAY

OUTSIDE = "outside Kite App"  # an order no program placed through the gateway (Kite's web or app)
KILL_SWITCH = "kill switch"  # the kill switch's own exits (tagged EXIT_TAG; the service places them itself)
STEP_NAMES = {"OPEN": "open", "COMPLETE": "complete", "CANCELLED": "cancelled", "REJECTED": "rejected"}


def rupees(value) -> str:
    """`value` in rupees with Indian digit grouping and its sign: "+1,23,456.50", "-2,000.00"."""
    if value is None:
        return "-"
    sign = "-" if value < 0 else "+" if value > 0 else ""
    whole, paise = f"{abs(value):.2f}".split(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            head, groups = head[:-2], [head[-2:], *groups]
        whole = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
    return f"{sign}{whole}.{paise}"


def time_left(now: datetime, until: str | None) -> str | None:
    """ "5 h 12 min" from `now` to the ISO time `until` (None past it)."""
    if not until:
        return None
    minutes = int((datetime.fromisoformat(until) - now).total_seconds() // 60)
    if minutes < 0:
        return None
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def session_section(health: dict, context, now: datetime) -> dict:
    """Who is logged in and until when, and the three order channels with when each was last heard."""
    session = health["session"]
    problems = health["problems"]
    check = health["last_order_check"]
    stream = health["order_stream"]
    checking = not any(p.startswith("order check") for p in problems) and health["scheduler"]["running"]
    postbacks = context.postbacks.last_heard
    channels = [
        {
            "name": "Order check",
            "state": "not running" if not health["scheduler"]["running"] else check["outcome"] if check else "waiting",
            "heard": check["at"] if check else None,
            "healthy": checking,
        },
        {
            "name": "Order stream",
            "state": stream["state"],
            "heard": stream["last_heard"],
            "healthy": stream["state"] == "off" or not any(p.startswith("order stream") for p in problems),
        },
        {
            "name": "Postbacks",
            "state": "received today" if postbacks else "none received yet",
            "heard": postbacks.isoformat(timespec="seconds") if postbacks else None,
            "healthy": True,  # Kite pushes them: a quiet day is no fault (the order check covers every order)
        },
    ]
    return {
        "state": session["state"],
        "user_id": session.get("user_id"),
        "user_name": session.get("user_name"),
        "expires_at": session["expires_at"],
        "time_left": time_left(now, session["expires_at"]) if session["state"] == "valid" else None,
        "ready": health["ready"],
        "problems": problems,
        "channels": channels,
    }


def pnl_section(context) -> dict:
    """The day's total and each position as the guard marks them, the minute curve and the limit."""
    status = context.loss_watch.status()
    return {
        "total": status["total"],
        "positions": status["positions"],
        "clients": status["clients"],
        "curve": context.loss_watch.curve(),
        "limit": status["limit"],
        "marked_at": context.loss_watch.refreshed_at,
    }


def _limit(name: str, source: str, used: float, most: float, shown: str) -> dict:
    return {"name": name, "source": source, "used": used, "most": most, "share": min(used / most, 1.0), "shown": shown}


def order_sizes(stored: dict) -> list:
    """[(quantity, value)] of the day's stored orders (value at the average price, else the limit price)."""
    sizes = []
    for state in stored.values():
        order = state["order"]
        quantity = int(order.get("quantity") or 0)
        sizes.append((quantity, quantity * float(order.get("average_price") or order.get("price") or 0)))
    return sizes


def limits_section(context, pnl: dict, sizes: list) -> dict:
    """Each limit set, its figure now and how close the day is to it (`share`, 0 to 1)."""
    guard = context.settings.guard
    counts = context.guard.orders_today()
    account_orders = counts.get(ACCOUNT, 0)
    bars = []
    if guard.max_daily_loss:
        loss = max(0.0, -pnl["total"])
        shown = f"loss {rupees(loss).lstrip('+')} of {rupees(guard.max_daily_loss).lstrip('+')}"
        bars.append(_limit("Daily loss", "MAX_DAILY_LOSS", loss, guard.max_daily_loss, shown))
    if guard.max_orders_per_day:
        most = guard.max_orders_per_day
        bars.append(
            _limit("Orders today", "MAX_ORDERS_PER_DAY", account_orders, most, f"{account_orders:,} of {most:,}")
        )
    # Kite's own cap per account since April 2026 (kite/rate_limit.py): always there, set or not
    bars.append(
        _limit(
            "Orders today, Kite's cap",
            "Kite",
            account_orders,
            ORDERS_PER_DAY,
            f"{account_orders:,} of {ORDERS_PER_DAY:,}",
        )
    )
    if guard.max_order_quantity:
        largest = max((quantity for quantity, _ in sizes), default=0)
        most = guard.max_order_quantity
        bars.append(_limit("Largest order's quantity", "MAX_ORDER_QUANTITY", largest, most, f"{largest:,} of {most:,}"))
    if guard.max_order_value:
        largest = max((value for _, value in sizes), default=0)
        most = guard.max_order_value
        shown = f"{rupees(largest).lstrip('+')} of {rupees(most).lstrip('+')}"
        bars.append(_limit("Largest order's value", "MAX_ORDER_VALUE", largest, most, shown))
    for client in context.gateway.clients.all():
        if client.max_orders_per_day:
            done, most = counts.get(client.name, 0), client.max_orders_per_day
            bars.append(_limit(f"{client.name}: orders today", "--max-orders-per-day", done, most, f"{done} of {most}"))
        if client.max_loss:
            loss = max(0.0, -pnl["clients"].get(client.name, 0.0))
            shown = f"loss {rupees(loss).lstrip('+')} of {rupees(client.max_loss).lstrip('+')}"
            bars.append(_limit(f"{client.name}: loss", "--max-loss", loss, client.max_loss, shown))
    allowed = {
        "ALLOWED_EXCHANGES": sorted(guard.allowed_exchanges) if guard.allowed_exchanges else None,
        "ALLOWED_PRODUCTS": sorted(guard.allowed_products) if guard.allowed_products else None,
    }
    return {"bars": bars, "allowed": {name: value for name, value in allowed.items() if value}}


def _step_name(step: dict, quantity: int, reason: str | None) -> str:
    status, filled = step["status"], step["filled_quantity"]
    if status == "REJECTED":
        return f"rejected: {reason or 'Kite gave no reason'}"
    if status not in ("COMPLETE", "CANCELLED") and 0 < filled < (quantity or 0):
        return f"partial fill {filled}/{quantity}"
    if status == "CANCELLED" and filled:
        return f"cancelled, {filled}/{quantity} filled"
    return STEP_NAMES.get(status, status.lower())


def order_rows(context, now: datetime, stored: dict, only=None) -> list:
    """Today's `stored` orders (OrderEvents.day_orders), newest first: what each is, its state, the
    program that placed it (by the gateway's audit) and its timeline of announced steps. `only`: these
    order ids alone."""
    if only is not None:
        stored = {order_id: stored[order_id] for order_id in only if order_id in stored}
    timelines = context.events.timelines(now)
    owners = context.gateway.audit.order_owners(now)
    rows = [
        order_row(order_id, state, timelines.get(order_id, []), owners.get(order_id))
        for order_id, state in stored.items()
    ]
    rows.sort(key=lambda row: (row["placed_at"] or "", row["order_id"]), reverse=True)
    return rows


def order_row(order_id: str, state: dict, timeline: list, owner: dict | None) -> dict:
    """One order of the page: its details, state, program and timeline (placed, then each step)."""
    order = state["order"]
    quantity = int(order.get("quantity") or 0)
    price = order.get("average_price") or order.get("price") or 0
    if owner is not None:
        client = owner["client"]
    else:
        client = KILL_SWITCH if order.get("tag") == EXIT_TAG else OUTSIDE
    steps = [{"at": owner["at"][:19], "name": f"placed by {client}", "source": "gateway"}] if owner else []
    reason = order.get("status_message")
    for step in timeline:
        steps.append({"at": step["at"][:19], "name": _step_name(step, quantity, reason), "source": step["source"]})
    return {
        "order_id": order_id,
        "client": client,
        "placed_at": steps[0]["at"] if steps else None,
        "symbol": f"{order.get('exchange') or '?'}:{order.get('tradingsymbol') or '?'}",
        "side": order.get("transaction_type") or "",
        "quantity": quantity,
        "order_type": order.get("order_type") or "",
        "product": order.get("product") or "",
        "price": order.get("price"),
        "average_price": order.get("average_price"),
        "value": quantity * float(price or 0),
        "status": state["status"],
        "filled_quantity": state["filled_quantity"],
        "reason": reason if state["status"] == "REJECTED" else None,
        "steps": steps,
    }


def programs_section(context, now: datetime) -> dict:
    """The gateway's clients with today's counts and their ticker connections, and the hub's upstream."""
    today = context.gateway.audit.today(now)
    hub = context.ticker_hub.status(with_subscriptions=True)
    tickers: dict = {}
    for entry in hub["clients"]:
        tickers.setdefault(entry["name"], []).append(entry)
    latches = context.guard.latches.active()
    programs = []
    for client in context.gateway.clients.all():
        counts = today.get(client.name, {"calls": 0, "orders": 0, "refusals": 0})
        connections = tickers.get(client.name, [])
        programs.append(
            {
                "name": client.name,
                "can_trade": client.can_trade,
                "paper": client.paper,
                **counts,
                "tickers": len(connections),
                "instruments": sum(c["instruments"] for c in connections),
                "backlog": sum(c["waiting"] for c in connections),
                "lag_ms": max((c["lag_ms"] for c in connections), default=None),
                "stopped": client.name in latches,
            }
        )
    return {"programs": programs, "upstream": hub["upstream"]}


def paper_section(context) -> list:
    """Each paper client's account: capital, P&L at live prices, cash, orders and positions."""
    clients = [client for client in context.gateway.clients.all() if client.paper]
    return context.paper.summaries(clients)


def kill_section(context) -> dict:
    """The latches in force and each run's report, step by step (the account's first)."""
    latches = {scope: latch.__dict__ for scope, latch in context.guard.latches.active().items()}
    runs = context.kill_switch.reports()
    scopes = sorted(set(latches) | set(runs), key=lambda scope: (scope != ACCOUNT, scope))
    return {
        "on": ACCOUNT in latches,
        "scopes": [{"scope": scope, "latch": latches.get(scope), "run": runs.get(scope)} for scope in scopes],
    }


def day_figures(context, health: dict, now: datetime | None = None, with_orders: bool = True) -> dict:
    """Everything the page shows, read once: `health` is /health's summary (web/api.py). Without
    `with_orders`, the small sections alone (the live feed's pass)."""
    now = as_ist(now or context.clock())
    stored = context.events.day_orders(now)
    pnl = pnl_section(context)
    return {
        "now": now,
        "session": session_section(health, context, now),
        "pnl": pnl,
        "limits": limits_section(context, pnl, order_sizes(stored)),
        "orders": order_rows(context, now, stored) if with_orders else None,
        "programs": programs_section(context, now),
        "paper": paper_section(context),
        "kill": kill_section(context),
    }
