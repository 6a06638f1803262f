#!/usr/bin/python3
"""A typical pre-processing job: the tiermem demo.

It builds a synthetic sales table (seeded, so every run sees the same data),
then does what most ETL jobs do:

  1. filter   - keep the last 11 months and orders of at least 2 items
  2. group-by - total orders, items and revenue per customer
  3. merge    - attach each customer's region and segment (a dimension table)
  4. sort     - rank customers by revenue

and prints a checksum of the final table plus a few summary numbers.
The output is the same on every run, with or without tiermem:

    /usr/bin/python3 examples/etl_job.py --rows 2000000
    tiermem run --dram-budget 256MiB -- /usr/bin/python3 examples/etl_job.py

Money is kept in integer cents so every sum is exact and the checksum does not
depend on the order of floating-point additions. The default --rows makes a
peak footprint of about 1.5 GiB; the footprint grows linearly with --rows.
"""

import argparse
import hashlib
import sys
import time

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west", "central"]
SEGMENTS = ["consumer", "small-business", "enterprise", "public"]


def make_sales(rows, n_customers, n_products, rng):
    """The fact table: one row per order line."""
    price_cents = rng.integers(99, 50_000, size=n_products)          # product price list
    product = rng.integers(0, n_products, size=rows, dtype=np.int32)
    quantity = rng.integers(1, 11, size=rows, dtype=np.int16)
    return pd.DataFrame({
        "order_id": np.arange(rows, dtype=np.int64),
        "customer_id": rng.integers(0, n_customers, size=rows, dtype=np.int64),
        "product_id": product,
        "day": rng.integers(0, 365, size=rows, dtype=np.int16),
        "quantity": quantity,
        "amount_cents": price_cents[product] * quantity,
    })


def make_customers(n_customers, rng):
    """The dimension table: one row per customer."""
    return pd.DataFrame({
        "customer_id": np.arange(n_customers, dtype=np.int64),
        "region": pd.Categorical.from_codes(rng.integers(0, len(REGIONS), n_customers), REGIONS),
        "segment": pd.Categorical.from_codes(rng.integers(0, len(SEGMENTS), n_customers), SEGMENTS),
        "signup_day": rng.integers(-2000, 365, size=n_customers, dtype=np.int32),
    })


def checksum(frame):
    """SHA-256 over every column's values, in order (strings via category codes)."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        values = col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()
        h.update(name.encode())
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=13_000_000, help="order lines to generate")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--quiet", action="store_true", help="print only the checksum line")
    args = parser.parse_args()

    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    n_customers = max(args.rows // 10, 1)
    n_products = 5_000

    sales = make_sales(args.rows, n_customers, n_products, rng)
    customers = make_customers(n_customers, rng)

    # 1. filter
    recent = sales[(sales["day"] >= 30) & (sales["quantity"] >= 2)]

    # 2. group-by aggregate
    per_customer = recent.groupby("customer_id", sort=True).agg(
        orders=("order_id", "size"),
        items=("quantity", "sum"),
        revenue_cents=("amount_cents", "sum"),
        first_day=("day", "min"),
        last_day=("day", "max"),
    ).reset_index()

    # 3. merge with the dimension table
    enriched = per_customer.merge(customers, on="customer_id", how="inner", validate="one_to_one")
    enriched["avg_order_cents"] = enriched["revenue_cents"] // enriched["orders"]

    # 4. sort: best customers first, ties by id
    ranked = enriched.sort_values(["revenue_cents", "customer_id"], ascending=[False, True],
                                  kind="mergesort", ignore_index=True)

    print(f"checksum: {checksum(ranked)}")
    if args.quiet:
        return
    by_region = ranked.groupby("region", observed=True)["revenue_cents"].sum().reindex(REGIONS)
    top = ranked.iloc[0]
    print(f"rows generated: {len(sales)}")
    print(f"rows after filter: {len(recent)}")
    print(f"customers with orders: {len(ranked)}")
    print(f"total revenue: {ranked['revenue_cents'].sum() / 100:.2f}")
    print(f"top customer: {top['customer_id']} ({top['region']}, {top['segment']}) "
          f"revenue {top['revenue_cents'] / 100:.2f} over {top['orders']} orders")
    print("revenue by region: " + ", ".join(f"{r}={v / 100:.2f}" for r, v in by_region.items()))
    # Timing goes to stderr so that stdout stays identical from run to run.
    print(f"elapsed: {time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
