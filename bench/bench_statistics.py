"""Compile statistics and run the anomaly scan over a million certificates (BRIEF §6).

    .venv/bin/python bench/bench_statistics.py [--certificates 1000000] [--participants 60] [--years 20]

Two throw-away SQLite databases (in one temporary KPCS_DATA_DIR) are migrated, seeded with the reference data
and bulk-filled with synthetic certificates straight through sqlite3 (every NOT NULL column of the Django
tables, dummy signatures of a realistic size), then measured by the project's own code:

  1. statistics: N certificates issued within one year; `statistics.selectors.derived_facts(<year>)` (best of
     --repeat) against the same aggregation written directly in DuckDB over in-memory tables loaded from CSV.
     Target: <= 2 s, and <= 3x DuckDB.
  2. anomaly scan: N certificates over --years years, plus half-yearly production of the producers imported
     through `statistics.services.import_csv`; `monitoring.services.analyse(as_of=...)` (best of --repeat),
     then one more run with the functions it calls wrapped in timers (effective_facts and its parts,
     certificate_shipments, overdue_certificates, rules.analyse and each rule), to show what dominates.
     Target: <= 5 s on 20 years x 60 participants with 1,000,000 certificates.

Certificates are inserted in order of issue (ids grow with time, as on a real node); the JWS column holds a
dummy string of --jws-bytes (default 1,900, the size of a real one: the certificate table then holds about one
row per 4 KiB page, which is what a node's table looks like; --jws-bytes 0 gives narrow rows).

Loading and each measurement run in their own child process, so every peak RSS (getrusage ru_maxrss) belongs
to one piece of work. Data are random but reproducible (--seed); participants trade with a fixed, weighted set
of partners, producers export their own goods, hubs re-export goods of several origins or "mixed", nobody trades
with, from or in goods of a participant while it is removed, suspended or embargoed, and about 0.1 % of the
certificates are priced far below their origin's production price (planted certificate-price outliers).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import datetime as dt
import io
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from common import table

HERE = Path(__file__).resolve()
KNOWN_PRODUCERS = ("RU", "BW", "CA", "CD", "AU", "AO", "ZA", "NA", "ZW", "SL", "LS", "TZ", "GN", "GY", "CF", "CI",
                   "BR", "LR", "GH", "CG", "CM", "VE", "TG")
KNOWN_HUBS = ("EU", "AE", "IN", "IL", "CH", "GB", "US", "SG", "CN", "TH", "LB", "MU", "TR", "AM", "PA", "JP")
BLOCKING = {"removed", "suspended", "self_suspended", "embargoed", "applicant"}
GEM, INDUSTRIAL, UNSORTED = "7102.31", "7102.21", "7102.10"
TABLES = ("certificates_certificate", "certificates_certificateline", "certificates_importconfirmation",
          "certificates_cancellation")
CERT_COLUMNS = ("id", "number", "prefix", "serial", "type", "status", "exporter_snapshot", "importer", "origin_kind",
                "origin_countries", "origin", "issued_on", "issued_quarter", "issued_at", "expires_on",
                "total_carats_centi", "total_value_cents", "total_parcels", "gem_carats_centi", "gem_value_cents",
                "kid", "jws", "payload_hash", "issued_by", "status_changed_at", "exporter_id",
                "exporting_participant_id", "importing_participant_id", "issuing_authority_id", "signer_revoked",
                "from_custody")
LINE_COLUMNS = ("id", "position", "hs_code", "carats_centi", "value_cents", "parcels", "certificate_id")
CONF_COLUMNS = ("id", "received_on", "received_quarter", "parcels", "carats_centi", "seals_intact", "differences",
                "confirmed_by", "confirmed_at", "authority_id", "certificate_id")
CANCEL_COLUMNS = ("id", "reason", "cancelled_by", "cancelled_at", "certificate_id")
CHUNK = 50_000


def now() -> float:
    return time.perf_counter()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the orchestrating process (no Django here) -------------------------------------------------------

def child(mode: str, args: argparse.Namespace, root: Path, db: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPCS_", "DJANGO_"))}
    env.update(KPCS_DATA_DIR=str(root), KPCS_DATABASE_URL=f"sqlite:///{root / db}",
               KPCS_SECRET_KEY="bench-secret-key-not-for-production", DJANGO_SETTINGS_MODULE="kpcs.settings")
    cmd = [sys.executable, str(HERE), "--child", mode, "--root", str(root), "--db", db,
           "--certificates", str(args.certificates), "--participants", str(args.participants),
           "--years", str(args.years), "--repeat", str(args.repeat), "--seed", str(args.seed),
           "--jws-bytes", str(args.jws_bytes), "--partners", str(args.partners)]
    if args.profile:
        cmd.append("--profile")
    out = root / f"{mode}.json"
    out.unlink(missing_ok=True)
    t0 = now()
    print(f"[{mode}] ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["wall"] = now() - t0
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--certificates", type=int, default=1_000_000)
    ap.add_argument("--participants", type=int, default=60)
    ap.add_argument("--years", type=int, default=20, help="years covered by the anomaly-scan database")
    ap.add_argument("--partners", type=int, default=10, help="average trading partners of a participant")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement (the best counts)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--jws-bytes", type=int, default=1900,
                    help="size of the dummy JWS stored per certificate (a real one is about 1,900 bytes)")
    ap.add_argument("--only", choices=("stats", "scan"), help="run one of the two measurements")
    ap.add_argument("--reuse", type=Path, help="a data directory kept by an earlier --keep run: skip loading")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one run of each measurement")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(args)
        return
    root = args.reuse or Path(tempfile.mkdtemp(prefix="kpcs-bench-stats-"))
    print(f"data directory {root}; {args.certificates:,} certificates, {args.participants} participants, "
          f"{args.years} years", flush=True)
    res: dict[str, dict[str, Any]] = {"load": {"start": os.getloadavg()[0]}}
    try:
        if args.only in (None, "stats"):
            if not args.reuse:
                res["load-stats"] = child("load-stats", args, root, "stats.sqlite3")
            res["duckdb"] = child("duckdb", args, root, "stats.sqlite3")
            res["stats"] = child("stats", args, root, "stats.sqlite3")
        if args.only in (None, "scan"):
            if not args.reuse:
                res["load-scan"] = child("load-scan", args, root, "scan.sqlite3")
            res["scan"] = child("scan", args, root, "scan.sqlite3")
    finally:
        if args.keep or args.reuse:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    res["load"]["end"] = os.getloadavg()[0]
    report(res, args)


def report(res: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    rows: list[tuple[str, str]] = [("dummy JWS per certificate", f"{args.jws_bytes:,} bytes")]
    for key in ("load-stats", "load-scan"):
        if key in res:
            r = res[key]
            rows.append((f"{key}: {r['certificates']:,} certificates, {r['lines']:,} lines",
                         f"{r['seconds']:.1f} s"))
            rows.append((f"{key}: database size", f"{r['db_mib']:,.0f} MiB"))
    if "stats" in res:
        s, d = res["stats"], res["duckdb"]
        ratio = s["best"] / d["best"]
        rows += [
            (f"derived_facts({s['year']}) best of {args.repeat} ({s['rows']:,} rows)", f"{s['best']:.3f} s"),
            ("  same figures aggregated from certificate lines (one run)", f"{s['from_lines']:.3f} s"),
            (f"  trade cells rebuilt once after the bulk load ({s['cells']:,} cells)", f"{s['rebuild_cells']:.3f} s"),
            (f"DuckDB same aggregation best of {args.repeat} ({d['rows']:,} rows, {d['threads']} threads)",
             f"{d['best']:.3f} s"),
            ("ratio ours / DuckDB (target <= 3)", f"{ratio:.1f}x"),
            ("statistics target <= 2 s", "met" if s["best"] <= 2 else "MISSED"),
            ("ratio target <= 3x DuckDB", "met" if ratio <= 3 else "MISSED"),
            ("peak RSS, statistics process", f"{s['rss_mib']:.0f} MiB"),
            ("peak RSS, DuckDB process", f"{d['rss_mib']:.0f} MiB"),
        ]
    if "scan" in res:
        sc = res["scan"]
        rows += [(f"analyse(as_of={sc['as_of']}) best of {args.repeat}", f"{sc['best']:.3f} s"),
                 ("  findings", f"{sc['findings']:,}"),
                 ("  facts (effective_facts rows)", f"{sc['facts']:,}")]
        rows += [(f"  stage {name}", f"{sec:.3f} s") for name, sec in sc["stages"]]
        rows += [(f"  findings {rule}", f"{n:,}") for rule, n in sorted(sc["by_rule"].items())]
        rows += [("anomaly scan target <= 5 s", "met" if sc["best"] <= 5 else "MISSED"),
                 ("peak RSS, anomaly-scan process after the timed runs", f"{sc['rss_analyse']:.0f} MiB"),
                 ("peak RSS, anomaly-scan process at the end", f"{sc['rss_mib']:.0f} MiB")]
    for key in ("load-stats", "load-scan"):
        if key in res:
            rows.append((f"peak RSS, {key} process", f"{res[key]['rss_mib']:.0f} MiB"))
    rows.append(("peak RSS, this process", f"{peak_rss_mib():.0f} MiB"))
    rows.append(("1-minute load average at start / end (2 cores)",
                 f"{res['load']['start']:.1f} / {res['load']['end']:.1f}"))
    table(rows, "statistics and anomaly scan (BRIEF §6)")


# --- child processes ------------------------------------------------------------------------------

def run_child(args: argparse.Namespace) -> None:
    if args.child == "duckdb":
        result = measure_duckdb(args)
    else:
        import django

        django.setup()
        result = {"load-stats": load_stats, "load-scan": load_scan, "stats": measure_stats,
                  "scan": measure_scan}[args.child](args)
    result["rss_mib"] = peak_rss_mib()
    (args.root / f"{args.child}.json").write_text(json.dumps(result, default=str))


def stats_year() -> int:
    return dt.date.today().year - 1


def scan_years(years: int) -> range:
    last = dt.date.today().year - 1
    return range(last - years + 1, last + 1)


# --- synthetic data -------------------------------------------------------------------------------

class World:
    """Who trades with whom, in what, at what price: fixed by the seed."""

    def __init__(self, codes: list[str], rng: random.Random, partners: int, blocked: dict[str, set[int]]) -> None:
        self.codes = codes
        self.blocked = blocked  # code -> years in which it could not trade for some time
        self.producers = [c for c in codes if c in KNOWN_PRODUCERS]
        self.hubs = [c for c in codes if c in KNOWN_HUBS]
        self.price = {c: rng.uniform(40, 450) for c in self.producers}  # US$/ct of its gem goods
        size = {c: (8.0 if c in self.hubs[:4] or c in self.producers[:6] else 3.0 if c in self.hubs
                    or c in self.producers else 1.0) * rng.uniform(0.5, 1.5) for c in codes}
        self.partners: dict[str, tuple[list[str], list[float]]] = {}
        self.suppliers: dict[str, list[str]] = {}
        for c in codes:
            k = max(2, min(len(codes) - 1, int(partners * size[c] / 3 * rng.uniform(0.7, 1.3))))
            others = [o for o in codes if o != c]
            weights = [size[o] * rng.uniform(0.2, 1.0) for o in others]
            chosen = sorted(range(len(others)), key=lambda i: -weights[i] * rng.random())[:k]
            self.partners[c] = ([others[i] for i in chosen], list(_cumulate(weights[i] for i in chosen)))
            self.suppliers[c] = rng.sample(self.producers, min(4, len(self.producers)))
        # Producers export what they mine; everybody else re-exports about 85 % of what it imports (a fixed
        # point of the trade matrix), so exports stay within supply as they would in real statistics.
        volume = {c: size[c] if c in self.price else 0.0 for c in codes}
        for _ in range(100):
            imports = dict.fromkeys(codes, 0.0)
            for c in codes:
                partners_of, cum = self.partners[c]
                prev = 0.0
                for o, acc in zip(partners_of, cum, strict=True):
                    imports[o] += volume[c] * (acc - prev) / cum[-1]
                    prev = acc
            volume = {c: size[c] if c in self.price else 0.85 * imports[c] for c in codes}
        self.exporters = [c for c in codes if volume[c] > 0]
        self.cum_exporters = list(_cumulate(volume[c] for c in self.exporters))

    def free(self, code: str, year: int) -> bool:
        return year not in self.blocked.get(code, ())

    def shipment(self, rng: random.Random, year: int) -> tuple[str, str, str]:
        """(exporting, importing, origin) with nobody blocked that year."""
        for _ in range(50):
            exp = self.exporters[bisect.bisect(self.cum_exporters, rng.random() * self.cum_exporters[-1])]
            partners, cum = self.partners[exp]
            imp = partners[min(len(partners) - 1, bisect.bisect(cum, rng.random() * cum[-1]))]
            if exp in self.price and rng.random() < 0.9:
                origin = exp
            elif rng.random() < 0.5:
                origin = "mixed"
            else:
                origin = rng.choice(self.suppliers[exp])
            if self.free(exp, year) and self.free(imp, year) and (origin == "mixed" or self.free(origin, year)):
                return exp, imp, origin
        raise RuntimeError(f"no free shipment in {year}")


def _cumulate(values: Iterator[float] | Any) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def _blocked_years(first: int, last: int) -> dict[str, set[int]]:
    text = resources.files("kpcs.registry").joinpath("data", "status-history.csv").read_text(encoding="utf-8")
    out: dict[str, set[int]] = defaultdict(set)
    for row in csv.DictReader(text.splitlines()):
        if row["status"] not in BLOCKING:
            continue
        start = dt.date.fromisoformat(row["from"]).year
        end = dt.date.fromisoformat(row["to"]).year if row["to"] else last
        out[row["participant"]].update(range(max(start, first), min(end, last) + 1))
    return out


def chosen_participants(n: int) -> list[str]:
    from kpcs.registry.models import Participant

    codes = sorted(Participant.objects.values_list("code", flat=True))
    order = ([c for c in KNOWN_PRODUCERS if c in codes] + [c for c in KNOWN_HUBS if c in codes]
             + [c for c in codes if c not in KNOWN_PRODUCERS and c not in KNOWN_HUBS])
    if n > len(order):
        raise SystemExit(f"only {len(order)} participants in the reference data")
    return sorted(order[:n])


def quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def fresh_database(args: argparse.Namespace) -> tuple[list[str], dict[str, int], Path]:
    """Migrate and seed; one registered exporter per participant. Returns codes, operator ids, the file."""
    from django.conf import settings
    from django.core.management import call_command

    from kpcs.registry.models import Operator
    from kpcs.registry.services import seed_reference_data

    db = Path(settings.DATABASES["default"]["NAME"])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    seed_reference_data()
    codes = chosen_participants(args.participants)
    Operator.objects.bulk_create([
        Operator(participant_id=c, name=f"{c} Rough Exports Ltd", address=f"1 Diamond Street, {c}", kind="exporter",
                 licence=f"{c}-EXP-0001", valid_from=dt.date(1990, 1, 1)) for c in codes])
    ops = dict(Operator.objects.filter(licence__endswith="-EXP-0001").values_list("participant_id", "id"))
    return codes, ops, db


def generate(args: argparse.Namespace, db: Path, codes: list[str], ops: dict[str, int], years: range,
             status_of: Callable[[random.Random, dt.date], tuple[str, dt.date | None]],
             sink: Callable[[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]], None] | None = None,
             ) -> dict[str, Any]:
    """Bulk-insert args.certificates certificates issued within `years`, straight through sqlite3."""
    rng = random.Random(args.seed)
    world = World(codes, rng, args.partners, _blocked_years(years[0], years[-1]))
    from kpcs.registry.models import Operator
    from kpcs.registry.services import authority_id_for, operator_snapshot

    snapshot = {op.participant_id: json.dumps(operator_snapshot(op))
                for op in Operator.objects.filter(id__in=ops.values())}
    importer = {c: json.dumps({"name": f"{c} Diamond Imports Ltd", "address": f"2 Diamond Street, {c}"})
                for c in codes}
    authority = {c: "EU-BE-ANTWERP" if c == "EU" else authority_id_for(c) for c in codes}
    kid = {c: f"{authority[c]}#benchkey0000000000" for c in codes}
    jws = ("eyJhbGciOiJFZDI1NTE5In0." + "B" * args.jws_bytes)[:max(args.jws_bytes, 9)]
    first, last = dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    iso = [d.isoformat() for d in days]
    at = [f"{s} 10:00:00.000000" for s in iso]
    quarters = [quarter(d) for d in days]
    serial: dict[str, int] = defaultdict(int)
    origin_json = {c: json.dumps([c]) for c in codes}
    origin_json["mixed"] = "[]"
    produced: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # (producer, half) -> [centi, cents]
    counts = {"certificates": 0, "lines": 0, "confirmations": 0, "cancellations": 0}

    from django.db import connections

    connections.close_all()  # the loader needs the file to itself to switch journal modes
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")  # loading only: no rollback journal, no WAL, no fsync
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    indexes = con.execute(f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
                          f"({','.join('?' * len(TABLES))})", TABLES).fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')

    def insert(tbl: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if rows:
            con.executemany(f'INSERT INTO "{tbl}" ({",".join(cols)}) VALUES ({",".join("?" * len(cols))})', rows)

    cid = lid = fid = xid = 0
    n = args.certificates
    while cid < n:
        certs, lines, confs, cancels = [], [], [], []
        for _ in range(min(CHUNK, n - cid)):
            cid += 1
            i = int((cid - 1 + rng.random()) * len(days) / n)  # issued in order of time, as a node issues them
            day = days[i]
            exp, imp, origin = world.shipment(rng, day.year)
            serial[exp] += 1
            base = world.price.get(origin, 150.0)
            if rng.random() < 0.001:
                base *= 0.04  # planted: far below the origin's production price
            nlines = 1 if rng.random() < 0.55 else 2
            first_hs = GEM if rng.random() < 0.7 else UNSORTED if rng.random() < 0.33 else INDUSTRIAL
            hs_list = [first_hs] if nlines == 1 else [first_hs, INDUSTRIAL if first_hs != INDUSTRIAL else GEM]
            tc = tv = tp = gc = gv = 0
            for pos, hs in enumerate(hs_list, start=1):
                c = max(1, int(rng.lognormvariate(10.5, 1.3)))  # centi-carats: median ~360 ct
                price = (rng.uniform(4, 20) if hs == INDUSTRIAL else base * rng.uniform(0.8, 1.25))
                v = max(1, int(c * price))
                p = rng.randint(1, 6)
                lid += 1
                lines.append((lid, pos, hs, c, v, p, cid))
                tc, tv, tp = tc + c, tv + v, tp + p
                if hs != INDUSTRIAL:
                    gc, gv = gc + c, gv + v
            status, received = status_of(rng, day)
            number = f"{exp} {serial[exp]:0{8 if exp == 'EU' else 7}d}"
            changed = at[i]
            if status == "confirmed" and received is not None:
                fid += 1
                changed = f"{received.isoformat()} 10:00:00.000000"
                confs.append((fid, received.isoformat(), quarter(received), tp, tc, 1, "{}",
                              f"officer@{imp.lower()}.bench", changed, authority[imp], cid))
            elif status == "cancelled":
                xid += 1
                cancels.append((xid, "bench: withdrawn before use", f"officer@{exp.lower()}.bench", changed, cid))
            certs.append((cid, number, exp, serial[exp], "standard", status, snapshot[exp], importer[imp],
                          "mixed" if origin == "mixed" else "single", origin_json[origin],
                          origin, iso[i], quarters[i], at[i], (day + dt.timedelta(days=60)).isoformat(), tc, tv, tp,
                          gc, gv, kid[exp], jws, f"{cid:064x}", f"officer@{exp.lower()}.bench", changed, ops[exp],
                          exp, imp, authority[exp], False, False))
            if origin == exp and status in ("issued", "confirmed"):
                acc = produced[(exp, f"{day.year}-H{1 if day.month <= 6 else 2}")]
                acc[0] += tc
                acc[1] += tv
        con.execute("BEGIN")
        insert("certificates_certificate", CERT_COLUMNS, certs)
        insert("certificates_certificateline", LINE_COLUMNS, lines)
        insert("certificates_importconfirmation", CONF_COLUMNS, confs)
        insert("certificates_cancellation", CANCEL_COLUMNS, cancels)
        con.execute("COMMIT")
        if sink:
            sink(certs, lines, confs)
        counts["certificates"] += len(certs)
        counts["lines"] += len(lines)
        counts["confirmations"] += len(confs)
        counts["cancellations"] += len(cancels)
        if cid % 200_000 == 0 or cid == n:
            print(f"  {cid:,} certificates", file=sys.stderr, flush=True)
    con.execute("BEGIN")
    con.executemany("INSERT OR REPLACE INTO certificates_serialcounter (participant_id, last_serial) VALUES (?, ?)",
                    sorted(serial.items()))
    con.execute("COMMIT")
    for _, sql in indexes:
        con.execute(sql)
    con.execute("PRAGMA journal_mode=WAL")  # as Django's connections expect it
    con.close()
    counts["produced"] = {f"{p}|{h}": v for (p, h), v in produced.items()}
    counts["prices"] = world.price
    return counts


def load_stats(args: argparse.Namespace) -> dict[str, Any]:
    t0 = now()
    codes, ops, db = fresh_database(args)
    year = stats_year()
    csv_dir = args.root / "duckdb"
    csv_dir.mkdir(exist_ok=True)
    files = {name: (csv_dir / f"{name}.csv").open("w", newline="")
             for name in ("certificates", "lines", "confirmations")}
    writers = {name: csv.writer(fh) for name, fh in files.items()}

    def sink(certs: list[tuple[Any, ...]], lines: list[tuple[Any, ...]], confs: list[tuple[Any, ...]]) -> None:
        writers["certificates"].writerows((c[0], c[5], c[12], c[26], c[27], c[10]) for c in certs)
        writers["lines"].writerows((ln[6], ln[1], ln[2], ln[3], ln[4]) for ln in lines)
        writers["confirmations"].writerows((f[10], f[2]) for f in confs)

    def status_of(rng: random.Random, day: dt.date) -> tuple[str, dt.date | None]:
        if rng.random() < 0.4:
            return "confirmed", day + dt.timedelta(days=rng.randint(1, 14))
        return "issued", None

    counts = generate(args, db, codes, ops, range(year, year + 1), status_of, sink)
    for fh in files.values():
        fh.close()
    return {"certificates": counts["certificates"], "lines": counts["lines"], "seconds": now() - t0,
            "db_mib": db.stat().st_size / 2**20}


def load_scan(args: argparse.Namespace) -> dict[str, Any]:
    from kpcs.registry.services import Actor, Grant
    from kpcs.statistics import services as statistics

    t0 = now()
    codes, ops, db = fresh_database(args)
    years = scan_years(args.years)

    def status_of(rng: random.Random, day: dt.date) -> tuple[str, dt.date | None]:
        r = rng.random()
        if r < 0.005:
            return "issued", None  # never confirmed: overdue
        if r < 0.015:
            return "expired", None
        if r < 0.02:
            return "cancelled", None
        return "confirmed", day + dt.timedelta(days=rng.randint(1, 14))

    counts = generate(args, db, codes, ops, years, status_of)
    rng = random.Random(args.seed + 1)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("period", "participant", "flow", "partner", "origin", "hs_code", "carats", "usd", "certificates"))
    produced: dict[str, list[int]] = counts["produced"]
    prices: dict[str, float] = counts["prices"]
    rows = 0
    for p in sorted(prices):
        for y in years:
            for h in ("H1", "H2"):
                centi, cents = produced.get(f"{p}|{y}-{h}", [0, 0])
                if not centi:
                    centi, cents = 100_000, int(100_000 * prices[p])
                f = rng.uniform(1.05, 1.4)
                w.writerow((f"{y}-{h}", p, "production", "", "", "", f"{centi * f / 100:.2f}",
                            f"{cents * f * rng.uniform(0.9, 1.1) / 100:.2f}", ""))
                rows += 1
    t1 = now()
    statistics.import_csv(out.getvalue().encode(), actor=Actor("bench", grants=(Grant("admin", None, None),)),
                          filename="bench-production.csv")
    return {"certificates": counts["certificates"], "lines": counts["lines"], "production_rows": rows,
            "import_seconds": now() - t1, "seconds": now() - t0, "db_mib": db.stat().st_size / 2**20}


# --- measurements ---------------------------------------------------------------------------------

def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = now()
        result = fn()
        best = min(best, now() - t0)
    return best, result


@contextlib.contextmanager
def profiled(enabled: bool, title: str) -> Iterator[None]:
    if not enabled:
        yield
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
        print(f"\n--- profile: {title}\n{buf.getvalue()}", flush=True)


def measure_stats(args: argparse.Namespace) -> dict[str, Any]:

    from kpcs.registry.services import SYSTEM
    from kpcs.statistics import rules
    from kpcs.statistics import services as statistics

    year = stats_year()
    period = rules.Period(year, "year", 1)
    t0 = now()
    cells = statistics.rebuild_trade_cells(SYSTEM)  # the load bypassed the services: build the kept totals once
    rebuild = now() - t0
    best, facts = best_of(args.repeat, lambda: statistics.derived_facts(period))
    # For reference: the same figures aggregated straight from the certificate lines (what the trade cells
    # save at read time), on the ORM and on a plain cursor.
    t0 = now()
    statistics.derived_facts_from_lines(period)
    split = {"from_lines": now() - t0, "rebuild_cells": rebuild, "cells": cells}
    with profiled(args.profile, "derived_facts"):
        statistics.derived_facts(period)
    return {"year": year, "best": best, "rows": len(facts), **split,
            "exports": sum(1 for f in facts if f.flow == "export"),
            "imports": sum(1 for f in facts if f.flow == "import")}


DUCK_EXPORTS = """
SELECT c.issued_quarter, c.exporting, c.importing, c.origin, l.hs_code,
       SUM(l.carats_centi), SUM(l.value_cents), COUNT(*) FILTER (WHERE l.position = 1)
FROM lines l JOIN certificates c ON c.id = l.certificate_id
WHERE c.status IN ('issued', 'confirmed', 'rejected') AND c.issued_quarter IN ({q})
GROUP BY ALL
"""
DUCK_IMPORTS = """
SELECT f.received_quarter, c.importing, c.exporting, c.origin, l.hs_code,
       SUM(l.carats_centi), SUM(l.value_cents), COUNT(*) FILTER (WHERE l.position = 1)
FROM lines l JOIN certificates c ON c.id = l.certificate_id JOIN confirmations f ON f.certificate_id = c.id
WHERE c.status = 'confirmed' AND f.received_quarter IN ({q})
GROUP BY ALL
"""


def measure_duckdb(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import duckdb
    except ImportError:
        raise SystemExit("DuckDB is missing: .venv/bin/pip install -e '.[bench]'") from None

    csv_dir = args.root / "duckdb"
    con = duckdb.connect(":memory:")
    t0 = now()
    con.execute(f"""CREATE TABLE certificates AS SELECT * FROM read_csv('{csv_dir / "certificates.csv"}', header=false,
        columns={{'id': 'BIGINT', 'status': 'VARCHAR', 'issued_quarter': 'VARCHAR', 'exporting': 'VARCHAR',
                  'importing': 'VARCHAR', 'origin': 'VARCHAR'}})""")
    con.execute(f"""CREATE TABLE lines AS SELECT * FROM read_csv('{csv_dir / "lines.csv"}', header=false,
        columns={{'certificate_id': 'BIGINT', 'position': 'SMALLINT', 'hs_code': 'VARCHAR',
                  'carats_centi': 'BIGINT', 'value_cents': 'BIGINT'}})""")
    con.execute(f"""CREATE TABLE confirmations AS SELECT * FROM read_csv('{csv_dir / "confirmations.csv"}',
        header=false, columns={{'certificate_id': 'BIGINT', 'received_quarter': 'VARCHAR'}})""")
    load = now() - t0
    year = stats_year()
    q = ",".join(f"'{year}-Q{i}'" for i in range(1, 5))

    def run() -> int:
        exports = con.execute(DUCK_EXPORTS.format(q=q)).fetchall()
        imports = con.execute(DUCK_IMPORTS.format(q=q)).fetchall()
        return len(exports) + len(imports)

    best, rows = best_of(args.repeat, run)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    return {"best": best, "rows": rows, "load": load, "threads": threads[0] if threads else None}


# Stages of monitoring.services.analyse, timed by wrapping the functions it calls (whatever their signatures):
# (module, attribute, label); nested calls are indented in the report.
SCAN_STAGES = (
    ("statistics", "effective_facts", "effective_facts"),
    ("statistics", "derived_facts", "  derived_facts (SQL + Facts)"),
    ("statistics", "reported_facts", "  reported_facts"),
    ("statistics", "_latest_production", "  _latest_production"),
    ("monitoring", "certificate_shipments", "certificate_shipments (SQL prefilter)"),
    ("monitoring", "overdue_certificates", "overdue_certificates"),
    ("monitoring", "statuses", "statuses"),
    ("statistics", "annual_reports", "annual_reports"),
    ("rules", "shipments_from_facts", "shipments_from_facts"),
    ("rules", "analyse", "rules.analyse"),
    ("rules", "YearlyView", "  YearlyView (twice: production prices, all facts)"),
    ("rules", "exports_exceed_supply", "  exports_exceed_supply"),
    ("rules", "price_outliers", "  price_outliers"),
    ("rules", "certificate_price_outliers", "  certificate_price_outliers"),
    ("rules", "volume_spikes", "  volume_spikes"),
    ("rules", "mirror_discrepancies", "  mirror_discrepancies"),
    ("rules", "missing_reports", "  missing_reports"),
    ("rules", "unconfirmed_certificates", "  unconfirmed_certificates"),
    ("rules", "embargoed_trade", "  embargoed_trade"),
)


def measure_scan(args: argparse.Namespace) -> dict[str, Any]:
    from kpcs.monitoring import rules as mrules
    from kpcs.monitoring import services as monitoring
    from kpcs.registry.services import SYSTEM
    from kpcs.statistics import services as statistics

    years = scan_years(args.years)
    as_of = dt.date(years[-1] + 1, 6, 30)
    statistics.rebuild_trade_cells(SYSTEM)  # the load bypassed the services: build the kept totals once
    best, findings = best_of(args.repeat, lambda: monitoring.analyse(as_of=as_of))
    rss_analyse = peak_rss_mib()
    by_rule: dict[str, int] = defaultdict(int)
    for f in findings:
        by_rule[f.rule] += 1
    from kpcs.statistics import selectors as statistics_selectors

    # the reads live in statistics.selectors (monitoring calls them there); the rules in monitoring.rules
    modules = {"statistics": statistics_selectors, "monitoring": monitoring, "rules": mrules}
    spent: dict[str, float] = defaultdict(float)
    sizes: dict[str, int] = {}
    originals = []

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = now()
            value = fn(*a, **kw)
            spent[label] += now() - t0
            with contextlib.suppress(TypeError):
                sizes[label] = len(value)
            return value
        return wrapper

    for mod, attr, label in SCAN_STAGES:
        if hasattr(modules[mod], attr):
            originals.append((modules[mod], attr, getattr(modules[mod], attr)))
            setattr(modules[mod], attr, timed(label, getattr(modules[mod], attr)))
    try:
        t0 = now()
        monitoring.analyse(as_of=as_of)
        total = now() - t0
    finally:
        for mod_obj, attr, fn in originals:
            setattr(mod_obj, attr, fn)
    stages = [(label, spent[label]) for _, _, label in SCAN_STAGES if label in spent]
    stages.append(("(instrumented run, total)", total))
    with profiled(args.profile, "monitoring.services.analyse"):
        monitoring.analyse(as_of=as_of)
    return {"as_of": as_of, "best": best, "findings": len(findings), "by_rule": by_rule,
            "facts": sizes.get("effective_facts", 0), "shipments": sizes.get("shipments_from_facts", 0),
            "overdue": sizes.get("overdue_certificates", 0), "stages": stages, "rss_analyse": rss_analyse}


if __name__ == "__main__":
    main()
