"""`rasa-messaging`: serve the API and the review page, import Rasa files, consume brokers, and
the review workflow's housekeeping (export, erase, prune, vacuum). Every option has an environment
variable (`--help` shows it), except `--yes` (a destructive step is confirmed on the command line)
and `--demo`.
"""

import logging
import os
import signal
import sys
import threading
import time
from datetime import UTC

import click

from .brokers import RABBITMQ_BATCH_SIZE, RABBITMQ_EXCHANGE, RABBITMQ_QUEUE, SQL_BATCH_SIZE, SQL_POLL_SECONDS
from .demo import DEMO_DB
from .kafka import KAFKA_BATCH_SIZE, KAFKA_GROUP, KAFKA_TOPIC, SASL_MECHANISMS, SECURITY_PROTOCOLS
from .limits import DEFAULT_MAX_BODY_BYTES
from .periods import parse_duration_with_unit, parse_time
from .store.errors import InvalidParameter
from .store.team import ROLES as ROLE_NAMES

COPY_BATCH_SIZE = 5_000
from .store.database import store_identity, without_password
from .store.transfer import COUNTED, REVIEW_TABLES
from .stores import StoreNotUsable, open_existing_store, open_or_create_store

DB_HELP = ("The store: a SQLite file (a path, or sqlite:///path), or a PostgreSQL database "
           "(postgresql://user:password@host:port/dbname, which must exist; its tables are made on first use).")


def db_option(*, creates: bool):
    """--db: `serve`, `import` and `consume` create the store if it is missing; the other commands
    refuse a path with no store (a mistyped --db must not look like an empty store)."""
    return click.option("--db", "db_path", default="rasa-messaging.db", show_default=True, envvar="RASA_MESSAGING_DB",
                        show_envvar=True, help=DB_HELP + (" A missing file is created." if creates else " Must hold a store."))


def option(*names, env: str, **kwargs):
    """A click option with its RASA_MESSAGING_<env> environment variable."""
    return click.option(*names, envvar=f"RASA_MESSAGING_{env}", show_envvar=True, **kwargs)


class Parsed(click.ParamType):
    """An option's text read as the API reads the same parameter (`parse(text, option)`), its
    errors said once, in the option's name."""

    def __init__(self, name: str, parse):
        self.name, self.parse = name, parse

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            return self.parse(str(value), param.opts[0] if param else self.name)
        except InvalidParameter as error:
            self.fail(error.reason, param, ctx)


def Time():  # noqa: N802 (used as a type, like click's own)
    """A point in time as the API takes one: ISO-8601 (naive = UTC) or Unix seconds."""
    return Parsed("TIME", lambda text, option: parse_time(option, text))


def DurationWithUnit():  # noqa: N802
    """A duration with a unit (`90d`, `12w`, `P90D`): a bare number is refused."""
    return Parsed("DURATION", parse_duration_with_unit)


FILTER_OPTIONS = [  # every list filter of getConversations, named as the API names it
    option("--intent", env="INTENT", help="Comma-separated intents (any of)."),
    option("--entity", env="ENTITY", help="Comma-separated entities (any of)."),
    option("--action", env="ACTION", help="Comma-separated actions (any of)."),
    option("--policies", env="POLICIES", help="Comma-separated policies (any of)."),
    option("--text", env="TEXT", help="Substring of a user message."),
    option("--tags", env="TAGS", help="Comma-separated tags (any of)."),
    option("--input-channel", env="INPUT_CHANNEL", help="Comma-separated input channels of user messages (any of)."),
    option("--flow", env="FLOW", help="Comma-separated CALM flows with an episode in the conversation (any of)."),
    option("--flow-status", env="FLOW_STATUS",
           help="Comma-separated: completed, cancelled, abandoned, interrupted; with --flow, of the same episode."),
    option("--pattern", env="PATTERN", help="Comma-separated CALM pattern flows pushed (any of)."),
    option("--command", env="COMMAND", help="Comma-separated commands of user messages: 'start flow', ... (any of)."),
    option("--model-id", env="MODEL_ID", help="Comma-separated model ids of the events (any of)."),
    option("--start", env="ACTIVE_SINCE", type=Time(),
           help="Latest activity at or after this time: ISO-8601 (naive = UTC) or Unix seconds."),
    option("--until", env="ACTIVE_UNTIL", type=Time(), help="Latest activity at or before this time, as --start."),
    option("--maximum-confidence", env="MAXIMUM_CONFIDENCE", type=click.FloatRange(0, 1),
           help="Lowest action confidence at most this."),
    option("--minimum-user-messages", env="MINIMUM_USER_MESSAGES", type=click.IntRange(0),
           help="At least this many user messages."),
    option("--in-training-data/--not-in-training-data", env="IN_TRAINING_DATA", default=None,
           help="Only conversations in (or not in) training data."),
    option("--flagged", "is_flagged", env="FLAGGED", is_flag=True, help="Only conversations with a flagged message."),
    option("--reviewed/--not-reviewed", env="REVIEWED", default=None, help="Only reviewed (or not reviewed) ones."),
    option("--annotated/--not-annotated", env="ANNOTATED", default=None, help="Only annotated (or not annotated) ones."),
    option("--assignee", env="ASSIGNEE", help="Comma-separated people the conversations are assigned to (any of)."),
    option("--reviewed-by", env="REVIEWED_BY", help="Comma-separated people who marked them reviewed (any of)."),
]


def filter_options(command):
    for decorate in reversed(FILTER_OPTIONS):
        command = decorate(command)
    return command


def conversation_filter(filters: dict):
    """The store's filter of the FILTER_OPTIONS given; one that cannot mean anything (`--intent ""`)
    is a usage error naming the option."""
    from .store import ConversationFilter

    try:
        return ConversationFilter.from_parameters(**filters)
    except InvalidParameter as error:
        raise click.BadParameter(error.reason, param_hint="--" + error.extra["parameter"].replace("_", "-")) from None


def open_store(db_path, *, create: bool):
    try:
        return open_or_create_store(db_path) if create else open_existing_store(db_path)
    except StoreNotUsable as error:
        raise click.ClickException(str(error)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Review what users said to your Rasa bot: the Rasa Platform Messaging API over a SQLite file or a
    PostgreSQL database."""


@cli.command()
@db_option(creates=True)
@click.option("--demo", is_flag=True, help=f"Serve a demo store ({DEMO_DB}, built on first use from generated "
                                           "conversations) instead of --db. No environment variable.")
@option("--host", env="HOST", default="127.0.0.1", show_default=True,
        help="Address to listen on. Another than loopback wants a --token.")
@option("--port", env="PORT", default=5002, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@option("--token", env="TOKEN", help="Require this token (Authorization: Bearer <token>, preferred, or ?token=) for "
                                     "every API call. It may do everything, ingestion included.")
@option("--review-token", env="REVIEW_TOKEN",
        help="Also accept this token as an unnamed reviewer: read, flag, review, assign and annotate, but neither "
             "ingest nor erase. People with roles of their own: `rasa-messaging users add`.")
@option("--allowed-host", "allowed_hosts", env="ALLOWED_HOSTS", multiple=True,
        help="Without a token, only requests for this server's own address are served (DNS rebinding): "
             "name the host a proxy uses here. Repeatable; the variable takes them space-separated.")
@option("--max-body-size", env="MAX_BODY_SIZE", default=DEFAULT_MAX_BODY_BYTES, show_default=True,
        type=click.IntRange(1), help="Largest request body in bytes; a larger one is refused with 413.")
@option("--consume", "consume_urls", env="CONSUME", multiple=True,
        help="Also consume an event broker in this process: amqp://user:pass@host:5672 (RabbitMQ, queue "
             "rasa_core_events), sqlite:///path / postgresql://... (SQL event broker), or "
             "kafka://host:port/topic?group=NAME (Kafka; also batch_size, from_end and endpoints.yml's security "
             "settings as parameters). Repeatable.")
@option("--db-read", "read_urls", env="DB_READ", multiple=True,
        help="A PostgreSQL streaming replica of --db that serves reads (postgresql://...). Repeatable; the variable "
             "takes them space-separated. Writes, and a caller's reads of what they wrote, go to --db.")
@option("--log-format", env="LOG_FORMAT", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="text: uvicorn's access log. json: one JSON object per line on stderr, one per request "
             "(method, path without the query, operation, status, duration_ms, client) and per message.")
def serve(db_path, demo, host, port, token, review_token, allowed_hosts, max_body_size, consume_urls, read_urls,
          log_format):
    """Serve the API under /core (Swagger UI at /core/ui/)."""
    from .serving import CannotServe, ServeOptions, run_server

    if demo and click.get_current_context().get_parameter_source("db_path").name != "DEFAULT":
        raise click.UsageError("--demo serves the demo store: leave out --db (or RASA_MESSAGING_DB)")
    # click reads an empty variable as unset, which would serve an open API to who meant a token.
    for variable, given in (("RASA_MESSAGING_TOKEN", token), ("RASA_MESSAGING_REVIEW_TOKEN", review_token)):
        if given is None and os.environ.get(variable) == "":
            raise click.ClickException(f"{variable} is set but empty: an empty token would leave the API open. "
                                       f"Give it a value, or unset it to serve without a token.")
    options = ServeOptions(db_path=DEMO_DB if demo else db_path, demo=demo, host=host, port=port, token=token,
                           review_token=review_token, allowed_hosts=allowed_hosts, max_body_bytes=max_body_size,
                           consume_urls=consume_urls, log_format=log_format, read_urls=read_urls)
    try:
        run_server(options)
    except (CannotServe, StoreNotUsable) as error:
        raise click.ClickException(str(error)) from None


def _say_rebuilding() -> None:
    click.echo("rebuilding the indexes the load left half full (PostgreSQL; the store stays in use)", err=True)


@cli.command("import")
@db_option(creates=True)
@option("--workers", env="WORKERS", type=click.IntRange(0), default=os.cpu_count() or 1,
        show_default="the number of CPUs", help="Processes that parse the files while this one stores; 0 parses here.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def import_files(db_path, workers, files):
    """Import Rasa tracker dumps, broker event streams and SQL tracker stores.

    FILES may be tracker dump JSON (as Rasa's GET /conversations/<id>/tracker returns it), a JSON
    array of dumps, JSON Lines of broker events (each with sender_id), or the SQLite file of
    Rasa's SQL tracker store or SQL event broker; the format is detected from the content.
    Importing the same file again stores nothing twice. Exits 1 if any record was rejected.
    """
    from .store.importer import ImportSummary, collect_rarely, import_source
    from .store.sources import Source

    store = open_store(db_path, create=True)
    collect_rarely()
    summary = ImportSummary()
    for path in files:
        source = Source(path)
        with click.progressbar(length=source.total, label=f"{path} ({source.kind})", file=sys.stderr,
                               show_pos=True) as bar:
            import_source(store, source, summary, on_records=bar.update, workers=workers)
    if summary.result.stored:
        store.after_bulk_load(summary.result.stored, on_rebuilding=_say_rebuilding)
    for file, location, reason in summary.rejected:
        click.echo(f"rejected: {file}: {location}: {reason}", err=True)
    result = summary.result
    click.echo(f"{counted(summary.conversations, 'conversation')}, {counted(result.stored, 'event')} stored, "
               f"{counted(result.duplicates, 'duplicate')} skipped, {len(summary.rejected)} rejected")
    for kind, (count, first) in sorted(summary.unknown.items()):
        click.echo(f"unknown event type {kind!r}: {counted(count, 'event')} stored as they came (the first at {first}); "
                   "a newer Rasa's, or a typo", err=True)
    if summary.restored:
        click.echo("restored: " + ", ".join(counted(summary.restored[what], what) for what in
                                            ("annotation", "flag", "tag", "review mark") if summary.restored[what]))
    sys.exit(1 if summary.rejected else 0)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`1 conversation`, `2 conversations`; `2 test stories` where the plural is named."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


METRIC_LABELS = {"newUsers": "new users", "conversations": "conversations", "user_messages": "user messages",
                 "bot_messages": "bot messages", "total_messages": "messages", "sessions_per_user": "sessions per user",
                 "conversation_length": "session length (s)", "conversation_steps": "user messages per session"}


@cli.command("analytics")
@db_option(creates=False)
@option("--start", env="START", help="Start time: ISO-8601 (naive = UTC) or Unix seconds. Default: the earliest session.")
@option("--end", env="END", help="End time, as --start. Default: the latest event.")
@option("--window", env="WINDOW", help="Bin width: 1d, 2h30m, 90 minutes, 3600 or P1D. Default: 10 equal bins.")
def analytics_table(db_path, start, end, window):
    """Print GET /analytics as a table: a column per time bin (its start, UTC), a row per metric."""
    from .periods import analytics, bin_labels
    from .store import METRICS, AnalyticsNotFound, StoreError

    try:
        result = analytics(open_store(db_path, create=False), start, end, window)
    except AnalyticsNotFound as error:
        raise click.ClickException(error.detail) from None
    except StoreError as error:
        raise click.UsageError(error.detail) from None
    half = result["bin_width"] / 2
    header = ["bin start (UTC)"] + bin_labels([center - half for center in result["bin_centers"]])
    rows = [header] + [[METRIC_LABELS[metric]] + [f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)
                                                  for v in result[metric]] for metric in METRICS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(row, widths, strict=True))))


@cli.group()
def consume():
    """Store events live from a Rasa event broker (runs until SIGTERM or Ctrl-C)."""


@consume.command("rabbitmq")
@db_option(creates=True)
@option("--url", env="RABBITMQ_URL", default="amqp://guest:guest@127.0.0.1:5672", show_default=True,
        help="RabbitMQ URL (as in endpoints.yml).")
@option("--queue", env="RABBITMQ_QUEUE", default=RABBITMQ_QUEUE, show_default=True,
        help="Queue to consume (endpoints.yml `queues`).")
@option("--exchange", env="RABBITMQ_EXCHANGE", default=RABBITMQ_EXCHANGE, show_default=True,
        help="Fanout exchange the queue is bound to.")
@option("--batch-size", env="BATCH_SIZE", default=RABBITMQ_BATCH_SIZE, show_default=True, type=click.IntRange(1),
        help="Events stored (and acknowledged) per transaction at most.")
def consume_rabbitmq(db_path, url, queue, exchange, batch_size):
    """Consume the queue Rasa's pika event broker publishes to. A message is acknowledged only
    after it is stored; one that is not a Rasa event is parked (table parked_messages)."""
    from .brokers import RabbitConsumer, SourceUnusable, rabbitmq_parameters

    try:
        rabbitmq_parameters(url)
    except SourceUnusable as error:
        raise click.BadParameter(str(error), param_hint="--url") from None
    _run_until_signalled(RabbitConsumer(open_store(db_path, create=True), url, queue=queue, exchange=exchange,
                                        batch_size=batch_size))


@consume.command("sql")
@db_option(creates=True)
@option("--url", "source_url", env="SQL_BROKER_URL", required=True,
        help="sqlite:///path/to/events.db or postgresql://user@host/db of Rasa's SQL event broker.")
@option("--batch-size", env="BATCH_SIZE", default=SQL_BATCH_SIZE, show_default=True, type=click.IntRange(1),
        help="Rows per transaction.")
@option("--poll-seconds", env="POLL_SECONDS", default=SQL_POLL_SECONDS, show_default=True, type=click.FloatRange(0.01),
        help="Pause when the table has nothing new.")
@option("--until-caught-up", env="UNTIL_CAUGHT_UP", is_flag=True,
        help="Stop when every row is stored, instead of following.")
def consume_sql(db_path, source_url, batch_size, poll_seconds, until_caught_up):
    """Follow the events(id, sender_id, data) table of Rasa's SQL event broker. The last id stored
    is remembered with the events, so a restart continues where it stopped."""
    from .brokers import SourceUnusable, SqlFollower, check_broker_url

    try:
        check_broker_url(source_url)
    except SourceUnusable as error:
        raise click.BadParameter(str(error), param_hint="--url") from None
    follower = SqlFollower(open_store(db_path, create=True), source_url, batch_size=batch_size,
                           poll_seconds=poll_seconds)
    _run_until_signalled(follower, until_caught_up=until_caught_up)


@consume.command("kafka")
@db_option(creates=True)
@option("--bootstrap-servers", env="KAFKA_BOOTSTRAP_SERVERS", required=True,
        help="host:port[,host:port...] of the Kafka cluster (endpoints.yml: url).")
@option("--topic", env="KAFKA_TOPIC", default=KAFKA_TOPIC, show_default=True, help="The topic Rasa publishes to.")
@option("--group", env="KAFKA_GROUP", default=KAFKA_GROUP, show_default=True,
        help="Consumer group: consumers of one group share the topic's partitions.")
@option("--batch-size", env="BATCH_SIZE", default=KAFKA_BATCH_SIZE, show_default=True, type=click.IntRange(1),
        help="Messages per transaction.")
@option("--from-end", env="KAFKA_FROM_END", is_flag=True,
        help="A new group starts at the latest offset, skipping the backlog (default: the earliest).")
@option("--security-protocol", env="KAFKA_SECURITY_PROTOCOL", type=click.Choice(SECURITY_PROTOCOLS),
        default="PLAINTEXT", show_default=True, help="As endpoints.yml's security_protocol.")
@option("--sasl-mechanism", env="KAFKA_SASL_MECHANISM", type=click.Choice(SASL_MECHANISMS),
        help="As endpoints.yml's sasl_mechanism (with SASL_PLAINTEXT or SASL_SSL).")
@option("--sasl-username", env="KAFKA_SASL_USERNAME", help="As endpoints.yml's sasl_username.")
@option("--sasl-password", env="KAFKA_SASL_PASSWORD", help="As endpoints.yml's sasl_password.")
@option("--ssl-cafile", env="KAFKA_SSL_CAFILE", type=click.Path(exists=True, dir_okay=False),
        help="As endpoints.yml's ssl_cafile: the CA that signed the brokers' certificates.")
@option("--ssl-certfile", env="KAFKA_SSL_CERTFILE", type=click.Path(exists=True, dir_okay=False),
        help="As endpoints.yml's ssl_certfile: this client's certificate.")
@option("--ssl-keyfile", env="KAFKA_SSL_KEYFILE", type=click.Path(exists=True, dir_okay=False),
        help="As endpoints.yml's ssl_keyfile: this client's key.")
@option("--client-id", env="KAFKA_CLIENT_ID", default="rasa-messaging", show_default=True,
        help="As endpoints.yml's client_id.")
@option("--session-timeout-ms", env="KAFKA_SESSION_TIMEOUT_MS", default=10_000, show_default=True,
        type=click.IntRange(1000), help="How long the group waits for a silent member before it moves its partitions.")
def consume_kafka(db_path, bootstrap_servers, topic, group, batch_size, from_end, session_timeout_ms, **security):
    """Consume the topic Rasa's Kafka event broker publishes to, as a member of a consumer group.
    Offsets are committed only after the events are stored; a message that is not a Rasa event is
    parked with its topic, partition and offset."""
    from .kafka import KafkaConsumer, KafkaSettings

    if security["security_protocol"].startswith("SASL") and not (security["sasl_username"] and security["sasl_password"]):
        raise click.BadParameter("SASL needs --sasl-username and --sasl-password", param_hint="--security-protocol")
    settings = KafkaSettings(bootstrap_servers=bootstrap_servers, topic=topic, group=group, batch_size=batch_size,
                             from_end=from_end, session_timeout_ms=session_timeout_ms, security=security)
    _run_until_signalled(KafkaConsumer(open_store(db_path, create=True), settings))


def _run_until_signalled(consumer, **options) -> None:
    """Run `consumer` until SIGTERM/SIGINT, printing its progress every few seconds; exit 1 with
    one line if its source turns out unusable."""
    from .brokers import SourceUnusable

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING, format="rasa-messaging: %(message)s")
    failure = []

    def run():
        try:
            consumer.run(stop, **options)
        except SourceUnusable as error:
            failure.append(error)

    worker = threading.Thread(target=run, name="consumer")
    worker.start()
    while worker.is_alive():
        worker.join(timeout=5)
        if worker.is_alive():
            click.echo(f"rasa-messaging: {_status(consumer)}", err=True)
    if failure:
        raise click.ClickException(f"{failure[0]}; stopped after {_status(consumer)}")
    click.echo(f"rasa-messaging: stopped; {_status(consumer)}", err=True)


def _status(consumer) -> str:
    """A consumer's progress line; Kafka's says its lag by partition too."""
    return consumer.line() if hasattr(consumer, "line") else consumer.progress.line()


@cli.command()
@db_option(creates=False)
@click.argument("sender_ids", nargs=-1, required=True)
def erase(db_path, sender_ids):
    """Erase conversations completely (events, flags, tags, review marks, sessions), keeping
    statistics and analytics exact. Exits 1 if a SENDER_ID is unknown."""
    from .store import ConversationNotFound

    store, unknown = open_store(db_path, create=False), []
    for sender_id in sender_ids:
        try:
            click.echo(f"erased {sender_id!r}: {counted(store.erase(sender_id), 'event')}")
        except ConversationNotFound:
            unknown.append(sender_id)
            click.echo(f"no conversation {sender_id!r}", err=True)
    sys.exit(1 if unknown else 0)


# Conversations `prune` erases a transaction: the 2,000 oldest of 100k generated conversations
# (SQLite, in-process) took 12.7 s one a transaction, 4.2 s 200 a transaction (statistics, sets and
# the inbox's counts written once a batch); a batch holds the write lock for ~0.4 s.
PRUNE_BATCH = 200
# ...and the store is tidied for its readers after this many (Store.tidy_after_erasures: on
# PostgreSQL at 1M, a vacuum of the sessions, 0.7 s, every 8 s or so of pruning).
TIDY_EVERY = 2_000


@cli.command()
@db_option(creates=False)
@option("--older-than", env="OLDER_THAN", required=True, type=DurationWithUnit(),
        help="Erase conversations with no event for this long, with a unit: 90d, 12w, 36h or P90D.")
@click.option("--yes", is_flag=True, help="Erase them. Without it, only list what would be erased (dry run). "
                                          "No environment variable: say it on the command line.")
def prune(db_path, older_than, yes):
    """Retention: erase every conversation whose latest event is older than --older-than."""
    from datetime import datetime

    cutoff = time.time() - older_than
    store = open_store(db_path, create=False)
    stale = store.inactive_since(cutoff)
    done = untidy = 0
    for start in range(0, len(stale), PRUNE_BATCH):  # a transaction a batch: readers never wait, writers briefly
        batch = stale[start:start + PRUNE_BATCH]
        erased = store.erase_many([s for s, _ in batch], reason="prune", inactive_before=cutoff) if yes else {}
        for sender_id, latest in batch:
            when = datetime.fromtimestamp(latest, UTC).strftime("%Y-%m-%d %H:%M")
            if not yes:
                click.echo(f"would erase {sender_id!r} (latest event {when} UTC)")
            elif sender_id in erased:
                click.echo(f"erased {sender_id!r} (latest event {when} UTC, {counted(erased[sender_id], 'event')})")
            else:
                click.echo(f"kept {sender_id!r}: erased or active again since it was listed")
        done += len(erased) if yes else len(batch)
        untidy += len(erased)
        if untidy >= TIDY_EVERY or (untidy and start + PRUNE_BATCH >= len(stale)):
            store.tidy_after_erasures()
            untidy = 0
    outcome = "erased" if yes else "would be erased (dry run: add --yes)"
    click.echo(f"{counted(done, 'conversation')} {outcome}")


@cli.group()
def users():
    """The team: people with a role and a token each (issue 41). Once the store has a person,
    every API call needs a token. Roles: viewer (read), reviewer (+ flag, note, tag, mark
    reviewed, assign), annotator (+ annotate), admin (+ erase, ingest), ingest (POST events only).
    A token is printed once, when made, and kept only as a hash."""


@users.command("add")
@db_option(creates=True)
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(list(ROLE_NAMES)), help="What they may do.")
def users_add(db_path, name, role):
    """Add NAME with --role; print their token (shown this once)."""
    _print_token(name, lambda store: store.add_user(name, role), db_path, create=True)


@users.command("rotate")
@db_option(creates=False)
@click.argument("name")
def users_rotate(db_path, name):
    """Give NAME a new token (printed once); the old one stops working within a second."""
    _print_token(name, lambda store: store.rotate_user(name), db_path, create=False)


@users.command("remove")
@db_option(creates=False)
@click.argument("name")
def users_remove(db_path, name):
    """Remove NAME: their token stops working within a second, their assignments go back to no
    one, and what they did keeps their name."""
    from .store import StoreError

    try:
        open_store(db_path, create=False).remove_user(name)
    except StoreError as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"removed {name}")


@users.command("list")
@db_option(creates=False)
def users_list(db_path):
    """Everyone on the team, with their role (tokens are never shown again)."""
    people = open_store(db_path, create=False).users()
    for person in people:
        click.echo(f"{person['name']}\t{person['role']}")
    if not people:
        click.echo("no one yet: the server is open to anyone who can reach it (add someone with `users add`)", err=True)


def _print_token(name, make, db_path, *, create: bool) -> None:
    from .store import StoreError

    try:
        token = make(open_store(db_path, create=create))
    except StoreError as error:
        raise click.ClickException(error.detail) from None
    click.echo(token)
    click.echo(f"the token of {name}: shown this once, kept only as a hash", err=True)


@cli.command()
@option("--from", "source", env="COPY_FROM", required=True,
        help="The store to copy: a SQLite file (or sqlite:///path) or postgresql://user:password@host:port/dbname.")
@option("--to", "destination", env="COPY_TO", required=True,
        help="The store to copy into, as --from; created (SQLite) or given its tables (PostgreSQL) when new.")
@option("--batch-size", env="BATCH_SIZE", default=COPY_BATCH_SIZE, show_default=True, type=click.IntRange(1),
        help="Events per transaction: a copy that stops keeps every batch it finished.")
def copy(source, destination, batch_size):
    """Copy every conversation, flag, tag, review mark and annotation to another store.

    For moving from SQLite to PostgreSQL (and back). The source is only read. Run it again after an
    interruption: it continues after the last event copied, and copies nothing twice. Ends with
    the counts of both stores; exits 1 if the destination holds fewer of anything.
    """
    if store_identity(source) == store_identity(destination):
        raise click.UsageError(f"--from and --to name the same store ({without_password(store_identity(source))})")
    origin, target = open_store(source, create=False), open_store(destination, create=True)
    position = f"copy:{store_identity(source)}"  # the store, however --from spells it
    target.rename_follow_position(f"copy:{without_password(str(source))}", position)
    total = origin.counts()["events"]
    copied = 0
    with click.progressbar(length=total, label="events", file=sys.stderr, show_pos=True) as bar:
        bar.update(origin.events_through(target.follow_position(position)))  # copied before an interruption
        while rows := origin.event_rows_after(target.follow_position(position), batch_size):
            target.take_events(position, rows)
            bar.update(len(rows))
            copied += len(rows)
    for table in REVIEW_TABLES:
        target.take_review_rows(table, origin.review_rows(table))
    target.after_bulk_load(copied, on_rebuilding=_say_rebuilding)
    before, after = origin.counts(), target.counts()
    click.echo(f"{'':<14}{'--from':>12}{'--to':>12}")
    for table in COUNTED:
        click.echo(f"{table:<14}{before[table]:>12}{after[table]:>12}")
    missing = [table for table in COUNTED if after[table] < before[table]]
    if missing:
        raise click.ClickException(f"the destination holds fewer {', '.join(missing)} than the source")


@cli.command()
@db_option(creates=False)
def vacuum(db_path):
    """Give the space of erased conversations back to the file system (SQLite: rewrites the file;
    PostgreSQL: VACUUM ANALYZE, which also refreshes the planner's statistics, then rebuilds the
    indexes that erasures and imports leave half full, while the store is in use). First, the events
    a store made by a version before 2026-12 holds as plain JSON, or packed in zstd frames with
    their magic number, are packed as newer ones are (a fifth of the space; 50,000 events a
    transaction, while the store is in use), and so are the conversations' terms held plain."""
    store = open_store(db_path, create=False)
    before = store.size()
    packed = []

    def report(n: int) -> None:
        packed.append(n)
        if n:
            click.echo(f"packed {sum(packed)} events", err=True)

    store.vacuum(on_packed=report)
    what = "the file and its write-ahead log" if store.db.dialect.name == "sqlite" else "the database"
    click.echo(f"{before} → {store.size()} bytes ({what})")


@cli.command()
@db_option(creates=False)
@option("--format", "output_format", env="FORMAT", type=click.Choice(["ndjson", "csv"]), default="ndjson",
        show_default=True, help="ndjson: a line per conversation (metadata and events; imports back); "
                                "csv: a row per message (cells a spreadsheet would run as formulas start with ').")
@filter_options
def export(db_path, output_format, **filters):
    """Write conversations to standard output, one at a time (constant memory)."""
    from .exports import csv_lines, ndjson_lines

    conversations = open_store(db_path, create=False).export(conversation_filter(filters))
    for chunk in (csv_lines if output_format == "csv" else ndjson_lines)(conversations):
        sys.stdout.write(chunk)


@cli.command("training-data")
@db_option(creates=False)
@option("--since", env="SINCE", type=Time(), help="Only annotations made at or after this time: ISO-8601 or Unix seconds.")
def training_data(db_path, since):
    """Write the annotations as Rasa 3 NLU data (nlu.yml) to standard output; conflicts (one text
    under two intents: the latest wins) are listed on standard error.

        rasa-messaging training-data > data/nlu_from_review.yml
    """
    from .training_data import nlu_yaml

    text, conflicts = nlu_yaml(open_store(db_path, create=False).annotations(since=since)[1])
    sys.stdout.write(text)
    for conflict in conflicts:
        click.echo(f"conflict: {conflict['text']!r} also annotated as {', '.join(conflict['dropped'])}; "
                   f"kept {conflict['kept']}", err=True)


@cli.command("test-stories")
@db_option(creates=False)
@filter_options
def test_stories(db_path, **filters):
    """Write the matching conversations as Rasa 3 test stories (one YAML document) to standard
    output, with the annotated intents and entities where set: reviewed conversations become the
    bot's regression tests.

        rasa-messaging test-stories --reviewed --tags regression > tests/test_from_review.yml
    """
    from .training_data import test_stories_yaml

    store = open_store(db_path, create=False)
    exported = store.export(conversation_filter(filters))  # annotations included
    text, written, left_out = test_stories_yaml((metadata["sender_id"], events, metadata["annotations"])
                                                for metadata, events in exported)
    sys.stdout.write(text)
    for sender_id, reason in left_out:
        click.echo(f"left out: {sender_id!r}: {reason}", err=True)
    click.echo(counted(written, "test story", "test stories"), err=True)
    sys.exit(1 if left_out else 0)


@cli.command("e2e-tests")
@db_option(creates=False)
@filter_options
def e2e_tests(db_path, **filters):
    """Write the matching conversations as Rasa Pro end-to-end test cases (Rasa Pro 3.21's
    format, with assertions) to standard output: reviewed and tagged CALM conversations become a
    regression suite for `rasa test e2e`.

        rasa-messaging e2e-tests --reviewed --tags regression > tests/e2e_from_review.yml
    """
    from .e2e_tests import e2e_tests_yaml

    store = open_store(db_path, create=False)
    text, written, left_out = e2e_tests_yaml((metadata["sender_id"], events)
                                             for metadata, events in store.export(conversation_filter(filters)))
    sys.stdout.write(text)
    for sender_id, reason in left_out:
        click.echo(f"no test case for {sender_id!r}: {reason}", err=True)
    click.echo(counted(written, "test case"), err=True)


def main():
    cli(prog_name="rasa-messaging")


if __name__ == "__main__":
    main()
