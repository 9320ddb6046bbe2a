"""Bulk import of statistics and the anomaly scan on generated data (BRIEF §6; issue "Statistics and anomaly
detection").

    .venv/bin/python bench/bench_import.py [--participants 60] [--years 20] [--seed 1] [--copies 4]

Generates figures with `kpcs.statistics.generate` (planted anomalies listed in its companion document), and on a
throw-away node with its own SQLite file times:
* `statistics.services.import_csv` of the file: parse every row, refuse the whole file on one bad row, write in
  one transaction: rows/s (target ≥ 50,000 rows/s, all-or-nothing). `--copies N` imports N files of distinct
  participants' years so the table grows as on a real node;
* a file with one bad row at the end: the time to refuse it, and that nothing was written;
* `monitoring.services.analyse` over the imported figures: seconds, planted anomalies found, false alarms on
  the participants untouched by the planted anomalies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import now, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--participants", type=int, default=60)
    ap.add_argument("--years", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kpcs-bench-import-"))
    os.environ.update(KPCS_DATA_DIR=str(root), KPCS_DATABASE_URL=f"sqlite:///{root / 'bench.sqlite3'}",
                      DJANGO_SETTINGS_MODULE="kpcs.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from kpcs.monitoring import services as monitoring
    from kpcs.registry import services as registry
    from kpcs.registry.services import Actor, Grant
    from kpcs.statistics import generate, rules
    from kpcs.statistics import services as statistics
    from kpcs.statistics.models import Figure

    call_command("migrate", verbosity=0)
    registry.seed_reference_data()
    node = Actor("bench", grants=(Grant("admin", None, None), Grant("wgs_analyst", None, None)))
    end_year = 2025
    rows, doc = generate.generate(args.participants, args.years, args.seed, end_year)
    csv_path = root / "stats.csv"
    with csv_path.open("w", newline="") as fh:
        statistics.write_csv(rows, fh)
    data = csv_path.read_bytes()

    bad = data + b"2025-Q4,BW,export,EU,BW,7102.31,not-a-number,1.00,1\n"
    t0 = now()
    try:
        statistics.import_csv(bad, actor=node, filename="bad.csv")
        refused = False
    except rules.RowError as exc:
        refused = True
        message = str(exc)
    refuse_s = now() - t0
    written_after_bad = Figure.objects.count()

    t0 = now()
    result = statistics.import_csv(data, actor=node, filename="stats.csv")
    import_s = now() - t0

    t0 = now()
    again = statistics.import_csv(data, actor=node, filename="stats-again.csv")  # every row becomes a revision
    reimport_s = now() - t0

    as_of = dt.date(end_year + 1, 11, 29)
    t0 = now()
    findings = monitoring.analyse(as_of=as_of)
    analyse_s = now() - t0
    planted = doc["planted"]
    found = [p for p in planted if any(f.rule == p["rule"] and f.participant == p["participant"]
                                       and f.period == p["period"] for f in findings)]
    clean = set(doc["clean_participants"])
    noisy = {f.participant for f in findings if f.participant in clean}
    table([
        ("generated rows (participants × years)", f"{len(rows):,} ({args.participants} × {args.years})"),
        ("bad file refused, nothing written", f"{refused and written_after_bad == 0} ({refuse_s:.2f} s)"),
        ("  error", message if refused else "-"),
        ("import, rows/s (target >= 50,000)", f"{result.rows / import_s:,.0f} ({import_s:.2f} s)"),
        ("re-import as revisions, rows/s", f"{again.rows / reimport_s:,.0f} ({reimport_s:.2f} s)"),
        ("anomaly scan over the imported figures", f"{analyse_s:.2f} s, {len(findings)} findings"),
        ("planted anomalies found", f"{len(found)}/{len(planted)}"),
        ("clean participants with a finding (false alarms)", f"{len(noisy)}/{len(clean)}"),
    ], "bench_import (SQLite)")


if __name__ == "__main__":
    main()
