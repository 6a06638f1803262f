#!/bin/bash
# sqlite3 (the CLI, a real C program) runs a scripted workload with and
# without the preload and must print the same results: 200k rows inserted by
# recursive CTEs, indexes, joins, aggregates, window functions, sorts and a
# few multi-MB strings. A 200 MB page cache (cache_size=-200000) and
# temp_store=MEMORY make sqlite's sorter and string builders do large
# allocations, which the preload places on tiers.
. "$(dirname "$0")/lib.sh"
require_preload
require_cmd sqlite3

cat > "$TM_TMP/workload.sql" <<'EOF'
PRAGMA temp_store = MEMORY;
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, region INTEGER, score INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, product INTEGER, qty INTEGER, price INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO customers SELECT i, printf('customer-%06d', i), (i * 7919) % 13, (i * 2654435761) % 100003 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO orders SELECT i, 1 + (i * 48271) % 20000, (i * 69621) % 997, 1 + i % 9, 100 + (i * 16807) % 9901,
  printf('%.*c', 20 + i % 80, 'x') FROM n;
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_product_qty ON orders(product, qty);
CREATE INDEX customers_region ON customers(region, score);
SELECT 'orders', count(*), sum(qty * price), sum(length(note)) FROM orders;
SELECT 'by_region', c.region, count(*), sum(o.qty * o.price), max(o.price)
  FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.region ORDER BY c.region;
SELECT 'top', c.name, sum(o.qty * o.price) AS revenue
  FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.id ORDER BY revenue DESC, c.id LIMIT 5;
SELECT 'products', count(DISTINCT product), count(*) FROM (SELECT product FROM orders ORDER BY note, price DESC, id);
SELECT 'window', sum(r) FROM (SELECT row_number() OVER (PARTITION BY product ORDER BY price DESC, id) AS r FROM orders);
SELECT 'selfjoin', count(*), sum(a.qty * b.qty) FROM orders a JOIN orders b ON a.customer = b.customer AND a.id < b.id;
SELECT 'bigstr', length(group_concat(note, ',')), length(printf('%.*c', 30000000, 'y')) FROM orders;
SELECT 'distinct', count(*) FROM (SELECT DISTINCT customer, product % 50 FROM orders);
CREATE TABLE summary AS SELECT customer, product, sum(qty) AS q FROM orders GROUP BY customer, product;
SELECT 'summary', count(*), sum(q) FROM summary;
SELECT 'integrity', * FROM pragma_integrity_check;
EOF

run_workload() { # NAME plain | NAME preload [run_with_preload args...]; fresh database per run
  local name=$1 mode=$2; shift 2
  local cmd=(sqlite3 -bail "$TM_TMP/$name.db" -init /dev/null ".read $TM_TMP/workload.sql")
  rm -f "$TM_TMP/$name.db"
  if [[ $mode == preload ]]; then
    capture "$name" -- run_with_preload "$@" -- "${cmd[@]}"
  else
    capture "$name" -- "${cmd[@]}"
  fi
}

log "== sqlite3 $(sqlite3 --version | cut -d' ' -f1): scripted workload, plain vs preload"
run_workload plain plain
assert_status "sqlite3 without preload" 0 "$RC" "$ERR"
assert_file_contains "plain run inserted 200000 orders" "$OUT" "orders|200000|"
assert_file_contains "plain run: integrity check ok" "$OUT" "integrity|ok"
info "$(wc -l < "$OUT") result lines, sha256 $(sha256sum < "$OUT" | cut -c1-16)"

run_workload preload preload
assert_status "sqlite3 under the preload, no budget" 0 "$RC" "$ERR"
assert_files_eq "sqlite3 output: plain vs preload" "$TM_TMP/plain.out" "$TM_TMP/preload.out"

run_workload spill preload --budget 32MiB
assert_status "sqlite3 under the preload, budget 32MiB" 0 "$RC" "$ERR"
assert_files_eq "sqlite3 output: plain vs preload with budget 32MiB" "$TM_TMP/plain.out" "$TM_TMP/spill.out"

if [[ -x $TIERMEM_CLI ]]; then
  rm -f "$TM_TMP/cli.db"
  capture cli -- tiermem_run --dram-budget 32MiB --nvme-dir "$TM_NVME" -- \
    sqlite3 -bail "$TM_TMP/cli.db" -init /dev/null ".read $TM_TMP/workload.sql"
  assert_status "tiermem run --dram-budget 32MiB -- sqlite3" 0 "$RC" "$ERR"
  assert_files_eq "sqlite3 output: plain vs tiermem run" "$TM_TMP/plain.out" "$TM_TMP/cli.out"
  d=$(tier_table_value "$ERR" '^dram' 'alloc'); n=$(tier_table_value "$ERR" '^nvme' 'alloc')
  assert_ge "tier table: sqlite made large (tiered) allocations (dram ${d:-?} + nvme ${n:-?})" 1 $(( ${d:-0} + ${n:-0} ))
else
  info "tiermem CLI not built ($TIERMEM_CLI): large allocations not verified from the tier table"
fi

summary
