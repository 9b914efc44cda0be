"""`rasa-messaging`: serve the API, import Rasa files."""

import ipaddress
import os
import logging
import signal
import sys
import threading
import time
from datetime import datetime, timezone

import click

from store import NotOurDatabase, Store

from .limits import DEFAULT_MAX_BODY_BYTES
from store.importer import ImportSummary, import_source
from store.sources import Source

DB_OPTION = click.option(
    "--db", "db_path", default="rasa-messaging.db", show_default=True, envvar="RASA_MESSAGING_DB",
    show_envvar=True, type=click.Path(dir_okay=False), help="SQLite file holding the conversations (created if missing).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Review what users said to your Rasa bot: the Rasa Platform Messaging API over one SQLite file."""


@cli.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, envvar="RASA_MESSAGING_HOST",
              show_envvar=True, help="Address to listen on. Another than loopback wants a --token.")
@click.option("--port", default=5005, show_default=True, type=click.IntRange(0, 65535),
              envvar="RASA_MESSAGING_PORT", show_envvar=True, help="Port to listen on.")
@click.option("--token", envvar="RASA_MESSAGING_TOKEN", show_envvar=True,
              help="Require this token (Authorization: Bearer <token>, or ?token=) for every API call. "
                   "It may do everything, ingestion included.")
@click.option("--review-token", envvar="RASA_MESSAGING_REVIEW_TOKEN", show_envvar=True,
              help="Also accept this token for reading and flagging, but not for ingesting events.")
@click.option("--max-body-size", default=DEFAULT_MAX_BODY_BYTES, show_default=True, type=click.IntRange(1),
              envvar="RASA_MESSAGING_MAX_BODY_SIZE", show_envvar=True,
              help="Largest request body in bytes; a larger one is refused with 413.")
@click.option("--consume", "consume_urls", multiple=True, envvar="RASA_MESSAGING_CONSUME", show_envvar=True,
              help="Also consume an event broker in this process: amqp://user:pass@host:5672 (RabbitMQ, queue "
                   "rasa_core_events) or sqlite:///path / postgresql://... (SQL event broker). Repeatable.")
def serve(db_path, host, port, token, review_token, max_body_size, consume_urls):
    """Serve the API under /core (Swagger UI at /core/ui/)."""
    import warnings

    import uvicorn

    # connexion imports starlette's test client, which warns about its httpx dependency.
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from .app import create_app

    open_store(db_path)  # refuses a foreign file before the server starts
    app = create_app(db_path, token=token, review_token=review_token, max_body_bytes=max_body_size)
    if not (token or review_token) and not _is_loopback(host):
        click.echo(f"rasa-messaging: WARNING: serving {host} without a token: anyone who can reach it can "
                   "read and change every conversation. Set --token (RASA_MESSAGING_TOKEN).", err=True)
    stop = threading.Event()
    consumers = [threading.Thread(target=_consumer_for(open_store(db_path), url).run, args=(stop,), daemon=True,
                                  name=f"consume {url}") for url in consume_urls]
    for consumer in consumers:
        consumer.start()
    click.echo(f"rasa-messaging: serving {db_path} on http://{host}:{port}/core/ui/", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        stop.set()
        for consumer in consumers:
            consumer.join(timeout=10)


def _consumer_for(store, url: str):
    from .brokers import RabbitConsumer, SqlFollower

    if url.startswith(("amqp://", "amqps://")):
        return RabbitConsumer(store, url)
    if url.startswith(("sqlite:", "postgres")):
        return SqlFollower(store, url)
    raise click.BadParameter(f"{url!r} is neither amqp://, sqlite:/// nor postgresql://", param_hint="--consume")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@cli.command("import")
@DB_OPTION
@click.option("--workers", type=click.IntRange(0), default=os.cpu_count() or 1, show_default="the number of CPUs",
              help="Processes that parse the files while this one stores; 0 parses here.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def import_files(db_path, workers, files):
    """Import Rasa tracker dumps, broker event streams and SQL tracker stores.

    FILES may be tracker dump JSON (as Rasa's GET /conversations/<id>/tracker returns it), a JSON
    array of dumps, JSON Lines of broker events (each with sender_id), or the SQLite file of
    Rasa's SQL tracker store or SQL event broker; the format is detected from the content.
    Importing the same file again stores nothing twice. Exits 1 if any record was rejected.
    """
    store = open_store(db_path)
    summary = ImportSummary()
    for path in files:
        source = Source(path)
        with click.progressbar(length=source.total, label=f"{path} ({source.kind})", file=sys.stderr,
                               show_pos=True) as bar:
            import_source(store, source, summary, on_records=bar.update, workers=workers)
    for file, location, reason in summary.rejected:
        click.echo(f"rejected: {file}: {location}: {reason}", err=True)
    result = summary.result
    click.echo(
        f"{summary.conversations} conversations, {result.stored} events stored, "
        f"{result.duplicates} duplicates skipped, {len(summary.rejected)} rejected"
    )
    sys.exit(1 if summary.rejected else 0)


@cli.command("analytics")
@DB_OPTION
@click.option("--start", help="Start time: ISO-8601 (naive = UTC) or Unix seconds. Default: the earliest session.")
@click.option("--end", help="End time, as --start. Default: the latest event.")
@click.option("--window", help="Bin width: 1d, 2h30m, 90 minutes, 3600 or P1D. Default: 10 equal bins.")
def analytics_table(db_path, start, end, window):
    """Print GET /analytics as a table: a column per time bin (its start, UTC), a row per metric."""
    from .periods import analytics
    from store import METRICS, AnalyticsNotFound, StoreError

    try:
        result = analytics(open_store(db_path), start, end, window)
    except AnalyticsNotFound as error:
        raise click.ClickException(error.detail) from None
    except StoreError as error:
        raise click.UsageError(error.detail) from None
    half = result["bin_width"] / 2
    header = ["bin start (UTC)"] + [
        datetime.fromtimestamp(center - half, timezone.utc).strftime("%Y-%m-%d %H:%M") for center in result["bin_centers"]]
    rows = [header] + [[metric] + [f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)
                                   for v in result[metric]] for metric in METRICS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(row, widths))))


@cli.group()
def consume():
    """Store events live from a Rasa event broker (runs until SIGTERM or Ctrl-C)."""


@consume.command("rabbitmq")
@DB_OPTION
@click.option("--url", default="amqp://guest:guest@127.0.0.1:5672", show_default=True,
              envvar="RASA_MESSAGING_RABBITMQ_URL", show_envvar=True, help="RabbitMQ URL (as in endpoints.yml).")
@click.option("--queue", default="rasa_core_events", show_default=True, help="Queue to consume (endpoints.yml `queues`).")
@click.option("--exchange", default="rasa-exchange", show_default=True, help="Fanout exchange the queue is bound to.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1),
              help="Events stored (and acknowledged) per transaction at most.")
def consume_rabbitmq(db_path, url, queue, exchange, batch_size):
    """Consume the queue Rasa's pika event broker publishes to. A message is acknowledged only
    after it is stored; one that is not a Rasa event is parked (table parked_messages)."""
    from .brokers import RabbitConsumer

    _run_until_signalled(RabbitConsumer(open_store(db_path), url, queue=queue, exchange=exchange,
                                        batch_size=batch_size))


@consume.command("sql")
@DB_OPTION
@click.option("--url", "source_url", required=True, envvar="RASA_MESSAGING_SQL_BROKER_URL", show_envvar=True,
              help="sqlite:///path/to/events.db or postgresql://user@host/db of Rasa's SQL event broker.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1), help="Rows per transaction.")
@click.option("--poll-seconds", default=1.0, show_default=True, type=click.FloatRange(0.01),
              help="Pause when the table has nothing new.")
@click.option("--until-caught-up", is_flag=True, help="Stop when every row is stored, instead of following.")
def consume_sql(db_path, source_url, batch_size, poll_seconds, until_caught_up):
    """Follow the events(id, sender_id, data) table of Rasa's SQL event broker. The last id stored
    is remembered with the events, so a restart continues where it stopped."""
    from .brokers import SqlFollower

    follower = SqlFollower(open_store(db_path), source_url, batch_size=batch_size, poll_seconds=poll_seconds)
    _run_until_signalled(follower, until_caught_up=until_caught_up)


def _run_until_signalled(consumer, **options) -> None:
    """Run `consumer` until SIGTERM/SIGINT, printing its progress every few seconds."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING, format="rasa-messaging: %(message)s")
    worker = threading.Thread(target=consumer.run, args=(stop,), kwargs=options, name="consumer")
    worker.start()
    while worker.is_alive():
        worker.join(timeout=5)
        click.echo(f"rasa-messaging: {consumer.progress.line()}", err=True)
    click.echo(f"rasa-messaging: stopped; {consumer.progress.line()}", err=True)


@cli.command()
@DB_OPTION
@click.argument("sender_ids", nargs=-1, required=True)
def erase(db_path, sender_ids):
    """Erase conversations completely (events, flags, tags, review marks, sessions), keeping
    statistics and analytics exact. Exits 1 if a SENDER_ID is unknown."""
    from store import ConversationNotFound

    store, unknown = open_store(db_path), []
    for sender_id in sender_ids:
        try:
            click.echo(f"erased {sender_id!r}: {store.erase(sender_id)} events")
        except ConversationNotFound:
            unknown.append(sender_id)
            click.echo(f"no conversation {sender_id!r}", err=True)
    sys.exit(1 if unknown else 0)


@cli.command()
@DB_OPTION
@click.option("--older-than", required=True, help="Erase conversations with no event for this long: 90d, 12w, P90D.")
@click.option("--yes", is_flag=True, help="Erase them. Without it, only list what would be erased (dry run).")
def prune(db_path, older_than, yes):
    """Retention: erase every conversation whose latest event is older than --older-than."""
    from .periods import parse_window
    from store import StoreError

    try:
        cutoff = time.time() - parse_window(older_than, "--older-than")
    except StoreError as error:
        raise click.BadParameter(error.detail, param_hint="--older-than") from None
    store = open_store(db_path)
    stale = store.inactive_since(cutoff)
    for sender_id, latest in stale:
        events = store.erase(sender_id) if yes else None
        when = datetime.fromtimestamp(latest, timezone.utc).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{'erased' if yes else 'would erase'} {sender_id!r} (latest event {when} UTC"
                   f"{f', {events} events' if yes else ''})")
    click.echo(f"{len(stale)} conversations {'erased' if yes else 'would be erased (dry run: add --yes)'}")


@cli.command()
@DB_OPTION
def vacuum(db_path):
    """Give the space of erased conversations back to the file system (rewrites the file)."""
    before = os.path.getsize(db_path)
    open_store(db_path).vacuum()
    click.echo(f"{before} → {os.path.getsize(db_path)} bytes")


@cli.command()
@DB_OPTION
@click.option("--format", "output_format", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True,
              help="ndjson: a line per conversation (metadata and events; imports back); csv: a row per message.")
@click.option("--intent", help="Comma-separated intents (any of).")
@click.option("--entity", help="Comma-separated entities (any of).")
@click.option("--action", help="Comma-separated actions (any of).")
@click.option("--policies", help="Comma-separated policies (any of).")
@click.option("--text", help="Substring of a user message.")
@click.option("--tags", help="Comma-separated tags (any of).")
@click.option("--flagged", is_flag=True, help="Only conversations with a flagged message.")
def export(db_path, output_format, intent, entity, action, policies, text, tags, flagged):
    """Write conversations to standard output, one at a time (constant memory)."""
    from handlers.messages import conversation_filter
    from handlers.review import csv_lines, ndjson_lines

    filters = conversation_filter(intent=intent, entity=entity, action=action, policies=policies, text=text,
                                  tags=tags, is_flagged=flagged)
    conversations = open_store(db_path).export(filters)
    for chunk in (csv_lines if output_format == "csv" else ndjson_lines)(conversations):
        sys.stdout.write(chunk)


def open_store(db_path) -> Store:
    try:
        return Store(db_path)
    except NotOurDatabase as error:
        raise click.UsageError(error.detail) from None


def main():
    cli(prog_name="rasa-messaging")


if __name__ == "__main__":
    main()
