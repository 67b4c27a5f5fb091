"""``fxscen``: serve the API, price a book from a file, or look after the store.

``price`` takes a JSON file with the body of ``POST /v1/price``; the store holds the
versioned scenario sets, markets and API keys.

    fxscen serve [--host 0.0.0.0] [--port 8000] [--workers 2] [--shutdown-timeout 30]
    fxscen price book.json            # prints the response JSON; problems go to stderr, exit 2
    fxscen batch book.parquet --scenario-set ID[@V] --out results.parquet [--sweep ...]
                                      # a book file to results, errors and totals files
                                      # (service.cli_batch; --scheduler ADDRESS: on Dask)

    fxscen db upgrade                 # run the migrations; "store at URL is at revision 0001"
    fxscen db revision                # the revision it is at (exit 1: no schema yet)
    fxscen keys create --name ci --role {reader,writer,admin}   # stdout: the token, once
    fxscen keys list [--json]         # name, role, key id, created_at, revoked_at / "active"
    fxscen keys revoke ci             # exit 1: unknown or revoked already
    fxscen sets export ID [--version N] [--out FILE]   # the JSON POST /v1/scenario-sets takes
    fxscen sets import FILE [--note TEXT] [--author NAME]   # created / next version / unchanged
    fxscen markets export|import ...  # the same for /v1/markets

The store's commands take ``--database-url URL`` (default ``FXSCEN_DATABASE_URL``) and print
URLs with the password hidden; an import the API would refuse prints the API's problem JSON
on stderr, exit 2 (:mod:`service.cli_store`). Defaults come from the environment
(``FXSCEN_HOST``, ``FXSCEN_PORT``, ``FXSCEN_WORKERS``, ``FXSCEN_SHUTDOWN_TIMEOUT``). How the
server starts, restarts workers and stops: :mod:`service.lifecycle`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.cli_batch import add_command as add_batch
from service.cli_store import add_commands
from service.settings import get_settings


def _serve(args: argparse.Namespace) -> int:
    from uvicorn import Config

    from service.lifecycle import serve
    from service.logs import log_config

    config = Config(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # JSON lines on stderr; the access line is service.access (request id, duration)
        log_config=log_config(args.log_level, access_log=not args.no_access_log),
        access_log=False,
        timeout_graceful_shutdown=args.shutdown_timeout,
    )
    return serve(config)


def _price(args: argparse.Namespace) -> int:
    """The same validation, pricing and response shape as ``POST /v1/price``."""
    from pydantic import ValidationError

    from scenarios.book import value_mixed_book
    from scenarios.errors import DomainError
    from service.problems import domain_problem, validation_problem
    from service.schemas.price import PriceRequest, price_response, to_job

    try:
        body = json.loads(Path(args.file).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"fxscen: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
        job = to_job(PriceRequest.model_validate(body), settings.max_instruments, settings)
        valuation = value_mixed_book(
            market=job.market, scenario_set=job.scenario_set, book=job.book, measure=job.measure
        )
    except ValidationError as exc:
        problem = validation_problem(exc.errors())
    except DomainError as exc:
        problem = domain_problem(exc)
    else:
        print(json.dumps(price_response(job, valuation), indent=2))
        return 0
    print(json.dumps(problem, indent=2), file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:  # a bad FXSCEN_ variable: say which, and stop
        for error in exc.errors():
            where = "_".join(str(p) for p in error["loc"]).upper()
            name = f"FXSCEN_{where}: " if where else ""
            reason = str(error["msg"]).removeprefix("Value error, ")
            print(f"fxscen: bad setting: {name}{reason}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="fxscen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.port)
    serve.add_argument("--workers", type=int, default=settings.workers)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true", help="do not log each request")
    serve.add_argument(
        "--shutdown-timeout",
        type=int,
        default=settings.shutdown_timeout,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long requests in flight may run before they are cut off",
    )
    serve.set_defaults(run=_serve)
    price = sub.add_parser("price", help="price a JSON file with the body of POST /v1/price")
    price.add_argument("file")
    price.set_defaults(run=_price)
    add_batch(sub)
    add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
