-- Curated totals reconcile with the processed transactions of the run date: each curated table's kWh and
-- euro totals equal the processed sums (within a cent / a watt-hour). The failure count is the number of
-- totals that disagree; a missing curated row counts as a disagreement.
WITH tx AS (
    SELECT coalesce(sum(CASE WHEN transaction_type = 'PURCHASE' THEN energy_kwh END), 0) AS purchased_kwh,
           coalesce(sum(CASE WHEN transaction_type = 'SALE' THEN energy_kwh END), 0) AS sold_kwh,
           coalesce(sum(CASE WHEN transaction_type = 'PURCHASE' THEN amount_eur END), 0) AS purchase_cost_eur,
           coalesce(sum(CASE WHEN transaction_type = 'SALE' THEN amount_eur END), 0) AS sales_revenue_eur,
           count(*) AS transaction_count
    FROM processed.transactions
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
balance AS (
    SELECT sum(purchased_kwh) AS purchased_kwh, sum(sold_kwh) AS sold_kwh,
           sum(purchase_cost_eur) AS purchase_cost_eur, sum(sales_revenue_eur) AS sales_revenue_eur,
           sum(transaction_count) AS transaction_count
    FROM curated.daily_energy_balance
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
segments AS (
    SELECT coalesce(sum(sold_kwh), 0) AS sold_kwh, coalesce(sum(revenue_eur), 0) AS revenue_eur
    FROM curated.daily_sales_by_segment
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
providers AS (
    SELECT coalesce(sum(purchased_kwh), 0) AS purchased_kwh, coalesce(sum(cost_eur), 0) AS cost_eur
    FROM curated.daily_provider_purchases
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
consumption AS (
    SELECT coalesce(sum(total_kwh), 0) AS total_kwh, coalesce(sum(revenue_eur), 0) AS revenue_eur
    FROM curated.client_daily_consumption
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
),
hourly AS (
    SELECT coalesce(sum(purchased_kwh), 0) AS purchased_kwh, coalesce(sum(sold_kwh), 0) AS sold_kwh
    FROM curated.hourly_price_curve
    WHERE year = '{{ year }}' AND month = '{{ month }}' AND day = '{{ day }}'
)
SELECT 'curated_reconciliation' AS check_name, 'curated.daily_energy_balance' AS table_name,
       CASE WHEN abs(b.purchased_kwh - tx.purchased_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(b.sold_kwh - tx.sold_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(b.purchase_cost_eur - tx.purchase_cost_eur) <= 0.01 THEN 0 ELSE 1 END
       + CASE WHEN abs(b.sales_revenue_eur - tx.sales_revenue_eur) <= 0.01 THEN 0 ELSE 1 END
       + CASE WHEN b.transaction_count = tx.transaction_count THEN 0 ELSE 1 END AS failures
FROM tx CROSS JOIN balance AS b
UNION ALL
SELECT 'curated_reconciliation', 'curated.daily_sales_by_segment',
       CASE WHEN abs(s.sold_kwh - tx.sold_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(s.revenue_eur - tx.sales_revenue_eur) <= 0.01 THEN 0 ELSE 1 END
FROM tx CROSS JOIN segments AS s
UNION ALL
SELECT 'curated_reconciliation', 'curated.daily_provider_purchases',
       CASE WHEN abs(p.purchased_kwh - tx.purchased_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(p.cost_eur - tx.purchase_cost_eur) <= 0.01 THEN 0 ELSE 1 END
FROM tx CROSS JOIN providers AS p
UNION ALL
SELECT 'curated_reconciliation', 'curated.client_daily_consumption',
       CASE WHEN abs(c.total_kwh - tx.sold_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(c.revenue_eur - tx.sales_revenue_eur) <= 0.01 THEN 0 ELSE 1 END
FROM tx CROSS JOIN consumption AS c
UNION ALL
SELECT 'curated_reconciliation', 'curated.hourly_price_curve',
       CASE WHEN abs(h.purchased_kwh - tx.purchased_kwh) <= 0.001 THEN 0 ELSE 1 END
       + CASE WHEN abs(h.sold_kwh - tx.sold_kwh) <= 0.001 THEN 0 ELSE 1 END
FROM tx CROSS JOIN hourly AS h
