"""Synthetic token transfers with a realistic degree distribution, written as BigQuery-layout Parquet.

Most addresses appear a handful of times (a power law over ~3M addresses); ten exchange hot
wallets take part in ~30% of all transfers (the busiest in millions). Generated inside DuckDB, so
10M rows take seconds and little Python memory.

    python bench/synth.py --rows 10000000 --out bench/data/10m
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

HOT_WALLETS = 10


def address_sql(expr: str) -> str:
    return f"'0x' || substr(sha256('addr' || ({expr})::VARCHAR), 1, 40)"


def generate(rows: int, out: Path, addresses: int = 3_000_000, seed: float = 0.42) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SELECT setseed({seed})")
    # id 0..HOT_WALLETS-1 are hot wallets; others follow a power law (small ids are busy).
    pick = (
        f"CASE WHEN random() < 0.25 THEN floor(pow(random(), 2) * {HOT_WALLETS})::BIGINT "
        f"ELSE {HOT_WALLETS} + floor(pow(random(), 3) * {addresses})::BIGINT END"
    )
    con.execute(f"""
        CREATE TABLE t AS
        SELECT i,
               {pick} AS f,
               {pick} AS g,
               floor(15000000 + i / 20)::BIGINT AS block_number,
               (i % 20)::BIGINT AS log_index,
               CASE WHEN random() < 0.9 THEN '0xdac17f958d2ee523a2206206994597c13d831ec7'
                    ELSE '0x' || substr(sha256('tok' || (floor(random() * 50))::VARCHAR), 1, 40)
               END AS token_address,
               (floor(exp(random() * 14)) * 1000000)::HUGEINT AS value
        FROM range({rows}) r(i)
    """)
    con.execute(f"""
        COPY (
          SELECT token_address,
                 {address_sql("f")} AS from_address,
                 {address_sql("CASE WHEN g = f THEN g + 1 ELSE g END")} AS to_address,
                 value::VARCHAR AS value,
                 '0x' || sha256('tx' || i::VARCHAR) AS transaction_hash,
                 log_index,
                 block_number,
                 to_timestamp(1600000000 + block_number * 12 - 15000000 * 12) AS block_timestamp,
                 '0x' || sha256('blk' || block_number::VARCHAR) AS block_hash
          FROM t
        ) TO '{out / "token_transfers.parquet"}' (FORMAT PARQUET, ROW_GROUP_SIZE 122880)
    """)
    # seeds: ordinary addresses of moderate activity; hot wallets are labelled as exchanges
    seeds = [
        r[0]
        for r in con.execute(f"""
            SELECT {address_sql("f")} FROM (
                SELECT f, count(*) c FROM t WHERE f >= {HOT_WALLETS} GROUP BY f
                HAVING c BETWEEN 5 AND 20 ORDER BY f LIMIT 10)
        """).fetchall()
    ]
    hot = [con.execute(f"SELECT {address_sql(str(i))}").fetchone()[0] for i in range(HOT_WALLETS)]
    labels = [
        "title: synthetic bench exchanges",
        "creator: tracer bench",
        "source: synthetic (bench/synth.py)",
        "currency: ETH",
        "confidence: ownership",
        "tags:",
    ]
    for i, h in enumerate(hot):
        labels += [
            f"- address: '{h}'",
            f"  label: 'Bench exchange {i} hot wallet'",
            "  category: exchange",
            f"  actor: bench-exchange-{i}",
        ]
    (out / "labels.yaml").write_text("\n".join(labels) + "\n")
    meta = {"rows": rows, "addresses": addresses, "seeds": seeds, "hot_wallets": hot}
    (out / "bench.json").write_text(json.dumps(meta, indent=2))
    return meta


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench/data/10m"))
    args = ap.parse_args()
    print(json.dumps(generate(args.rows, args.out), indent=2))
