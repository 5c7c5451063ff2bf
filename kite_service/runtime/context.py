"""Everything the service is made of, built once per app and started only by the entry point.

KiteAPI and the scheduler are top-level modules (the design card's kite_api.py and scheduler.py),
so the entry point hands them in: nothing in this package imports a top-level module."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from flask import current_app

from kite_sandbox.market_hours import MarketHours
from kite_service.clock import now_ist
from kite_service.config.settings import Credentials, Settings
from kite_service.data.instrument_lookup import InstrumentNotFoundError
from kite_service.errors import StorageError
from kite_service.gateway.parts import Gateway
from kite_service.guard.guard import Guard
from kite_service.guard.kill_switch import KillSwitch
from kite_service.guard.latch import KillLatches
from kite_service.guard.loss_watch import LossWatch
from kite_service.login.reminder import LoginReminder
from kite_service.login.session_store import SessionStore
from kite_service.login.state import LoginStates
from kite_service.logs.throttle import LogThrottle
from kite_service.notifications.channels import TelegramNotifier, WebhookNotifier
from kite_service.notifications.outbox import Notifications
from kite_service.orders.database import OrderDatabase
from kite_service.orders.events import OrderEvents
from kite_service.orders.legacy_state import import_legacy_files
from kite_service.orders.postback_followup import PostbackFollowUp
from kite_service.orders.stream import OrderStream
from kite_service.orders.watch import OrderWatcher
from kite_service.paper.desk import PaperDesk
from kite_service.paper.market import LiveMarket
from kite_service.paper.store import FILE_NAME as PAPER_FILE_NAME
from kite_service.paper.store import PaperStore
from kite_service.runtime.maintenance import Maintenance
from kite_service.storage.atomic_file import remove_stale_temp_files
from kite_service.ticker.hub import TickerHub
from kite_service.ticker.upstream import UpstreamConnection

if TYPE_CHECKING:  # for the annotations only: the package imports no top-level module
    from kite_api import KiteAPI
    from scheduler import SchedulerRunner

log = logging.getLogger("kite_app")

EXTENSION = "kite_app"  # the AppContext's key in app.extensions


def no_session_message(settings: Settings) -> str:
    """What programs are told while there is no Kite session to work with."""
    return (
        f"Kite App has no session for today: log in at {settings.service_url}/login (Kite's sessions end at 06:00 IST)."
    )


def no_session_for_today(context: "AppContext") -> str | None:
    """no_session_message() while there is no valid session, else None."""
    session = context.store.load()
    if session is not None and not session.is_expired(context.clock()):
        return None
    return no_session_message(context.settings)


def current_context() -> "AppContext":
    """The AppContext of the app handling the current request (or of the pushed app context)."""
    return current_app.extensions[EXTENSION]


@dataclass
class AppContext:
    """What the request handlers and jobs share: app.extensions[EXTENSION], read with current_context()."""

    settings: Settings
    credentials: Credentials
    store: SessionStore
    login_states: LoginStates
    notifications: Notifications
    events: OrderEvents
    watcher: OrderWatcher
    reminder: LoginReminder
    runner: "SchedulerRunner"  # scheduler.py's: starts and stops the APScheduler thread
    postbacks: PostbackFollowUp
    refusals: LogThrottle  # refused callbacks, postbacks and requests: a flood is a few log lines
    stream: OrderStream | None  # order updates over Kite's WebSocket (ORDER_STREAM=on)
    api: "KiteAPI"  # kite_api.py's: the service's own Kite calls (order check, postback look-ups, logout)
    gateway: Gateway  # programs through the gateway: their credentials, connections to Kite, audit
    ticker_hub: TickerHub  # local KiteTickers through at most three connections to Kite (served by kite_app.serve)
    guard: Guard  # risk limits and the kill switch's latch, checked on every program's order call
    kill_switch: KillSwitch  # latch, cancel, square off, sweep: the account (or one client) left flat
    loss_watch: LossWatch  # the day's P&L at the hub's prices; MAX_DAILY_LOSS pulls the kill switch
    paper: PaperDesk  # paper clients' accounts, filled from the hub's live ticks (kite_service/paper)
    clock: Callable[[], datetime] = now_ist  # every part reads the time from here (tests inject one)

    @classmethod
    def build(
        cls, settings: Settings, credentials: Credentials, *, kite_api, scheduler_runner, clock=now_ist
    ) -> "AppContext":
        """Wire the parts together; nothing starts, nothing touches the network. `kite_api(settings,
        clock=)` makes the service's KiteAPI; `scheduler_runner(poll, maintenance, login_reminder)`
        makes the runner of the scheduler's jobs."""
        store = SessionStore(settings.session_file)
        database = OrderDatabase(settings.order_database_file)
        notifications = Notifications(_notifiers(settings), database, clock=clock)
        publish = notifications.publish if notifications.notifiers else None
        events = OrderEvents(database, outbox=notifications if notifications.notifiers else None, clock=clock)
        # The service's own calls: straight to Kite, unguarded (its only orders are the kill switch's)
        api = kite_api(settings, clock=clock, through_gateway=False, guarded=False)
        watcher = OrderWatcher(api, events, clock=clock, interval_seconds=settings.order_poll_seconds)
        reminder = LoginReminder(settings, store, publish=publish, clock=clock)
        runner = scheduler_runner(
            watcher.poll_and_announce, Maintenance(settings, store, watcher, clock=clock).run, reminder.run
        )
        stream = None
        if settings.order_stream:
            stream = OrderStream(settings, credentials.api_key, store, events, clock=clock)

        gateway = Gateway.build(settings.gateway_clients_file, settings.log_dir, settings.kite_api_root, clock)
        guard = Guard(
            settings.guard,
            KillLatches(settings.data_dir, clock),
            clock,
            last_price=partial(_last_price, api),
            seed=lambda: len(api.get_raw_orders()),
            seed_clients=lambda: gateway.audit.placements(clock()),
            on_refusal=partial(_notify_refusal, notifications, clock) if notifications.notifiers else None,
        )

        def ticker_connection(index: int) -> UpstreamConnection:
            url, key = settings.kite_ticker_url, credentials.api_key
            return UpstreamConnection(url, key, store, clock=clock, name=f"Ticker connection {index + 1}")

        ticker_hub = TickerHub(stream or ticker_connection(0), ticker_connection)
        market = LiveMarket(
            partial(_instrument_row, api.instrument),
            partial(_instrument_row, api.instrument_by_token),
            lambda keys: api.kite.quote(*keys),
            clock,
            fetch_margin=partial(_kite_margin, api),
        )
        hours = MarketHours(settings.paper_market_hours, settings.market_holidays)
        paper = PaperDesk(
            market,
            PaperStore(settings.data_dir / PAPER_FILE_NAME),
            ticker_hub,
            hours,
            clock,
            max_loss=partial(_paper_max_loss, gateway.clients),
            pull=lambda name, reason: kill_switch.pull(f"{name}'s --max-loss", reason, name),
        )
        kill_switch = KillSwitch(
            api,
            guard,
            settings,
            owned=lambda client: gateway.audit.owned(clock(), client),
            publish=publish,
            clock=clock,
            paper=lambda client: _flatten_paper(gateway.clients, paper, client),
        )
        loss_watch = LossWatch(
            api,
            ticker_hub,
            kill_switch,
            settings.guard,
            clock,
            publish=publish,
            clients=gateway.clients,
            owned=lambda client: gateway.audit.owned(clock(), client),
        )
        events.listeners.append(loss_watch.on_order_events)
        return cls(
            settings=settings,
            credentials=credentials,
            store=store,
            login_states=LoginStates(),
            notifications=notifications,
            events=events,
            watcher=watcher,
            reminder=reminder,
            runner=runner,
            postbacks=PostbackFollowUp(api, events, clock=clock),
            refusals=LogThrottle(logging.getLogger("kite_app.http")),
            stream=stream,
            api=api,
            gateway=gateway,
            ticker_hub=ticker_hub,
            guard=guard,
            kill_switch=kill_switch,
            loss_watch=loss_watch,
            paper=paper,
            clock=clock,
        )

    def start_background_work(self, with_scheduler: bool = True) -> None:
        """Tidy up after a crash, then start notification delivery and (unless told not to) the scheduler."""
        remove_stale_temp_files(self.settings.data_dir)
        try:
            import_legacy_files(
                self.events.database,
                self.settings.order_state_file,
                self.settings.notifications_outbox_file,
                self.clock().isoformat(timespec="microseconds"),
            )
        except StorageError as exc:
            log.error("Order state of the previous version not imported yet: %s", exc)
        self.notifications.start()
        self.postbacks.start()
        self.paper.start()  # fills paper clients' orders as ticks come (none subscribed before a paper order)
        self.loss_watch.start()  # marks positions at the hub's prices once MAX_DAILY_LOSS or a --max-loss is set
        # The stream with the order check, and only in the one process that holds the scheduler's lock.
        if with_scheduler and self.runner.start() and self.stream is not None:
            self.stream.start()

    def stop_background_work(self) -> None:
        """Wait for running jobs, then stop notification delivery (undelivered ones stay in the outbox)."""
        self.loss_watch.stop()
        self.paper.stop()
        self.ticker_hub.stop()
        if self.stream is not None:
            self.stream.stop()
        self.runner.stop()
        self.postbacks.stop()
        self.notifications.stop()


def _last_price(api, exchange: str, symbol: str) -> float | None:
    """The last price of an instrument, for the guard's value of a MARKET order (a quote call)."""
    key = f"{exchange}:{symbol}"
    try:
        return float(api.kite.ltp(key)[key]["last_price"])
    except Exception as exc:  # noqa: BLE001 (unknown: the guard refuses to value it, and says why)
        log.warning("Guard: no last price for %s (%s)", key, exc)
        return None


def _paper_max_loss(clients, name: str) -> float | None:
    client = next((c for c in clients.all() if c.name == name), None)
    return client.max_loss if client is not None and client.paper else None


def _kite_margin(api, order: dict) -> float:
    """Kite's margin calculator's total for one order alone (not against the account's positions)."""
    answer = api.kite.basket_order_margins([order], consider_positions=False, mode="compact")
    return answer["initial"]["total"]


def _flatten_paper(clients, desk: PaperDesk, name: str) -> str | None:
    """The kill switch's work for a paper client (its paper account flattened), or None: not a paper client."""
    client = next((c for c in clients.all() if c.name == name), None)
    return desk.flatten(client) if client is not None and client.paper else None


def _instrument_row(find, key) -> dict | None:
    """Kite's instrument row (the latest list that has it), or None when unknown."""
    try:
        row = find(key)
    except (InstrumentNotFoundError, ValueError):
        return None
    except Exception as exc:  # noqa: BLE001 (no list yet and Kite unreachable: unknown for now)
        log.warning("Paper: instrument %s not looked up (%s)", key, type(exc).__name__)
        return None
    row.pop("list_day", None)
    return row


def _notify_refusal(notifications: Notifications, clock, client: str | None, message: str) -> None:
    """A notification of a guard refusal: at most one a minute per client (its id is the minute's)."""
    now = clock()
    who = client or "a script"
    notifications.publish(
        {
            "event": "guard_refusal",
            "id": f"guard-refusal:{who}:{now:%Y-%m-%dT%H:%M}",
            "text": f"Order of {who} refused: {message}",
            "at": now.isoformat(timespec="seconds"),
        }
    )


def _notifiers(settings: Settings) -> list:
    notifiers = []
    if settings.order_webhook_url:
        notifiers.append(WebhookNotifier(settings.order_webhook_url))
    if settings.telegram_bot_token:
        notifiers.append(
            TelegramNotifier(settings.telegram_bot_token, settings.telegram_chat_id, settings.telegram_api_base)
        )
    return notifiers
