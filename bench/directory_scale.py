"""What the lookups a turn makes cost in the built-in directory as the organisation grows.

A turn looks people up by what was typed (an e-mail, a username), reads their account, and finds
devices and printers by name, several times a turn; every such lookup compares lower-cased values.
For each organisation size this builds one SQLite directory (the demo organisation plus generated
people, accounts and devices), times each lookup ``--rounds`` times with the indexes of migration
0003 on the lower-cased columns, then drops those indexes (the schema before 0003) and times them
again on the same file: the ratio is the figure to read.

Usage: .venv/bin/python bench/directory_scale.py [--sizes 1000,10000,100000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from _common import save, summary
from firstline.directory import SqlDirectory
from firstline.directory.records import to_row
from firstline.directory.schema import CASE_FREE_KEYS, accounts, devices, people
from firstline.testing.directory import demo_org


def build(path: Path, size: int) -> SqlDirectory:
    directory = SqlDirectory(f"sqlite:///{path}")
    org = demo_org()
    directory.seed(org)
    template_person, template_account, template_device = org.people[3], org.accounts[3], org.devices[0]
    extra = max(0, size - len(org.people))
    person_rows, account_rows, device_rows = [], [], []
    for i in range(extra):
        pid = f"g{i:06d}"
        person_rows.append(
            {**to_row(template_person), "id": pid, "email": f"generated.{i}@example.org", "manager": None}
        )
        account_rows.append({**to_row(template_account), "username": f"gen{i}", "person": pid, "admin_account": None})
        device_rows.append({**to_row(template_device), "id": f"GD-{i:06d}", "owner": pid, "serial": f"SN{i:08d}",
                            "hostname": f"GEN-L-{i:06d}", "asset_tag": f"AT{i:07d}"})  # fmt: skip
    with directory._db.write() as conn:
        for table, rows in ((people, person_rows), (accounts, account_rows), (devices, device_rows)):
            for start in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[start : start + 5000])
    return directory


def lookups(size: int) -> dict[str, Callable[[int], Any]]:
    def pick(i: int) -> int:
        return (i * 7919) % max(1, size - 80)

    return {
        "person by e-mail": lambda d, i: d.person(f"GENERATED.{pick(i)}@example.org"),
        "person by username": lambda d, i: d.person(f"gen{pick(i)}"),
        "account of a person": lambda d, i: d.account(f"g{pick(i):06d}"),
        "device by hostname": lambda d, i: d.device(f"gen-l-{pick(i):06d}"),
        "has current reports": lambda d, i: d.has_current_reports(d.person(f"g{pick(i):06d}")),
    }  # type: ignore[dict-item]


def time_all(directory: SqlDirectory, size: int, rounds: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, lookup in lookups(size).items():
        samples = []
        for i in range(rounds):
            started = time.perf_counter()
            lookup(directory, i)
            samples.append((time.perf_counter() - started) * 1000)
        out[name] = summary(samples)
    return out


def drop_indexes(directory: SqlDirectory) -> None:
    with directory._db.write() as conn:
        for table, columns in CASE_FREE_KEYS.items():
            for column in columns:
                conn.execute(text(f"DROP INDEX ix_{table}_lower_{column}"))
        conn.execute(text("DROP INDEX ix_directory_people_manager"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, Any] = {"rounds": args.rounds, "sizes": {}}
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            directory = build(Path(folder) / "directory.db", size)
            try:
                indexed = time_all(directory, size, args.rounds)
                drop_indexes(directory)
                scanned = time_all(directory, size, max(20, args.rounds // 10 if size > 20_000 else args.rounds))
            finally:
                directory.close()
        results["sizes"][str(size)] = {"indexed": indexed, "without_0003": scanned}
        print(f"{size:>7} people   {'lookup':<22} {'indexed median/p95':>20}   {'without 0003':>20}   ratio")
        for name in indexed:
            a, b = indexed[name], scanned[name]
            ratio = b["median_ms"] / a["median_ms"]
            print(f"{'':>15}{name:<22} {a['median_ms']:>9.3f} / {a['p95_ms']:<8.3f} ms "
                  f"{b['median_ms']:>9.3f} / {b['p95_ms']:<8.3f} ms  x{ratio:.0f}")  # fmt: skip
    print(f"saved {save('directory_scale', results)}")


if __name__ == "__main__":
    main()
